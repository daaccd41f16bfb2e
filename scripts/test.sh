#!/usr/bin/env bash
# Set up the machine (scripts/setup.sh), build spacer in release mode and run
# the whole test suite. Extra arguments are passed to `cargo test`, e.g.
#   scripts/test.sh -- --nocapture
# Set SPACER_SKIP_SETUP=1 to skip the package check.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${SPACER_SKIP_SETUP:-0}" != 1 ]; then
    scripts/setup.sh
fi
export PATH="$HOME/.cargo/bin:$PATH"

cargo build --release
cargo test --release "$@"

# spacer links itself, and the statically linked result passes the same suite.
if [ "${SPACER_SKIP_SELF_LINK:-0}" != 1 ]; then
    scripts/self-link.sh "$@"
fi
