#!/usr/bin/env bash
# The chaos harness (e2e/src/chaos, docs/reliability.md). Builds the services' binaries and the
# `chaos` binary (debug by default; CHAOS_PROFILE=release for release builds), then runs it:
# the services as processes on private PostgreSQL, Redis and RabbitMQ (free ports,
# temporary directories; the shared servers are never touched), passengers booking while
# faults strike at random moments of a seeded RNG, and the checker after every round.
#   bench/chaos.sh --rounds N [--seed S] [--passengers P] [--keep]   long mode: every fault kind each round
#   bench/chaos.sh --quick [--seed S]                                quick mode (scripts/test.sh): one round, 3 faults
# Exits 0 when no violation was found, 1 on violations, 2 when the run itself failed.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${CHAOS_PROFILE:-debug}
args=()
for arg in "$@"; do
  if [ "$arg" = --quick ]; then args+=(--rounds 1 --faults 3); else args+=("$arg"); fi
done
[ "${#args[@]}" -gt 0 ] || args=(--rounds 1)
release=()
[ "$profile" = release ] && release=(--release)
cargo build --quiet "${release[@]}" -p e2e --features chaos --bin chaos
cargo build --quiet "${release[@]}" --workspace --bins   # every service binary, a new one too
target=${CARGO_TARGET_DIR:-target}
exec "$target/$profile/chaos" "${args[@]}"
