#!/usr/bin/env bash
# The demo: installs what is missing, builds tbt, and evaluates the checkout
# test against two captured traces of the checkout system: a healthy one
# (passes) and one with the seeded bugs (card charged twice, slow INSERT),
# which fails with the observed values.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
if [ ! -f build/build.ninja ]; then
  meson setup build >/dev/null
fi
ninja -C build tbt >/dev/null

echo "== healthy system =="
build/tbt eval -f examples/checkout.yaml --trace examples/traces/checkout-healthy.otlp.json || true
echo
echo "== buggy system (exit code 2 expected) =="
set +e
build/tbt eval -f examples/checkout.yaml --trace examples/traces/checkout-buggy.otlp.json --junit build/demo-junit.xml
echo "exit code: $?  (JUnit report: build/demo-junit.xml)"
