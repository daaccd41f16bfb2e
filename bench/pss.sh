#!/usr/bin/env bash
# Memory and start-up cost of `spacer run`: starts N instances (1, 4, 16) of three programs,
# directly and through `spacer run` (page store), and prints the total proportional set size
# (PSS, from /proc/PID/smaps_rollup) of their read-only and of all pages, and the start-up
# time of `spacer run` against a direct start (hyperfine).
#
# The programs are three of the test programs, linked statically with spacer sharing one
# layout file (--layout), and the same programs linked by ld.bfd for comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -q
SPACER="$PWD/target/release/spacer"
OUT="$PWD/target/bench/pss"
rm -rf "$OUT" && mkdir -p "$OUT/bin" "$OUT/store"
ln -sf "$SPACER" "$OUT/bin/ld"

progs=(c_stdio c_setjmp tls)
srcs_c_stdio="testdata/programs/c_stdio.c"
srcs_c_setjmp="testdata/programs/c_setjmp.c"
srcs_tls="testdata/programs/tls_main.c testdata/programs/tls_other.c"
for p in "${progs[@]}"; do
    v="srcs_$p"; objs=()
    for s in ${!v}; do
        o="$OUT/$(basename "$s" .c).o"
        gcc -O2 -pthread -Dmain=real_main -c "$s" -o "$o"; objs+=("$o")
    done
    gcc -O2 -c bench/pss/pause_main.c -o "$OUT/pause_main.o"
    gcc -static -pthread -B "$OUT/bin/" "${objs[@]}" "$OUT/pause_main.o" -lm -Wl,--layout,"$OUT/fleet.layout" -o "$OUT/$p.spacer"
    gcc -static -pthread -fuse-ld=bfd "${objs[@]}" "$OUT/pause_main.o" -lm -o "$OUT/$p.bfd"
done

pss() { # sum of Pss and Pss_File... over the given pids, in KiB
    local total=0 file=0
    for pid in "$@"; do
        t=$(awk '/^Pss:/ {print $2}' /proc/$pid/smaps_rollup)
        f=$(awk '/^Pss_File:/ {print $2}' /proc/$pid/smaps_rollup)
        total=$((total + t)); file=$((file + ${f:-0}))
    done
    echo "$total $file"
}

echo "| instances per program | mode | total PSS (KiB) | PSS of file-backed pages (KiB) |"
echo "|---:|---|---:|---:|"
for n in 1 4 16; do
    for mode in direct spacer-run bfd-direct bfd-spacer-run; do
        pids=()
        for p in "${progs[@]}"; do
            case $mode in
                direct) exe="$OUT/$p.spacer"; cmd=("$exe") ;;
                spacer-run) exe="$OUT/$p.spacer"; cmd=("$SPACER" run --store "$OUT/store" "$exe") ;;
                bfd-direct) exe="$OUT/$p.bfd"; cmd=("$exe") ;;
                bfd-spacer-run) exe="$OUT/$p.bfd"; cmd=("$SPACER" run --store "$OUT/store" "$exe") ;;
            esac
            for _ in $(seq "$n"); do
                "${cmd[@]}" >/dev/null 2>&1 & pids+=($!)
            done
        done
        sleep 1
        read -r total file < <(pss "${pids[@]}")
        kill "${pids[@]}" 2>/dev/null || true
        wait 2>/dev/null || true
        echo "| $n | $mode | $total | $file |"
    done
done

# Start-up time: the same programs without the pause.
for p in c_stdio; do
    gcc -O2 -c testdata/programs/c_stdio.c -o "$OUT/plain.o"
    gcc -static -B "$OUT/bin/" "$OUT/plain.o" -lm -o "$OUT/plain"
done
if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 5 "$OUT/plain" "$SPACER run --store $OUT/store $OUT/plain" --export-markdown "$OUT/startup.md" >/dev/null
    cat "$OUT/startup.md"
fi
