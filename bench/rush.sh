#!/usr/bin/env bash
# A sale's opening with its waiting room, through the gateway of the local stack
# (e2e/src/bin/rush-bench.rs does the work; see its header):
#   PASSENGERS verified passengers (access tokens minted with the development key: set-up,
#   not the HTTP sign-up) join the pre-queue of a sale that opens OPENS_IN seconds later;
#   POLLERS clients poll the sale's public status through the gateway's micro-cache; after
#   the opening a sample follows its places, and each admitted one selects and confirms a
#   seat with its pass. Then railrush-check verifies the databases (no seat sold twice).
#
#   bench/rush.sh [passengers=100000] [pollers=20000] [opens_in=150] [sample=2000]
#
# Uses the running local stack, or starts one with the load profile (the gateway's and
# booking-service's per-passenger limits lifted) and a fast admission rate:
#   RAILRUSH_GATEWAY_PROFILE=load APP_QUEUE__ADMIT_PER_MINUTE=60000 scripts/start.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh
passengers=${1:-100000}
pollers=${2:-20000}
opens_in=${3:-150}
sample=${4:-2000}

work=$(mktemp -d)
cleanup() {
    rr_stop_stack
    rm -rf "$work"
}
trap cleanup EXIT

# For these figures start the stack with the load profile and a fast admission rate.
rr_use_or_start_stack "$work/stack.log" RAILRUSH_GATEWAY_PROFILE=load \
    APP_QUEUE__ADMIT_PER_MINUTE=60000 RAILRUSH_RUSH_IN=

cargo build --release -q -p e2e --bin rush-bench --bin railrush-check
cargo build --release -q -p booking-service --example mint_tokens
key="$RAILRUSH_KEYS/jwt_private.pem"
target/release/examples/mint_tokens "$key" "$passengers" >"$work/tokens"
admin=$(target/release/examples/mint_tokens "$key" 1 admin)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

rr_log "rush: $passengers passengers, $pollers status pollers, the opening in ${opens_in}s, a sample of $sample buying"
target/release/rush-bench --tokens "$work/tokens" --admin-token "$admin" \
    --opens-in "$opens_in" --pollers "$pollers" --sample "$sample" | tee "$work/report.json"
target/release/railrush-check --settle 60 --pg-base-url "$RAILRUSH_PG_BASE_URL"
