#!/usr/bin/env bash
# Install everything spacer's build, tests, demo and benchmark need on a
# Debian 12 (bookworm) x86-64 machine. Safe to run repeatedly: when every
# package is already present it does not touch apt at all.
#
# Usage: scripts/setup.sh [--fuzz]    (as root, or as a user with sudo)
#   --fuzz   also install what scripts/fuzz.sh needs: the nightly toolchain (cargo fuzz
#            builds with sanitizers) and cargo-fuzz
set -euo pipefail

# Debian packages:
#   gcc g++ libc6-dev make   compile the C/C++ test corpora and benchmark inputs
#   binutils                 ld.bfd (reference linker), ld.gold, readelf, objdump
#   musl-tools               musl-gcc, for tests against a second libc
#   mold lld                 other linkers, for comparison tests and benchmarks
#   hyperfine                benchmark timing (bench/run.sh)
#   file python3             inspecting outputs; benchmark report
#   curl ca-certificates     installing Rust with rustup when cargo is missing
#   git pkg-config xz-utils  general build plumbing
#   clang                    linking through clang -fuse-ld=PATH (tests)
#   gdb                      reading the debug information of linked programs (tests)
PACKAGES=(
    gcc g++ libc6-dev make binutils musl-tools mold lld hyperfine file
    python3 curl ca-certificates git pkg-config xz-utils clang qemu-system-x86 gdb
)

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "setup.sh: not root and sudo is not available; cannot install packages" >&2
    SUDO=(false)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "setup.sh: Debian packages already installed"
fi

# Rust toolchain.
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
    echo "setup.sh: cargo not found; installing Rust with rustup"
    curl https://sh.rustup.rs -sSf | sh -s -- -y --profile minimal
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi

echo "setup.sh: $(cargo --version), $(gcc --version | head -n1)"

if [ "${1:-}" = --fuzz ]; then
    if ! rustup toolchain list | grep -q '^nightly'; then
        echo "setup.sh: installing the nightly toolchain for cargo fuzz"
        rustup toolchain install nightly --profile minimal
    fi
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "setup.sh: installing cargo-fuzz"
        cargo install cargo-fuzz --locked
    fi
    echo "setup.sh: $(cargo +nightly --version), $(cargo fuzz --version)"
fi
