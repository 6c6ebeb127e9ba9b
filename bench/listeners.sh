#!/usr/bin/env bash
# Live seat maps at scale: LISTENERS event streams of one trip through the nginx gateway
# while selects run (e2e/src/bin/listen-bench does the work; see its header). Starts on
# private ports: train-service, REPLICAS booking-service replicas (own databases, Redis
# prefix, exchanges; every replica relays the one fanout exchange to its own listeners) and
# a gateway rendered from nginx/ with the load profile, BOOKING_UPSTREAM listing every
# replica. Prints listen-bench's JSON line: streams open and refused, events expected and
# received per listener, the delay from a hold's 201 to its event at the listeners, select
# latency with and without the listeners, RSS and open files of the replicas and nginx's
# workers. Then the gateway's complaints, if any, and cleans up.
#
#   bench/listeners.sh [listeners=20000] [processes=listeners/5000] [replicas=listeners/8000]
#
# A process may hold at most 20,000 open files here (a hard limit): a replica serves its
# streams' upstream connections, so 20,000 streams need three replicas (8,000 each at
# most), and the listeners run as several processes of 5,000 streams.
# Environment: RATE (selects a second, 10), SECS (seconds of each phase, 20);
# BENCH_NGINX_FROM=<git revision> renders the gateway from that revision's nginx/ instead of
# this tree's (the side-by-side run with an earlier sizing; an nginx/ that cannot list
# replicas needs replicas=1); BENCH_BIN_DIR runs the train-service and booking-service
# binaries of another build (an A/B against the previous commit: its target/release, or a
# copy of it), with this tree's listen-bench and token minting.
# Run it alone on the machine (it measures delays); it builds first (release).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib/private.sh
. bench/lib/private.sh
listeners=${1:-20000}
processes=${2:-$(((listeners + 4999) / 5000))}
replicas=${3:-$(((listeners + 7999) / 8000))}
rate=${RATE:-10}
secs=${SECS:-20}

bench_private train booking

cargo build --release -q -p train-service -p booking-service --bins --examples
cargo build --release -q -p e2e --bin listen-bench
bin=${BENCH_BIN_DIR:-target/release}
nginx_dir=$(bench_nginx_dir "${BENCH_NGINX_FROM:-}")
openssl genpkey -algorithm ed25519 -out "$work/private.pem" 2>/dev/null
openssl pkey -in "$work/private.pem" -pubout -out "$work/public.pem"

common=(APP_REDIS__KEY_PREFIX="bench:$run:" APP_AMQP__EXCHANGE="bench.$run.events"
        APP_AMQP__QUEUE_PREFIX="bench.$run." APP_JWT__PUBLIC_KEY_PATH="$work/public.pem"
        APP_LOG__FORMAT=json RUST_LOG=warn)
read -ra free <<<"$(bench_free_ports $((replicas + 1)))"
train_port=${free[0]}
train_env=("${common[@]}" APP_HTTP__PORT="$train_port"
           APP_DATABASE__URL="postgres://postgres@127.0.0.1:5432/bench_train_$run")
env "${train_env[@]}" "$bin/train-service" seed >/dev/null
env "${train_env[@]}" "$bin/train-service" >"$work/train.log" 2>&1 & pids+=($!)

bench_ready "$train_port" "$work"/*.log
# The first replica migrates the database before the others start.
booking_ports=()
booking_pids=()
for i in $(seq 1 "$replicas"); do
  port=${free[$i]}
  env "${common[@]}" APP_HTTP__PORT="$port" \
    APP_DATABASE__URL="postgres://postgres@127.0.0.1:5432/bench_booking_$run" \
    APP_BOOKING__TRAIN_SERVICE_URL="http://127.0.0.1:$train_port" \
    APP_BOOKING__SEATS_EXCHANGE="bench.$run.seats" APP_USER_LIMITS__ENABLED=false \
    "$bin/booking-service" >"$work/booking-$i.log" 2>&1 & pids+=($!)
  booking_pids+=($!)
  booking_ports+=("$port")
  [ "$i" -gt 1 ] || bench_ready "$port" "$work"/*.log
done
for port in "${booking_ports[@]}"; do bench_ready "$port" "$work"/*.log; done

gateway_port=$(bench_free_port)
upstream=$(printf '127.0.0.1:%s,' "${booking_ports[@]}")
bench_gateway "$nginx_dir" gateway "$gateway_port" "127.0.0.1:$train_port" "${upstream%,}"
workers=$(pgrep -P "$bench_gateway_pid" -f "worker process" | paste -sd,)

tomorrow=$(date -u -d tomorrow +%F)
trip=$(curl -fs "http://127.0.0.1:$train_port/api/trains/search?from=DHK&to=CTG&date=$tomorrow" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["trips"][0]["trip_id"])')
target/release/examples/mint_tokens "$work/private.pem" 1000 >"$work/tokens"

spread="for p in ${booking_ports[*]}; do printf 'replica :%s ' \$p; curl -fs http://127.0.0.1:\$p/metrics | grep -E '^[a-z_]*live_listeners' || echo; done >&2"
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%FT%TZ)" >&2
echo "== listeners: $listeners in $processes processes, trip $trip, $replicas booking-service replicas, nginx workers $workers, nginx from ${BENCH_NGINX_FROM:-this tree}, services from $bin, $rate selects/s for ${secs}s a phase" >&2
target/release/listen-bench run --gateway "http://127.0.0.1:$gateway_port" --trip "$trip" \
  --tokens "$work/tokens" --listeners "$listeners" --processes "$processes" \
  --rate "$rate" --secs "$secs" \
  --rss "booking=$(IFS=,; echo "${booking_pids[*]}")" --rss "nginx=$workers" \
  --on-connected "$spread"
echo "== gateway error log (alerts and errors, counted):" >&2
grep -oE '\[(alert|crit|emerg|error)\] [0-9#]+: (\*[0-9]+ )?[^,(]*' "$work/gateway/logs/error.log" \
  | sed -E 's/[0-9]+#[0-9]+: (\*[0-9]+ )?//' | sort | uniq -c | sort -rn | head -10 >&2 || true
