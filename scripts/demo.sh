#!/usr/bin/env bash
# The demo: installs what is missing, builds tbt, starts the checkout system
# (Node.js services instrumented with the OpenTelemetry JS SDK, a throwaway
# PostgreSQL, Kafka through `tbt broker`, RabbitMQ, a gRPC inventory service)
# and runs tests against it with `tbt run`:
#   1. examples/checkout.yaml: healthy (passes), then with the seeded bugs — the
#      card charged twice, a slow payment — while the API still answers 200;
#   2. examples/async-checkout.yaml (the seed's example across Kafka, gRPC and
#      RabbitMQ): healthy, then with the shipping event published twice;
#   3. tbt eval of examples/checkout.yaml on two captured traces, offline;
#   4. tbt lint: the instrumentation audit of the trace step 1 captured.
# The buggy checkout run also writes build/demo-report.html (HTML report).
# Needs root (RabbitMQ and PostgreSQL are started as their own users).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
if [ ! -f build/build.ninja ]; then
  meson setup build >/dev/null
fi
ninja -C build tbt >/dev/null

STATE=$(mktemp -d)
trap 'examples/checkout-system/stop.sh "$STATE" >/dev/null 2>&1 || true; rm -rf "$STATE"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
HTTP_PORT=$(free_port)
GRPC_PORT=$(free_port)

echo "== starting the checkout system (exporting OTLP to 127.0.0.1:$HTTP_PORT; Kafka, RabbitMQ and gRPC too) =="
ASYNC=1 TBT_BIN="$PWD/build/tbt" OTEL_BSP_SCHEDULE_DELAY=100 \
  examples/checkout-system/start.sh "$STATE" "http://127.0.0.1:$HTTP_PORT/v1/traces" http/protobuf
# shellcheck disable=SC1091
. "$STATE/env"

run() {
  build/tbt run --vars examples/vars.yaml --var "GATEWAY_URL=$GATEWAY_URL" \
    --otlp-http "127.0.0.1:$HTTP_PORT" --otlp-grpc "127.0.0.1:$GRPC_PORT" "$@"
}
bugs() {
  for u in "$GATEWAY_URL" "$ORDER_URL" "$PAYMENT_URL" "$INVENTORY_URL"; do
    curl -fsS -X POST -H 'Content-Type: application/json' -d "{\"bugs\": [$1]}" "$u/admin/bugs" >/dev/null
  done
}

echo
echo "== 1. healthy system =="
rm -rf build/demo-traces
run -f examples/checkout.yaml -v --save-traces build/demo-traces || true
echo
echo "== 1. buggy system: double charge and slow payment; the API still answers 200 (exit code 2 expected) =="
bugs '"double-charge", "slow-payment"'
set +e
run -f examples/checkout.yaml --junit build/demo-junit.xml --report build/demo-report.html
echo "exit code: $?  (JUnit report: build/demo-junit.xml; open build/demo-report.html in a browser: the waterfall, the failing spans highlighted)"
set -e
bugs ''

echo
echo "== 2. the asynchronous flow: Kafka, gRPC, RabbitMQ (the notification's trace links to the test's) =="
run -f examples/async-checkout.yaml -v || true
echo
echo "== 2. the shipping event published twice (exit code 2 expected) =="
bugs '"double-shipping"'
set +e
run -f examples/async-checkout.yaml
echo "exit code: $?"
set -e
bugs ''

echo
echo "== 3. offline: the checkout test on two captured traces (tbt eval) =="
build/tbt eval -f examples/checkout.yaml --trace examples/traces/checkout-healthy.otlp.json || true
build/tbt eval -f examples/checkout.yaml --trace examples/traces/checkout-buggy.otlp.json || true
echo
echo "== 4. audit the instrumentation: the analyzer on the trace the live system produced in step 1 (tbt lint) =="
live_trace=$(ls build/demo-traces/*.otlp.json 2>/dev/null | head -1)
build/tbt lint --trace "${live_trace:-examples/traces/checkout-healthy.otlp.json}" || true
