#!/usr/bin/env bash
# Measures register and login throughput of auth-service (argon2id dominates both).
# Starts a private auth-service (release build) on a free port with its own database and
# Redis prefix, drives it with wrk, prints wrk's report, and removes what it made.
#   bench/auth-throughput.sh [duration_seconds=20] [connections=16]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib/private.sh
. bench/lib/private.sh
duration=${1:-20}
connections=${2:-16}

command -v wrk >/dev/null || { sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd=sudo; $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq wrk; }
command -v openssl >/dev/null

db="bench_auth_$$"
prefix="bench:$$:"
keys=$(mktemp -d)
port=$(bench_free_port)
openssl genpkey -algorithm ed25519 -out "$keys/private.pem" 2>/dev/null
openssl pkey -in "$keys/private.pem" -pubout -out "$keys/public.pem"

cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
  redis-cli -h 127.0.0.1 --scan --pattern "${prefix}*" | xargs -r redis-cli -h 127.0.0.1 unlink >/dev/null || true
  rm -rf "$keys"
}
trap cleanup EXIT

cargo build --release -q -p auth-service
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db" >/dev/null

APP_HTTP__PORT=$port APP_DATABASE__URL="postgres://postgres@127.0.0.1:5432/$db" \
APP_REDIS__KEY_PREFIX="$prefix" APP_AMQP__EXCHANGE="bench.$$.events" \
APP_JWT__PUBLIC_KEY_PATH="$keys/public.pem" APP_JWT__PRIVATE_KEY_PATH="$keys/private.pem" \
APP_LOGIN__MAX_FAILURES=1000000 RUST_LOG=warn \
  target/release/auth-service &
pid=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null && break
  sleep 0.2
done

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%F)"
echo "== register: ${duration}s, $connections connections"
wrk -t2 -c"$connections" -d"${duration}s" --latency -s bench/register.lua "http://127.0.0.1:$port"

login="bench-login-$$@example.com"
curl -fs -o /dev/null -H 'content-type: application/json' \
  -d "{\"name\":\"Bench\",\"email\":\"$login\",\"phone\":\"+88019$(printf '%08d' $$)\",\"password\":\"bench-password-1\"}" \
  "http://127.0.0.1:$port/api/auth/register"
echo "== login: ${duration}s, $connections connections"
BENCH_LOGIN=$login wrk -t2 -c"$connections" -d"${duration}s" --latency -s bench/login.lua "http://127.0.0.1:$port"
