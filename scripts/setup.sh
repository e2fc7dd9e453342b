#!/usr/bin/env bash
# Installs every Debian package tbt needs to build and test (Debian 12).
# Idempotent: quiet when everything is already installed.
set -euo pipefail

PKGS=(
  build-essential meson ninja-build pkg-config
  clang libclang-rt-14-dev          # libFuzzer harnesses, sanitizer runtimes
  valgrind
  libyaml-dev libcjson-dev libpcre2-dev zlib1g-dev libssl-dev
  libprotobuf-c-dev protobuf-c-compiler
  librdkafka-dev librabbitmq-dev libcurl4-openssl-dev
  libmicrohttpd-dev libnghttp2-dev
  check
  postgresql curl                   # examples/checkout-system (system under test)
  rabbitmq-server                   # the amqp trigger's tests (tests/rabbitmq.sh runs a throwaway node)
  kcat wrk                          # a Kafka client for the broker test; the ingest bench's load client
  python3-jsonschema libxml2-utils  # tests/test_schemas.sh: the documented report schemas hold
  python3-prometheus-client         # tests/integration/test_metrics.sh: /metrics parsed by Prometheus's parser
  chromium fonts-dejavu-core        # tests/integration/test_html_report.sh (playwright-core drives it)
)
# Node.js + npm for examples/checkout-system: Debian's, unless a node is already
# on PATH (e.g. NodeSource's nodejs, which bundles npm).
if ! command -v node >/dev/null 2>&1; then
  PKGS+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1 &&
     dpkg-query -W -f='${Version}' nodejs 2>/dev/null | grep -qv nodesource; then
  PKGS+=(npm)                       # Debian's nodejs without its npm
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
