'use strict';
// order-service: POST /orders stores the order in PostgreSQL, charges it through
// payment-service and answers 201 {orderId, status: "PAID", total};
// GET /orders/:id reads it back.
// Bugs: double-charge (pays twice before answering), late-duplicate (pays again
// 1.5 s after answering, fire-and-forget).
require('./tracing');

const crypto = require('crypto');
const express = require('express');
const { Pool } = require('pg');
const { bugEnabled, requestJson, addAdminRoutes, jsonErrorHandler, listen } = require('./common');

const SERVICE = 'order-service';
const PAYMENT_URL = (process.env.PAYMENT_URL || 'http://127.0.0.1:8082').replace(/\/+$/, '');
const LATE_DUPLICATE_DELAY_MS = 1500;

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

createSchema().then(() => listen(app, SERVICE, 8081)).catch((err) => {
  console.error(`${SERVICE}: cannot prepare the database: ${err.message}`);
  process.exit(1);
});
