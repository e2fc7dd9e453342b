'use strict';
// shipping-service: consumes the shipping events order-service publishes to the
// Kafka topic shipping-queue (consumer group "shipping-service"). For each
// event: a span "ship order" (inside kafkajs's CONSUMER span
// "process shipping-queue", which continues the producer's trace), then a
// notification to RabbitMQ (exchange "notifications", type topic, routing key
// "order.shipped") inside a PRODUCER span "publish notification" (amqplib's
// instrumentation adds "publish notifications" below it and puts the
// traceparent into the AMQP headers).
//
// Environment: KAFKA_BROKERS, AMQP_URL (or AMQP_URL_FILE, see messaging.js),
// AMQP_CONNECT_TIMEOUT_MS; PORT / PORT_FILE / HOST for the admin
// HTTP port (GET /healthz: 503 until the consumer has joined its group and the
// AMQP channel is open; GET|POST /admin/bugs).
require('./tracing');

const crypto = require('crypto');
const express = require('express');
const { trace, SpanKind, SpanStatusCode } = require('@opentelemetry/api');
const { addAdminRoutes, jsonErrorHandler, listen } = require('./common');
const {
  SHIPPING_TOPIC, NOTIFICATION_EXCHANGE, SHIPPED_ROUTING_KEY, createKafka, connectAmqp,
} = require('./messaging');

const SERVICE = 'shipping-service';
const GROUP = 'shipping-service';
const tracer = trace.getTracer(SERVICE, '1.0.0');

let joined = false;
let channel = null;
let amqpReady = null; // resolves once the channel is open

async function publishNotification(notification) {
  return tracer.startActiveSpan('publish notification', {
    kind: SpanKind.PRODUCER,
    attributes: {
      'messaging.system': 'rabbitmq',
      'messaging.destination': NOTIFICATION_EXCHANGE,
      'messaging.destination.name': NOTIFICATION_EXCHANGE,
      'messaging.rabbitmq.destination.routing_key': SHIPPED_ROUTING_KEY,
      'messaging.operation.type': 'send',
      'order.id': notification.orderId,
    },
  }, async (span) => {
    try {
      channel.publish(NOTIFICATION_EXCHANGE, SHIPPED_ROUTING_KEY,
        Buffer.from(JSON.stringify(notification)),
        { contentType: 'application/json', messageId: notification.shipmentId, persistent: false });
      await channel.waitForConfirms();
      span.setStatus({ code: SpanStatusCode.OK });
    } catch (err) {
      span.recordException(err);
      span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
      throw err;
    } finally {
      span.end();
    }
  });
}

async function handleMessage({ partition, message }) {
  await amqpReady;
  let order;
  try {
    order = JSON.parse(message.value.toString('utf8'));
  } catch (err) {
    console.error(`skipping a malformed shipping event at partition ${partition} offset ${message.offset}`);
    return;
  }
  await tracer.startActiveSpan('ship order', {
    attributes: {
      'order.id': String(order.orderId),
      'shipping.carrier': 'demo-post',
      'shipping.items': Array.isArray(order.items) ? order.items.length : 0,
    },
  }, async (span) => {
    try {
      const shipmentId = `shp-${crypto.randomUUID().slice(0, 13)}`;
      span.setAttribute('shipping.id', shipmentId);
      await publishNotification({
        orderId: order.orderId, customerId: order.customerId, shipmentId, event: 'order.shipped',
      });
      span.setStatus({ code: SpanStatusCode.OK });
      console.log(`shipped order=${order.orderId} shipment=${shipmentId} partition=${partition} offset=${message.offset}`);
    } catch (err) {
      span.recordException(err);
      span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
      console.error(`shipping order ${order.orderId} failed: ${err.message}`);
    } finally {
      span.end();
    }
  });
}

async function main() {
  const app = express();
  app.use(express.json());
  addAdminRoutes(app, SERVICE, { ready: () => joined && channel !== null });
  app.use(jsonErrorHandler);
  listen(app, SERVICE, 8084);

  // RabbitMQ and Kafka in parallel (the group join takes seconds on the mock
  // broker); messages wait for the channel.
  amqpReady = (async () => {
    const conn = await connectAmqp(SERVICE);
    conn.on('close', () => { channel = null; console.error(`${SERVICE}: AMQP connection closed`); });
    const ch = await conn.createConfirmChannel();
    await ch.assertExchange(NOTIFICATION_EXCHANGE, 'topic', { durable: false });
    channel = ch;
    console.log(`${SERVICE}: AMQP channel open`);
  })();
  amqpReady.catch((err) => {
    console.error(`${SERVICE}: ${err.message}`);
    process.exit(1);
  });

  // The mock broker is local: short session/rebalance timeouts (a member joining a
  // stable group waits for the rebalance timeout) and a short fetch wait.
  const consumer = createKafka(SERVICE).consumer({
    groupId: GROUP,
    sessionTimeout: 6000,
    heartbeatInterval: 1000,
    rebalanceTimeout: 10000,
    maxWaitTimeInMs: 100,
  });
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    joined = true;
    console.log(`joined group ${GROUP}: ${JSON.stringify(e.payload.memberAssignment)}`);
  });
  consumer.on(consumer.events.CRASH, (e) => {
    joined = false;
    console.error(`${SERVICE}: consumer crashed: ${e.payload.error && e.payload.error.message}`);
  });
  await consumer.connect();
  await consumer.subscribe({ topic: SHIPPING_TOPIC, fromBeginning: true });
  await consumer.run({ eachMessage: handleMessage });
}

main().catch((err) => {
  console.error(`${SERVICE}: ${err.message}`);
  process.exit(1);
});
