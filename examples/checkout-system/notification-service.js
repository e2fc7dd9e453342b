'use strict';
// notification-service: consumes "order shipped" notifications from RabbitMQ
// (queue notification-service.order-shipped, bound to the topic exchange
// "notifications" with routing key "order.shipped") and "sends" each one inside
// a span "send notification" (messaging.system = "rabbitmq"), then acks.
// amqplib's instrumentation wraps each delivery in a CONSUMER span
// "notification-service.order-shipped process": with AMQP_CONSUME_LINKS=1 (the
// default, see tracing.js) that span starts a new trace with a link to the
// publisher's span; with 0 it continues the publisher's trace.
//
// Environment: AMQP_URL (or AMQP_URL_FILE, see messaging.js),
// AMQP_CONNECT_TIMEOUT_MS; PORT / PORT_FILE / HOST for the admin HTTP port
// (GET /healthz: 503 until the queue is bound and consumed; GET|POST /admin/bugs).
require('./tracing');

const express = require('express');
const { trace, SpanStatusCode } = require('@opentelemetry/api');
const { addAdminRoutes, jsonErrorHandler, listen } = require('./common');
const { NOTIFICATION_EXCHANGE, SHIPPED_ROUTING_KEY, connectAmqp } = require('./messaging');

const SERVICE = 'notification-service';
const QUEUE = 'notification-service.order-shipped';
const tracer = trace.getTracer(SERVICE, '1.0.0');

let consuming = false;

function handle(channel, msg) {
  if (!msg) { // the broker cancelled the consumer
    consuming = false;
    console.error(`${SERVICE}: consumer cancelled by the broker`);
    return;
  }
  let note = {};
  try {
    note = JSON.parse(msg.content.toString('utf8'));
  } catch (_) { /* keep {} */ }
  tracer.startActiveSpan('send notification', {
    attributes: {
      'messaging.system': 'rabbitmq',
      'messaging.destination.name': QUEUE,
      'messaging.rabbitmq.destination.routing_key': msg.fields.routingKey,
      'notification.channel': 'email',
      'notification.event': String(note.event || msg.fields.routingKey),
      'order.id': String(note.orderId || ''),
      'customer.id': String(note.customerId || ''),
    },
  }, (span) => {
    if (!note.orderId) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'notification without orderId' });
    } else {
      span.setStatus({ code: SpanStatusCode.OK });
      console.log(`notified customer=${note.customerId} order=${note.orderId} (${msg.fields.routingKey})`);
    }
    span.end();
  });
  channel.ack(msg);
}

async function main() {
  const app = express();
  app.use(express.json());
  addAdminRoutes(app, SERVICE, { ready: () => consuming });
  app.use(jsonErrorHandler);
  listen(app, SERVICE, 8085);

  const conn = await connectAmqp(SERVICE);
  conn.on('close', () => { consuming = false; console.error(`${SERVICE}: AMQP connection closed`); });
  const channel = await conn.createChannel();
  await channel.assertExchange(NOTIFICATION_EXCHANGE, 'topic', { durable: false });
  await channel.assertQueue(QUEUE, { durable: false });
  await channel.bindQueue(QUEUE, NOTIFICATION_EXCHANGE, SHIPPED_ROUTING_KEY);
  await channel.prefetch(32);
  await channel.consume(QUEUE, (msg) => handle(channel, msg), { noAck: false });
  consuming = true;
}

main().catch((err) => {
  console.error(`${SERVICE}: ${err.message}`);
  process.exit(1);
});
