#!/usr/bin/env bash
#
# scripts/checks/deps.sh: the offline parts of the dependency policy in deny.toml, with
# cargo-deny: `cargo deny check licenses bans sources` (licences allowed, no wildcard
# versions, crates.io only). `advisories` is not run: its database is fetched from GitHub,
# which the development machines and CI cannot reach. Run by scripts/test.sh (every
# executable scripts/checks/*.sh). cargo-deny is installed once when missing
# (`cargo install --locked cargo-deny`, from crates.io, a few minutes the first time).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

if ! cargo deny --version >/dev/null 2>&1; then
    printf 'setup: installing cargo-deny (cargo install --locked)\n'
    cargo install --locked --quiet cargo-deny
fi
printf '==> cargo deny check licenses bans sources\n'
cargo deny --log-level error check licenses bans sources
