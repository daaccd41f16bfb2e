#!/usr/bin/env bash
# spacer links itself: build a statically linked spacer (static PIE, as Rust's crt-static
# produces) with target/release/spacer as the linker, check that spacer really linked it (its
# `.comment` names spacer and no other linker) and that it is static, then run the whole test
# suite with that binary as the linker under test (SPACER_EXE).
# Extra arguments are passed to `cargo test`.
#
# Rust 1.90 and later link x86_64-unknown-linux-gnu with their bundled rust-lld unless told
# otherwise: `-C linker-features=-lld` makes rustc run the system linker through gcc, which
# `-B DIR/` points at spacer. SPACER_SELF_LINKER=PATH links with another `ld` instead (to
# see the check fail, e.g. SPACER_SELF_LINKER=/usr/bin/ld.bfd).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

cargo build --release
bindir="$PWD/target/self-link/bin"
mkdir -p "$bindir"
ln -sf "${SPACER_SELF_LINKER:-$PWD/target/release/spacer}" "$bindir/ld"

self="$PWD/target/self-link/x86_64-unknown-linux-gnu/release/spacer"
# Without this cargo would keep a binary linked earlier (by another linker, or an older
# spacer): with the linked files gone, it links again.
rm -f "$self"
find "$(dirname "$self")/deps" -maxdepth 1 -name 'spacer-*' ! -name '*.d' -delete 2>/dev/null || true
RUSTFLAGS="-C target-feature=+crt-static -C linker-features=-lld -C link-arg=-B$bindir/" \
    cargo build --release --target x86_64-unknown-linux-gnu --target-dir target/self-link

# The image must say spacer linked it; rust-lld, ld.bfd, gold or mold leave their own mark or
# none, and an image linked by any of them fails here.
comment=$(readelf -p .comment "$self")
if ! grep -q "Linker: spacer" <<<"$comment" || grep -Eqi "Linker: LLD|mold|GNU gold" <<<"$comment"; then
    echo "self-link: $self was not linked by spacer; its .comment says:" >&2
    echo "$comment" >&2
    exit 1
fi
file "$self"
if ! file "$self" | grep -q "static-pie linked\|statically linked"; then
    echo "self-link: $self is not statically linked" >&2
    exit 1
fi
"$self" --version

SPACER_EXE="$self" cargo test --release "$@"
