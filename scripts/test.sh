#!/usr/bin/env bash
#
# scripts/test.sh: the README's second Quick-start command. Runs every check of the project
# against the real PostgreSQL, Redis and RabbitMQ of this machine, in this order, and stops
# with a non-zero status at the first failure:
#
#   0. the web app's build (npm ci when needed, npm run build in web/), which the browser
#      test serves
#   1. cargo fmt --all -- --check
#   2. cargo clippy --workspace --all-targets -- -D warnings
#   3. the tests: cargo nextest run --workspace --no-fail-fast when cargo-nextest is
#      installed, else cargo test --workspace --no-fail-fast
#   4. Schemathesis (pinned, in the venv .local/venv-schemathesis) against every service's
#      OpenAPI document: the ignored test e2e/tests/openapi starts the five services
#      in-process on the real stores and runs it on each (a few minutes; seeded)
#   5. the chaos harness's quick mode (bench/chaos.sh --quick: the services as processes on
#      private PostgreSQL, Redis and RabbitMQ, one round of 3 faults, about two minutes;
#      see docs/reliability.md)
#   6. every executable scripts/checks/*.sh, in name order (validators of docker-compose,
#      Kubernetes, Terraform, workflows, Prometheus rules, and deps.sh: cargo-deny's
#      licences, bans and sources of deny.toml when cargo-deny is installed, see there;
#      each exits non-zero on failure)
#
# Before that it installs what is missing: what running needs, as scripts/start.sh does
# (the stores, nginx for the gateway tests, Node.js and npm, build tools), and what only
# testing needs (Chromium and its driver for the browser test, Python's venv and YAML parser
# for the checks), all without recommended packages; then it starts the stores that are not
# answering (running stores are left as they are).
#
# The tests reach the stores through these variables, set here unless already set:
#   TEST_DATABASE_URL  postgres://postgres@127.0.0.1:5432/postgres (tests create their own databases)
#   TEST_REDIS_URL     redis://127.0.0.1:6379
#   TEST_AMQP_URL      amqp://guest:guest@127.0.0.1:5672/%2f
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib/stack.sh
source "$script_dir/lib/stack.sh"

: "${TEST_DATABASE_URL:=$RAILRUSH_PG_BASE_URL/postgres}"
: "${TEST_REDIS_URL:=$RAILRUSH_REDIS_URL}"
: "${TEST_AMQP_URL:=$RAILRUSH_AMQP_URL}"
export TEST_DATABASE_URL TEST_REDIS_URL TEST_AMQP_URL

started_at=$SECONDS
passed=()

# run_step NAME COMMAND...: run one step; on failure print the summary and exit with its status.
run_step() {
    local name=$1 begin=$SECONDS status=0
    shift
    printf '\n==> %s: %s\n' "$name" "$*"
    "$@" || status=$?
    if [ "$status" -ne 0 ]; then
        printf '\ntest.sh: FAILED at %s (exit %s) after %ss; passed before it: %s\n' \
            "$name" "$status" "$((SECONDS - started_at))" "${passed[*]:-nothing}" >&2
        exit "$status"
    fi
    printf '==> %s: ok (%ss)\n' "$name" "$((SECONDS - begin))"
    passed+=("$name")
}

# The cargo subcommands the steps use, checked up front for a clear message.
require_toolchain() {
    rr_require_cargo
    cargo fmt --version >/dev/null 2>&1 || rr_die "cargo fmt is missing: rustup component add rustfmt"
    cargo clippy --version >/dev/null 2>&1 || rr_die "cargo clippy is missing: rustup component add clippy"
}

# Schemathesis, pinned, in its own venv (made again when the pin changes).
SCHEMATHESIS_VERSION=4.32.5
schemathesis_venv() {
    local venv="$RAILRUSH_ROOT/.local/venv-schemathesis"
    local stamp="$venv/.railrush-schemathesis"
    if [ ! -x "$venv/bin/schemathesis" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$SCHEMATHESIS_VERSION" ]; then
        rm -rf "$venv"
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >&2
        printf '%s\n' "$SCHEMATHESIS_VERSION" >"$stamp"
    fi
    printf '%s\n' "$venv/bin/schemathesis"
}

run_schemathesis() {
    local bin
    bin="$(schemathesis_venv)" || return 1
    if cargo nextest --version >/dev/null 2>&1; then
        # --workspace, as in the tests step, so that the same build serves: `-p e2e` alone
        # unifies other features and compiles and links a second copy.
        SCHEMATHESIS="$bin" cargo nextest run --workspace -E 'binary_id(e2e::openapi)' \
            --run-ignored only --no-capture
    else
        SCHEMATHESIS="$bin" cargo test -p e2e --test openapi -- --ignored --nocapture
    fi
}

run_checks() {
    local check name found=0
    for check in "$RAILRUSH_ROOT"/scripts/checks/*.sh; do
        [ -e "$check" ] || continue
        name="check $(basename "$check" .sh)"
        if [ ! -x "$check" ]; then
            printf '==> %s: skipped (not executable)\n' "$name"
            continue
        fi
        found=$((found + 1))
        run_step "$name" "$check"
    done
    [ "$found" -gt 0 ] || printf '\n==> checks: none in scripts/checks\n'
}

main() {
    cd "$RAILRUSH_ROOT"
    require_toolchain
    rr_ensure_packages
    rr_ensure_test_packages
    rr_start_stores
    rr_check_db_access "$TEST_DATABASE_URL"

    # The browser test serves web/dist through the gateway and drives Debian's Chromium.
    run_step web rr_build_web
    run_step fmt cargo fmt --all -- --check
    run_step clippy cargo clippy --workspace --all-targets -- -D warnings
    if cargo nextest --version >/dev/null 2>&1; then
        run_step tests cargo nextest run --workspace --no-fail-fast
    else
        run_step tests cargo test --workspace --no-fail-fast
    fi
    run_step schemathesis run_schemathesis
    run_step chaos bench/chaos.sh --quick
    run_checks

    printf '\ntest.sh: all %s steps passed (%s) in %ss\n' \
        "${#passed[@]}" "${passed[*]}" "$((SECONDS - started_at))"
}

main "$@"
