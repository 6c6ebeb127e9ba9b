#!/usr/bin/env bash
#
# scripts/checks/web.sh: checks the web app's sources without a browser and fails when any
# check fails. Run by scripts/test.sh (every executable scripts/checks/*.sh); the browser
# journey itself is the e2e test `cargo nextest run -p e2e --test browser`.
#
#   lint    web/ (src, tests, configs)                    npm run lint (ESLint, eslint.config.js)
#   unit    web/tests/unit/*.test.js: the seat-map model,  npm test (node --test)
#           the live feed, the hold clock, the waiting
#           room's model and pass, formats
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

# Both run, so one failure does not hide the other.
failed=()
printf '==> lint: npm run lint (ESLint)\n'
npm run lint --silent || failed+=(lint)
printf '==> unit: npm test (node --test tests/unit)\n'
npm test --silent || failed+=(unit)

if [ "${#failed[@]}" -gt 0 ]; then
    printf 'web: failed: %s\n' "${failed[*]}"
    exit 1
fi
printf 'web: lint and unit tests passed\n'
