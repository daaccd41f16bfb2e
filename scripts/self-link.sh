#!/usr/bin/env bash
# spacer links itself: build a statically linked spacer (static PIE, as Rust's crt-static
# produces) with target/release/spacer as the linker, check that it is static, then run the
# whole test suite with that binary as the linker under test (SPACER_EXE).
# Extra arguments are passed to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

cargo build --release
bindir="$PWD/target/self-link/bin"
mkdir -p "$bindir"
ln -sf "$PWD/target/release/spacer" "$bindir/ld"

RUSTFLAGS="-C target-feature=+crt-static -C link-arg=-B$bindir/" \
    cargo build --release --target x86_64-unknown-linux-gnu --target-dir target/self-link
self="$PWD/target/self-link/x86_64-unknown-linux-gnu/release/spacer"

file "$self"
if ! file "$self" | grep -q "static-pie linked\|statically linked"; then
    echo "self-link: $self is not statically linked" >&2
    exit 1
fi
# The self-linked binary carries spacer's own marks: no PT_INTERP, and it runs.
"$self" --version

SPACER_EXE="$self" cargo test --release "$@"
