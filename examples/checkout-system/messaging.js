'use strict';
// Clients of the asynchronous parts, shared by order-service, inventory-service,
// shipping-service and notification-service: the inventory gRPC definition,
// a kafkajs client tuned for a local broker, and an amqplib connection that
// waits for RabbitMQ. Require it after ./tracing (the instrumentations patch
// @grpc/grpc-js, kafkajs and amqplib when they are first loaded).

const fs = require('fs');
const path = require('path');

const SHIPPING_TOPIC = 'shipping-queue';
const NOTIFICATION_EXCHANGE = 'notifications';
const SHIPPED_ROUTING_KEY = 'order.shipped';

// shop.inventory.Inventory from inventory.proto (keepCase: order_id stays order_id;
// enums as their names: "OK" / "FAILED").
function loadInventoryService() {
  const grpc = require('@grpc/grpc-js');
  const protoLoader = require('@grpc/proto-loader');
  const def = protoLoader.loadSync(path.join(__dirname, 'inventory.proto'), {
    keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true,
  });
  return { grpc, Inventory: grpc.loadPackageDefinition(def).shop.inventory.Inventory };
}

function kafkaBrokers() {
  return String(process.env.KAFKA_BROKERS || '').split(',').map((s) => s.trim()).filter(Boolean);
}

// A kafkajs client for a broker on this machine: short timeouts and retries, so a
// missing broker is reported in seconds rather than minutes.
function createKafka(clientId) {
  const { Kafka, logLevel } = require('kafkajs');
  const brokers = kafkaBrokers();
  if (brokers.length === 0) throw new Error('KAFKA_BROKERS is not set (host:port[,host:port...])');
  return new Kafka({
    clientId,
    brokers,
    connectionTimeout: 2000,
    requestTimeout: 10000,
    retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 5 },
    logLevel: logLevel.WARN,
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The broker's URL: AMQP_URL, or else the first line of the file AMQP_URL_FILE
// once it exists (start.sh starts the RabbitMQ clients while RabbitMQ is still
// booting and writes the file when it is ready).
async function amqpUrl(deadline) {
  if (process.env.AMQP_URL) return process.env.AMQP_URL;
  const file = process.env.AMQP_URL_FILE;
  if (!file) throw new Error('AMQP_URL is not set (amqp://127.0.0.1:5672), nor AMQP_URL_FILE');
  for (;;) {
    let url = '';
    try { url = fs.readFileSync(file, 'utf8').split('\n')[0].trim(); } catch (_) { /* not yet */ }
    if (url) return url;
    if (Date.now() > deadline) throw new Error(`no AMQP URL in ${file}`);
    await sleep(100);
  }
}

// Connects to RabbitMQ, retrying until AMQP_CONNECT_TIMEOUT_MS (default 120 s)
// have passed (RabbitMQ may still be booting).
async function connectAmqp(serviceName) {
  const amqp = require('amqplib');
  const timeoutMs = Number(process.env.AMQP_CONNECT_TIMEOUT_MS) || 120000;
  const deadline = Date.now() + timeoutMs;
  const url = await amqpUrl(deadline);
  for (;;) {
    try {
      const conn = await amqp.connect(url, { clientProperties: { connection_name: serviceName } });
      conn.on('error', (err) => console.error(`${serviceName}: AMQP connection error: ${err.message}`));
      return conn;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      console.error(`${serviceName}: waiting for RabbitMQ at ${url}: ${err.message}`);
      await sleep(250);
    }
  }
}

module.exports = {
  SHIPPING_TOPIC, NOTIFICATION_EXCHANGE, SHIPPED_ROUTING_KEY,
  loadInventoryService, kafkaBrokers, createKafka, connectAmqp, sleep,
};
