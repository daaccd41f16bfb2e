#!/usr/bin/env bash
# Runs spacer's fuzz targets (cargo fuzz, libFuzzer) for a bounded time each, on seed corpora
# made from the test inputs. Fails if any target finds a crash, a hang or a memory blow-up;
# what it found is left under fuzz/artifacts/TARGET/ (keep it as a regression input under
# tests/fuzz-regressions/ once fixed).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, all targets)
#
# spacer leaks its inputs on purpose (mapped once, borrowed for the whole link), so leak
# detection is off.
# Needs the nightly toolchain (cargo fuzz builds with sanitizers) and cargo-fuzz, which
# `scripts/setup.sh --fuzz` installs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

export ASAN_OPTIONS=detect_leaks=0
secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(link_input script layout_file digests)
fi

seeds=fuzz/seeds
make_seeds() {
    rm -rf "$seeds.tmp" && mkdir -p "$seeds.tmp"/{link_input,script,layout_file,digests}
    local t="$seeds.tmp"
    # Objects and an archive from the test programs, each behind an option byte (see
    # fuzz_targets/link_input.rs): plain, --gc-sections, -r and PIE.
    local objs=()
    for src in testdata/programs/c_stdio.c testdata/programs/tls_main.c \
        testdata/programs/gc_sections.c testdata/programs/cxx_exceptions.cpp \
        testdata/programs/c_ifunc.c testdata/conformance/common_main.c; do
        local o="$t/$(basename "$src").o"
        gcc -O2 -c "$src" -o "$o" -Itestdata/programs
        objs+=("$o")
    done
    ar rcs "$t/lib.a" "${objs[@]:0:3}"
    local k=0
    for f in "${objs[@]}" "$t/lib.a"; do
        for opt in '\x00' '\x01' '\x04' '\x0a'; do
            { printf "$opt"; cat "$f"; } > "$t/link_input/seed$k"
            k=$((k + 1))
        done
    done
    cp testdata/scripts/*.lds linker-scripts/*.lds "$t/script/"
    # A layout file from a real --layout link.
    local img="$t/img"
    gcc -static -B"$(pwd)/target/spacer-fuzz-ld/" "${objs[0]}" -o "$img" \
        -Wl,--page-digests -Wl,--layout,"$t/img.layout"
    cp "$t/img.layout" "$t/layout_file/seed0"
    # Small images for the digest readers and spacer vm's checks: a program of a few pages
    # with digests, and the test unikernel. (Under the fuzzer's instrumentation SHA-1 runs
    # at tens of KB/s, so a mutated glibc program, whose digests must all be computed, would
    # take longer than libFuzzer's 10 s limit.)
    printf '%s\n' 'void _start(void) { __asm__ volatile("mov $60, %eax; xor %edi, %edi; syscall"); }' \
        > "$t/tiny.c"
    gcc -O2 -static -nostdlib -fno-pie -no-pie -B"$(pwd)/target/spacer-fuzz-ld/" "$t/tiny.c" \
        -o "$t/digests/seed0" -Wl,--page-digests
    bash testdata/unikernel/build.sh "$(pwd)/target/spacer-fuzz-ld" "$t/uk" >/dev/null 2>&1
    cp "$t/uk/kernel" "$t/digests/seed1"
    rm -rf "$seeds" && mv "$seeds.tmp" "$seeds"
}

cargo build --release
mkdir -p target/spacer-fuzz-ld
ln -sf "$(pwd)/target/release/spacer" target/spacer-fuzz-ld/ld
make_seeds
cargo +nightly fuzz build -O
status=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    echo "== fuzzing $t for ${secs}s"
    # Images stay small (see make_seeds): every page of a mutated image may have to be hashed.
    limits=()
    if [ "$t" = digests ]; then
        limits=(-max_len=65536)
    fi
    if ! cargo +nightly fuzz run -O "$t" "fuzz/corpus/$t" "$seeds/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -detect_leaks=0 -print_final_stats=1 \
        "${limits[@]}" \
        2> "fuzz/$t.log"; then
        echo "!! $t found a problem (fuzz/$t.log, fuzz/artifacts/$t/)"
        tail -40 "fuzz/$t.log"
        status=1
    fi
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "fuzz/$t.log" || true
done
exit $status
