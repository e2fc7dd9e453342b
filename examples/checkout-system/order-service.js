'use strict';
// order-service: POST /orders stores the order in PostgreSQL, charges it through
// payment-service and answers 201 {orderId, status: "PAID", total};
// GET /orders/:id reads it back.
// With INVENTORY_ADDR set, a paid order then reserves its items over gRPC
// (inventory-service); with KAFKA_BROKERS set, it then publishes a shipping
// event to the Kafka topic shipping-queue inside a PRODUCER span named
// "publish shipping event" (shipping-service consumes it). Both unset: the
// synchronous system of the first demo.
// Bugs: double-charge (pays twice before answering), late-duplicate (pays again
// 1.5 s after answering, fire-and-forget), double-shipping (publishes the
// shipping event twice). The inventory's answer is logged but never changes the
// client's answer (so the inventory-failure bug stays invisible to the API).
require('./tracing');

const crypto = require('crypto');
const express = require('express');
const { Pool } = require('pg');
const { trace, SpanKind, SpanStatusCode } = require('@opentelemetry/api');
const { bugEnabled, requestJson, addAdminRoutes, jsonErrorHandler, listen } = require('./common');
const { SHIPPING_TOPIC, loadInventoryService, kafkaBrokers, createKafka } = require('./messaging');

const SERVICE = 'order-service';
const tracer = trace.getTracer(SERVICE, '1.0.0');
const PAYMENT_URL = (process.env.PAYMENT_URL || 'http://127.0.0.1:8082').replace(/\/+$/, '');
const INVENTORY_ADDR = (process.env.INVENTORY_ADDR || '').trim();
const INVENTORY_DEADLINE_MS = 5000;
const LATE_DUPLICATE_DELAY_MS = 1500;

// --- inventory-service (gRPC) -------------------------------------------------
let inventory = null;
if (INVENTORY_ADDR) {
  const { grpc, Inventory } = loadInventoryService();
  inventory = new Inventory(INVENTORY_ADDR, grpc.credentials.createInsecure());
}

function reserveInventory(orderId, items) {
  return new Promise((resolve, reject) => {
    inventory.Reserve(
      { order_id: orderId, items: items.map((it) => ({ sku: it.sku, quantity: it.quantity })) },
      { deadline: Date.now() + INVENTORY_DEADLINE_MS },
      (err, reply) => (err ? reject(err) : resolve(reply)));
  });
}

// --- shipping events (Kafka) ----------------------------------------------------
let producer = null;
if (kafkaBrokers().length > 0) {
  const { Partitioners } = require('kafkajs');
  producer = createKafka(SERVICE).producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
  });
}

// One shipping event, inside a manual PRODUCER span; kafkajs's instrumentation
// adds its own "send shipping-queue" span below it and puts that span's
// traceparent into the record headers.
function publishShippingEvent(order) {
  return tracer.startActiveSpan('publish shipping event', {
    kind: SpanKind.PRODUCER,
    attributes: {
      'messaging.system': 'kafka',
      'messaging.destination': SHIPPING_TOPIC, // the older attribute name
      'messaging.destination.name': SHIPPING_TOPIC,
      'messaging.operation.type': 'send',
      'messaging.kafka.message.key': order.orderId,
      'order.id': order.orderId,
    },
  }, async (span) => {
    try {
      await producer.send({
        topic: SHIPPING_TOPIC,
        messages: [{ key: order.orderId, value: JSON.stringify(order) }],
      });
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

// DATABASE_URL wins; otherwise the standard PG* variables (PGHOST, PGPORT,
// PGUSER, PGPASSWORD, PGDATABASE), with defaults for the local demo.
const pool = process.env.DATABASE_URL
  ? new Pool({ connectionString: process.env.DATABASE_URL, max: 10 })
  : new Pool({
    host: process.env.PGHOST || '127.0.0.1',
    port: Number(process.env.PGPORT || 5432),
    user: process.env.PGUSER || 'postgres',
    database: process.env.PGDATABASE || 'shop',
    max: 10,
  });
pool.on('error', (err) => console.error(`pg pool: ${err.message}`));

async function createSchema() {
  const deadline = Date.now() + 15000;
  for (;;) {
    try {
      await pool.query(`CREATE TABLE IF NOT EXISTS orders (
        id          text PRIMARY KEY,
        customer_id text NOT NULL,
        total       numeric(12, 2) NOT NULL,
        status      text NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
      )`);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      console.error(`waiting for PostgreSQL: ${err.message}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

function validItems(items) {
  return Array.isArray(items) && items.length > 0 && items.every((it) => it &&
    typeof it.sku === 'string' && Number.isInteger(it.quantity) && it.quantity > 0 &&
    typeof it.price === 'number' && it.price >= 0);
}

function orderTotal(items) {
  const cents = items.reduce((sum, it) => sum + Math.round(it.price * 100) * it.quantity, 0);
  return cents / 100;
}

function pay(orderId, total, payment) {
  return requestJson('POST', `${PAYMENT_URL}/payments`, {
    orderId,
    amount: total,
    currency: 'EUR',
    method: payment.method || 'card',
    cardToken: payment.cardToken,
  });
}

const app = express();
app.use(express.json());
addAdminRoutes(app, SERVICE);

app.post('/orders', async (req, res, next) => {
  try {
    const { customerId, items, payment = {} } = req.body || {};
    if (typeof customerId !== 'string' || !customerId || !validItems(items)) {
      return res.status(400).json({
        error: 'expected {customerId, items: [{sku, quantity, price}], payment: {method, cardToken}}',
      });
    }
    const orderId = `ord-${crypto.randomUUID().slice(0, 13)}`;
    const total = orderTotal(items);
    await pool.query(
      'INSERT INTO orders(id, customer_id, total, status) VALUES($1, $2, $3, $4)',
      [orderId, customerId, total, 'PENDING']);

    const charges = bugEnabled('double-charge') ? 2 : 1;
    let paid = true;
    for (let i = 0; i < charges; i++) {
      const r = await pay(orderId, total, payment);
      if (r.status !== 200 || !r.body || r.body.status !== 'captured') paid = false;
    }
    const status = paid ? 'PAID' : 'PAYMENT_FAILED';
    await pool.query('UPDATE orders SET status = $1 WHERE id = $2', [status, orderId]);

    if (!paid) return res.status(502).json({ orderId, status, total });

    if (inventory) {
      const reply = await reserveInventory(orderId, items);
      // The seeded inventory-failure bug: a FAILED reservation is only logged.
      if (reply.status !== 'OK') console.error(`inventory for ${orderId}: ${reply.status} ${reply.message}`);
    }
    if (producer) {
      const event = { orderId, customerId, items, total, status };
      const copies = bugEnabled('double-shipping') ? 2 : 1;
      for (let i = 0; i < copies; i++) await publishShippingEvent(event);
    }
    res.status(201).json({ orderId, status, total });

    if (bugEnabled('late-duplicate')) {
      // Fire-and-forget: the duplicate charge lands in the same trace, after the
      // client already has its answer.
      setTimeout(() => {
        pay(orderId, total, payment)
          .then((r) => console.log(`late duplicate payment for ${orderId}: HTTP ${r.status}`))
          .catch((err) => console.error(`late duplicate payment for ${orderId}: ${err.message}`));
      }, LATE_DUPLICATE_DELAY_MS);
    }
  } catch (err) {
    next(err);
  }
});

app.get('/orders/:id', async (req, res, next) => {
  try {
    const { rows } = await pool.query(
      'SELECT id, customer_id, total, status, created_at FROM orders WHERE id = $1', [req.params.id]);
    if (rows.length === 0) return res.status(404).json({ error: 'order not found', orderId: req.params.id });
    const o = rows[0];
    res.json({
      orderId: o.id, customerId: o.customer_id, total: Number(o.total),
      status: o.status, createdAt: o.created_at,
    });
  } catch (err) {
    next(err);
  }
});

app.use(jsonErrorHandler);

// The Kafka producer connects before the port opens: /healthz means ready.
async function startup() {
  try {
    await createSchema();
  } catch (err) {
    throw new Error(`cannot prepare the database: ${err.message}`);
  }
  if (producer) {
    try {
      await producer.connect();
    } catch (err) {
      throw new Error(`cannot connect to Kafka at ${kafkaBrokers().join(',')}: ${err.message}`);
    }
  }
}

startup().then(() => listen(app, SERVICE, 8081)).catch((err) => {
  console.error(`${SERVICE}: ${err.message}`);
  process.exit(1);
});
