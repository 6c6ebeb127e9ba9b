#!/usr/bin/env bash
# Train searches per second, direct to a private release build of train-service (own
# database, Redis prefix and exchange on this machine's shared stores), seeded with TRAINS
# trains a day: wrk with CONNECTIONS connections asks tomorrow's DHK -> CTG for SECONDS
# seconds, after a 3 s warm-up that fills the search cache; so this measures the cached
# search, the one every passenger repeats in a rush. Prints the rate, the p99 and
# train-service's CPU time a request (user + system from /proc over the timed run).
#   bench/search-rush.sh [seconds=10] [connections=64] [trains=20]
# BENCH_BIN_DIR runs the release binary of another build (an A/B against the previous
# commit: its target/release, or a copy of it); list several, separated by spaces, to
# alternate them in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib/private.sh
. bench/lib/private.sh
seconds=${1:-10}
connections=${2:-64}
trains=${3:-20}
command -v wrk >/dev/null || { echo "wrk is missing (Debian: wrk)" >&2; exit 2; }
if [ -z "${BENCH_BIN_DIR:-}" ]; then
  cargo build --release -q -p train-service --bins
fi
bins=${BENCH_BIN_DIR:-target/release}

bench_private train
openssl genpkey -algorithm ed25519 -out "$work/private.pem" 2>/dev/null
openssl pkey -in "$work/private.pem" -pubout -out "$work/public.pem"
env=(APP_REDIS__KEY_PREFIX="bench:$run:" APP_AMQP__EXCHANGE="bench.$run.events"
     APP_AMQP__QUEUE_PREFIX="bench.$run." APP_JWT__PUBLIC_KEY_PATH="$work/public.pem"
     APP_DATABASE__URL="postgres://postgres@127.0.0.1:5432/bench_train_$run" RUST_LOG=warn)
first=${bins%% *}
env "${env[@]}" "$first/train-service" seed --trains "$trains" --days 3 >/dev/null

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB; $(date -u +%F)"
printf '%-40s %12s %9s %14s\n' build requests/s p99 "CPU µs a req"
for bin in $bins; do
  port=$(bench_free_port)
  env "${env[@]}" APP_HTTP__PORT="$port" "$bin/train-service" >"$work/train.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  bench_ready "$port" "$work/train.log"
  url="http://127.0.0.1:$port/api/trains/search?from=DHK&to=CTG&date=$(date -u -d tomorrow +%F)"
  curl -fs "$url" | grep -q '"trip_id"' || { echo "the search found no trip" >&2; exit 1; }
  wrk -t2 -c"$connections" -d3s "$url" >/dev/null
  before=$(cpu "$pid")
  out=$(wrk -t2 -c"$connections" -d"${seconds}s" --latency "$url")
  after=$(cpu "$pid")
  requests=$(awk '/requests in/{print $1}' <<<"$out")
  printf '%-40s %12s %9s %14s\n' "$bin" "$(awk '/Requests\/sec/{print $2}' <<<"$out")" \
    "$(awk '$1 == "99%" {print $2}' <<<"$out")" \
    "$(awk -v t=$((after - before)) -v n="$requests" -v hz="$(getconf CLK_TCK)" \
      'BEGIN {printf "%.1f", t * 1e6 / hz / n}')"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
done
