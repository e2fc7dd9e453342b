# syntax=docker/dockerfile:1
# The tbt image: one binary, `tbt`, as the entrypoint.
#
#   docker build -t tbt:0.1.0 .
#   docker run --rm tbt:0.1.0 --version
#   docker run --rm -p 4317:4317 -p 4318:4318 tbt:0.1.0 agent --brokers kafka:9092 \
#       --environment staging --otlp-http 0.0.0.0:4318 --otlp-grpc 0.0.0.0:4317
#
# The Helm chart (helm/tbt) runs it as agents and as the coordinator.

# ---- build: the Debian packages of scripts/setup.sh that building needs ----
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential meson ninja-build pkg-config \
      libyaml-dev libcjson-dev libpcre2-dev zlib1g-dev libssl-dev \
      libprotobuf-c-dev protobuf-c-compiler \
      librdkafka-dev librabbitmq-dev libcurl4-openssl-dev \
      libmicrohttpd-dev libnghttp2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Only the tbt binary: no Check suites (-Dtests=false), no benchmarks.
RUN meson setup /build --buildtype=release -Dtests=false \
 && meson compile -C /build tbt:executable \
 && install -D -m 0755 /build/tbt /out/usr/local/bin/tbt \
 && /out/usr/local/bin/tbt --version

# ---- runtime: the shared libraries tbt links, CA certificates, nothing else ----
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 librabbitmq4 libcurl4 libcjson1 libyaml-0-2 libmicrohttpd12 \
      libnghttp2-14 libprotobuf-c1 libpcre2-8-0 zlib1g ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tbt \
 && useradd --system --uid 10001 --gid tbt --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin tbt
COPY --from=build /out/ /
# Fails the build when a shared library is missing.
RUN tbt --version
# uid 10001 is the chart's podSecurityContext.runAsUser.
USER 10001:10001
# OTLP/gRPC and OTLP/HTTP: listen on them with --otlp-grpc 0.0.0.0:4317
# --otlp-http 0.0.0.0:4318 (tbt's default is 127.0.0.1, unreachable from
# outside the container); Prometheus /metrics with --metrics 0.0.0.0:9464.
EXPOSE 4317 4318 9464
ENTRYPOINT ["tbt"]
CMD ["--help"]
