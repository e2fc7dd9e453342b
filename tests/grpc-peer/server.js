// A real gRPC server (grpc-js) for tbt's grpc trigger tests: serves
// inventory.proto on 127.0.0.1, an ephemeral port printed on stdout as
// "PORT <n>". Reserve echoes what arrived (traceparent, tracestate,
// authorization, x-tenant metadata); Lookup answers NOT_FOUND; a call whose
// authorization is "Bearer wrong" gets UNAUTHENTICATED.
'use strict';
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const def = loader.loadSync(path.join(__dirname, 'inventory.proto'), {
  keepCase: false, longs: String, enums: String, defaults: false, oneofs: true,
});
const inventory = grpc.loadPackageDefinition(def).inventory;

function md(call, key) {
  const v = call.metadata.get(key);
  return v.length ? String(v[0]) : '';
}

const server = new grpc.Server();
server.addService(inventory.Inventory.service, {
  Reserve(call, cb) {
    if (md(call, 'authorization') === 'Bearer wrong') {
      cb({ code: grpc.status.UNAUTHENTICATED, details: 'bad token' });
      return;
    }
    const req = call.request;
    const trailer = new grpc.Metadata();
    trailer.set('x-reserved-by', 'peer');
    const header = new grpc.Metadata();
    header.set('x-inventory', 'v1');
    call.sendMetadata(header);
    cb(null, {
      status: req.quantity > 10 ? 'BACKORDERED' : 'RESERVED',
      reserved: req.quantity,
      createdAt: { seconds: 1714557600, nanos: 500000000 },
      traceparent: md(call, 'traceparent'),
      tracestate: md(call, 'tracestate'),
      authorization: md(call, 'authorization'),
      tenant: md(call, 'x-tenant') + '|' + (req.metadata ? (req.metadata.origin || '') : ''),
      big: '9007199254740993',
    }, trailer);
  },
  Lookup(call, cb) {
    cb({ code: grpc.status.NOT_FOUND, details: 'sku ' + call.request.sku + ' not found' });
  },
  Watch(call) {
    call.end();
  },
});

server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    console.error(err.message);
    process.exit(1);
  }
  process.stdout.write('PORT ' + port + '\n');
});

// Stop with the test: stdin closing means the parent went away.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
