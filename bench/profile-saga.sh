#!/usr/bin/env bash
# Where a booking's time goes: bench/saga-rush.sh on a private PostgreSQL that loads
# pg_stat_statements (free port, temporary directory, fsync and synchronous commits on like
# the shared server), with the processes' CPU time read before and after the timed phase and
# `perf record -e cpu-clock -g` on the five services during it. Writes into
# target/profile/saga-<UTC time>/:
#   report.txt       CPU milliseconds per booking of each service, PostgreSQL, Redis and
#                    RabbitMQ; each service's messages published per booking; the statements
#                    by total time per booking (calls, mean, rows)
#   saga.json        saga-bench's result line
#   flame.svg        the services' flame graph (inferno; installed with cargo when missing)
#   perf-by-process.txt, statements.tsv, cpu.tsv
#   bench/profile-saga.sh [bookings=3000] [concurrency=64] [users=200] [trains=20]
# Redis and RabbitMQ are the shared servers: their CPU includes whatever else uses them.
# BENCH_BIN_DIR passes on to saga-rush.sh: profile another build's binaries (an A/B).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib/private.sh
. bench/lib/private.sh
out="$PWD/target/profile/saga-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
command -v perf >/dev/null || { echo "perf is missing (Debian: linux-perf)" >&2; exit 2; }
if ! command -v inferno-flamegraph >/dev/null; then
  cargo install --locked --quiet inferno
fi

# ---- A private PostgreSQL with pg_stat_statements -------------------------------------------
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pgdir=$(mktemp -d /tmp/railrush-profile-pg.XXXXXX)
port=$(bench_free_port)
as_pg=()
if [ "$(id -u)" = 0 ]; then chown postgres: "$pgdir"; as_pg=(runuser -u postgres --); fi
"${as_pg[@]}" "$bin/initdb" -D "$pgdir/data" -U postgres -A trust -E UTF8 >/dev/null
"${as_pg[@]}" "$bin/postgres" -D "$pgdir/data" -p "$port" -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories="$pgdir" -c max_connections=200 -c shared_buffers=128MB \
  -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all \
  -c pg_stat_statements.track_planning=on \
  >"$pgdir/postgres.log" 2>&1 &
postmaster=$!
cleanup() {
  # SIGINT (fast shutdown) to the postmaster itself: runuser does not pass it on.
  kill -INT "$(head -1 "$pgdir/data/postmaster.pid" 2>/dev/null)" "$postmaster" 2>/dev/null || true
  wait "$postmaster" 2>/dev/null || true
  rm -rf "$pgdir"
}
trap cleanup EXIT
for _ in $(seq 1 100); do "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break; sleep 0.1; done
psql() { command psql -h 127.0.0.1 -p "$port" -U postgres -X -q "$@"; }
psql -c "CREATE EXTENSION pg_stat_statements" postgres

# ---- The hooks around saga-bench's timed phase ----------------------------------------------
# CPU ticks (utime + stime of /proc/PID/stat) of each part, summed over its processes.
cat >"$out/cpu-snapshot.sh" <<EOF
#!/usr/bin/env bash
ticks() { local t=0; for p in "\$@"; do
  [ -r /proc/\$p/stat ] && t=\$(( t + \$(awk '{print \$14 + \$15}' /proc/\$p/stat) )); done; echo \$t; }
for kv in \$BENCH_PIDS; do echo "\${kv%%=*}-service \$(ticks "\${kv#*=}")"; done
# PostgreSQL: the postmaster (runuser's child when run as root: the pid file names it),
# its live backends, and the backends that already ended (its cutime + cstime).
pm=\$(head -1 "$pgdir/data/postmaster.pid")
echo "postgresql \$(( \$(ticks \$pm \$(ps --ppid \$pm -o pid=)) + \$(awk '{print \$16 + \$17}' /proc/\$pm/stat) ))"
echo "redis \$(ticks \$(pgrep -x redis-server))"
echo "rabbitmq \$(ticks \$(pgrep -f beam.smp))"
EOF
chmod +x "$out/cpu-snapshot.sh"
cat >"$out/start.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
"$out/cpu-snapshot.sh" >"$out/cpu-before"
psql -h 127.0.0.1 -p $port -U postgres -Xqc 'SELECT pg_stat_statements_reset()' postgres >/dev/null
pids=\$(for kv in \$BENCH_PIDS; do printf '%s,' "\${kv#*=}"; done)
perf record -q -e cpu-clock -F 499 -g -o "$out/perf.data" -p "\${pids%,}" >"$out/perf.log" 2>&1 &
echo \$! >"$out/perf.pid"
EOF
cat >"$out/end.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
"$out/cpu-snapshot.sh" >"$out/cpu-after"
perf=\$(cat "$out/perf.pid")
kill -INT "\$perf"
while kill -0 "\$perf" 2>/dev/null; do sleep 0.2; done
q() { psql -h 127.0.0.1 -p $port -U postgres -XAt "\$@"; }
for s in auth booking payment notification; do
  db=\$(q -c "SELECT datname FROM pg_database WHERE datname LIKE 'bench%\$s'" postgres)
  echo "\$s-service \$(q -c 'SELECT count(*) FROM outbox' "\$db")"
done >"$out/outbox"
q -F "\$(printf '\t')" -c "SELECT regexp_replace(d.datname, '^bench_[0-9]+_', ''), s.calls,
    round(s.total_exec_time::numeric, 1), round(s.mean_exec_time::numeric, 3), s.rows,
    round(s.total_plan_time::numeric, 1), s.plans,
    regexp_replace(left(s.query, 160), '[[:space:]]+', ' ', 'g')
  FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
  WHERE s.calls > 0 ORDER BY s.total_exec_time + s.total_plan_time DESC LIMIT 30" postgres >"$out/statements.tsv"
q -c "SELECT sum(plans), sum(calls), round(sum(total_plan_time)::numeric, 1),
    round(sum(total_exec_time)::numeric, 1) FROM pg_stat_statements" postgres >"$out/statements-total"
EOF
chmod +x "$out/start.sh" "$out/end.sh"
export BENCH_PG_PORT=$port BENCH_ON_START="$out/start.sh" BENCH_ON_END="$out/end.sh"

bench/saga-rush.sh "$@" | tee "$out/saga.json"
bookings=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["bookings"])' "$out/saga.json" 2>/dev/null \
  || grep -o '"bookings":[0-9]*' "$out/saga.json" | head -1 | cut -d: -f2)

# ---- The report ------------------------------------------------------------------------------
hz=$(getconf CLK_TCK)
join -a1 <(sort "$out/cpu-before") <(sort "$out/cpu-after") >"$out/cpu.tsv"
perf report -q -i "$out/perf.data" --sort comm --stdio 2>/dev/null | sed '/^$/d' >"$out/perf-by-process.txt" || true
perf script -i "$out/perf.data" 2>/dev/null | inferno-collapse-perf | inferno-flamegraph \
  --title "RailRush services during bench/saga-rush.sh $*" >"$out/flame.svg" || true
{
  echo "bench/profile-saga.sh $*  ($(date -u +%F), $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB)"
  echo "saga: $(tail -1 "$out/saga.json")"
  echo
  echo "CPU milliseconds per booking (timed phase; $bookings bookings):"
  awk -v hz="$hz" -v n="$bookings" '{ ms = ($3 - $2) * 1000 / hz; total += ms;
      printf "  %-22s %8.2f ms\n", $1, ms / n } END { printf "  %-22s %8.2f ms\n", "all", total / n }' "$out/cpu.tsv"
  echo
  echo "Messages published per booking (outbox rows):"
  awk -v n="$bookings" '{ printf "  %-22s %6.2f\n", $1, $2 / n }' "$out/outbox"
  echo
  echo "Statements, all: $(awk -F'|' -v n="$bookings" '{ printf "%.1f calls and %.1f plans per booking; planning %.2f ms, executing %.2f ms per booking", $2 / n, $1 / n, $3 / n, $4 / n }' "$out/statements-total")"
  echo "Statements by total time (exec ms per booking | plan ms per booking | calls per booking | mean exec ms | rows | service | statement):"
  awk -F '\t' -v n="$bookings" '{ printf "  %7.3f  %7.3f  %5.2f  %7.3f  %8d  %-12s %s\n", $3 / n, $6 / n, $2 / n, $4, $5, $1, $8 }' "$out/statements.tsv"
  echo
  echo "perf samples by process: $out/perf-by-process.txt; flame graph: $out/flame.svg"
} | tee "$out/report.txt"
