#!/usr/bin/env bash
#
# scripts/checks/deps.sh: the offline parts of the dependency policy in deny.toml, with
# cargo-deny: `cargo deny check licenses bans sources` (licences allowed, no wildcard
# versions, crates.io only). `advisories` is not run: its database is fetched from GitHub,
# which the development machines and CI cannot reach. Run by scripts/test.sh (every
# executable scripts/checks/*.sh); the check itself takes about 2 seconds.
#
# cargo-deny is not installed by default: `cargo install --locked cargo-deny` compiles it
# from crates.io, which took 27 minutes on a shared 2-core machine and would push the test
# command past its budget on every fresh machine. Without it this check says so and passes;
# RAILRUSH_INSTALL_CARGO_DENY=1 installs it first (once; it stays in ~/.cargo/bin).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

if ! cargo deny --version >/dev/null 2>&1; then
    if [ "${RAILRUSH_INSTALL_CARGO_DENY:-0}" = 1 ]; then
        printf 'setup: installing cargo-deny (cargo install --locked)\n'
        cargo install --locked --quiet cargo-deny
    else
        printf 'deps: SKIPPED, cargo-deny is not installed (RAILRUSH_INSTALL_CARGO_DENY=1 installs it)\n'
        exit 0
    fi
fi
printf '==> cargo deny check licenses bans sources\n'
cargo deny --log-level error check licenses bans sources
