#!/usr/bin/env bash
# Bookings per second through the whole saga (confirm -> charge -> paid -> ticket), measured
# on private release builds of all five services (own databases, Redis prefix, exchange and
# queues; the shared stores of this machine), seeded with TRAINS trains x 5 coaches x 55
# seats a day. saga-bench registers USERS passengers (setup, not timed), then books
# BOOKINGS single seats with CONCURRENCY clients and waits until every one is paid and
# ticketed. Afterwards railrush-check verifies the databases (no seat sold twice, one
# succeeded payment and one ticket per paid booking, outboxes drained).
#   bench/saga-rush.sh [bookings=3000] [concurrency=64] [users=200] [trains=20]
# BENCH_PG_PORT picks another PostgreSQL on 127.0.0.1 (bench/profile-saga.sh runs a private
# one with pg_stat_statements); BENCH_ON_START and BENCH_ON_END are shell commands saga-bench
# runs around its timed phase, with BENCH_PIDS="auth=PID train=PID ..." in their environment.
# BENCH_BIN_DIR runs the release binaries of another build instead of building this tree's
# (an A/B against the previous commit: its target/release, or a copy of it).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib/private.sh
. bench/lib/private.sh
bookings=${1:-3000}
concurrency=${2:-64}
users=${3:-200}
trains=${4:-20}
pg_port=${BENCH_PG_PORT:-5432}
pg="postgres://postgres@127.0.0.1:$pg_port"

run=$$
work=$(mktemp -d)
services=(auth train booking payment notification)
declare -A port
read -ra free <<<"$(bench_free_ports "${#services[@]}")"
for i in "${!services[@]}"; do port[${services[$i]}]=${free[$i]}; done
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bench_drop_private "$run" "$pg_port" $(printf "bench_${run}_%s " "${services[@]}")
  rm -rf "$work"
}
trap cleanup EXIT

bin=${BENCH_BIN_DIR:-target/release}
if [ -z "${BENCH_BIN_DIR:-}" ]; then
  cargo build --release -q -p auth-service -p train-service -p booking-service \
    -p payment-service -p notification-service -p e2e --bins
fi
openssl genpkey -algorithm ed25519 -out "$work/private.pem" 2>/dev/null
openssl pkey -in "$work/private.pem" -pubout -out "$work/public.pem"
openssl rand -hex 32 >"$work/otp.secret"
for s in "${services[@]}"; do
  psql -h 127.0.0.1 -p "$pg_port" -U postgres -qc "CREATE DATABASE bench_${run}_$s" >/dev/null
done

common=(APP_REDIS__KEY_PREFIX="bench:$run:" APP_AMQP__EXCHANGE="bench.$run.events"
        APP_AMQP__QUEUE_PREFIX="bench.$run." APP_JWT__PUBLIC_KEY_PATH="$work/public.pem"
        APP_LOG__FORMAT=json RUST_LOG=warn)
env_of() {
  local s=$1
  printf '%s\n' "${common[@]}" "APP_HTTP__PORT=${port[$s]}" \
    "APP_DATABASE__URL=$pg/bench_${run}_$s"
  case $s in
    auth) printf '%s\n' "APP_JWT__PRIVATE_KEY_PATH=$work/private.pem" "APP_OTP__SECRET_PATH=$work/otp.secret" ;;
    booking) printf '%s\n' "APP_BOOKING__TRAIN_SERVICE_URL=http://127.0.0.1:${port[train]}" \
            "APP_BOOKING__SEATS_EXCHANGE=bench.$run.seats" APP_USER_LIMITS__ENABLED=false ;;
    payment) printf '%s\n' "APP_BOOKING_SERVICE__URL=http://127.0.0.1:${port[booking]}" ;;
  esac
}
mapfile -t train_env < <(env_of train)
env "${train_env[@]}" "$bin/train-service" seed --trains "$trains" --days 3 >/dev/null
for s in "${services[@]}"; do
  mapfile -t e < <(env_of "$s")
  env "${e[@]}" "$bin/$s-service" >"$work/$s.log" 2>&1 &
  pids+=($!)
done
for s in "${services[@]}"; do
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:${port[$s]}/health/ready" >/dev/null && break
    sleep 0.2
  done
  curl -fs "http://127.0.0.1:${port[$s]}/health/ready" >/dev/null || { tail -20 "$work/$s.log"; exit 1; }
done

BENCH_PIDS=$(for i in "${!services[@]}"; do printf '%s=%s ' "${services[$i]}" "${pids[$i]}"; done)
export BENCH_PIDS
hooks=()
[ -n "${BENCH_ON_START:-}" ] && hooks+=(--on-start "$BENCH_ON_START")
[ -n "${BENCH_ON_END:-}" ] && hooks+=(--on-end "$BENCH_ON_END")
echo "machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB; $(date -u +%F)"
"$bin/saga-bench" \
  --auth "http://127.0.0.1:${port[auth]}" --train "http://127.0.0.1:${port[train]}" \
  --booking "http://127.0.0.1:${port[booking]}" \
  --booking-db "$pg/bench_${run}_booking" \
  --notification-db "$pg/bench_${run}_notification" \
  --bookings "$bookings" --concurrency "$concurrency" --users "$users" "${hooks[@]}"
RAILRUSH_PG_BASE_URL="$pg" RAILRUSH_DB_PREFIX="bench_${run}_" "$bin/railrush-check" --settle 60
