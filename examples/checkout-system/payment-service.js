'use strict';
// payment-service: POST /payments {orderId, amount, currency, method?, cardToken?}
// charges the card inside a manual span named "process payment" and answers
// {paymentId, status: "captured"}.
// Bug: slow-payment (waits 600 ms inside "process payment").
require('./tracing');

const crypto = require('crypto');
const express = require('express');
const { trace, propagation, ROOT_CONTEXT, SpanStatusCode } = require('@opentelemetry/api');
const { bugEnabled, addAdminRoutes, jsonErrorHandler, listen } = require('./common');

const SERVICE = 'payment-service';
const tracer = trace.getTracer(SERVICE, '1.0.0');
const ACCEPTED_METHODS = ['card', 'paypal', 'sepa'];

// Charges per order id: payment.attempt counts them (a double charge shows 2).
const attemptsByOrder = new Map();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function last4(cardToken) {
  const digits = String(cardToken || '').replace(/\D/g, '');
  return digits.length >= 4 ? digits.slice(-4) : '4242';
}

const app = express();
app.use(express.json());
addAdminRoutes(app, SERVICE);

app.post('/payments', async (req, res, next) => {
  const { orderId, amount, currency = 'EUR', method = 'card', cardToken } = req.body || {};
  if (typeof orderId !== 'string' || !orderId || typeof amount !== 'number' || !(amount >= 0)) {
    return res.status(400).json({ error: 'expected {orderId: string, amount: number, currency}' });
  }
  const attempt = (attemptsByOrder.get(orderId) || 0) + 1;
  attemptsByOrder.set(orderId, attempt);

  // The caller's span (order-service's HTTP client span), from the W3C headers.
  const incoming = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, req.headers));
  const links = incoming ? [{ context: incoming, attributes: { 'link.reason': 'incoming request' } }] : [];

  try {
    const result = await tracer.startActiveSpan('process payment', { links }, async (span) => {
      try {
        const paymentId = `pay-${crypto.randomUUID()}`;
        span.setAttributes({
          'payment.amount': amount, // a double such as 99.99
          'payment.currency': String(currency),
          'payment.attempt': attempt, // int
          'payment.captured': true, // bool
          'payment.methods': ACCEPTED_METHODS, // string array
          'payment.method': String(method),
          'payment.card.last4': last4(cardToken),
          'order.id': orderId,
        });
        if (bugEnabled('slow-payment')) await sleep(600);
        span.addEvent('charge.submitted', { 'payment.id': paymentId, 'charge.amount': amount });
        span.setStatus({ code: SpanStatusCode.OK });
        return { paymentId, status: 'captured' };
      } catch (err) {
        span.recordException(err);
        span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
        throw err;
      } finally {
        span.end();
      }
    });
    console.log(`payment ${result.paymentId} order=${orderId} amount=${amount} attempt=${attempt}`);
    res.json(result);
  } catch (err) {
    next(err);
  }
});

app.use(jsonErrorHandler);
listen(app, SERVICE, 8082);
