'use strict';
// Shared OpenTelemetry setup for every service of the checkout system.
// Load it before anything else: `node -r ./tracing.js service.js`, or
// `require('./tracing')` on the first line of the service (both are fine,
// Node loads the module once).
//
// Environment (all optional):
//   OTEL_SERVICE_NAME                    service.name of the resource
//   OTEL_EXPORTER_OTLP_PROTOCOL          http/protobuf (default) | http/json | grpc
//   OTEL_EXPORTER_OTLP_TRACES_PROTOCOL   overrides the above for traces
//   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT   full URL: http://host:4318/v1/traces (HTTP),
//                                        http://host:4317 (gRPC)
//   OTEL_EXPORTER_OTLP_ENDPOINT          base URL; the HTTP exporters append /v1/traces
//   OTEL_EXPORTER_OTLP_COMPRESSION       gzip | none (read by the exporters themselves)
//   OTEL_BSP_SCHEDULE_DELAY              batch delay in ms (SDK default 5000)
//   OTEL_METRICS_EXPORTER, OTEL_LOGS_EXPORTER
//                                        default to "none" here: this system only
//                                        exports traces unless asked otherwise
//   OTEL_PROPAGATORS                     default tracecontext,baggage (W3C)
//   OTEL_LOG_LEVEL                       SDK diagnostics on stderr (e.g. debug)
//   AMQP_CONSUME_LINKS                   1 (default): a RabbitMQ consumer span starts a
//                                        new trace with a span link to the publisher's
//                                        context (what the messaging conventions
//                                        prefer); 0: it is the publisher's child

// Traces only, unless the caller explicitly wants metrics or logs.
if (!process.env.OTEL_METRICS_EXPORTER) process.env.OTEL_METRICS_EXPORTER = 'none';
if (!process.env.OTEL_LOGS_EXPORTER) process.env.OTEL_LOGS_EXPORTER = 'none';

const { NodeSDK } = require('@opentelemetry/sdk-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express');
const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg');
const { GrpcInstrumentation } = require('@opentelemetry/instrumentation-grpc');
const { KafkaJsInstrumentation } = require('@opentelemetry/instrumentation-kafkajs');
const { AmqplibInstrumentation } = require('@opentelemetry/instrumentation-amqplib');

function envInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : fallback;
}

function createTraceExporter(protocol) {
  // The exporters read OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, *_HEADERS,
  // *_COMPRESSION and *_TIMEOUT from the environment on their own.
  switch (protocol) {
    case 'grpc': {
      const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
      return new OTLPTraceExporter();
    }
    case 'http/json': {
      const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
      return new OTLPTraceExporter();
    }
    case 'http/protobuf': {
      const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
      return new OTLPTraceExporter();
    }
    default:
      throw new Error(`tracing: unsupported OTLP protocol "${protocol}" ` +
        '(use http/protobuf, http/json or grpc)');
  }
}

const protocol = (process.env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ||
  process.env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf').trim();

// Requests that are not part of the business flow produce no traces.
const quietPaths = /^\/(healthz|admin\/)/;

const sdk = new NodeSDK({
  spanProcessors: [
    new BatchSpanProcessor(createTraceExporter(protocol), {
      scheduledDelayMillis: envInt('OTEL_BSP_SCHEDULE_DELAY', 5000),
    }),
  ],
  instrumentations: [
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (req) => quietPaths.test(req.url || ''),
    }),
    new ExpressInstrumentation(),
    // Startup queries (CREATE TABLE) have no parent: keep them out of the traces.
    new PgInstrumentation({ requireParentSpan: true }),
    // @grpc/grpc-js client and server spans (inventory-service); W3C context in
    // the gRPC metadata. The OTLP/gRPC exporter's own calls are not traced (the
    // SDK suppresses tracing while exporting).
    new GrpcInstrumentation(),
    // kafkajs: a PRODUCER span "send <topic>" per message, traceparent injected
    // into the record headers; an eachMessage consumer gets a CONSUMER span
    // "process <topic>" that is a child of the extracted context (same trace).
    new KafkaJsInstrumentation(),
    // amqplib: PRODUCER "publish <exchange>" (traceparent in the AMQP headers),
    // CONSUMER "<queue> process", ended on ack.
    new AmqplibInstrumentation({ useLinksForConsume: process.env.AMQP_CONSUME_LINKS !== '0' }),
  ],
});

sdk.start();

// Flush the batched spans before the process goes away.
let shuttingDown = false;
function shutdown(signal) {
  if (shuttingDown) return;
  shuttingDown = true;
  const hardExit = setTimeout(() => process.exit(0), 5000);
  hardExit.unref();
  sdk.shutdown()
    .catch((err) => console.error(`tracing: shutdown failed: ${err && err.message}`))
    .finally(() => {
      console.error(`tracing: ${signal}: spans flushed, exiting`);
      process.exit(0);
    });
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

module.exports = { sdk, protocol };
