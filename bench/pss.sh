#!/usr/bin/env bash
# Memory and start-up cost of `spacer run`: starts N instances (1, 4, 16) of three programs,
# directly and through `spacer run` (page store), and prints the total proportional set size
# (PSS, from /proc/PID/smaps_rollup) of their file-backed and of all pages, and the start-up
# time of `spacer run` against a direct start (hyperfine).
#
# The programs are zall, zlz4 and zstdlz4 of the layout corpus (testdata/stable/: zlib 1.2.13,
# zstd 1.5.5 and lz4 1.9.3 built from crates.io sources by
#   cargo test --release --test stable_layout -- --ignored build_corpus_only),
# linked statically by spacer sharing one layout file (--layout), and by ld.bfd for comparison.
# The target: for 16 instances of each, the PSS of file-backed pages under `spacer run` is
# within 10% of the size of the distinct pages the three programs map from the store.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -q
SPACER="$ROOT/target/release/spacer"
OUT="$ROOT/target/bench/pss"
rm -rf "$OUT" && mkdir -p "$OUT/bin"
ln -sf "$SPACER" "$OUT/bin/ld"
source "$ROOT/bench/corpus.sh"
declare -A VER=([zlib]=1.2.13 [zstd]=1.5.5 [lz4]=1.9.3)

progs=(zall zlz4 zstdlz4)
gcc -O2 -c bench/pss/pause_main.c -o "$OUT/pause_main.o"
for p in "${progs[@]}"; do
    inc=(); lflags=(); libs=()
    for lib in ${USES[$p]}; do
        inc+=("-I$(lookup $lib ${VER[$lib]} 5)")
        lflags+=("-L$(lookup $lib ${VER[$lib]} 4)")
        libs+=("${LIBFLAG[$lib]}")
    done
    gcc -O2 "${inc[@]}" -Dmain=real_main -c "testdata/stable/$p.c" -o "$OUT/$p.o"
    args=("$OUT/$p.o" "$OUT/pause_main.o" "${lflags[@]}" "${libs[@]}")
    gcc -static -B "$OUT/bin/" "${args[@]}" -Wl,--layout,"$OUT/fleet.layout" -o "$OUT/$p.spacer" 2>/dev/null
    gcc -static -fuse-ld=bfd "${args[@]}" -o "$OUT/$p.bfd"
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
                spacer-run) exe="$OUT/$p.spacer"; cmd=("$SPACER" run --store "$OUT/store-spacer" "$exe") ;;
                bfd-direct) exe="$OUT/$p.bfd"; cmd=("$exe") ;;
                bfd-spacer-run) exe="$OUT/$p.bfd"; cmd=("$SPACER" run --store "$OUT/store-bfd" "$exe") ;;
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
        [ "$n" = 16 ] && eval "file_$(echo $mode | tr - _)=$file"
    done
done

# The distinct pages the programs map from the store: one file per page.
for l in spacer bfd; do
    d=$(find "$OUT/store-$l" -type f | wc -l)
    f=file_$( [ $l = spacer ] && echo spacer_run || echo bfd_spacer_run )
    echo "$l-linked: distinct stored pages $d ($((d * 4)) KiB); PSS of file-backed pages, 16 instances each: ${!f} KiB ($(awk -v a="${!f}" -v b=$((d * 4)) 'BEGIN { printf "%.1f%%", 100 * (a - b) / b }') against the distinct pages)"
    if [ $l = spacer ]; then
        if [ "${!f}" -le $((d * 4 * 11 / 10)) ]; then
            echo "target (file-backed PSS of 16 instances within 10% of the distinct pages): met"
        else
            echo "target (file-backed PSS of 16 instances within 10% of the distinct pages): MISSED"
        fi
    fi
done

# Start-up time: a program that exits at once, linked with and without a digest section.
echo 'int main(void) { return 0; }' >"$OUT/empty.c"
gcc -O2 -c "$OUT/empty.c" -o "$OUT/empty.o"
gcc -static -B "$OUT/bin/" "$OUT/empty.o" -o "$OUT/empty"
gcc -static -B "$OUT/bin/" "$OUT/empty.o" -Wl,--page-digests -o "$OUT/empty.digests"
if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 5 "$OUT/empty" "$SPACER run --store $OUT/store-spacer $OUT/empty" \
        "$OUT/empty.digests" "$SPACER run --store $OUT/store-spacer $OUT/empty.digests" \
        --export-markdown "$OUT/startup.md" >/dev/null
    cat "$OUT/startup.md"
fi
