#!/usr/bin/env bash
# Each feature of the facade builds on its own (with no default features), so a user who
# opts out of the batteries gets a crate that compiles. A plain loop: no extra tool to install.
set -euo pipefail
cd "$(dirname "$0")/.."
features=$(sed -n '/^\[features\]/,/^\[/p' Cargo.toml | grep -E '^[a-z-]+ =' | cut -d' ' -f1 | grep -v '^default$')
for f in "" $features; do
    echo "--- tracing-insights --no-default-features ${f:+--features $f}"
    RUSTFLAGS="${RUSTFLAGS:-} -D warnings" cargo check -q -p tracing-insights --no-default-features ${f:+--features "$f"}
done
