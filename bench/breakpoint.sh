#!/usr/bin/env bash
#
# bench/breakpoint.sh: the seat-selection breakpoint, measured with wrk on the local stack,
# straight to booking-service (127.0.0.1:8083) and through the gateway (:8080, load profile).
#
# For each target and each concurrency step it runs wrk (2 threads, bench/breakpoint.lua) for
# a fixed time: registered passengers (locust/prepare.py; tokens, no logins during the run)
# select 1 or 2 random seats of the step's trips; after the step, outside wrk's timing, every
# hold won is confirmed by its passenger (bench/breakpoint_confirm.py). Every step gets
# trips nobody has touched (bench/breakpoint_trips.py; more trains are seeded when they run
# out), so each step is a new rush: the seats go in the first moments, then almost every
# answer is 409 seat_unavailable. Each step's throughput, p50/p90/p99, answer mix (201 held,
# 409 taken, 409 limit, 429, other 4xx, 5xx, socket errors) and verdict against the limits go
# into bench/results/<date>-<target>.csv; between steps it waits until the step's bookings
# are paid (so the saga's work does not spill into the next step). Afterwards:
#   - the consistency check, target/release/railrush-check (no seat in two live bookings,
#     every paid booking with one payment and one ticket, outboxes drained), and this run's
#     own: no seat got two holds within a step (counted by the wrk script), and every confirm
#     answered 201 is a booking in the database;
#   - the chart (throughput and p99 against concurrency, one line per target) as a PNG, and
#     the steps as a markdown table for BENCHMARKS.md.
# Exits non-zero when a consistency check fails.
#
# Stack: a running local stack (scripts/start.sh) is used as it is; the gateway must run the
# load profile (RAILRUSH_GATEWAY_PROFILE=load), or the gateway pass measures the rate limit.
# When nothing listens on 8080..8085 the script starts `RAILRUSH_GATEWAY_PROFILE=load
# scripts/start.sh` itself (after raising the open-files limit, which the services inherit)
# and stops it at the end. Run it on a quiet machine: wrk shares the cores with the services.
#
#   bench/breakpoint.sh [options]
#     --targets "direct gateway"        which passes to run (default both)
#     --steps "16 64 256 1024 2048 5000" concurrent connections of each step
#     --duration 30                     seconds of wrk per step
#     --users 2000                      registered passengers whose tokens wrk uses
#     --trips-per-step 5                fresh trips each step rushes (5 x 275 seats by default)
#     --timeout 5                       wrk's request timeout, seconds (a timeout is an error)
#     --max-p99-ms 50 --max-error-ratio 0.01 --max-rate-limited-ratio 0.01
#                                       the limits a step must meet to be "good"
#     --stop-at-break                   stop a target's steps at the first step over a limit
#     --no-confirm                      only hold seats (no bookings, no saga; holds lapse in 5 min)
#     --settle 120                      seconds to wait for a step's bookings to be paid
#     --out bench/results               where the CSVs and the raw wrk output go
#     --chart docs/img/breakpoint.png   the PNG
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/stack.sh
source scripts/lib/stack.sh
# shellcheck source=locust/venv.sh
source locust/venv.sh

targets="direct gateway"
steps="16 64 256 1024 2048 5000"
duration=30
users=2000
trips_per_step=5
wrk_timeout=5
max_p99_ms=50
max_error_ratio=0.01
max_rate_limited_ratio=0.01
stop_at_break=0
confirm=1
settle=120
out=bench/results
chart=docs/img/breakpoint.png

while [ "$#" -gt 0 ]; do
    case $1 in
        --targets) targets=$2; shift ;;
        --steps) steps=$2; shift ;;
        --duration) duration=$2; shift ;;
        --users) users=$2; shift ;;
        --trips-per-step) trips_per_step=$2; shift ;;
        --timeout) wrk_timeout=$2; shift ;;
        --max-p99-ms) max_p99_ms=$2; shift ;;
        --max-error-ratio) max_error_ratio=$2; shift ;;
        --max-rate-limited-ratio) max_rate_limited_ratio=$2; shift ;;
        --stop-at-break) stop_at_break=1 ;;
        --no-confirm) confirm=0 ;;
        --settle) settle=$2; shift ;;
        --out) out=$2; shift ;;
        --chart) chart=$2; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) rr_die "unknown option $1 (see --help)" ;;
    esac
    shift
done
for t in $targets; do
    case $t in direct | gateway) ;; *) rr_die "unknown target $t (direct, gateway)" ;; esac
done

declare -A url=([direct]="http://127.0.0.1:8083" [gateway]="http://127.0.0.1:$RAILRUSH_GATEWAY_PORT")
auth_url="http://127.0.0.1:8081"
train_url="http://127.0.0.1:8082"
booking_db="$RAILRUSH_PG_BASE_URL/railrush_booking"
train_db="$RAILRUSH_PG_BASE_URL/railrush_train"
max_conn=0
for c in $steps; do [ "$c" -gt "$max_conn" ] && max_conn=$c; done

# ---- Tools and limits ---------------------------------------------------------------------

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v ss >/dev/null 2>&1 || missing+=(iproute2)
if [ "${#missing[@]}" -gt 0 ]; then
    rr_log "packages: installing ${missing[*]}"
    rr_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    rr_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
rr_loadtest_venv # matplotlib for the chart at the end: fail early when pip cannot

# wrk needs a descriptor per connection; so do booking-service and nginx when we start them.
hard=$(ulimit -Hn)
want=$((max_conn * 2 + 4096))
[ "$hard" = unlimited ] || [ "$hard" -ge "$want" ] || want=$hard
ulimit -n "$want" 2>/dev/null || true
[ "$(ulimit -n)" -ge $((max_conn + 64)) ] \
    || rr_die "open files limit $(ulimit -n) is below $max_conn connections: raise the hard limit (ulimit -Hn)"

# ---- The stack ----------------------------------------------------------------------------

work=$(mktemp -d)
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    set +e
    rr_stop_stack
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$out/raw"
date_utc=$(date -u +%F)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
rr_use_or_start_stack "$out/raw/$stamp-stack.log" RAILRUSH_GATEWAY_PROFILE=load

# What would spoil the measurement, said before it starts.
pid_on() { ss -ltnpH "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2; }
bpid=$(pid_on 8083)
if [ -n "$bpid" ] && [ -r "/proc/$bpid/limits" ]; then
    bfiles=$(awk '/Max open files/ {print $4}' "/proc/$bpid/limits")
    [ "$bfiles" = unlimited ] || [ "$bfiles" -ge $((max_conn + 256)) ] \
        || rr_warn "booking-service may open only $bfiles files, fewer than $max_conn connections: restart the stack after 'ulimit -n $want'"
fi
gw_conf="$RAILRUSH_NGINX_PREFIX/conf/conf.d/railrush.conf"
if [[ " $targets " == *" gateway "* ]] && [ -r "$gw_conf" ]; then
    seats_rate=$(grep -o 'zone=seats:[^ ]* *rate=[0-9]*' "$gw_conf" | grep -o '[0-9]*$' || true)
    if [ -n "$seats_rate" ] && [ "$seats_rate" -lt 1000 ]; then
        rr_warn "the gateway runs the default profile (seat selection limited to ${seats_rate} r/s per address):" \
            "restart with RAILRUSH_GATEWAY_PROFILE=load scripts/start.sh, or the gateway pass measures the limiter"
    fi
    wc=$(awk '$1 == "worker_connections" {gsub(";", ""); print $2}' "$RAILRUSH_NGINX_PREFIX/conf/nginx.conf" 2>/dev/null || true)
    workers=$(awk '$1 == "worker_processes" {gsub(";", ""); print $2}' "$RAILRUSH_NGINX_PREFIX/conf/nginx.conf" 2>/dev/null || true)
    [[ "$workers" =~ ^[0-9]+$ ]] || workers=$(nproc)
    if [[ "$wc" =~ ^[0-9]+$ ]] && [ $((wc * workers)) -lt $((max_conn * 2)) ]; then
        rr_warn "gateway: $workers workers x worker_connections $wc < 2 x $max_conn (a proxied request holds two):" \
            "expect errors at the highest steps"
    fi
fi

# ---- Passengers and trips -----------------------------------------------------------------

tokens="$work/tokens"
prepare() { python3 locust/prepare.py --auth "$auth_url" --users "$users" --tokens-out "$tokens" --max-age 600 | tail -n 1; }
prepare

read -r -a step_list <<<"$steps"
read -r -a target_list <<<"$targets"
need=$((${#step_list[@]} * ${#target_list[@]} * trips_per_step))
find_trips() {
    python3 bench/breakpoint_trips.py --train "$train_url" --booking "${url[direct]}" --need "$need" >"$work/trips"
}
if ! find_trips; then
    have=$(wc -l <"$work/trips")
    trains=$(psql -X -w -qAt "$train_db" -c 'SELECT count(*) FROM trains')
    more=$(((need - have + 12) / 13 + 1)) # a new train runs on 13 days from tomorrow
    rr_log "trips: $have fresh of $need wanted; seeding $more more trains ($((trains + more)) in all, DHK-CTG)"
    mapfile -t train_env < <(rr_service_env train-service 8082)
    env "${train_env[@]}" "$RAILRUSH_BIN_DIR/train-service" seed --trains $((trains + more)) --routes DHK-CTG \
        >"$work/seed.log" 2>&1 || { cat "$work/seed.log" >&2; rr_die "seeding more trains failed"; }
    sleep 6 # the search cache keeps results for 5 s
    find_trips || rr_die "still too few fresh trips after seeding: $(wc -l <"$work/trips") of $need"
fi
mapfile -t all_trips <"$work/trips"
next_trip=0
run_trips=()

cpu=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
machine="$(nproc) cores${cpu:+ ($cpu)}, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
rr_log "machine: $machine; $date_utc; steps: $steps; ${duration}s each; targets: $targets"

# ---- The steps ----------------------------------------------------------------------------

csvs=()
for target in "${target_list[@]}"; do
    csv="$out/$date_utc-$target.csv"
    rm -f "$csv"
    csvs+=("$csv")
    for c in "${step_list[@]}"; do
        trips=("${all_trips[@]:next_trip:trips_per_step}")
        next_trip=$((next_trip + trips_per_step))
        run_trips+=("${trips[@]%%:*}")
        for t in "${trips[@]%%:*}"; do # warm booking-service's inventory of the trip
            curl -fs -o /dev/null "${url[$target]}/api/bookings/trips/$t/seats" || true
        done
        prepare >/dev/null
        threads=2
        [ "$c" -lt 2 ] && threads=1
        raw="$out/raw/$date_utc-$target-c$c"
        rr_log "$target: $c connections, trips ${trips[*]%%:*}"
        BENCH_TOKENS="$tokens" BENCH_TRIPS="$(
            IFS=,
            echo "${trips[*]}"
        )" BENCH_RESULT="$raw.result" BENCH_HOLDS="$raw.holds" \
            wrk -t"$threads" -c"$c" -d"${duration}s" --timeout "${wrk_timeout}s" --latency \
            -s bench/breakpoint.lua "${url[$target]}" >"$raw.wrk.txt" 2>&1 \
            || { cat "$raw.wrk.txt" >&2; rr_die "wrk failed"; }
        if [ "$confirm" = 1 ]; then # after the step: wrk's latencies are the selects' own
            python3 bench/breakpoint_confirm.py --booking "${url[$target]}" --tokens "$tokens" \
                --holds "$raw.holds" --result "$raw.result" >/dev/null
        fi
        python3 bench/breakpoint_report.py row "$csv" "$raw.result" --target "$target" --connections "$c" \
            --machine "$machine" --date "$date_utc" --max-p99-ms "$max_p99_ms" \
            --max-error-ratio "$max_error_ratio" --max-rate-limited-ratio "$max_rate_limited_ratio"

        # Let the saga finish this step's bookings before the next step measures.
        ids=$(
            IFS=,
            echo "${trips[*]%%:*}"
        )
        waited=0
        while [ "$confirm" = 1 ] && [ "$waited" -lt "$settle" ]; do
            left=$(psql -X -w -qAt "$booking_db" -c \
                "SELECT count(*) FROM bookings WHERE status = 'confirmed' AND trip_id IN ($ids)")
            [ "$left" = 0 ] && break
            sleep 1
            waited=$((waited + 1))
        done
        [ "$waited" -lt "$settle" ] || rr_warn "bookings of trips $ids still unpaid after ${settle}s"
        sleep 2
        if [ "$stop_at_break" = 1 ] && ! tail -n 1 "$csv" | grep -q ',ok$'; then
            rr_log "$target: over a limit at $c connections; --stop-at-break"
            break
        fi
    done
done

# ---- Consistency --------------------------------------------------------------------------

rr_log "consistency: railrush-check over the local stack's databases"
failed=0
"$RAILRUSH_BIN_DIR/railrush-check" --settle 60 | tee "$out/raw/$date_utc-check.txt" || failed=1
ids=$(
    IFS=,
    echo "${run_trips[*]}"
)
confirmed=0
double=0
for csv in "${csvs[@]}"; do
    confirmed=$((confirmed + $(python3 -c 'import csv,sys; print(sum(int(r["confirmed"]) for r in csv.DictReader(open(sys.argv[1]))))' "$csv")))
    double=$((double + $(python3 -c 'import csv,sys; print(sum(int(r["double_holds"]) for r in csv.DictReader(open(sys.argv[1]))))' "$csv")))
done
booked=$(psql -X -w -qAt "$booking_db" -c "SELECT count(*) FROM bookings WHERE trip_id IN ($ids)")
twice=$(psql -X -w -qAt "$booking_db" -c "SELECT count(*) FROM (SELECT 1 FROM booking_seats s
    JOIN bookings b ON b.id = s.booking_id WHERE b.status IN ('confirmed', 'paid') AND s.trip_id IN ($ids)
    GROUP BY s.trip_id, s.seat_id HAVING count(*) > 1) x")
paid=$(psql -X -w -qAt "$booking_db" -c "SELECT count(*) FROM bookings WHERE status = 'paid' AND trip_id IN ($ids)")
echo "this run: $confirmed confirms answered 201, $booked bookings on its trips ($paid paid);" \
    "seats in two live bookings: $twice; seats held twice within a step: $double" | tee -a "$out/raw/$date_utc-check.txt"
if [ "$booked" -lt "$confirmed" ]; then
    rr_warn "LOST: $((confirmed - booked)) confirmed bookings are not in the database"
    failed=1
fi
if [ "$booked" -gt "$confirmed" ]; then
    echo "($((booked - confirmed)) bookings whose confirm answer was lost on the way: client timeouts)"
fi
[ "$twice" = 0 ] || { rr_warn "OVERSOLD: $twice seats"; failed=1; }
[ "$double" = 0 ] || { rr_warn "$double seats were held twice"; failed=1; }

# ---- Chart and table ----------------------------------------------------------------------

mkdir -p "$(dirname "$chart")"
"$RR_VENV/bin/python" bench/breakpoint_report.py chart "$chart" "${csvs[@]}" --max-p99-ms "$max_p99_ms" \
    | tee "$out/$date_utc-breakpoint.md"
rr_log "CSV: ${csvs[*]}; chart: $chart; table: $out/$date_utc-breakpoint.md; raw wrk output: $out/raw/"
if [ "$failed" = 0 ]; then rr_log "consistent"; else rr_warn "consistency check FAILED"; fi
exit "$failed"
