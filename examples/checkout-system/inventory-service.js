'use strict';
// inventory-service: gRPC shop.inventory.Inventory/Reserve (inventory.proto)
// reserves the items of an order inside a manual span named "update inventory"
// (attribute inventory.update.status = "success" | "failure") and answers
// {status: OK, reserved, message}.
// Bug: inventory-failure (the update fails: status FAILED, reserved 0,
// inventory.update.status = "failure").
//
// gRPC on PORT (0: a free port; "LISTENING <port>" on stdout, PORT_FILE);
// GET /healthz and GET|POST /admin/bugs over HTTP on ADMIN_PORT (0: a free port;
// "ADMIN <port>" on stdout, ADMIN_PORT_FILE). HOST (default 127.0.0.1) for both.
require('./tracing');

const express = require('express');
const { trace, SpanStatusCode } = require('@opentelemetry/api');
const {
  bugEnabled, addAdminRoutes, jsonErrorHandler, listen, portFromEnv, writePortFile,
} = require('./common');
const { loadInventoryService } = require('./messaging');

const SERVICE = 'inventory-service';
const tracer = trace.getTracer(SERVICE, '1.0.0');
const { grpc, Inventory } = loadInventoryService();

// Units reserved per SKU since start (there is no stock limit: the demo's
// failures come from the bug switch only).
const reservedBySku = new Map();

function reserve(call, callback) {
  const { order_id: orderId, items } = call.request;
  if (!orderId || !Array.isArray(items) || items.length === 0 ||
      items.some((it) => !it.sku || !(it.quantity > 0))) {
    return callback({ code: grpc.status.INVALID_ARGUMENT, details: 'expected order_id and items [{sku, quantity > 0}]' });
  }
  const reply = tracer.startActiveSpan('update inventory', (span) => {
    try {
      const units = items.reduce((sum, it) => sum + it.quantity, 0);
      span.setAttributes({
        'order.id': orderId,
        'inventory.items': items.length,
        'inventory.units': units,
        'inventory.skus': items.map((it) => it.sku),
      });
      if (bugEnabled('inventory-failure')) {
        span.setAttribute('inventory.update.status', 'failure');
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'stock update failed' });
        return { status: 'FAILED', reserved: 0, message: 'stock update failed' };
      }
      for (const it of items) reservedBySku.set(it.sku, (reservedBySku.get(it.sku) || 0) + it.quantity);
      span.setAttribute('inventory.update.status', 'success');
      span.setStatus({ code: SpanStatusCode.OK });
      return { status: 'OK', reserved: units, message: 'reserved' };
    } finally {
      span.end();
    }
  });
  console.log(`reserve order=${orderId} status=${reply.status} reserved=${reply.reserved}`);
  callback(null, reply);
}

// --- gRPC --------------------------------------------------------------------
const host = process.env.HOST || '127.0.0.1';
const grpcPort = portFromEnv(SERVICE, 'PORT', 50051);
const server = new grpc.Server();
server.addService(Inventory.service, { Reserve: reserve });
server.bindAsync(`${host}:${grpcPort}`, grpc.ServerCredentials.createInsecure(), (err, actual) => {
  if (err) {
    console.error(`${SERVICE}: cannot listen on ${host}:${grpcPort}: ${err.message}`);
    process.exit(1);
  }
  writePortFile('PORT_FILE', actual);
  process.stdout.write(`LISTENING ${actual}\n`);

  // --- admin HTTP (after the gRPC port, so /healthz means "serving") -----------
  const app = express();
  app.use(express.json());
  addAdminRoutes(app, SERVICE);
  app.use(jsonErrorHandler);
  listen(app, SERVICE, 8083, { portEnv: 'ADMIN_PORT', portFileEnv: 'ADMIN_PORT_FILE', label: 'ADMIN' });
});

process.on('exit', () => server.forceShutdown());
