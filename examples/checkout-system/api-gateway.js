'use strict';
// api-gateway: the public entry point.
//   POST /checkout   {customerId, items: [{sku, quantity, price}], payment: {method, cardToken}}
//                    -> order-service POST /orders -> 200 {orderId, status, total}
//   GET /orders/:id  -> order-service GET /orders/:id
require('./tracing');

const express = require('express');
const { requestJson, addAdminRoutes, jsonErrorHandler, listen } = require('./common');

const SERVICE = 'api-gateway';
const ORDER_URL = (process.env.ORDER_URL || 'http://127.0.0.1:8081').replace(/\/+$/, '');

const app = express();
app.use(express.json());
addAdminRoutes(app, SERVICE);

app.post('/checkout', async (req, res, next) => {
  try {
    const { customerId, items, payment } = req.body || {};
    const r = await requestJson('POST', `${ORDER_URL}/orders`, { customerId, items, payment });
    if (r.status === 201 || r.status === 200) {
      const { orderId, status, total } = r.body;
      return res.status(200).json({ orderId, status, total });
    }
    // Pass client errors through; anything else is a bad gateway.
    const status = r.status >= 400 && r.status < 500 ? r.status : 502;
    res.status(status).json(r.body || { error: `order-service answered ${r.status}` });
  } catch (err) {
    next(err);
  }
});

app.get('/orders/:id', async (req, res, next) => {
  try {
    const r = await requestJson('GET', `${ORDER_URL}/orders/${encodeURIComponent(req.params.id)}`);
    res.status(r.status >= 500 ? 502 : r.status).json(r.body || { error: `order-service answered ${r.status}` });
  } catch (err) {
    next(err);
  }
});

app.use(jsonErrorHandler);
listen(app, SERVICE, 8080);
