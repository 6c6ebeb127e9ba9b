#!/usr/bin/env bash
# The seat-selection rush, measured: private release builds of train-service and
# booking-service (own databases, Redis prefix and exchanges), the brief's seed (5 trains x 5
# coaches x 55 seats; tomorrow's 5 trips are the bench trips), USERS minted tokens, and wrk
# with CONNECTIONS concurrent clients selecting random seats (1 or 2) for DURATION seconds,
# confirming every hold it gets. Afterwards it checks in PostgreSQL and Redis that no seat
# was sold twice and prints the answer mix, throughput and latency percentiles.
#   bench/select-rush.sh [duration_seconds=30] [connections=256] [users=5000]
# BENCH_AFTER=release releases every hold instead of confirming it (see bench/select.lua).
#
# Through the gateway, side by side: CONNECTIONS may be a list ("64 256"), and BENCH_TARGETS
# (default "direct") the targets measured one after the other at each count:
#   direct    booking-service itself
#   gateway   an nginx gateway rendered from this tree's nginx/ (the `load` profile) in
#             front of the same booking-service
#   base      the same from the templates of git revision BENCH_NGINX_FROM (e.g. HEAD~1):
#             the gateway A/B in one run (bench/listeners.sh takes the same variable)
# BENCH_BIN_DIR runs the train-service and booking-service binaries of another build (an A/B
# against the previous commit: its target/release, or a copy of it), with this tree's token
# minting and gateway.
# A 5 s warm-up against booking-service comes first (the trips sell out and the holds won are
# confirmed in it). Each step prints one `step:` line (target, connections, requests/s, p50,
# p99, and the CPU a request of booking-service and of the gateway's nginx: steadier than the
# rate when the machine's neighbours are busy); the last lines repeat them as a table with
# each one's share of the direct rate (the mean of the direct steps at that count). A target
# may be listed more than once ("direct base gateway gateway base direct"): the rate drifts
# during a run, and interleaving takes the order out of an A/B.
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
targets=${BENCH_TARGETS:-direct}
case " $targets " in *" gateway "*|*" base "*) need nginx nginx-light; need envsubst gettext-base ;; esac
case " $targets " in *" base "*) [ -n "${BENCH_NGINX_FROM:-}" ] || { echo "base: set BENCH_NGINX_FROM to a git revision" >&2; exit 2; } ;; esac

bench_private train booking
read -r train_port booking_port <<<"$(bench_free_ports 2)"

cargo build --release -q -p train-service -p booking-service --bins --examples
bin=${BENCH_BIN_DIR:-target/release}
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

env "${train_env[@]}" "$bin/train-service" seed >/dev/null
env "${train_env[@]}" "$bin/train-service" >"$work/train.log" 2>&1 & pids+=($!)
env "${booking_env[@]}" "$bin/booking-service" >"$work/booking.log" 2>&1 & pids+=($!)
booking_pid=$!
for port in "$train_port" "$booking_port"; do bench_ready "$port" "$work"/*.log; done

tomorrow=$(date -u -d tomorrow +%F)
trips=$(curl -fs "http://127.0.0.1:$train_port/api/trains/search?from=DHK&to=CTG&date=$tomorrow" \
  | python3 -c 'import json,sys; print(",".join(str(t["trip_id"]) for t in json.load(sys.stdin)["trips"]))')
seats=$(curl -fs "http://127.0.0.1:$train_port/api/trains/trips/${trips%%,*}" \
  | python3 -c 'import json,sys; print(sum(len(c["seats"]) for c in json.load(sys.stdin)["coaches"]))')
for t in ${trips//,/ }; do curl -fs -o /dev/null "http://127.0.0.1:$booking_port/api/bookings/trips/$t/seats"; done
target/release/examples/mint_tokens "$work/private.pem" "$users" >"$work/tokens"

declare -A url=([direct]="http://127.0.0.1:$booking_port") gateway_pid=()

# cpu_ticks PID...: the CPU time (user and system, in clock ticks) the processes and their
# children (nginx's workers) have used so far.
cpu_ticks() {
  local pid all=() total=0
  for pid in "$@"; do all+=("$pid"); mapfile -t -O "${#all[@]}" all < <(pgrep -P "$pid"); done
  for pid in "${all[@]}"; do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

for target in $targets; do
  [ -z "${url[$target]:-}" ] || continue # a target listed again is measured again, not made again
  case $target in
    direct) ;;
    gateway|base)
      # Only /api/bookings is measured; the gateway's other upstreams are not called.
      port=$(bench_free_port)
      dir=nginx; [ "$target" = base ] && dir=$(bench_nginx_dir "$BENCH_NGINX_FROM")
      bench_gateway "$dir" "gw-$target" "$port" "127.0.0.1:$train_port" "127.0.0.1:$booking_port"
      gateway_pid[$target]=$bench_gateway_pid
      url[$target]="http://127.0.0.1:$port" ;;
    *) echo "unknown target $target (direct, gateway, base)" >&2; exit 2 ;;
  esac
done

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%FT%TZ)"
echo "== select rush: trips $trips ($seats seats each), $users users, connections $connections, targets $targets, ${duration}s a step (wrk on the same machine)"
BENCH_TOKENS="$work/tokens" BENCH_TRIPS="$trips" BENCH_SEATS="$seats" \
  wrk -t2 -c64 -d5s --timeout 10s -s bench/select.lua "${url[direct]}" >/dev/null
steps=()
for c in $connections; do
  for target in $targets; do
    echo "== $target, $c connections: ${url[$target]}"
    gw=${gateway_pid[$target]:-}
    booking_before=$(cpu_ticks "$booking_pid") gateway_before=$(cpu_ticks $gw)
    BENCH_TOKENS="$work/tokens" BENCH_TRIPS="$trips" BENCH_SEATS="$seats" \
      wrk -t2 -c"$c" -d"${duration}s" --timeout 10s --latency -s bench/select.lua \
      "${url[$target]}" | tee "$work/wrk.out"
    booking_cpu=$(($(cpu_ticks "$booking_pid") - booking_before))
    gateway_cpu=$(($(cpu_ticks $gw) - gateway_before))
    rate=$(sed -n 's/^requests\/s=//p' "$work/wrk.out")
    p50=$(grep -o 'p50=[0-9.]*ms' "$work/wrk.out" | cut -d= -f2)
    p99=$(grep -o 'p99=[0-9.]*ms' "$work/wrk.out" | cut -d= -f2)
    # CPU a request, in microseconds: what booking-service and the gateway's nginx spent over
    # the step divided by the requests wrk made (the selects, and the confirms or releases of
    # the holds they won).
    requests=$(awk '/ requests in / {print $1}' "$work/wrk.out")
    tick_us=$((1000000 / $(getconf CLK_TCK)))
    booking_us=$(awk -v t="$booking_cpu" -v n="$requests" -v u="$tick_us" 'BEGIN {printf "%.1f", t * u / n}')
    gateway_us=$(awk -v t="$gateway_cpu" -v n="$requests" -v u="$tick_us" 'BEGIN {printf "%.1f", t * u / n}')
    steps+=("$target $c $rate $p50 $p99 $booking_us $gateway_us")
    echo "step: $target connections=$c requests/s=$rate p50=$p50 p99=$p99 booking_cpu_us=$booking_us gateway_cpu_us=$gateway_us"
  done
done
echo "== steps (share: requests/s against direct at the same connections)"
printf '%-8s %11s %11s %10s %10s %6s %12s %12s\n' target connections requests/s p50 p99 share \
  'booking µs' 'gateway µs'
for step in "${steps[@]}"; do
  read -r target c rate p50 p99 booking_us gateway_us <<<"$step"
  direct=$(printf '%s\n' "${steps[@]}" | awk -v c="$c" '$1 == "direct" && $2 == c {s += $3; n++} END {if (n) print s / n}')
  share=$( [ -n "$direct" ] && awk -v r="$rate" -v d="$direct" 'BEGIN {printf "%.0f%%", 100 * r / d}' || echo -)
  printf '%-8s %11s %11s %10s %10s %6s %12s %12s\n' "$target" "$c" "$rate" "$p50" "$p99" "$share" \
    "$booking_us" "$gateway_us"
done

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
