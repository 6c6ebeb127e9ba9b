# shellcheck shell=bash
# bench/lib/private.sh: what the bench scripts that run release builds of the services on
# private stores share (select-rush.sh, saga-rush.sh, listeners.sh; profile-saga.sh and
# auth-throughput.sh take their free port from here). A run names everything
# it makes after its RUN id on the shared PostgreSQL, Redis and RabbitMQ: its databases, the
# Redis keys bench:RUN:*, the queues bench.RUN.* and the exchanges bench.RUN.events(.dlx) and
# bench.RUN.seats; bench_drop_private removes them all.

# A free TCP port on 127.0.0.1.
bench_free_port() {
  bench_free_ports 1
}

# bench_free_ports N: N different ports free now, outside the kernel's ephemeral range (so no
# outgoing connection takes one before its service binds it). Ports picked one call at a
# time could come back twice before either is bound: a second service then fails to bind
# while the first answers on its port (seen: saga-bench's sign-up answered 404 by another
# service), so pick every port a script binds together in one call.
bench_free_ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
ports, held = [], []
while len(ports) < int(sys.argv[1]):
    port = random.randint(20000, 32000)
    if port in ports:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    held.append(s)
    ports.append(port)
print(" ".join(map(str, ports)))
PY
}

# bench_ready PORT LOG...: waits up to 30 s for the service on PORT to answer /health/ready;
# otherwise prints the tails of LOG... and exits.
bench_ready() {
  local port=$1
  shift
  for _ in $(seq 1 150); do
    curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null && return 0
    sleep 0.2
  done
  echo "service on $port never became ready"
  tail -20 "$@"
  exit 1
}

# bench_drop_private RUN PG_PORT DATABASE...: drops the run's databases, Redis keys, queues
# and exchanges (best effort: a cleanup never fails the run).
bench_drop_private() {
  local run=$1 pg_port=$2 db q x
  shift 2
  for db in "$@"; do
    psql -h 127.0.0.1 -p "$pg_port" -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  redis-cli -h 127.0.0.1 --scan --pattern "bench:$run:*" | xargs -r redis-cli -h 127.0.0.1 unlink >/dev/null || true
  if command -v rabbitmqctl >/dev/null; then
    for q in $(rabbitmqctl -q list_queues name 2>/dev/null | grep "^bench\.$run\." || true); do
      rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true
    done
    for x in "bench.$run.events" "bench.$run.events.dlx" "bench.$run.seats"; do
      rabbitmqctl -q eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"$x\">>), false, <<\"bench\">>)." >/dev/null 2>&1 || true
    done
  fi
}

# bench_private NAME...: starts a run: run=$$, work=a new temporary directory, pids=() (add
# every process started), the databases bench_NAME_RUN for each NAME (created here), and an
# EXIT trap that stops the processes and drops everything of the run.
bench_private() {
  run=$$
  work=$(mktemp -d)
  pids=()
  bench_databases=()
  local name
  for name in "$@"; do bench_databases+=("bench_${name}_$run"); done
  trap bench_private_cleanup EXIT
  for name in "${bench_databases[@]}"; do
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $name" >/dev/null
  done
}

bench_private_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bench_drop_private "$run" 5432 "${bench_databases[@]}"
  rm -rf "$work"
}

# bench_nginx_dir [REV]: the nginx/ directory a bench renders its gateway from: this tree's,
# or with REV (a git revision) that revision's templates, extracted into $work/nginx-REV.
bench_nginx_dir() {
  [ -n "${1:-}" ] || { echo nginx; return; }
  mkdir -p "$work/nginx-$1"
  git archive "$1" nginx | tar -x -C "$work/nginx-$1"
  echo "$work/nginx-$1/nginx"
}

# bench_gateway NGINX_DIR NAME PORT TRAIN BOOKING: renders NGINX_DIR's templates with the
# load profile into $work/NAME on PORT (TRAIN and BOOKING are host:port; BOOKING may list
# replicas, separated by commas; the other services point at a closed port, as no bench here
# calls them), checks the result with nginx -t, starts nginx in the foreground under the
# run's clean-up (bench_gateway_pid is its master) and waits until it answers.
bench_gateway() {
  local dir=$1 name=$2 port=$3 train=$4 booking=$5 unused=127.0.0.1:9
  local prefix="$work/$name"
  chmod 755 "$work" # root's nginx runs its workers as an unprivileged user
  env NGINX_ERROR_LOG=logs/error.log NGINX_ACCESS_LOG=logs/access.log GATEWAY_PORT="$port" \
    AUTH_UPSTREAM="$unused" TRAIN_UPSTREAM="$train" BOOKING_UPSTREAM="$booking" \
    PAYMENT_UPSTREAM="$unused" NOTIFICATION_UPSTREAM="$unused" WEB_ROOT="$work" \
    sh "$dir/render.sh" load "$prefix" >/dev/null
  local args=(-p "$prefix/" -e "$prefix/logs/error.log" -c "$prefix/conf/nginx.conf")
  nginx "${args[@]}" -t -q
  nginx "${args[@]}" -g 'daemon off;' &
  pids+=($!)
  bench_gateway_pid=$!
  for _ in $(seq 1 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port/api" && return 0
    sleep 0.1
  done
  echo "the $name gateway did not answer on $port"
  cat "$prefix/logs/error.log"
  exit 1
}
