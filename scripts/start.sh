#!/usr/bin/env bash
#
# scripts/start.sh: the README's first Quick-start command. Runs the whole local stack on
# this machine, unattended, and stays in the foreground until Ctrl-C (or SIGTERM):
#
#   1. installs what running needs and is missing from Debian's packages, without their
#      recommended packages (PostgreSQL, Redis, RabbitMQ, nginx, openssl, curl, build tools,
#      Node.js; what only the tests need is scripts/test.sh's) and starts the stores that
#      are not answering;
#   2. creates the five service databases and the development keys (.local/keys) if missing;
#   3. builds the web app (npm ci when needed, then `npm run build` in web/ → web/dist) and
#      the workspace (cargo build --release --workspace --bins);
#   4. seeds the train database (`train-service seed`: the brief's scenario; idempotent, so a
#      rerun only adds the days that are new since the last run);
#   5. starts every service that exists (NAME/Cargo.toml) from the build output, logging to
#      .local/logs/NAME.log, and the nginx gateway on :8080 from a private prefix .local/nginx;
#   6. waits until every service's /health/ready answers 200 and the gateway answers, and
#      prints the URL;
#   7. supervises: a service that exits is started again (at most 5 times a minute).
#
# Ctrl-C / SIGTERM stops the services and the gateway this run started; the stores keep
# running. Rerunning is safe: the stores are left as they are, and processes recorded under
# .local/run by an earlier run that did not stop cleanly are stopped first.
#
# Options (environment):
#   RAILRUSH_SKIP_BUILD=1       do not run cargo build (use the binaries already built)
#   RAILRUSH_START_TIMEOUT=120  seconds to wait for everything to be ready
#   RAILRUSH_BIN_DIR=DIR        where the service binaries are (default target/release)
#   RAILRUSH_SEED_ARGS="..."    options of the seed step, e.g. "--trains 200 --coaches 10 --seats 60"
#   RAILRUSH_RUSH_IN=5          the seed opens the sale of day 9's trips this many minutes after
#                               the start (a rush to watch; --rush-in); empty: no rush
#   RAILRUSH_GATEWAY_PROFILE=default|load
#                               the gateway's limits (nginx/profiles/<name>.env); `load`
#                               raises them for benchmarks only (default: default)
#   RAILRUSH_GATEWAY_PORT=8080  the gateway's port
#   RAILRUSH_PROMETHEUS=1       also run Prometheus on 127.0.0.1:9090 against the local stack
#                               (Debian's package, installed if missing; config
#                               monitoring/prometheus.local.yml with its alert rules, data in
#                               .local/prometheus, log .local/logs/prometheus.log); it stops
#                               with the stack
#   RUST_LOG=...                log filter for the services (default info)
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/stack.sh
source "$script_dir/lib/stack.sh"

start_timeout="${RAILRUSH_START_TIMEOUT:-120}"
gateway_url="http://localhost:$RAILRUSH_GATEWAY_PORT"
prometheus_enabled="${RAILRUSH_PROMETHEUS:-0}"

# What this run started, in start order: names, pids, and each one's log file.
started_names=()
started_pids=()
started_logs=()

# ---- Process bookkeeping ------------------------------------------------------------------

# A pid file holds the pid and a token that the process's command line contains (its binary,
# or the nginx prefix), so a stale file never leads to stopping an unrelated process that
# happens to have reused the pid.
pid_matches() {
    local pid=$1 token=$2 cmdline
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ "$cmdline" == *"$token"* ]]
}

# record_started NAME PID TOKEN LOG
record_started() {
    started_names+=("$1")
    started_pids+=("$2")
    started_logs+=("$4")
    printf '%s\n%s\n' "$2" "$3" >"$RAILRUSH_RUN/$1.pid"
}

# stop_pids PID...: SIGTERM, up to 10 s for a clean exit, then SIGKILL.
stop_pids() {
    local pid deadline=$((SECONDS + 10)) alive
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    while :; do
        alive=()
        for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
        [ "${#alive[@]}" -eq 0 ] && return 0
        if ((SECONDS >= deadline)); then
            rr_warn "still running after 10 s, killing: ${alive[*]}"
            kill -KILL "${alive[@]}" 2>/dev/null || true
            return 0
        fi
        sleep 0.2
    done
}

# Stop what an earlier run recorded in .local/run and left running (a run that was killed
# with SIGKILL, or a terminal that was closed).
stop_stale() {
    local file name pid token
    for file in "$RAILRUSH_RUN"/*.pid; do
        [ -e "$file" ] || continue
        name=$(basename "$file" .pid)
        { read -r pid && read -r token; } <"$file" || true
        if [ -n "${pid:-}" ] && [ -n "${token:-}" ] && pid_matches "$pid" "$token"; then
            rr_log "stopping $name (pid $pid) left running by an earlier run"
            stop_pids "$pid"
        fi
        rm -f "$file"
    done
}

# Stop everything this run started (gateway first, then services), and nothing else.
# Runs from the EXIT trap; it must finish even when the terminal or a pipe reading our output
# is gone (Ctrl-C also ends `| tee`), hence no errexit and no death by SIGPIPE here.
cleanup_done=0
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    set +e
    trap '' PIPE
    [ "$cleanup_done" = 1 ] && return 0
    cleanup_done=1
    [ "${#started_pids[@]}" -eq 0 ] && return 0
    rr_log "stopping ${started_names[*]}"
    local i pids=()
    for ((i = ${#started_pids[@]} - 1; i >= 0; i--)); do pids+=("${started_pids[i]}"); done
    stop_pids "${pids[@]}"
    wait "${started_pids[@]}" 2>/dev/null || true
    for i in "${!started_names[@]}"; do rm -f "$RAILRUSH_RUN/${started_names[i]}.pid"; done
    rr_log "stopped (PostgreSQL, Redis and RabbitMQ keep running)"
}

# shellcheck disable=SC2317 # invoked by the INT and TERM traps
on_signal() {
    trap '' PIPE
    trap '' INT TERM # cleanup is bounded (10 s, then SIGKILL); let it finish
    printf '\n' || true
    rr_log "received SIG$1" || true
    exit "$2" # the EXIT trap runs cleanup
}

# show_failure INDEX WHAT: say that started process INDEX failed, with the tail of its log.
show_failure() {
    local i=$1 what=$2
    rr_warn "${started_names[i]} $what; last lines of ${started_logs[i]#"$RAILRUSH_ROOT"/}:"
    tail -n 30 "${started_logs[i]}" >&2 2>/dev/null || true
}

# Fail when a started process has exited.
check_alive() {
    local i status
    for i in "${!started_pids[@]}"; do
        kill -0 "${started_pids[i]}" 2>/dev/null && continue
        status=0
        wait "${started_pids[i]}" 2>/dev/null || status=$?
        show_failure "$i" "exited during start-up (status $status)"
        exit 1
    done
}

# http_status URL: the HTTP status code, or 000 when nothing answers.
http_status() {
    curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$1" 2>/dev/null || true
}

# ---- Steps --------------------------------------------------------------------------------

prepare_machine() {
    [ "${RAILRUSH_SKIP_BUILD:-0}" = 1 ] || rr_require_cargo
    rr_ensure_packages
    # shellcheck disable=SC2119 # no other packages than prometheus here
    if [ "$prometheus_enabled" = 1 ]; then rr_ensure_prometheus; fi
    rr_start_stores
    rr_create_databases
    rr_check_db_access "$RAILRUSH_PG_BASE_URL/postgres"
    rr_ensure_dev_keys
}

# Only one start.sh at a time: the lock is held on fd 9 for the life of this process (and
# closed in every child, so a leftover child never holds it). The lock file holds the pid of
# its holder; it is opened for appending so a failed attempt does not erase that pid.
take_lock() {
    local lock="$RAILRUSH_RUN/start.lock"
    mkdir -p "$RAILRUSH_RUN" "$RAILRUSH_LOGS"
    exec 9>>"$lock"
    if ! flock -n 9; then
        rr_die "another scripts/start.sh is running (pid $(cat "$lock")): stop it first (Ctrl-C in its terminal)"
    fi
    echo "$$" >"$lock"
}

build() {
    if [ "${RAILRUSH_SKIP_BUILD:-0}" = 1 ]; then
        rr_log "build: skipped (RAILRUSH_SKIP_BUILD=1)"
        [ -f "$RAILRUSH_ROOT/web/dist/index.html" ] || rr_build_web 9>&-
        return 0
    fi
    rr_build_web 9>&-
    rr_log "build: cargo build --release --workspace --bins"
    cargo build --release --workspace --bins 9>&-
}

# The services to start, as parallel arrays; fail early when a binary is missing.
service_names=()
service_ports=()
find_services() {
    local name port bin
    while read -r name port; do
        bin="$RAILRUSH_BIN_DIR/$name"
        if [ ! -x "$bin" ]; then
            if [ "${RAILRUSH_SKIP_BUILD:-0}" = 1 ]; then
                rr_die "$name not built: $bin is missing (run scripts/start.sh without RAILRUSH_SKIP_BUILD=1)"
            fi
            rr_die "$name not built: the build made no $bin (does $name/src/main.rs exist?)"
        fi
        service_names+=("$name")
        service_ports+=("$port")
    done < <(rr_services)
    if [ "${#service_names[@]}" -eq 0 ]; then
        rr_warn "no service exists yet (no */Cargo.toml of a known service): starting the gateway only"
    fi
}

# Every port we are about to listen on must be free.
check_ports() {
    local port owner busy=0 ports=("${service_ports[@]}" "$RAILRUSH_GATEWAY_PORT")
    if [ "$prometheus_enabled" = 1 ]; then ports+=("$RAILRUSH_PROMETHEUS_PORT"); fi
    for port in "${ports[@]}"; do
        if rr_port_in_use "$port"; then
            owner=$(rr_port_owner "$port")
            rr_warn "port $port is already in use${owner:+ ($owner)}"
            busy=1
        fi
    done
    [ "$busy" = 0 ] || rr_die "stop whatever holds the port(s) above, then rerun scripts/start.sh"
}

# Seed the train database before the services start (only when train-service exists).
seed_trains() {
    local i env_vars seed_args log="$RAILRUSH_LOGS/train-service-seed.log"
    read -r -a seed_args <<<"${RAILRUSH_SEED_ARGS:-}"
    if [ -n "${RAILRUSH_RUSH_IN-5}" ] && [[ " ${seed_args[*]} " != *" --rush-in"* ]]; then
        seed_args+=(--rush-in "${RAILRUSH_RUSH_IN-5}")
    fi
    for i in "${!service_names[@]}"; do
        [ "${service_names[i]}" = train-service ] || continue
        mapfile -t env_vars < <(rr_service_env train-service "${service_ports[i]}")
        rr_log "seed: train-service seed ${seed_args[*]} (log: ${log#"$RAILRUSH_ROOT"/})"
        if ! env "${env_vars[@]}" "$RAILRUSH_BIN_DIR/train-service" seed "${seed_args[@]}" \
            </dev/null >"$log" 2>&1 9>&-; then
            tail -n 20 "$log" >&2 || true
            rr_die "seeding the train database failed"
        fi
    done
}

# launch_service I: start service I (of service_names) in the background; its pid is $!.
launch_service() {
    local name=${service_names[$1]} port=${service_ports[$1]} env_vars
    mapfile -t env_vars < <(rr_service_env "$name" "$port")
    env "${env_vars[@]}" "$RAILRUSH_BIN_DIR/$name" </dev/null >>"$RAILRUSH_LOGS/$name.log" 2>&1 9>&- &
}

start_services() {
    local i name log
    for i in "${!service_names[@]}"; do
        name=${service_names[i]}
        log="$RAILRUSH_LOGS/$name.log"
        [ -f "$log" ] && mv -f "$log" "$log.1" # keep the previous run's log
        launch_service "$i"
        record_started "$name" "$!" "$RAILRUSH_BIN_DIR/$name" "$log"
        rr_log "started $name on 127.0.0.1:${service_ports[i]} (pid $!)"
    done
}

start_gateway() {
    rr_render_gateway
    # nginx is this script's child in the foreground mode (daemon off), so it stops with us.
    nginx "${RAILRUSH_NGINX_ARGS[@]}" -g 'daemon off;' </dev/null >>"$RAILRUSH_NGINX_ERROR_LOG" 2>&1 9>&- &
    record_started gateway "$!" "$RAILRUSH_NGINX_PREFIX" "$RAILRUSH_NGINX_ERROR_LOG"
    rr_log "started the gateway on :$RAILRUSH_GATEWAY_PORT (pid $!)"
}

# RAILRUSH_PROMETHEUS=1: our own Prometheus, this script's child like the rest.
start_prometheus() {
    [ "$prometheus_enabled" = 1 ] || return 0
    rr_prepare_prometheus
    prometheus "${RAILRUSH_PROMETHEUS_ARGS[@]}" </dev/null >>"$RAILRUSH_PROMETHEUS_LOG" 2>&1 9>&- &
    record_started prometheus "$!" "$RAILRUSH_PROMETHEUS_DATA" "$RAILRUSH_PROMETHEUS_LOG"
    rr_log "started Prometheus on 127.0.0.1:$RAILRUSH_PROMETHEUS_PORT (pid $!)"
}

# Wait (bounded) until every service's /health/ready is 200 and the gateway answers.
wait_until_ready() {
    local deadline=$((SECONDS + start_timeout)) next_note=$((SECONDS + 10)) i code pending unready
    while :; do
        check_alive
        pending=()
        unready=()
        for i in "${!service_names[@]}"; do
            code=$(http_status "http://127.0.0.1:${service_ports[i]}/health/ready")
            [ "$code" = 200 ] && continue
            pending+=("${service_names[i]} (/health/ready: ${code/#000/no answer})")
            unready+=("$i")
        done
        code=$(http_status "http://127.0.0.1:$RAILRUSH_GATEWAY_PORT/")
        [ "$code" != 000 ] || pending+=("gateway (no answer)")
        if [ "$prometheus_enabled" = 1 ]; then
            code=$(http_status "http://127.0.0.1:$RAILRUSH_PROMETHEUS_PORT/-/ready")
            [ "$code" = 200 ] || pending+=("prometheus (/-/ready: ${code/#000/no answer})")
        fi
        [ "${#pending[@]}" -eq 0 ] && return 0

        if ((SECONDS >= deadline)); then
            # Services were started first, so a service's index is also its started_* index.
            for i in "${unready[@]}"; do show_failure "$i" "is not ready"; done
            rr_die "not ready after ${start_timeout}s: ${pending[*]}"
        fi
        if ((SECONDS >= next_note)); then
            rr_log "waiting for: ${pending[*]}"
            next_note=$((SECONDS + 10))
        fi
        sleep 1
    done
}

print_banner() {
    local i
    printf '\nRailRush is up: %s\n\n' "$gateway_url"
    for i in "${!service_names[@]}"; do
        printf '  %-22s http://127.0.0.1:%s   log: %s\n' "${service_names[i]}" "${service_ports[i]}" \
            "${RAILRUSH_LOGS#"$RAILRUSH_ROOT"/}/${service_names[i]}.log"
    done
    printf '  %-22s %s   logs: %s, %s\n' gateway "$gateway_url" \
        "${RAILRUSH_NGINX_ACCESS_LOG#"$RAILRUSH_ROOT"/}" "${RAILRUSH_NGINX_ERROR_LOG#"$RAILRUSH_ROOT"/}"
    if [ "$prometheus_enabled" = 1 ]; then
        printf '  %-22s http://127.0.0.1:%s   log: %s\n' prometheus "$RAILRUSH_PROMETHEUS_PORT" \
            "${RAILRUSH_PROMETHEUS_LOG#"$RAILRUSH_ROOT"/}"
    fi
    printf '\nPress Ctrl-C to stop the services and the gateway (the stores keep running).\n'
}

# Stay in the foreground until a signal (the traps stop everything). A service that exits
# (a crash, a SIGKILL: bench/demo.sh's "service down" scene does that) is started again at
# once, as a process supervisor would, at most RESTARTS_PER_MINUTE times a minute each; the
# gateway or Prometheus exiting, or a service crashing in a loop, stops the whole stack.
RESTARTS_PER_MINUTE=5
supervise() {
    local exited status i recent
    declare -A restarts=()
    while :; do
        exited="" status=0
        wait -n -p exited "${started_pids[@]}" || status=$?
        for i in "${!started_pids[@]}"; do
            [ "${started_pids[i]}" = "$exited" ] || continue
            if ((i >= ${#service_names[@]})); then
                show_failure "$i" "exited (status $status)"
                rr_die "a process of the stack stopped; stopping the rest"
            fi
            # shellcheck disable=SC2086 # the list of restart times splits on purpose
            recent=$(printf '%s\n' ${restarts[$i]:-} | awk -v now="$SECONDS" '$1 > now - 60' | wc -l)
            if ((recent >= RESTARTS_PER_MINUTE)); then
                show_failure "$i" "exited (status $status) $recent times in a minute"
                rr_die "${started_names[i]} keeps crashing; stopping the rest"
            fi
            restarts[$i]="${restarts[$i]:-} $SECONDS"
            launch_service "$i"
            started_pids[i]=$!
            printf '%s\n%s\n' "$!" "$RAILRUSH_BIN_DIR/${started_names[i]}" >"$RAILRUSH_RUN/${started_names[i]}.pid"
            rr_warn "${started_names[i]} exited (status $status); started it again (pid $!)"
        done
    done
}

main() {
    cd "$RAILRUSH_ROOT"
    prepare_machine
    take_lock
    trap cleanup EXIT
    trap 'on_signal INT 130' INT
    trap 'on_signal TERM 143' TERM
    stop_stale
    build
    find_services
    check_ports
    seed_trains
    start_services
    start_gateway
    start_prometheus
    rr_log "waiting up to ${start_timeout}s for the services and the gateway to be ready"
    wait_until_ready
    print_banner
    supervise
}

main "$@"
