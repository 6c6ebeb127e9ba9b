#!/usr/bin/env bash
# The seeds' demo scenes, played against the local stack through its gateway and printed as
# they happen (e2e/src/bin/demo.rs has the details):
#   flash-sale    100 passengers press "buy" at the same moment for the same 100 seats
#   service-down  passengers keep buying while booking-service is SIGKILLed and comes back
#                 (scripts/start.sh starts a service that exits again)
#   viewers       two viewers of one trip's live seat map see a hold, a release and a sale
# Then railrush-check reads the databases (no seat sold twice, one payment and one ticket per
# paid booking, outboxes drained).
#
#   bench/demo.sh [all|flash-sale|service-down|viewers]
#
# Uses the running local stack (scripts/start.sh), or starts one and stops it afterwards.
# The scenes' passengers sign up at auth-service first (206 accounts a run).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/stack.sh
. scripts/lib/stack.sh
scene=${1:-all}

work=$(mktemp -d)
cleanup() {
    rr_stop_stack
    rm -rf "$work"
}
trap cleanup EXIT

rr_use_or_start_stack "$work/stack.log"
cargo build --release -q -p e2e --bin demo --bin railrush-check
target/release/demo "$scene" --run-dir "$RAILRUSH_RUN" --auth http://127.0.0.1:8081 \
    --gateway "http://127.0.0.1:$RAILRUSH_GATEWAY_PORT"
printf '\n== The databases afterwards\n'
target/release/railrush-check --settle 60 --pg-base-url "$RAILRUSH_PG_BASE_URL"
