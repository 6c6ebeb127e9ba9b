#!/usr/bin/env bash
#
# locust/run.sh: one command per load test, headless, against a running stack (scripts/start.sh,
# for load with RAILRUSH_GATEWAY_PROFILE=load). It installs Locust into .local/venv (pinned in
# locust/requirements.txt), runs the setup step (locust/prepare.py: RR_USERS passengers,
# registered once and reused, with fresh tokens), then Locust, writing the CSV files and the
# HTML report to locust/results/<scenario>-<UTC time>*.
#
#   locust/run.sh journey            [LOCUST OPTIONS...]  the passenger journey (JourneyUser)
#   locust/run.sh search             [LOCUST OPTIONS...]  trip search (SearchUser)
#   locust/run.sh select             [LOCUST OPTIONS...]  the seat rush at a fixed user count
#   locust/run.sh breakpoint         [LOCUST OPTIONS...]  the seat-selection breakpoint (step shape)
#   locust/run.sh breakpoint-direct  [LOCUST OPTIONS...]  the same, straight to booking-service
#
# Options after the scenario go to Locust and win over the defaults below (e.g. -u 500 -t 10m,
# --processes -1 to use every core). Environment: RR_HOST (default http://localhost:8080, the
# gateway), RR_USERS (passengers to prepare, default 1000), RR_AUTH_URL / RR_TRAIN_URL /
# RR_BOOKING_URL, and the scenario settings in locust/common.py and locust/breakpoint.py.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/stack.sh
source "$here/../scripts/lib/stack.sh"
# shellcheck source=locust/venv.sh
source "$here/venv.sh"

scenario=${1:-}
[ -n "$scenario" ] || rr_die "usage: locust/run.sh journey|search|select|breakpoint|breakpoint-direct [LOCUST OPTIONS...]"
shift

host=${RR_HOST:-http://localhost:8080}
files="$here/locustfile.py"
case $scenario in
    journey) defaults=(-u 200 -r 20 -t 3m JourneyUser) ;;
    search) defaults=(-u 100 -r 20 -t 2m SearchUser) ;;
    select) defaults=(-u 200 -r 50 -t 2m SeatSelectUser) ;;
    breakpoint) files="$files,$here/breakpoint.py" defaults=(SeatSelectUser) ;;
    breakpoint-direct)
        host=${RR_HOST:-http://127.0.0.1:8083}
        export RR_AUTH_URL=${RR_AUTH_URL:-http://127.0.0.1:8081}
        export RR_TRAIN_URL=${RR_TRAIN_URL:-http://127.0.0.1:8082}
        files="$files,$here/breakpoint.py" defaults=(SeatSelectUser)
        ;;
    *) rr_die "unknown scenario '$scenario' (journey, search, select, breakpoint, breakpoint-direct)" ;;
esac

rr_loadtest_venv
python3 "$here/prepare.py" --auth "${RR_AUTH_URL:-$host}" --users "${RR_USERS:-1000}"

mkdir -p "$here/results"
prefix="$here/results/$scenario-$(date -u +%Y%m%dT%H%M%SZ)"
rr_log "locust: $scenario against $host; results $prefix*"
status=0
"$RR_VENV/bin/locust" -f "$files" --headless --host "$host" --only-summary \
    --csv "$prefix" --html "$prefix.html" "${defaults[@]}" "$@" || status=$?
rr_log "results: ${prefix#"$RAILRUSH_ROOT"/}_stats.csv, _failures.csv, .html"
# Locust exits 1 when any request failed; the breakpoint test looks for failures on purpose.
case $scenario in breakpoint*) [ "$status" -le 1 ] && status=0 ;; esac
exit "$status"
