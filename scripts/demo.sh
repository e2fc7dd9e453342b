#!/usr/bin/env bash
# The demo: installs what is missing, builds tbt, starts the checkout system
# (Node.js services with the OpenTelemetry JS SDK, a throwaway PostgreSQL) and
# runs examples/checkout.yaml with `tbt run` against it: once healthy (passes),
# then with the seeded bugs switched on — the card charged twice, a slow
# payment — while the API still answers 200 (fails, with the observed values).
# Finally it evaluates the two captured traces in examples/traces offline.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

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

echo "== starting the checkout system (exporting OTLP to 127.0.0.1:$HTTP_PORT) =="
OTEL_BSP_SCHEDULE_DELAY=100 examples/checkout-system/start.sh "$STATE" "http://127.0.0.1:$HTTP_PORT/v1/traces" http/protobuf
# shellcheck disable=SC1091
. "$STATE/env"

run() {
  build/tbt run -f examples/checkout.yaml --vars examples/vars.yaml --var "GATEWAY_URL=$GATEWAY_URL" \
    --otlp-http "127.0.0.1:$HTTP_PORT" --otlp-grpc "127.0.0.1:$GRPC_PORT" "$@"
}
bugs() {
  for u in "$GATEWAY_URL" "$ORDER_URL" "$PAYMENT_URL"; do
    curl -fsS -X POST -H 'Content-Type: application/json' -d "{\"bugs\": [$1]}" "$u/admin/bugs" >/dev/null
  done
}

echo
echo "== healthy system =="
run -v || true
echo
echo "== buggy system: double charge and slow payment; the API still answers 200 (exit code 2 expected) =="
bugs '"double-charge", "slow-payment"'
set +e
run --junit build/demo-junit.xml
echo "exit code: $?  (JUnit report: build/demo-junit.xml)"
set -e
bugs ''

echo
echo "== offline: the same test on two captured traces (tbt eval) =="
build/tbt eval -f examples/checkout.yaml --trace examples/traces/checkout-healthy.otlp.json || true
build/tbt eval -f examples/checkout.yaml --trace examples/traces/checkout-buggy.otlp.json || true
