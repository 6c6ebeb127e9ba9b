#!/usr/bin/env bash
# The seat-selection rush, measured: private release builds of train-service and
# booking-service (own databases, Redis prefix and exchanges), the brief's seed (5 trains x 5
# coaches x 55 seats; tomorrow's 5 trips are the bench trips), USERS minted tokens, and wrk
# with CONNECTIONS concurrent clients selecting random seats (1 or 2) for DURATION seconds,
# confirming every hold it gets. Afterwards it checks in PostgreSQL and Redis that no seat
# was sold twice and prints the answer mix, throughput and latency percentiles.
#   bench/select-rush.sh [duration_seconds=30] [connections=256] [users=5000]
# BENCH_AFTER=release releases every hold instead of confirming it (see bench/select.lua).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib/private.sh
. bench/lib/private.sh
duration=${1:-30}
connections=${2:-256}
users=${3:-5000}

need() { command -v "$1" >/dev/null || { s=""; [ "$(id -u)" = 0 ] || s=sudo; $s apt-get update -qq && $s apt-get install -y -qq "$2"; }; }
need wrk wrk
need openssl openssl

bench_private train booking
train_port=$(bench_free_port)
booking_port=$(bench_free_port)

cargo build --release -q -p train-service -p booking-service --bins --examples
openssl genpkey -algorithm ed25519 -out "$work/private.pem" 2>/dev/null
openssl pkey -in "$work/private.pem" -pubout -out "$work/public.pem"

common=(APP_REDIS__KEY_PREFIX="bench:$run:" APP_AMQP__EXCHANGE="bench.$run.events"
        APP_AMQP__QUEUE_PREFIX="bench.$run." APP_JWT__PUBLIC_KEY_PATH="$work/public.pem"
        APP_LOG__FORMAT=json RUST_LOG=warn)
train_env=("${common[@]}" APP_HTTP__PORT="$train_port"
           APP_DATABASE__URL="postgres://postgres@127.0.0.1:5432/bench_train_$run")
booking_env=("${common[@]}" APP_HTTP__PORT="$booking_port"
             APP_DATABASE__URL="postgres://postgres@127.0.0.1:5432/bench_booking_$run"
             APP_BOOKING__TRAIN_SERVICE_URL="http://127.0.0.1:$train_port"
             APP_BOOKING__SEATS_EXCHANGE="bench.$run.seats" APP_USER_LIMITS__ENABLED=false)

env "${train_env[@]}" target/release/train-service seed >/dev/null
env "${train_env[@]}" target/release/train-service >"$work/train.log" 2>&1 & pids+=($!)
env "${booking_env[@]}" target/release/booking-service >"$work/booking.log" 2>&1 & pids+=($!)
for port in "$train_port" "$booking_port"; do bench_ready "$port" "$work"/*.log; done

tomorrow=$(date -u -d tomorrow +%F)
trips=$(curl -fs "http://127.0.0.1:$train_port/api/trains/search?from=DHK&to=CTG&date=$tomorrow" \
  | python3 -c 'import json,sys; print(",".join(str(t["trip_id"]) for t in json.load(sys.stdin)["trips"]))')
seats=$(curl -fs "http://127.0.0.1:$train_port/api/trains/trips/${trips%%,*}" \
  | python3 -c 'import json,sys; print(sum(len(c["seats"]) for c in json.load(sys.stdin)["coaches"]))')
for t in ${trips//,/ }; do curl -fs -o /dev/null "http://127.0.0.1:$booking_port/api/bookings/trips/$t/seats"; done
target/release/examples/mint_tokens "$work/private.pem" "$users" >"$work/tokens"

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%FT%TZ)"
echo "== select rush: trips $trips ($seats seats each), $users users, $connections connections, ${duration}s (wrk on the same machine)"
BENCH_TOKENS="$work/tokens" BENCH_TRIPS="$trips" BENCH_SEATS="$seats" \
  wrk -t2 -c"$connections" -d"${duration}s" --timeout 10s --latency -s bench/select.lua \
  "http://127.0.0.1:$booking_port"

echo "== server-side latency of select (booking-service's own histogram; excludes wrk and the kernel)"
curl -fs "http://127.0.0.1:$booking_port/metrics" | python3 -c '
import re, sys
b = []
for line in sys.stdin:
    m = re.match(r"railrush_http_request_duration_seconds_bucket\{method=\"POST\",route=\"/api/bookings/seats/select\".*le=\"([^\"]+)\"\} (\d+)", line)
    if m: b.append((float("inf") if m.group(1) == "+Inf" else float(m.group(1)), int(m.group(2))))
total = b[-1][1] if b else 0
for q in (0.5, 0.9, 0.99, 0.999):
    le = next((le for le, n in b if n >= q * total), None)
    print(f"server p{q*100:g} <= {le*1000:g} ms" if le is not None else "no data")
print(f"server-side selects: {total}")'
echo "== consistency"
psql -h 127.0.0.1 -U postgres -d "bench_booking_$run" -Atc "
  SELECT 'bookings=' || count(*) FROM bookings;
  SELECT 'seats sold=' || count(*) FROM booking_seats WHERE live;
  SELECT 'seats sold twice=' || count(*) FROM (SELECT 1 FROM booking_seats WHERE live GROUP BY trip_id, seat_id HAVING count(*) > 1) x;
  SELECT 'users over 4 seats=' || count(*) FROM (SELECT 1 FROM bookings b JOIN booking_seats s ON s.booking_id = b.id WHERE s.live GROUP BY b.user_id, b.trip_id HAVING count(*) > 4) x;
  SELECT 'outbox unsent=' || count(*) FROM outbox WHERE sent_at IS NULL;"
oversold=$(psql -h 127.0.0.1 -U postgres -d "bench_booking_$run" -Atc \
  "SELECT count(*) FROM (SELECT 1 FROM booking_seats WHERE live GROUP BY trip_id, seat_id HAVING count(*) > 1) x")
[ "$oversold" = 0 ] || { echo "OVERSOLD: $oversold seats"; exit 1; }
echo "no seat sold twice"
