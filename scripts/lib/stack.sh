# shellcheck shell=bash
# shellcheck disable=SC2034 # variables defined here are used by the scripts that source it
#
# scripts/lib/stack.sh: the local stack's shared pieces, sourced by scripts/start.sh and
# scripts/test.sh (never run on its own). Defining things has no side effects; each
# `rr_*` function does one step and is safe to repeat:
#
#   rr_ensure_packages       install missing Debian packages that running needs (stores,
#                            nginx, build tools, Node.js)
#   rr_ensure_test_packages  install missing Debian packages that only the tests need
#                            (Chromium and its driver, Python's venv and YAML parser)
#   rr_start_stores          start PostgreSQL, Redis and RabbitMQ where not answering
#   rr_create_databases      create the five service databases where missing
#   rr_check_db_access URL   fail clearly when a PostgreSQL URL does not connect
#   rr_ensure_dev_keys       generate the development JWT key pair, OTP and NID secrets and
#                            the queue pass key
#   rr_services              list the services that exist (one "name port" per line)
#   rr_service_env NAME PORT the environment a service runs with (one KEY=VALUE per line)
#   rr_port_in_use PORT      whether something listens on 127.0.0.1:PORT
#   rr_ensure_prometheus     install Debian's prometheus/promtool, its system service kept off
#   rr_prepare_prometheus    check monitoring/prometheus.local.yml, create .local/prometheus
#   rr_build_web             build the web app into web/dist (npm ci when needed, npm run build)
#   rr_render_gateway        render nginx/ into .local/nginx (nginx/render.sh), check it with nginx -t
#
# Conventions (the Rust code follows them): service NAME listens on its fixed PORT, uses
# the database railrush_<NAME without -service>, and exists when NAME/Cargo.toml exists.
# Stores are reached on 127.0.0.1 with their standard ports; PostgreSQL as user postgres
# with trust authentication. Where 127.0.0.1 is not trusted (a freshly installed Debian
# PostgreSQL asks for a password there), the databases are still created, as the postgres OS
# user over the Unix socket (runuser as root, else sudo -u postgres), and rr_check_db_access
# then stops with the pg_hba.conf line (or the password setting) the services need.
#
# Environment overrides (all optional):
#   RAILRUSH_PG_BASE_URL  PostgreSQL URL without database (default postgres://postgres@127.0.0.1:5432)
#   RAILRUSH_WEB_ROOT     directory nginx serves for / (default <repo>/web/dist, the built web app)
#   RAILRUSH_GATEWAY_PORT the gateway's port (default 8080)
#   RAILRUSH_GATEWAY_PROFILE  the gateway's limits: default, or load (raised, for benchmarks
#                         only); see nginx/profiles/
#   RAILRUSH_BIN_DIR      where the service binaries are (default <cargo target dir>/release)
#   RAILRUSH_BOOKING_UPSTREAM  the gateway's booking-service replicas, host:port separated by
#                         commas (default 127.0.0.1:8083, the stack's one; list replicas
#                         started beside it, e.g. 127.0.0.1:8083,127.0.0.1:8093)

RAILRUSH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RAILRUSH_LOCAL="$RAILRUSH_ROOT/.local"
RAILRUSH_LOGS="$RAILRUSH_LOCAL/logs"
RAILRUSH_RUN="$RAILRUSH_LOCAL/run"
RAILRUSH_KEYS="$RAILRUSH_LOCAL/keys"
RAILRUSH_NGINX_PREFIX="$RAILRUSH_LOCAL/nginx"
RAILRUSH_GATEWAY_PORT="${RAILRUSH_GATEWAY_PORT:-8080}"
RAILRUSH_GATEWAY_PROFILE="${RAILRUSH_GATEWAY_PROFILE:-default}"
RAILRUSH_WEB_ROOT="${RAILRUSH_WEB_ROOT:-$RAILRUSH_ROOT/web/dist}"
RAILRUSH_BIN_DIR="${RAILRUSH_BIN_DIR:-${CARGO_TARGET_DIR:-$RAILRUSH_ROOT/target}/release}"

# Every service the platform has, in start order, as name:port.
RAILRUSH_SERVICES=(
    auth-service:8081
    train-service:8082
    booking-service:8083
    payment-service:8084
    notification-service:8085
)

RAILRUSH_PG_BASE_URL="${RAILRUSH_PG_BASE_URL:-postgres://postgres@127.0.0.1:5432}"
RAILRUSH_REDIS_URL="redis://127.0.0.1:6379"
RAILRUSH_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f"

# Debian keeps daemons and admin tools (nginx, runuser, rabbitmq-server) in sbin, which is
# not on an ordinary user's PATH.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac
export PATH

# ---- Messages -----------------------------------------------------------------------------

rr_log()  { printf '==> %s\n' "$*"; }
rr_warn() { printf 'warning: %s\n' "$*" >&2; }
rr_die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, else through sudo.
rr_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        rr_die "root is needed for: $* (run as root or install sudo)"
    fi
}

# rr_wait_for DESCRIPTION SECONDS COMMAND...: retry COMMAND once a second until it succeeds;
# non-zero when it still fails after SECONDS.
rr_wait_for() {
    local what=$1 seconds=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        if ((SECONDS >= deadline)); then
            rr_warn "$what did not come up within ${seconds}s"
            return 1
        fi
        sleep 1
    done
}

# ---- Packages -----------------------------------------------------------------------------

# rr_package_missing PACKAGE [COMMAND...]: true when PACKAGE is needed, i.e. it is not
# installed according to dpkg and at least one of its COMMANDs is not on the PATH.
rr_package_missing() {
    local pkg=$1 cmd
    shift
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        return 1
    fi
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 || return 0
    done
    # No command to look for (a library package): dpkg said it is not installed.
    [ "$#" -eq 0 ]
}

# rr_install_missing PACKAGE...: install the PACKAGEs from Debian's packages, unattended and
# without their recommended packages (each function below names what it needs); `apt-get
# update` runs first, once per call. Nothing to do without PACKAGEs.
rr_install_missing() {
    [ "$#" -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 \
        || rr_die "missing $* and apt-get is not available: install them by hand"
    rr_log "packages: installing $* (without recommends)"
    rr_as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q
    rr_as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install \
        -y -q --no-install-recommends "$@"
}

# Install whatever running the local stack needs and is missing (scripts/start.sh, and the
# tests, which run the same stores and gateway): the stores, nginx, the build tools and
# Node.js for the web app's build. `apt-get update` runs only when something is missing.
rr_ensure_packages() {
    local missing=()
    rr_package_missing postgresql     pg_ctlcluster pg_isready psql && missing+=(postgresql)
    rr_package_missing redis-server   redis-server redis-cli        && missing+=(redis-server)
    rr_package_missing rabbitmq-server rabbitmq-server              && missing+=(rabbitmq-server)
    rr_package_missing nginx          nginx                         && missing+=(nginx)
    rr_package_missing gettext-base   envsubst                      && missing+=(gettext-base)
    rr_package_missing openssl        openssl                       && missing+=(openssl)
    rr_package_missing curl           curl                          && missing+=(curl)
    # Recommended by curl and nodejs, needed by npm and cargo to fetch over https.
    rr_package_missing ca-certificates                              && missing+=(ca-certificates)
    # Build dependencies of the workspace's crates (C code through the cc crate).
    rr_package_missing pkg-config     pkg-config                    && missing+=(pkg-config)
    rr_package_missing gcc            gcc                           && missing+=(gcc)
    rr_package_missing libc6-dev                                    && missing+=(libc6-dev)
    # The web app's build (rr_build_web). Node.js from elsewhere (nodesource) counts.
    rr_package_missing nodejs         node                          && missing+=(nodejs)
    rr_package_missing npm            npm                           && missing+=(npm)

    if [ "${#missing[@]}" -eq 0 ]; then
        rr_log "packages: all present"
        return 0
    fi
    rr_install_missing "${missing[@]}"
}

# Install what only the tests need and is missing (scripts/test.sh): Debian's Chromium,
# which the browser test drives with playwright-core (no browser download), its driver,
# and a font for it to lay text out with (Chromium's recommended packages, cups, upower and
# the desktop's, are not needed headless); Python's venv for the delivery validators and
# its YAML parser for the monitoring check (scripts/checks/).
rr_ensure_test_packages() {
    local missing=()
    rr_package_missing chromium        chromium                     && missing+=(chromium)
    rr_package_missing chromium-driver chromedriver                 && missing+=(chromium-driver)
    rr_package_missing fonts-liberation                             && missing+=(fonts-liberation)
    rr_package_missing python3-venv                                 && missing+=(python3-venv)
    rr_package_missing python3-yaml                                 && missing+=(python3-yaml)

    if [ "${#missing[@]}" -eq 0 ]; then
        rr_log "test packages: all present"
        return 0
    fi
    rr_install_missing "${missing[@]}"
}

rr_require_cargo() {
    command -v cargo >/dev/null 2>&1 \
        || rr_die "cargo is not on the PATH: install the Rust toolchain (https://rustup.rs) and retry"
}

# ---- Stores -------------------------------------------------------------------------------

rr_pg_up()    { pg_isready -h 127.0.0.1 -p 5432 -q; }
rr_redis_up() { [ "$(timeout 5 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }
# RabbitMQ opens its AMQP listener last in its boot, so an accepted TCP connection means ready.
rr_amqp_up()  { timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5672' 2>/dev/null; }

# Output of the store start commands, shown when a store fails to come up. Their stdio is
# redirected so a daemon never keeps this script's terminal or pipe open.
RAILRUSH_STORES_LOG="$RAILRUSH_LOGS/stores.log"

rr_run_store_command() {
    mkdir -p "$RAILRUSH_LOGS"
    printf '%s $ %s\n' "$(date -Is)" "$*" >>"$RAILRUSH_STORES_LOG"
    rr_as_root "$@" </dev/null >>"$RAILRUSH_STORES_LOG" 2>&1
}

rr_store_failed() {
    rr_warn "last lines of $RAILRUSH_STORES_LOG:"
    tail -n 20 "$RAILRUSH_STORES_LOG" >&2 || true
    rr_die "$1"
}

# rr_newest_subdir DIR: the highest version-sorted subdirectory name of DIR (empty if none).
rr_newest_subdir() {
    find "$1" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -n 1 || true
}

rr_start_postgres() {
    if rr_pg_up; then
        rr_log "PostgreSQL: answering on 127.0.0.1:5432"
        return 0
    fi
    # The machine's own start command is `pg_ctlcluster ... $(ls /etc/postgresql) main start`;
    # with several versions installed, start the newest.
    local version
    version=$(rr_newest_subdir /etc/postgresql)
    # After `apt-get install postgresql` Debian has created the cluster <version>/main. If a
    # cluster was never created (create_main_cluster=false), create it with the newest server.
    if [ -z "$version" ]; then
        version=$(rr_newest_subdir /usr/lib/postgresql)
        [ -n "$version" ] || rr_die "no PostgreSQL server under /usr/lib/postgresql"
        rr_log "PostgreSQL: creating cluster $version/main"
        rr_run_store_command pg_createcluster "$version" main \
            || rr_store_failed "pg_createcluster $version main failed"
    fi
    rr_log "PostgreSQL: starting cluster $version/main"
    # A failure here may only mean "already running" but not yet accepting; the wait decides.
    rr_run_store_command pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    rr_wait_for "PostgreSQL on 127.0.0.1:5432" 30 rr_pg_up \
        || rr_store_failed "PostgreSQL is not answering (see also /var/log/postgresql/postgresql-$version-main.log)"
    rr_log "PostgreSQL: started"
}

rr_start_redis() {
    if rr_redis_up; then
        rr_log "Redis: answering on 127.0.0.1:6379"
        return 0
    fi
    rr_log "Redis: starting"
    rr_run_store_command mkdir -p /var/lib/redis /var/log/redis
    rr_run_store_command redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 \
        --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    rr_wait_for "Redis on 127.0.0.1:6379" 15 rr_redis_up \
        || rr_store_failed "Redis is not answering (see also /var/log/redis/ci.log)"
    rr_log "Redis: started"
}

rr_start_rabbitmq() {
    if rr_amqp_up; then
        rr_log "RabbitMQ: answering on 127.0.0.1:5672"
        return 0
    fi
    rr_log "RabbitMQ: starting (this can take about 20 s)"
    rr_run_store_command rabbitmq-server -detached || true
    rr_wait_for "RabbitMQ on 127.0.0.1:5672" 90 rr_amqp_up \
        || rr_store_failed "RabbitMQ is not answering (see also /var/log/rabbitmq/)"
    rr_log "RabbitMQ: started"
}

# Start each store only when it is not answering; running stores are left exactly as they are.
rr_start_stores() {
    rr_start_postgres
    rr_start_redis
    rr_start_rabbitmq
}

# ---- Databases ----------------------------------------------------------------------------

# How to reach PostgreSQL as its superuser: over TCP as the services do ("tcp"), or, where
# 127.0.0.1 is not trusted (a freshly installed PostgreSQL asks for a password there), as the
# postgres OS user over the Unix socket ("peer"). Decided once.
RAILRUSH_PG_ADMIN_MODE=""

rr_pg_detect_admin() {
    [ -n "$RAILRUSH_PG_ADMIN_MODE" ] && return 0
    if psql -X -w -q -h 127.0.0.1 -p 5432 -U postgres -d postgres -c 'select 1' >/dev/null 2>&1; then
        RAILRUSH_PG_ADMIN_MODE=tcp
    else
        RAILRUSH_PG_ADMIN_MODE=peer
        rr_warn "PostgreSQL does not let user postgres in over 127.0.0.1 without a password;" \
            "creating databases as the postgres OS user instead"
    fi
}

# rr_psql_admin PSQL-ARGS...: psql as superuser on database postgres (rr_pg_detect_admin first).
rr_psql_admin() {
    if [ "$RAILRUSH_PG_ADMIN_MODE" = tcp ]; then
        psql -X -w -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5432 -U postgres -d postgres "$@"
    elif [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- psql -X -w -q -v ON_ERROR_STOP=1 -d postgres "$@")
    else
        (cd / && sudo -u postgres psql -X -w -q -v ON_ERROR_STOP=1 -d postgres "$@")
    fi
}

# The database of a service: auth-service -> railrush_auth.
rr_service_db() { printf 'railrush_%s' "${1%-service}"; }

# Create the five service databases (owner postgres) where missing.
rr_create_databases() {
    local entry name db exists created=()
    rr_pg_detect_admin
    for entry in "${RAILRUSH_SERVICES[@]}"; do
        name=${entry%%:*}
        db=$(rr_service_db "$name")
        exists=$(rr_psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = '$db'") \
            || rr_die "cannot query PostgreSQL for database $db"
        if [ "$exists" != 1 ]; then
            rr_psql_admin -c "CREATE DATABASE \"$db\" OWNER postgres" \
                || rr_die "cannot create database $db"
            created+=("$db")
        fi
    done
    if [ "${#created[@]}" -gt 0 ]; then
        rr_log "databases: created ${created[*]}"
    else
        rr_log "databases: all present"
    fi
}

# rr_check_db_access URL: fail with instructions when URL (the form services and tests use,
# no password) cannot connect, as on a fresh PostgreSQL whose 127.0.0.1 rule is scram-sha-256.
rr_check_db_access() {
    local url=$1 err shown
    err=$(psql -X -w -q "$url" -c 'select 1' 2>&1 >/dev/null) && return 0
    shown=$(printf '%s' "$url" | sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#')
    rr_die "cannot connect to $shown: ${err:-psql failed}
  The local stack connects as user postgres without a password (trust authentication for
  127.0.0.1). On a freshly installed PostgreSQL, either add this line at the top of
  /etc/postgresql/<version>/main/pg_hba.conf and reload PostgreSQL:
      host  all  postgres  127.0.0.1/32  trust
  or give user postgres a password and export
  RAILRUSH_PG_BASE_URL=postgres://postgres:<password>@127.0.0.1:5432 (and TEST_DATABASE_URL for the tests)."
}

# ---- Development secrets ------------------------------------------------------------------

RAILRUSH_JWT_PRIVATE_KEY="$RAILRUSH_KEYS/jwt_private.pem"
RAILRUSH_JWT_PUBLIC_KEY="$RAILRUSH_KEYS/jwt_public.pem"
RAILRUSH_OTP_SECRET="$RAILRUSH_KEYS/otp_secret"
RAILRUSH_NID_SECRET="$RAILRUSH_KEYS/nid_secret"
RAILRUSH_QUEUE_PASS_KEY="$RAILRUSH_KEYS/queue_pass_key"
RAILRUSH_TICKET_KEY="$RAILRUSH_KEYS/ticket_private.pem"

# Generate the Ed25519 JWT key pair, the OTP secret, the NID hash key, the key queue passes
# are signed with and the Ed25519 key tickets are signed with under .local/keys where missing.
# Existing files are kept, so tokens issued before a restart stay valid.
rr_ensure_dev_keys() {
    mkdir -p "$RAILRUSH_KEYS"
    chmod 700 "$RAILRUSH_KEYS"
    local made=()
    if [ ! -s "$RAILRUSH_JWT_PRIVATE_KEY" ]; then
        (umask 077 && openssl genpkey -algorithm ed25519 -out "$RAILRUSH_JWT_PRIVATE_KEY") \
            || rr_die "openssl could not generate $RAILRUSH_JWT_PRIVATE_KEY"
        rm -f "$RAILRUSH_JWT_PUBLIC_KEY" # belongs to the old key, if any
        made+=(jwt_private.pem)
    fi
    chmod 600 "$RAILRUSH_JWT_PRIVATE_KEY"
    if [ ! -s "$RAILRUSH_JWT_PUBLIC_KEY" ]; then
        openssl pkey -in "$RAILRUSH_JWT_PRIVATE_KEY" -pubout -out "$RAILRUSH_JWT_PUBLIC_KEY" \
            || rr_die "openssl could not derive $RAILRUSH_JWT_PUBLIC_KEY"
        made+=(jwt_public.pem)
    fi
    if [ ! -s "$RAILRUSH_TICKET_KEY" ]; then
        (umask 077 && openssl genpkey -algorithm ed25519 -out "$RAILRUSH_TICKET_KEY") \
            || rr_die "openssl could not generate $RAILRUSH_TICKET_KEY"
        made+=(ticket_private.pem)
    fi
    chmod 600 "$RAILRUSH_TICKET_KEY"
    local secret
    for secret in "$RAILRUSH_OTP_SECRET" "$RAILRUSH_NID_SECRET" "$RAILRUSH_QUEUE_PASS_KEY"; do
        if [ ! -s "$secret" ]; then
            (umask 077 && openssl rand -hex 32 | tr -d "\n" >"$secret.tmp" \
                && mv "$secret.tmp" "$secret") \
                || rr_die "openssl could not generate $secret"
            made+=("${secret##*/}")
        fi
        chmod 600 "$secret"
    done
    if [ "${#made[@]}" -gt 0 ]; then
        rr_log "dev keys: generated ${made[*]} in ${RAILRUSH_KEYS#"$RAILRUSH_ROOT"/}"
    else
        rr_log "dev keys: present in ${RAILRUSH_KEYS#"$RAILRUSH_ROOT"/}"
    fi
}

# ---- Services -----------------------------------------------------------------------------

# The services that exist in the workspace, one "name port" per line, in start order.
rr_services() {
    local entry
    for entry in "${RAILRUSH_SERVICES[@]}"; do
        [ -f "$RAILRUSH_ROOT/${entry%%:*}/Cargo.toml" ] && printf '%s %s\n' "${entry%%:*}" "${entry##*:}"
    done
    return 0
}

# rr_service_env NAME PORT: the service's configuration, one KEY=VALUE per line (for `env`).
# APP_REDIS__KEY_PREFIX is left unset (empty prefix). RUST_LOG may be overridden by the caller.
rr_service_env() {
    local name=$1 port=$2
    printf '%s\n' \
        "APP_HTTP__HOST=127.0.0.1" \
        "APP_HTTP__PORT=$port" \
        "APP_DATABASE__URL=$RAILRUSH_PG_BASE_URL/$(rr_service_db "$name")" \
        "APP_REDIS__URL=$RAILRUSH_REDIS_URL" \
        "APP_AMQP__URL=$RAILRUSH_AMQP_URL" \
        "APP_JWT__PUBLIC_KEY_PATH=$RAILRUSH_JWT_PUBLIC_KEY" \
        "APP_LOG__FORMAT=json" \
        "RUST_LOG=${RUST_LOG:-info}"
    # Only the auth service signs tokens and issues OTPs.
    if [ "$name" = auth-service ]; then
        printf '%s\n' \
            "APP_JWT__PRIVATE_KEY_PATH=$RAILRUSH_JWT_PRIVATE_KEY" \
            "APP_OTP__DEV_ECHO=true" \
            "APP_OTP__SECRET_PATH=$RAILRUSH_OTP_SECRET" \
            "APP_NID__SECRET_PATH=$RAILRUSH_NID_SECRET"
    fi
    # booking-service signs and checks the waiting room's passes, and signs tickets.
    if [ "$name" = booking-service ]; then
        printf '%s\n' "APP_QUEUE__PASS_KEY_PATH=$RAILRUSH_QUEUE_PASS_KEY" \
            "APP_TICKETS__SIGNING_KEY_PATH=$RAILRUSH_TICKET_KEY"
        # The load profile lifts the per-passenger limits with the per-address ones.
        if [ "$RAILRUSH_GATEWAY_PROFILE" = load ]; then
            printf '%s\n' "APP_USER_LIMITS__ENABLED=false"
        fi
    fi
}

# rr_port_in_use PORT: true when something accepts connections on 127.0.0.1:PORT.
rr_port_in_use() { timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# rr_port_owner PORT: a line saying which process listens on PORT, when ss can tell.
rr_port_owner() {
    command -v ss >/dev/null 2>&1 || return 0
    ss -ltnpH "sport = :$1" 2>/dev/null | head -n 1
}

# ---- The running stack, for the benchmarks and the demo ------------------------------------

# rr_stack_ready: every service's /health/ready answers 200 and the gateway answers.
rr_stack_ready() {
    local entry
    for entry in "${RAILRUSH_SERVICES[@]}"; do
        [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:${entry##*:}/health/ready")" = 200 ] \
            || return 1
    done
    [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$RAILRUSH_GATEWAY_PORT/")" != 000 ]
}

# rr_use_or_start_stack LOG [NAME=VALUE...]: use the running local stack, or start
# scripts/start.sh in a session of its own with the NAME=VALUE settings (its output in LOG)
# and wait up to 30 minutes until it is ready (a first start builds everything). Sets
# RR_STACK_PID when it started one; rr_stop_stack stops that one only.
RR_STACK_PID=""
rr_use_or_start_stack() {
    local log=$1 entry busy=()
    shift
    if rr_stack_ready; then
        rr_log "stack: using the running local stack"
        return 0
    fi
    for entry in "${RAILRUSH_SERVICES[@]}" "gateway:$RAILRUSH_GATEWAY_PORT"; do
        rr_port_in_use "${entry##*:}" && busy+=("${entry##*:}")
    done
    [ "${#busy[@]}" -eq 0 ] \
        || rr_die "ports ${busy[*]} are in use but the stack is not ready: start it fully or stop it"
    rr_log "stack: starting ${*:+$* }scripts/start.sh (log: $log)"
    env "$@" setsid "$RAILRUSH_ROOT/scripts/start.sh" >"$log" 2>&1 </dev/null &
    RR_STACK_PID=$!
    for _ in $(seq 1 1800); do
        rr_stack_ready && return 0
        kill -0 "$RR_STACK_PID" 2>/dev/null || { tail -n 30 "$log" >&2; rr_die "scripts/start.sh failed"; }
        sleep 1
    done
    rr_die "the stack did not become ready in 30 minutes (log: $log)"
}

# rr_stop_stack: stop the stack rr_use_or_start_stack started, if it did.
rr_stop_stack() {
    [ -n "$RR_STACK_PID" ] || return 0
    rr_log "stopping the stack this run started (scripts/start.sh, pid $RR_STACK_PID)"
    kill -TERM -- "-$RR_STACK_PID" 2>/dev/null || kill -TERM "$RR_STACK_PID" 2>/dev/null || true
    wait "$RR_STACK_PID" 2>/dev/null || true
    RR_STACK_PID=""
}

# ---- Prometheus (optional) ----------------------------------------------------------------

# The local stack's own Prometheus (`RAILRUSH_PROMETHEUS=1 scripts/start.sh`): Debian's
# package, run in the foreground by start.sh with monitoring/prometheus.local.yml (and the
# rules next to it), its data under .local/prometheus, listening on loopback only.
RAILRUSH_PROMETHEUS_PORT=9090
RAILRUSH_PROMETHEUS_CONFIG="$RAILRUSH_ROOT/monitoring/prometheus.local.yml"
RAILRUSH_PROMETHEUS_DATA="$RAILRUSH_LOCAL/prometheus"
RAILRUSH_PROMETHEUS_LOG="$RAILRUSH_LOGS/prometheus.log"
RAILRUSH_PROMETHEUS_ARGS=(
    "--config.file=$RAILRUSH_PROMETHEUS_CONFIG"
    "--storage.tsdb.path=$RAILRUSH_PROMETHEUS_DATA"
    "--storage.tsdb.retention.time=7d"
    "--web.listen-address=127.0.0.1:$RAILRUSH_PROMETHEUS_PORT"
)

# rr_ensure_prometheus [PACKAGE...]: install Debian's `prometheus` (prometheus, promtool)
# when missing, without its recommended node exporter, with whichever other PACKAGEs are
# missing. The package's maintainer scripts enable and start a system-wide prometheus on
# :9090 where services may start; the local stack runs its own instead, so right after an
# install made here that one is stopped and disabled (one installed otherwise is left alone).
rr_ensure_prometheus() {
    local missing=() pkg
    rr_package_missing prometheus prometheus promtool && missing+=(prometheus)
    for pkg in "$@"; do
        rr_package_missing "$pkg" && missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 \
        || rr_die "missing ${missing[*]} and apt-get is not available: install them by hand"
    rr_log "packages: installing ${missing[*]} (without recommends)"
    rr_as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q
    rr_as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install \
        -y -q --no-install-recommends "${missing[@]}"
    [ "${missing[0]}" = prometheus ] || return 0
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        rr_as_root systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/prometheus ]; then
        rr_as_root /etc/init.d/prometheus stop >/dev/null 2>&1 || true
        rr_as_root update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
    if rr_port_in_use "$RAILRUSH_PROMETHEUS_PORT"; then
        rr_warn "port $RAILRUSH_PROMETHEUS_PORT is still in use after stopping the packaged prometheus: $(rr_port_owner "$RAILRUSH_PROMETHEUS_PORT")"
    else
        rr_log "prometheus: the package's system service is stopped and disabled"
    fi
}

# rr_prepare_prometheus: check the local Prometheus configuration and its rules with
# promtool and create the storage directory.
rr_prepare_prometheus() {
    local out
    if ! out=$(promtool check config "$RAILRUSH_PROMETHEUS_CONFIG" 2>&1); then
        printf '%s\n' "$out" >&2
        rr_die "${RAILRUSH_PROMETHEUS_CONFIG#"$RAILRUSH_ROOT"/} does not pass promtool check config"
    fi
    mkdir -p "$RAILRUSH_PROMETHEUS_DATA" "$RAILRUSH_LOGS"
    rr_log "prometheus: ${RAILRUSH_PROMETHEUS_CONFIG#"$RAILRUSH_ROOT"/} checked, data in ${RAILRUSH_PROMETHEUS_DATA#"$RAILRUSH_ROOT"/}"
}

# ---- Web app ------------------------------------------------------------------------------

# Build the web app (web/, a Vite project) into web/dist, which the gateway serves at /:
# `npm ci` only when web/node_modules is missing or package-lock.json is newer than the
# last install, then `npm run build` (about two seconds). Vite needs Node.js 20.19 or newer.
rr_build_web() {
    local web="$RAILRUSH_ROOT/web" version
    [ -f "$web/package.json" ] || rr_die "web/package.json is missing: no web app to build"
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        rr_die "node and npm are needed to build the web app (Debian packages nodejs and npm)"
    fi
    version=$(node --version 2>/dev/null) || rr_die "node does not run"
    node -e 'const [a, b] = process.versions.node.split(".").map(Number);
             process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' \
        || rr_die "Node.js $version is too old to build the web app: Vite needs 20.19 or newer"
    # npm writes node_modules/.package-lock.json at the end of every install.
    if [ ! -f "$web/node_modules/.package-lock.json" ] \
        || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
        rr_log "web: installing packages (npm ci)"
        (cd "$web" && npm ci --no-audit --no-fund) || rr_die "npm ci failed in web/"
    fi
    rr_log "web: building web/dist (node $version)"
    (cd "$web" && npm run build --silent) || rr_die "the web app's build failed (npm run build in web/)"
}

# ---- Gateway ------------------------------------------------------------------------------

RAILRUSH_NGINX_CONF="$RAILRUSH_NGINX_PREFIX/conf/nginx.conf"
RAILRUSH_NGINX_ERROR_LOG="$RAILRUSH_NGINX_PREFIX/logs/error.log"
RAILRUSH_NGINX_ACCESS_LOG="$RAILRUSH_NGINX_PREFIX/logs/access.log"

# The nginx options that select the local gateway's private prefix and rendered config;
# used as: nginx "${RAILRUSH_NGINX_ARGS[@]}" -t   or   ... -g 'daemon off;'
RAILRUSH_NGINX_ARGS=(-p "$RAILRUSH_NGINX_PREFIX/" -e "$RAILRUSH_NGINX_ERROR_LOG" -c "$RAILRUSH_NGINX_CONF")

# Render nginx/*.template into the private prefix .local/nginx (conf/, conf/conf.d/, logs/,
# run/, temp/) for the local stack (upstreams 127.0.0.1:<port>, the limits of
# RAILRUSH_GATEWAY_PROFILE) and check it with nginx -t. The rendering is nginx/render.sh's,
# the one renderer the gateway image and the tests run too (its header has the rules); a
# LIMIT_* variable in the environment replaces that profile value, as in the image.
rr_render_gateway() {
    [ -d "$RAILRUSH_WEB_ROOT" ] \
        || rr_warn "web root $RAILRUSH_WEB_ROOT does not exist (build it: cd web && npm ci && npm run build): / will answer 404"

    local entry name var
    local -a vars=(
        "NGINX_ERROR_LOG=logs/error.log"
        "NGINX_ACCESS_LOG=logs/access.log"
        "GATEWAY_PORT=$RAILRUSH_GATEWAY_PORT"
        "WEB_ROOT=$RAILRUSH_WEB_ROOT"
        # Nothing stands in front of the local gateway: no trusted proxies, so nginx never
        # reads X-Forwarded-For and the connecting address is the client.
        "TRUSTED_PROXIES="
    )
    # auth-service:8081 -> AUTH_UPSTREAM=127.0.0.1:8081, for every service, existing or not.
    for entry in "${RAILRUSH_SERVICES[@]}"; do
        name=${entry%%:*}
        var="$(printf '%s' "${name%-service}" | tr '[:lower:]-' '[:upper:]_')_UPSTREAM"
        vars+=("$var=127.0.0.1:${entry##*:}")
    done
    [ -z "${RAILRUSH_BOOKING_UPSTREAM:-}" ] || vars+=("BOOKING_UPSTREAM=$RAILRUSH_BOOKING_UPSTREAM")
    env "${vars[@]}" sh "$RAILRUSH_ROOT/nginx/render.sh" "$RAILRUSH_GATEWAY_PROFILE" "$RAILRUSH_NGINX_PREFIX" \
        || rr_die "the gateway configuration was not rendered (RAILRUSH_GATEWAY_PROFILE=$RAILRUSH_GATEWAY_PROFILE: default or load)"
    # When nginx runs as root its workers run as an unprivileged user that must reach the
    # prefix (render.sh opens the prefix and its temp/ to them; this opens .local).
    chmod 755 "$RAILRUSH_LOCAL"

    local out conf_dir="$RAILRUSH_NGINX_PREFIX/conf"
    if ! out=$(nginx "${RAILRUSH_NGINX_ARGS[@]}" -t -q 2>&1); then
        printf '%s\n' "$out" >&2
        rr_die "the rendered gateway configuration ($conf_dir) does not pass nginx -t"
    fi
    rr_log "gateway: configuration rendered in ${conf_dir#"$RAILRUSH_ROOT"/} and checked"
}
