#!/usr/bin/env bash
# Set up the machine, build spacer, link examples/hello.c with it through
# gcc and run the result.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

cargo build --release

# gcc runs the program named `ld` from the directory given with -B.
out=target/demo
mkdir -p "$out/bin"
ln -sfn "$PWD/target/release/spacer" "$out/bin/ld"

rm -f "$out/hello"
gcc -O2 -c examples/hello.c -o "$out/hello.o"
echo "+ gcc -static -B $out/bin/ $out/hello.o -o $out/hello"
if ! gcc -static -B "$out/bin/" "$out/hello.o" -o "$out/hello"; then
    echo "demo: linking with spacer failed" >&2
    exit 1
fi
if [ ! -x "$out/hello" ]; then
    echo "demo: spacer reported success but wrote no executable at $out/hello" >&2
    exit 1
fi

file "$out/hello"
echo "+ $out/hello"
"$out/hello"
