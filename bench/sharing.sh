#!/usr/bin/env bash
# Page-sharing benchmark: how many 4 KiB pages two static executables have in
# common, byte for byte, when one library is updated (zlib 1.2.13 -> 1.3.1,
# zstd 1.5.5 -> 1.5.6, lz4 1.9.3 -> 1.9.4) and across a fleet of four programs
# built from the same libraries (testdata/stable/). spacer links with
# --layout (one layout file per update, one for the whole fleet); ld.bfd,
# ld.lld and mold link as they normally do. Also reports the file size cost
# of the layout against ld.bfd and times the zall program (spacer vs ld.bfd
# build) with hyperfine.
#
# The libraries are the test suite's (tests/stable_layout.rs): they are built
# once under target/spacer-corpus/stable/ by
#   cargo test --release --test stable_layout -- --ignored build_corpus_only
#
# Usage: bench/sharing.sh [--linkers LIST] [--no-hyperfine]
#   --linkers LIST   comma-separated subset of: spacer,ld.bfd,ld.lld,mold
#   --no-hyperfine   skip the run-time comparison
#
# Environment: SPACER=/path/to/spacer uses that binary instead of building
# target/release/spacer.
#
# Output: the tables on standard output, also written to
# target/bench/sharing/report.md; executables under target/bench/sharing/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/target/bench/sharing
SRC=$ROOT/testdata/stable
linkers_wanted="spacer,ld.bfd,ld.lld,mold"
hyperfine=1

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case $1 in
    --linkers) linkers_wanted=$2; shift ;;
    --no-hyperfine) hyperfine=0 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "sharing: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

die() { echo "sharing: $*" >&2; exit 1; }
for tool in gcc jq; do
    command -v $tool >/dev/null || die "$tool is not installed"
done

# --- spacer and the corpus --------------------------------------------------
cd "$ROOT"
if [ -z "${SPACER:-}" ]; then
    cargo build --release --quiet
    SPACER=$ROOT/target/release/spacer
fi
[ -x "$SPACER" ] || die "no spacer binary at $SPACER"
"$SPACER" ld --help 2>&1 | grep -q -- --layout || die "$SPACER has no --layout option"
source "$ROOT/bench/corpus.sh"

rm -rf "$OUT"
mkdir -p "$OUT/bin"
ln -s "$SPACER" "$OUT/bin/ld"

declare -A OLD=([zlib]=1.2.13 [zstd]=1.5.5 [lz4]=1.9.3)
declare -A NEW=([zlib]=1.3.1 [zstd]=1.5.6 [lz4]=1.9.4)
PROGRAMS="zall zlz4 zstdlz4 zonly"

linkers=()
IFS=, read -ra wanted <<<"$linkers_wanted"
for l in "${wanted[@]}"; do
    case $l in
    spacer | ld.bfd) linkers+=("$l") ;;
    ld.lld) command -v ld.lld >/dev/null && linkers+=("$l") || echo "sharing: ld.lld not installed, skipped" >&2 ;;
    mold) command -v mold >/dev/null && linkers+=("$l") || echo "sharing: mold not installed, skipped" >&2 ;;
    *) die "unknown linker $l" ;;
    esac
done

# build PROGRAM TAG "zlib=V zstd=V lz4=V" -> compiles PROGRAM against those
# versions into $OUT/obj/TAG/PROGRAM.o and sets LINKARGS.
build() {
    local prog=$1 tag=$2 set=$3 inc=() lflags=() libs=() lib ver
    for lib in $(echo "zlib zstd lz4"); do
        case " ${USES[$prog]} " in *" $lib "*) ;; *) continue ;; esac
        ver=$(echo "$set" | tr ' ' '\n' | sed -n "s/^$lib=//p")
        inc+=("-I$(lookup $lib $ver 5)")
        lflags+=("-L$(lookup $lib $ver 4)")
        libs+=("${LIBFLAG[$lib]}")
    done
    mkdir -p "$OUT/obj/$tag"
    local obj=$OUT/obj/$tag/$prog.o
    [ -f "$obj" ] || gcc -O2 "${inc[@]}" -c "$SRC/$prog.c" -o "$obj"
    LINKARGS=("$obj" "${lflags[@]}" "${libs[@]}")
}

# link LINKER OUT [LAYOUT] (uses LINKARGS)
link() {
    local linker=$1 out=$2 layout=${3:-} sel=()
    case $linker in
    spacer) sel=(-B "$OUT/bin/") ;;
    ld.bfd) sel=(-fuse-ld=bfd) ;;
    ld.lld) sel=(-fuse-ld=lld) ;;
    mold) sel=(-fuse-ld=mold) ;;
    esac
    local extra=()
    [ -n "$layout" ] && extra=("-Wl,--layout,$layout")
    gcc -static "${sel[@]}" "${LINKARGS[@]}" "${extra[@]}" -o "$out" 2>"$out.stderr" \
        || { cat "$out.stderr" >&2; die "linking $out with $linker failed"; }
}

# check EXE REFERENCE: same stdout and exit status 0
check() {
    local got want
    got=$("$1") || die "$1 failed"
    want=$("$2") || die "$2 failed"
    [ "$got" = "$want" ] || die "$1 does not print what $2 prints"
}

# exec_share A B -> "shared pages pct" of B's executable pages found in A
exec_share() {
    "$SPACER" share --json "$1" "$2" |
        jq -r '.images[1].exec | "\(.shared) \(.pages) \(if .pages > 0 then (1000 * .shared / .pages | round) / 10 else 0 end)"'
}

REPORT=$OUT/report.md
: >"$REPORT"
say() { echo "$*" | tee -a "$REPORT"; }

set_of() { # KIND (old|new-LIB)
    local s="" lib
    for lib in zlib zstd lz4; do
        if [ "$1" = "new-$lib" ]; then s+="$lib=${NEW[$lib]} "; else s+="$lib=${OLD[$lib]} "; fi
    done
    echo "$s"
}

# --- (a) single-library updates ---------------------------------------------
say "## Single-library updates of zall (executable pages of the new image found in the old)"
say ""
header="| update |"
rule="| --- |"
for l in "${linkers[@]}"; do header+=" $l |"; rule+=" --- |"; done
say "$header"
say "$rule"
declare -A SIZE_SUM
for lib in zlib zstd lz4; do
    row="| $lib ${OLD[$lib]} -> ${NEW[$lib]} |"
    for l in "${linkers[@]}"; do
        d=$OUT/bump-$lib/$l
        mkdir -p "$d"
        layout=""
        [ "$l" = spacer ] && layout=$d/zall.layout
        build zall old "$(set_of old)"
        link "$l" "$d/a" "$layout"
        build zall "new-$lib" "$(set_of new-$lib)"
        link "$l" "$d/b" "$layout"
        read -r shared pages pct <<<"$(exec_share "$d/a" "$d/b")"
        row+=" $shared/$pages ($pct%) |"
    done
    say "$row"
done
# Behaviour check against ld.bfd.
for lib in zlib zstd lz4; do
    for l in "${linkers[@]}"; do
        [ "$l" = ld.bfd ] && continue
        [ -d "$OUT/bump-$lib/ld.bfd" ] || continue
        check "$OUT/bump-$lib/$l/a" "$OUT/bump-$lib/ld.bfd/a"
        check "$OUT/bump-$lib/$l/b" "$OUT/bump-$lib/ld.bfd/b"
    done
done

# --- (b) the fleet ----------------------------------------------------------
say ""
say "## Fleet: four programs on $(set_of old)"
say ""
say "Executable pages of each program found in any other program of the fleet:"
say ""
header="| program |"
rule="| --- |"
for l in "${linkers[@]}"; do header+=" $l |"; rule+=" --- |"; done
say "$header"
say "$rule"
for l in "${linkers[@]}"; do
    d=$OUT/fleet/$l
    mkdir -p "$d"
    layout=""
    [ "$l" = spacer ] && layout=$d/fleet.layout
    for p in $PROGRAMS; do
        build $p old "$(set_of old)"
        link "$l" "$d/$p" "$layout"
    done
done
for l in "${linkers[@]}"; do
    [ "$l" = ld.bfd ] && continue
    [ -d "$OUT/fleet/ld.bfd" ] || continue
    for p in $PROGRAMS; do check "$OUT/fleet/$l/$p" "$OUT/fleet/ld.bfd/$p"; done
done
declare -A FLEET
for l in "${linkers[@]}"; do
    json=$("$SPACER" share --json $(for p in $PROGRAMS; do echo "$OUT/fleet/$l/$p"; done))
    i=0
    for p in $PROGRAMS; do
        FLEET[$l,$p]=$(jq -r ".images[$i].exec | \"\(.shared)/\(.pages) (\(if .pages > 0 then (1000 * .shared / .pages | round) / 10 else 0 end)%)\"" <<<"$json")
        i=$((i + 1))
    done
    FLEET[$l,all]=$(jq -r '.total.exec | "\(.shared)/\(.pages) (\(if .pages > 0 then (1000 * .shared / .pages | round) / 10 else 0 end)%)"' <<<"$json")
done
for p in $PROGRAMS all; do
    row="| $p |"
    for l in "${linkers[@]}"; do row+=" ${FLEET[$l,$p]} |"; done
    say "$row"
done
say ""
say "Pairwise (executable pages of the row's program found in the column's program):"
say ""
for l in "${linkers[@]}"; do
    header="| $l |"
    rule="| --- |"
    for q in $PROGRAMS; do header+=" $q |"; rule+=" --- |"; done
    say "$header"
    say "$rule"
    for p in $PROGRAMS; do
        row="| $p |"
        for q in $PROGRAMS; do
            if [ $p = $q ]; then row+=" - |"; continue; fi
            read -r _ _ pct <<<"$(exec_share "$OUT/fleet/$l/$q" "$OUT/fleet/$l/$p")"
            row+=" $pct% |"
        done
        say "$row"
    done
    say ""
done

# --- file size --------------------------------------------------------------
if [ -d "$OUT/fleet/ld.bfd" ]; then
    say "## File size against ld.bfd"
    say ""
    header="| program |"
    rule="| --- |"
    for l in "${linkers[@]}"; do header+=" $l |"; rule+=" --- |"; done
    say "$header"
    say "$rule"
    for p in $PROGRAMS; do
        ref=$(stat -c %s "$OUT/fleet/ld.bfd/$p")
        row="| $p |"
        for l in "${linkers[@]}"; do
            s=$(stat -c %s "$OUT/fleet/$l/$p")
            row+=" $s ($(awk -v s=$s -v r=$ref 'BEGIN { printf "%+d, %+.1f%%", s - r, 100 * (s - r) / r }')) |"
        done
        say "$row"
    done
    say ""
fi

# --- run time ---------------------------------------------------------------
both=0
case " ${linkers[*]} " in *" spacer "*) case " ${linkers[*]} " in *" ld.bfd "*) both=1 ;; esac ;; esac
if [ $hyperfine = 1 ] && [ $both = 1 ]; then
    if command -v hyperfine >/dev/null; then
        say "## Run time of zall (hyperfine)"
        say ""
        hyperfine --warmup 3 --min-runs 20 -N --export-markdown "$OUT/hyperfine.md" \
            -n "spacer --layout" "$OUT/fleet/spacer/zall" \
            -n "ld.bfd" "$OUT/fleet/ld.bfd/zall" >"$OUT/hyperfine.txt" 2>&1 \
            || { cat "$OUT/hyperfine.txt" >&2; die "hyperfine failed"; }
        cat "$OUT/hyperfine.md" | tee -a "$REPORT"
    else
        echo "sharing: hyperfine not installed, run time not compared" >&2
    fi
fi
echo
echo "report: $REPORT"
