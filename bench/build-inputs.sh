#!/usr/bin/env bash
# Build the benchmark's link inputs under target/bench/inputs/NAME/ and record,
# for each, the exact linker command line that gcc's driver would run.
#
# Each NAME directory ends up with:
#   link.args   the linker arguments, one per line, with @OUT@ for the output
#   run.args    arguments to run the linked program with, one per line
#   .stamp      cache key; the input is rebuilt when its sources change
#
# Usage: bench/build-inputs.sh [NAME...]   (default: all inputs)
# Inputs: hello lua zstd sqlite cxx big rg
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/target/bench
SRC=$BENCH/sources
INPUTS=$BENCH/inputs
HERE=$ROOT/bench/inputs
JOBS=$(nproc)
CFLAGS=(-O2 -g)

ALL_INPUTS=(hello lua zstd sqlite cxx big rg)
RG_VERSION=14.1.1

log() { echo "build-inputs: $*" >&2; }

# Released library sources, taken from crates.io source crates so that no
# other download is needed. Exact versions keep the inputs stable.
fetch_sources() {
    local proj=$SRC/fetch
    local want="lua-src=551.1.0 zstd-sys=2.1.3+zstd.1.5.7 libsqlite3-sys=0.40.0"
    if [ -f "$SRC/.done" ] && [ "$(cat "$SRC/.done")" = "$want" ]; then
        return
    fi
    log "fetching library sources with cargo vendor ($want)"
    rm -rf "$SRC"
    mkdir -p "$proj/src"
    cat >"$proj/Cargo.toml" <<'EOF'
[package]
name = "spacer-bench-sources"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
lua-src = "=551.1.0"
zstd-sys = "=2.1.3+zstd.1.5.7"
libsqlite3-sys = { version = "=0.40.0", features = ["bundled"] }

[workspace]
EOF
    : >"$proj/src/lib.rs"
    (cd "$proj" && cargo vendor --quiet "$SRC/vendor" >/dev/null)
    echo "$want" >"$SRC/.done"
}

# compile OUTDIR FLAGS... -- SOURCES...   (in parallel; objects named after sources)
compile() {
    local out=$1
    shift
    local flags=()
    while [ "$1" != "--" ]; do
        flags+=("$1")
        shift
    done
    shift
    mkdir -p "$out"
    printf '%s\n' "$@" | xargs -P "$JOBS" -I{} sh -c '
        src=$1; out=$2; shift 2
        obj=$out/$(basename "$src" | sed "s/\.[^.]*$//").o
        exec gcc "$@" -c "$src" -o "$obj"
    ' sh {} "$out" "${flags[@]}"
}

# record_link DIR DRIVER ARGS...: ask the gcc/g++ driver for its collect2
# command line and store the linker part of it in DIR/link.args.
# The LTO plugin options (-plugin, -plugin-opt=...) are dropped: no input uses
# LTO, and not every linker accepts or needs them.
record_link() {
    local dir=$1 driver=$2
    shift 2
    local line
    line=$(cd "$dir" && "$driver" -static "$@" -o @OUT@ -### 2>&1 | grep -E '^ [^ ]*/collect2 ' || true)
    if [ -z "$line" ]; then
        log "could not get the link command from $driver -###"
        return 1
    fi
    local words=()
    eval "words=($line)"
    local args=() skip=0 w
    for w in "${words[@]:1}"; do
        if [ "$skip" = 1 ]; then
            skip=0
            continue
        fi
        case $w in
        -plugin) skip=1 ;;
        -plugin-opt) skip=1 ;;
        -plugin-opt=*) ;;
        *) args+=("$w") ;;
        esac
    done
    printf '%s\n' "${args[@]}" >"$dir/link.args"
}

cache_key() {
    # Sources of the benchmark itself plus the compiler version.
    cat "$ROOT/bench/build-inputs.sh" "$@" | sha1sum | cut -d' ' -f1
    gcc --version | head -n1
}

build_hello() {
    local d=$1
    compile "$d" "${CFLAGS[@]}" -- "$ROOT/examples/hello.c"
    record_link "$d" gcc "$d/hello.o"
    : >"$d/run.args"
}

build_lua() {
    local d=$1 lua=$SRC/vendor/lua-src/lua-5.4.9
    compile "$d/obj" "${CFLAGS[@]}" -DLUA_USE_POSIX -- "$lua"/*.c
    rm -f "$d/liblua.a"
    ar rcs "$d/liblua.a" "$d"/obj/*.o
    compile "$d" "${CFLAGS[@]}" -I"$lua" -- "$HERE/lua_main.c"
    record_link "$d" gcc "$d/lua_main.o" -L"$d" -llua -lm
    printf '%s\n' "$HERE/bench.lua" >"$d/run.args"
}

build_zstd() {
    local d=$1 lib=$SRC/vendor/zstd-sys/zstd/lib
    compile "$d/obj" "${CFLAGS[@]}" -DZSTD_MULTITHREAD -pthread -I"$lib" -I"$lib/common" -- \
        "$lib"/common/*.c "$lib"/compress/*.c "$lib"/decompress/*.c \
        "$lib"/decompress/*.S "$lib"/dictBuilder/*.c
    rm -f "$d/libzstd.a"
    ar rcs "$d/libzstd.a" "$d"/obj/*.o
    compile "$d" "${CFLAGS[@]}" -I"$lib" -- "$HERE/zstd_main.c"
    record_link "$d" gcc "$d/zstd_main.o" -pthread -L"$d" -lzstd
    : >"$d/run.args"
}

build_sqlite() {
    local d=$1 sq=$SRC/vendor/libsqlite3-sys/sqlite3
    log "compiling sqlite3.c (takes a minute)"
    compile "$d/obj" "${CFLAGS[@]}" -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION -- "$sq/sqlite3.c"
    rm -f "$d/libsqlite3.a"
    ar rcs "$d/libsqlite3.a" "$d"/obj/*.o
    compile "$d" "${CFLAGS[@]}" -I"$sq" -- "$HERE/sqlite_main.c"
    record_link "$d" gcc "$d/sqlite_main.o" -L"$d" -lsqlite3 -lm
    : >"$d/run.args"
}

build_cxx() {
    local d=$1
    compile "$d" "${CFLAGS[@]}" -std=c++17 -pthread -- "$HERE/cxx_main.cpp"
    record_link "$d" g++ "$d/cxx_main.o" -pthread
    : >"$d/run.args"
}

# Lua, zstd and SQLite in one image, every member of their archives: a large C program with
# debug information.
build_big() {
    local d=$1 v=$SRC/vendor
    compile "$d" "${CFLAGS[@]}" -I"$v/lua-src/lua-5.4.9" -I"$v/zstd-sys/zstd/lib" \
        -I"$v/libsqlite3-sys/sqlite3" -- "$HERE/big_main.c"
    record_link "$d" gcc "$d/big_main.o" -pthread -Wl,--whole-archive "$INPUTS/lua/liblua.a" \
        "$INPUTS/zstd/libzstd.a" "$INPUTS/sqlite/libsqlite3.a" -Wl,--no-whole-archive -lm
    : >"$d/run.args"
}

# ripgrep (crates.io, pinned) as a static PIE with full debug information: a large Rust
# program. cargo links it through gcc with a stand-in `ld` that records its arguments and
# links with ld.bfd; -C save-temps keeps the objects it names.
build_rg() {
    local d=$1
    mkdir -p "$d/rec"
    printf '%s\n' '#!/bin/sh' 'printf "%s\n" "$@" >"$SPACER_BENCH_RECORD"' 'exec ld.bfd "$@"' >"$d/rec/ld"
    chmod +x "$d/rec/ld"
    log "building ripgrep $RG_VERSION with cargo (takes a few minutes)"
    SPACER_BENCH_RECORD=$d/link.raw \
        RUSTFLAGS="-C target-feature=+crt-static -C linker-features=-lld -C debuginfo=2 -C save-temps -C link-arg=-B$d/rec/" \
        cargo install --quiet --locked "ripgrep@$RG_VERSION" --target x86_64-unknown-linux-gnu \
        --target-dir "$d/build" --root "$d/root" >"$d/cargo.log" 2>&1 ||
        { log "building ripgrep failed; see $d/cargo.log"; return 1; }
    local args=() skip=0 w out=0
    while IFS= read -r w; do
        if [ "$skip" = 1 ]; then
            skip=0
            continue
        fi
        if [ "$out" = 1 ]; then
            args+=(@OUT@)
            out=0
            continue
        fi
        case $w in
        -plugin | -plugin-opt) skip=1 ;;
        -plugin-opt=*) ;;
        -o) args+=(-o); out=1 ;;
        *) args+=("$w") ;;
        esac
    done <"$d/link.raw"
    printf '%s\n' "${args[@]}" >"$d/link.args"
    printf '%s\n' -c sqlite "$HERE/big_main.c" >"$d/run.args"
}

main() {
    local names=("$@")
    [ "${#names[@]}" -gt 0 ] || names=("${ALL_INPUTS[@]}")
    local name
    for name in "${names[@]}"; do
        case " ${ALL_INPUTS[*]} " in
        *" $name "*) ;;
        *)
            log "unknown input '$name' (known: ${ALL_INPUTS[*]})"
            exit 2
            ;;
        esac
    done
    for name in "${names[@]}"; do
        case $name in
        lua | zstd | sqlite) fetch_sources ;;
        big) fetch_sources; main lua zstd sqlite ;;
        esac
        local d=$INPUTS/$name key
        case $name in
        hello) key=$(cache_key "$ROOT/examples/hello.c") ;;
        lua) key=$(cache_key "$HERE/lua_main.c" "$HERE/bench.lua") ;;
        zstd) key=$(cache_key "$HERE/zstd_main.c") ;;
        sqlite) key=$(cache_key "$HERE/sqlite_main.c") ;;
        cxx) key=$(cache_key "$HERE/cxx_main.cpp") ;;
        big) key=$(cache_key "$HERE/big_main.c" "$INPUTS/lua/.stamp" "$INPUTS/zstd/.stamp" "$INPUTS/sqlite/.stamp") ;;
        rg) key=$(echo "ripgrep $RG_VERSION $(rustc --version)" | sha1sum) ;;
        esac
        if [ -f "$d/.stamp" ] && [ "$(cat "$d/.stamp")" = "$key" ] && [ -f "$d/link.args" ]; then
            continue
        fi
        log "building $name"
        rm -rf "$d"
        mkdir -p "$d"
        "build_$name" "$d"
        echo "$key" >"$d/.stamp"
    done
}

main "$@"
