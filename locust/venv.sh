# shellcheck shell=bash
#
# locust/venv.sh: sourced by locust/run.sh and bench/breakpoint.sh (after scripts/lib/stack.sh,
# for rr_log/rr_die/rr_as_root). Defines
#
#   rr_loadtest_venv
#
# which makes the load tools' virtualenv .local/venv (python3 -m venv; Debian's python3-venv
# is installed first when the venv module cannot bootstrap pip) and installs the pinned
# requirements of both tools into it from PyPI: locust/requirements.txt (Locust) and
# bench/requirements.txt (matplotlib, for the breakpoint chart). It reinstalls only when one
# of them changed (their checksum is kept in the venv). Sets RR_VENV to the venv's directory.

RR_VENV="${RR_VENV:-$RAILRUSH_ROOT/.local/venv}"
RR_VENV_REQUIREMENTS=("$RAILRUSH_ROOT/locust/requirements.txt" "$RAILRUSH_ROOT/bench/requirements.txt")

rr_loadtest_venv() {
    local stamp="$RR_VENV/.railrush-requirements" sum
    command -v python3 >/dev/null 2>&1 || rr_die "python3 is missing (Debian package python3)"
    set -- "${RR_VENV_REQUIREMENTS[@]}"
    sum=$(cat "$@" | sha256sum | cut -d' ' -f1)
    if [ -x "$RR_VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then
        return 0
    fi
    if [ ! -x "$RR_VENV/bin/python" ]; then
        if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
            rr_log "packages: installing python3-venv"
            rr_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
            rr_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv
        fi
        rr_log "venv: creating ${RR_VENV#"$RAILRUSH_ROOT"/}"
        python3 -m venv "$RR_VENV" || rr_die "python3 -m venv $RR_VENV failed"
    fi
    local args=() file
    for file in "$@"; do args+=(-r "$file"); done
    rr_log "venv: installing ${*#"$RAILRUSH_ROOT"/} from PyPI"
    "$RR_VENV/bin/python" -m pip install -q --disable-pip-version-check "${args[@]}" \
        || rr_die "pip install into $RR_VENV failed"
    printf '%s\n' "$sum" >"$stamp"
}
