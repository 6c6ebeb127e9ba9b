#!/usr/bin/env bash
#
# scripts/checks/web.sh: checks the web app's sources without a browser and fails when any
# check fails. Run by scripts/test.sh (every executable scripts/checks/*.sh); the browser
# journey itself is the e2e test `cargo nextest run -p e2e --test browser`.
#
#   lint    web/ (src, tests, configs)                    npm run lint (ESLint, eslint.config.js)
#   unit    web/tests/unit/*.test.js: the seat-map model,  npm test (node --test)
#           the live feed, the hold clock, formats
#
# scripts/test.sh has already run `npm ci` in web/ (rr_build_web) by the time this runs; run
# alone, this script does it when web/node_modules is missing or older than the lockfile (the
# test rr_build_web makes: npm writes node_modules/.package-lock.json at every install).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root/web"

command -v npm >/dev/null 2>&1 || { echo "web: npm is not installed (scripts/test.sh installs Node.js and npm)" >&2; exit 1; }
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "setup: npm ci in web/"
    npm ci --no-audit --no-fund --loglevel=error
fi

failed=()
passed=0
# check NAME DESCRIPTION COMMAND...: run COMMAND and print one line; on failure, its output
# too. Output lines of a passing command that start with "note: " are appended to its line.
check() {
    local name=$1 what=$2 out status=0 notes
    shift 2
    out=$("$@" 2>&1) || status=$?
    if [ "$status" -eq 0 ]; then
        notes=$(printf '%s\n' "$out" | sed -n 's/^note: //p' | paste -sd ';' -)
        printf 'ok    %s: %s%s\n' "$name" "$what" "${notes:+ - $notes}"
        passed=$((passed + 1))
    else
        printf 'FAIL  %s: %s\n' "$name" "$what"
        printf '%s\n' "$out" | sed 's/^/      /'
        failed+=("$name")
    fi
}

# node --test's summary ("# pass 46") as a note for the check's line.
unit_tests() {
    local out status=0
    out=$(npm test --silent 2>&1) || status=$?
    if [ "$status" -ne 0 ]; then printf '%s\n' "$out"; return "$status"; fi
    printf '%s\n' "$out" | sed -n 's/^# \(tests\|pass\|fail\) \([0-9]*\)$/\1 \2/p' | paste -sd ' ' - | sed 's/^/note: /'
}

check lint "web/ (npm run lint: ESLint)" npm run lint --silent
check unit "web/tests/unit (npm test: node --test)" unit_tests

if [ "${#failed[@]}" -gt 0 ]; then
    printf 'web: %s check(s) failed: %s (%s passed)\n' "${#failed[@]}" "${failed[*]}" "$passed"
    exit 1
fi
printf 'web: all %s checks passed\n' "$passed"
