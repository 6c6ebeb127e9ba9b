#!/usr/bin/env bash
# Requests per second to a private release build of train-service (own database, Redis
# prefix and exchange on this machine's shared stores), seeded with TRAINS trains a day: wrk
# with CONNECTIONS connections for SECONDS seconds, after a 3 s warm-up, asks
#   search     tomorrow's DHK -> CTG: the cached search (the warm-up fills the cache), the
#              one every passenger repeats in a rush;
#   inventory  the first such trip's internal inventory (its seat list), what booking-service
#              fetched at every refresh before the inventory's ETag;
#   refresh    the same with If-None-Match naming its current ETag: a refresh of an
#              unchanged trip.
# Prints the rate, the p99, and train-service's and PostgreSQL's CPU time a request (user +
# system from /proc over the timed run; PostgreSQL's is the shared server's, all of it).
#   bench/search-rush.sh [seconds=10] [connections=64] [trains=20] [search|inventory|refresh]
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
what=${4:-search}
case $what in search | inventory | refresh) ;; *) echo "unknown: $what" >&2; exit 2 ;; esac
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
# The shared PostgreSQL: its postmaster, live backends and ended ones (cutime + cstime).
pg_cpu() {
  local pm t=0 p
  pm=$(pgrep -o -x postgres || pgrep -o postgres)
  for p in $pm $(pgrep -P "$pm"); do
    [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat")))
  done
  echo "$t"
}
echo "machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB; $(date -u +%F); $what"
printf '%-40s %12s %9s %14s %14s\n' build requests/s p99 "service µs/req" "postgres µs/req"
for bin in $bins; do
  port=$(bench_free_port)
  env "${env[@]}" APP_HTTP__PORT="$port" "$bin/train-service" >"$work/train.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  bench_ready "$port" "$work/train.log"
  url="http://127.0.0.1:$port/api/trains/search?from=DHK&to=CTG&date=$(date -u -d tomorrow +%F)"
  trip=$(curl -fs "$url" | grep -o '"trip_id":[0-9]*' | head -1 | cut -d: -f2)
  [ -n "$trip" ] || { echo "the search found no trip" >&2; exit 1; }
  header=()
  if [ "$what" != search ]; then
    url="http://127.0.0.1:$port/internal/trips/$trip/inventory"
    etag=$(curl -fs -D - -o /dev/null "$url" | tr -d '\r' | awk 'tolower($1) == "etag:" {print $2}')
    if [ "$what" = refresh ]; then
      [ -n "$etag" ] || { echo "$bin: the inventory has no ETag" >&2; continue; }
      header=(-H "If-None-Match: $etag")
    fi
  fi
  wrk -t2 -c"$connections" -d3s "${header[@]}" "$url" >/dev/null
  before=$(cpu "$pid") pg_before=$(pg_cpu)
  out=$(wrk -t2 -c"$connections" -d"${seconds}s" --latency "${header[@]}" "$url")
  after=$(cpu "$pid") pg_after=$(pg_cpu)
  requests=$(awk '/requests in/{print $1}' <<<"$out")
  per() { awk -v t="$1" -v n="$requests" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}'; }
  printf '%-40s %12s %9s %14s %14s\n' "$bin" "$(awk '/Requests\/sec/{print $2}' <<<"$out")" \
    "$(awk '$1 == "99%" {print $2}' <<<"$out")" "$(per $((after - before)))" \
    "$(per $((pg_after - pg_before)))"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
done
