# syntax=docker/dockerfile:1
#
# One image per RailRush service, chosen at build time:
#
#   docker build --build-arg SERVICE=booking-service --build-arg PORT=8083 -t railrush/booking-service .
#
# SERVICE is the Cargo package name, which is also the binary name. Stages:
#   chef     Rust toolchain + cargo-chef
#   planner  computes recipe.json (the dependency graph of SERVICE only) from the manifests
#   builder  compiles the dependencies from the recipe (a layer that only changes when
#            Cargo.toml/Cargo.lock change), then the workspace source
#   runtime  debian:bookworm-slim, the one binary, a non-root user, a health check
#
# Migrations are embedded in the binary and applied by the service at start-up (`serve`, the
# default command; `migrate` alone as the container's arguments); all configuration comes
# from the environment (APP_*, see docs/deployment.md).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS chef
ARG CARGO_CHEF_VERSION=0.1.78
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /app

FROM chef AS planner
ARG SERVICE
COPY . .
RUN test -n "${SERVICE}" || { echo "build with --build-arg SERVICE=<crate>" >&2; exit 1; } \
 && cargo chef prepare --recipe-path recipe.json --bin "${SERVICE}"

FROM chef AS builder
ARG SERVICE
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --bin "${SERVICE}"
COPY . .
RUN cargo build --release --locked --package "${SERVICE}" --bin "${SERVICE}" \
 && install -D -m 0755 "target/release/${SERVICE}" /out/service

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ARG SERVICE
ARG PORT=8080
# curl serves the HEALTHCHECK; ca-certificates lets the service reach TLS endpoints
# (managed PostgreSQL, Redis and Amazon MQ in production).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 railrush \
 && useradd --system --uid 10001 --gid railrush --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin railrush
COPY --from=builder /out/service /usr/local/bin/service
LABEL org.opencontainers.image.title="railrush-${SERVICE}" \
      org.opencontainers.image.source="https://github.com/railrush/railrush"
ENV RAILRUSH_SERVICE=${SERVICE} \
    APP_HTTP__HOST=0.0.0.0 \
    APP_HTTP__PORT=${PORT} \
    APP_LOG__FORMAT=json \
    RUST_LOG=info
USER 10001:10001
EXPOSE ${PORT}
# Shell form on purpose: the port is read at run time, so it follows APP_HTTP__PORT overrides.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${APP_HTTP__PORT}/health/live" || exit 1
ENTRYPOINT ["/usr/local/bin/service"]
