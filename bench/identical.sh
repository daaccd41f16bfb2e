#!/usr/bin/env bash
# Check that two spacer binaries write bit-identical images: for every benchmark input
# (bench/build-inputs.sh), link with OLD and NEW, plain, with page digests, with -Map, with a
# fresh layout file and again on the layout file that link wrote, with one thread, and a -r
# partial link of its objects and archive members; compare
# images, maps and layout files byte for byte. Use it before and after a change that must not
# change output (a refactoring), e.g.
#   git stash; cargo build --release; cp target/release/spacer /tmp/old; git stash pop
#   cargo build --release; bench/identical.sh /tmp/old target/release/spacer
#
# Usage: bench/identical.sh OLD NEW [INPUT...]   (default: every built input)
# EXTRA="ARG..." adds linker arguments to every link (e.g. EXTRA=--build-id=none when the two
# builds compute build IDs differently).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { sed -n 2,10p "$0" >&2; exit 2; }
OLD=$(realpath "$1")
NEW=$(realpath "$2")
shift 2
INPUTS=$ROOT/target/bench/inputs
"$ROOT/bench/build-inputs.sh" "$@" >&2
if [ $# -eq 0 ]; then
    set -- $(ls "$INPUTS")
fi
WORK=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT

# link BIN OUT EXTRA...: link the current input with BIN, its arguments from link.args.
link() {
    local bin=$1 out=$2
    shift 2
    local args=()
    while IFS= read -r a; do
        [ "$a" = @OUT@ ] && a=$out
        args+=("$a")
    done <"$INPUTS/$name/link.args"
    # shellcheck disable=SC2086 # EXTRA is a list of words
    (cd "$INPUTS/$name" && "$bin" ld "${args[@]}" ${EXTRA:-} "$@" 2>/dev/null)
}

failed=0
checked=0
same() {
    checked=$((checked + 1))
    if ! cmp -s "$1" "$2"; then
        echo "DIFFERENT: $name $3 ($1 vs $2)"
        failed=1
    fi
}

for name in "$@"; do
    [ -f "$INPUTS/$name/link.args" ] || { echo "identical.sh: no input $name" >&2; exit 2; }
    d=$WORK/$name
    # Both binaries write to the same paths (a map names its output), then the results move.
    for v in old new; do
        bin=$OLD
        [ $v = new ] && bin=$NEW
        c=$d/cur
        rm -rf "$c"
        mkdir -p "$c"
        link "$bin" "$c/plain"
        link "$bin" "$c/digests" --page-digests
        link "$bin" "$c/mapped" -Map "$c/map"
        link "$bin" "$c/layout1" --layout "$c/app.layout" --page-digests
        cp "$c/app.layout" "$c/app.layout1"
        link "$bin" "$c/layout2" --layout "$c/app.layout" --page-digests
        # A partial link (-r) of the input's objects and its own archive's members.
        mapfile -t objs < <(grep '\.o$' "$INPUTS/$name/link.args")
        libs=("$INPUTS/$name"/*.a)
        [ -e "${libs[0]}" ] || libs=()
        "$bin" ld -r -o "$c/partial.o" "${objs[@]}" --whole-archive "${libs[@]}" 2>/dev/null
        mv "$c" "$d/$v"
    done
    link "$NEW" "$d/new/one-thread" --threads=1
    for f in plain digests mapped map layout1 app.layout1 layout2 app.layout partial.o; do
        same "$d/old/$f" "$d/new/$f" "$f"
    done
    same "$d/new/plain" "$d/new/one-thread" "one thread vs default"
done
if [ $failed = 0 ]; then
    echo "identical.sh: $checked comparisons over $# inputs, all bit-identical"
fi
exit $failed
