'use strict';
// Helpers shared by the services: JSON over http.request (instrumented
// by @opentelemetry/instrumentation-http, so W3C trace context propagates;
// Node's global fetch() is not covered by that instrumentation), bug
// switches, /healthz and startup (PORT, PORT_FILE, "LISTENING <port>").

const fs = require('fs');
const http = require('http');
const path = require('path');

// Every service accepts every name (so one POST can go to all of them); each
// bug acts in one service only (see README.md).
const KNOWN_BUGS = ['double-charge', 'slow-payment', 'late-duplicate', 'double-shipping', 'inventory-failure'];

function parseBugList(value) {
  return String(value || '').split(',').map((s) => s.trim()).filter(Boolean);
}

// The active bugs of this process: BUGS at startup, POST /admin/bugs at runtime.
const bugs = new Set();
for (const b of parseBugList(process.env.BUGS)) {
  if (KNOWN_BUGS.includes(b)) bugs.add(b);
  else console.error(`ignoring unknown bug "${b}" in BUGS (known: ${KNOWN_BUGS.join(', ')})`);
}

function bugEnabled(name) {
  return bugs.has(name);
}

function requestJson(method, url, body, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers = { Accept: 'application/json' };
    if (payload) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = payload.length;
    }
    const req = http.request(url, { method, headers, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
        resolve({ status: res.statusCode, body: json, text });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

// GET /healthz and GET|POST /admin/bugs (not traced: see tracing.js).
// options.ready: a function; while it returns false, /healthz answers 503
// (services that must connect to a broker before they are of any use).
function addAdminRoutes(app, serviceName, options = {}) {
  const ready = options.ready || (() => true);
  app.get('/healthz', (req, res) => {
    if (!ready()) return res.status(503).json({ status: 'starting', service: serviceName });
    res.json({ status: 'ok', service: serviceName });
  });
  app.get('/admin/bugs', (req, res) => {
    res.json({ service: serviceName, bugs: [...bugs], known: KNOWN_BUGS });
  });
  app.post('/admin/bugs', (req, res) => {
    let list = req.body && req.body.bugs;
    if (typeof list === 'string') list = parseBugList(list);
    if (!Array.isArray(list) || list.some((b) => typeof b !== 'string')) {
      return res.status(400).json({ error: 'expected {"bugs": ["name", ...]}', known: KNOWN_BUGS });
    }
    const unknown = list.filter((b) => !KNOWN_BUGS.includes(b));
    if (unknown.length) {
      return res.status(400).json({ error: `unknown bug(s): ${unknown.join(', ')}`, known: KNOWN_BUGS });
    }
    bugs.clear();
    for (const b of list) bugs.add(b);
    console.log(`bugs now: [${[...bugs].join(', ')}]`);
    res.json({ service: serviceName, bugs: [...bugs], known: KNOWN_BUGS });
  });
}

// Malformed JSON bodies answer 400 instead of express's HTML error page.
function jsonErrorHandler(err, req, res, next) {
  if (res.headersSent) return next(err);
  const status = err.status || err.statusCode || 500;
  if (status >= 500) console.error(err);
  res.status(status).json({ error: status >= 500 ? 'internal error' : err.message });
}

// PORT-like variable: "" or unset gives the default; exits on a bad value.
function portFromEnv(serviceName, envName, defaultPort) {
  const raw = process.env[envName];
  const port = raw === undefined || raw === '' ? defaultPort : Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`${serviceName}: invalid ${envName} "${raw}"`);
    process.exit(2);
  }
  return port;
}

// Writes the port to the file named by the variable envName, if set: write then
// rename, so a reader never sees a partial file.
function writePortFile(envName, port) {
  const portFile = process.env[envName];
  if (!portFile) return;
  const tmp = path.join(path.dirname(portFile), `.${path.basename(portFile)}.${process.pid}`);
  fs.writeFileSync(tmp, `${port}\n`);
  fs.renameSync(tmp, portFile);
}

// Listens on PORT (0: any free port) and HOST (default 127.0.0.1), then prints
// "LISTENING <port>" on stdout and writes the port to PORT_FILE if set.
// options {portEnv, portFileEnv, label} name other variables and another
// stdout label (inventory-service's admin port: ADMIN_PORT, ADMIN_PORT_FILE, ADMIN).
function listen(app, serviceName, defaultPort, options = {}) {
  const { portEnv = 'PORT', portFileEnv = 'PORT_FILE', label = 'LISTENING' } = options;
  const port = portFromEnv(serviceName, portEnv, defaultPort);
  const host = process.env.HOST || '127.0.0.1';
  const server = http.createServer(app);
  server.keepAliveTimeout = 65000;
  server.on('error', (err) => {
    console.error(`${serviceName}: cannot listen on ${host}:${port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    const actual = server.address().port;
    writePortFile(portFileEnv, actual);
    process.stdout.write(`${label} ${actual}\n`);
  });
  return server;
}

module.exports = {
  KNOWN_BUGS, bugEnabled, requestJson, addAdminRoutes, jsonErrorHandler, listen,
  portFromEnv, writePortFile,
};
