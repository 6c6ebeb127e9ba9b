#!/usr/bin/env bash
#
# scripts/checks/monitoring.sh: validates monitoring/ offline and fails when any check fails.
# Run by scripts/test.sh (every executable scripts/checks/*.sh).
#
#   config       monitoring/prometheus.yml, prometheus.local.yml   promtool check config
#   rules        monitoring/rules/*.yml                            promtool check rules
#   rule-tests   monitoring/tests/*.yml (each alert firing, quiet) promtool test rules
#   files        the two configs in step, every alert tested both  scripts/checks/monitoring.py
#                ways, Grafana provisioning and dashboards (JSON,
#                unique ids, the provisioned data source)
#   queries      every dashboard query parses as PromQL            promtool check rules
#
# promtool comes from Debian's `prometheus` package and the YAML parser from `python3-yaml`,
# both installed when missing (rr_ensure_prometheus in scripts/lib/stack.sh, which keeps the
# package's own system service stopped). That the metrics the dashboards and rules query are
# ones the services export is checked against their real /metrics by the e2e test
# `cargo nextest run -p e2e --test monitoring`.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/stack.sh
source "$script_dir/../lib/stack.sh"
cd "$RAILRUSH_ROOT"

rr_ensure_prometheus python3-yaml
# Debian's Python, where python3-yaml lives (python3 on the PATH may be another one).
python=/usr/bin/python3

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failed=()
passed=0
# check NAME DESCRIPTION COMMAND...: run COMMAND and print one line; on failure, its output too.
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

rules=(monitoring/rules/*.yml)
tests=(monitoring/tests/*.yml)

check config "monitoring/prometheus.yml, monitoring/prometheus.local.yml (promtool check config)" \
    promtool check config monitoring/prometheus.yml monitoring/prometheus.local.yml
check rules "${rules[*]} (promtool check rules)" promtool check rules "${rules[@]}"
check rule-tests "${tests[*]} (promtool test rules)" promtool test rules "${tests[@]}"
check files "configs, alert tests, Grafana provisioning and dashboards (monitoring.py)" \
    "$python" scripts/checks/monitoring.py "$RAILRUSH_ROOT" "$work/dashboard-queries.yml"
if [ -s "$work/dashboard-queries.yml" ]; then
    check queries "every dashboard query parses as PromQL (promtool check rules)" \
        promtool check rules "$work/dashboard-queries.yml"
fi

if [ "${#failed[@]}" -gt 0 ]; then
    printf 'monitoring: %s check(s) failed: %s (%s passed)\n' "${#failed[@]}" "${failed[*]}" "$passed"
    exit 1
fi
printf 'monitoring: all %s checks passed\n' "$passed"
