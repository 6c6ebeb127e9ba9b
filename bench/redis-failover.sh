#!/usr/bin/env bash
# Selling through the loss of a Redis primary (docs/architecture.md, "When Redis goes away"):
# a private Redis Cluster (3 shards x 1 replica, cluster-node-timeout 1 s) under train-service
# and booking-service in-process (PostgreSQL and RabbitMQ: the shared ones, with a database
# and names of their own, removed afterwards). First the cost of making a hold wait for its
# replica (the hold-like script alone, then with WAIT 1 100); then passengers select random
# seats while the primary of the trip's slot is SIGKILLed: the answers per second on stderr,
# one JSON line on stdout (select rates before/during/after, refusal window, promotion delay,
# readiness). Release build by default (FAILOVER_PROFILE=debug for a quick look).
#   bench/redis-failover.sh [--clients N] [--seats N] [--hold-ttl-ms MS] [--before-secs S]
#                           [--after-secs S] [--wait-secs S]
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${FAILOVER_PROFILE:-release}
release=()
[ "$profile" = release ] && release=(--release)
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
export TEST_AMQP_URL=${TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
cargo build --quiet "${release[@]}" -p e2e --features stack --bin redis-failover
target=${CARGO_TARGET_DIR:-target}
exec "$target/$profile/redis-failover" "$@"
