#!/usr/bin/env bash
# Page-sharing benchmark: how many 4 KiB pages two static executables have in
# common, byte for byte, when one library is updated (zlib 1.2.13 -> 1.3.1,
# zstd 1.5.5 -> 1.5.6, lz4 1.9.3 -> 1.9.4 in zall; Lua 5.4.6 -> 5.4.7 in zlua;
# SQLite 3.45.1 -> 3.46.0 in zsql), across a fleet of five programs built
# from the same libraries (testdata/stable/) linked one by one, and across a
# fleet prepared with `spacer layout plan` (zall, zlua, zstdlz4, zsql, the C++
# program zcxx, and zonly on the newer zlib; linked in both orders, and one by
# one for comparison),
# next to what ideal deduplication of identical input sections would share. Everything is measured twice: with
# the libraries built with -ffunction-sections and with plain -O2 (one .text
# per object, as distributions and Unikraft build). spacer links with --layout
# (one layout file per update, one for the whole fleet), and for comparison
# with --layout-mode=regions (page-aligned regions only, "regions" column);
# ld.bfd, ld.lld and mold link as they normally do. The updates table ends with
# the targets, each printed met or MISSED. Also reports the file size cost of
# the layout against ld.bfd and times the zall program (spacer vs ld.bfd
# build) with hyperfine.
#
# The libraries are the test suite's (tests/stable_layout.rs): they are built
# once under target/spacer-corpus/stable/ by
#   cargo test --release --test stable_layout -- --ignored build_corpus_only
#
# Usage: bench/sharing.sh [--linkers LIST] [--build sections|plain|both] [--no-hyperfine]
#   --linkers LIST   comma-separated subset of: spacer,regions,ld.bfd,ld.lld,mold
#   --build WHICH    which library builds to measure (default both)
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
linkers_wanted="spacer,regions,ld.bfd,ld.lld,mold"
builds_wanted=both
hyperfine=1

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case $1 in
    --linkers) linkers_wanted=$2; shift ;;
    --build) builds_wanted=$2; shift ;;
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

declare -A OLD=([zlib]=1.2.13 [zstd]=1.5.5 [lz4]=1.9.3 [lua]=5.4.6 [sqlite]=3.45.1)
declare -A NEW=([zlib]=1.3.1 [zstd]=1.5.6 [lz4]=1.9.4 [lua]=5.4.7 [sqlite]=3.46.0)
# The program each update is measured on.
declare -A BUMPED=([zlib]=zall [zstd]=zall [lz4]=zall [lua]=zlua [sqlite]=zsql)
case $builds_wanted in
sections | plain) BUILDS=$builds_wanted ;;
both) BUILDS="sections plain" ;;
*) die "--build takes sections, plain or both" ;;
esac
PROGRAMS=${FLEET:-"zall zlz4 zstdlz4 zonly zlua"}

linkers=()
IFS=, read -ra wanted <<<"$linkers_wanted"
for l in "${wanted[@]}"; do
    case $l in
    spacer | regions | ld.bfd) linkers+=("$l") ;;
    ld.lld) command -v ld.lld >/dev/null && linkers+=("$l") || echo "sharing: ld.lld not installed, skipped" >&2 ;;
    mold) command -v mold >/dev/null && linkers+=("$l") || echo "sharing: mold not installed, skipped" >&2 ;;
    *) die "unknown linker $l" ;;
    esac
done

# build PROGRAM TAG "zlib=V zstd=V lz4=V" -> compiles PROGRAM against those
# versions into $OUT/obj/TAG/PROGRAM.o and sets LINKARGS.
build() {
    local prog=$1 tag=$2 set=$3 inc=() lflags=() libs=() lib ver
    for lib in $LIBS; do
        case " ${USES[$prog]} " in *" $lib "*) ;; *) continue ;; esac
        ver=$(echo "$set" | tr ' ' '\n' | sed -n "s/^$lib=//p")
        inc+=("-I$(lookup $lib $ver 5)")
        lflags+=("-L$(lookup $lib $ver 4)")
        libs+=("${LIBFLAG[$lib]}")
    done
    mkdir -p "$OUT/obj/$BUILD/$tag"
    local obj=$OUT/obj/$BUILD/$tag/$prog.o src=$SRC/$prog.c
    LINKCC=gcc
    if [ -f "$SRC/$prog.cpp" ]; then src=$SRC/$prog.cpp; LINKCC=g++; fi
    [ -f "$obj" ] || $LINKCC -O2 "${inc[@]}" -c "$src" -o "$obj"
    LINKARGS=("$obj" "${lflags[@]}" "${libs[@]}" -lm)
}

# link LINKER OUT [LAYOUT] (uses LINKARGS)
link() {
    local linker=$1 out=$2 layout=${3:-} sel=()
    case $linker in
    spacer | regions) sel=(-B "$OUT/bin/") ;;
    ld.bfd) sel=(-fuse-ld=bfd) ;;
    ld.lld) sel=(-fuse-ld=lld) ;;
    mold) sel=(-fuse-ld=mold) ;;
    esac
    local extra=()
    [ -n "$layout" ] && extra=("-Wl,--layout,$layout")
    [ "$linker" = regions ] && extra+=("-Wl,--layout-mode=regions")
    [ "$linker" = ld.bfd ] && extra+=("-Wl,-Map,$out.map")
    $LINKCC -static "${sel[@]}" "${LINKARGS[@]}" "${extra[@]}" -o "$out" 2>"$out.stderr" \
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
# table COLUMN... : a markdown table's header and rule
table() {
    local header="|" rule="|" c
    for c in "$@"; do header+=" $c |"; rule+=" --- |"; done
    say "$header"
    say "$rule"
}

set_of() { # KIND (old|new-LIB)
    local s="" lib
    for lib in $LIBS; do
        if [ "$1" = "new-$lib" ]; then s+="$lib=${NEW[$lib]} "; else s+="$lib=${OLD[$lib]} "; fi
    done
    echo "$s"
}

# image_pages A B -> "exec-shared exec-pages ro-shared ro-pages total-pages" of B against A
image_pages() {
    "$SPACER" share --json "$1" "$2" |
        jq -r '.images[1] | "\(.exec.shared) \(.exec.pages) \(.read_only.shared) \(.read_only.pages) \(.total.pages)"'
}
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }'; }
# target WHAT VALUE MIN: one line, met or MISSED
target() {
    local verdict
    verdict=$(awk -v v="$2" -v m="$3" 'BEGIN { print (v >= m ? "met" : "MISSED") }')
    say "- $1: $2% (target $3%: $verdict)"
}

# --- (a) single-library updates ---------------------------------------------
updates() {
    local lib prog row l d layout shared pages ro_shared ro_pages total
    declare -A EXEC RO TOTAL OLDTOTAL
    say "## Single-library updates, $BUILD build (executable pages of the new image found in the old)"
    say ""
    table update "${linkers[@]}"
    for lib in $LIBS; do
        prog=${BUMPED[$lib]}
        row="| $lib ${OLD[$lib]} -> ${NEW[$lib]} ($prog) |"
        for l in "${linkers[@]}"; do
            d=$OUT/$BUILD/bump-$lib/$l
            mkdir -p "$d"
            layout=""
            case $l in spacer | regions) layout=$d/$prog.layout ;; esac
            build $prog old "$(set_of old)"
            link "$l" "$d/a" "$layout"
            build $prog "new-$lib" "$(set_of new-$lib)"
            link "$l" "$d/b" "$layout"
            read -r shared pages ro_shared ro_pages total <<<"$(image_pages "$d/a" "$d/b")"
            EXEC[$lib,$l]=$(pct "$shared" "$pages")
            RO[$lib,$l]=$(pct "$ro_shared" "$ro_pages")
            TOTAL[$lib,$l]=$total
            # Loaded pages of the old image (against itself: all shared, zero pages apart).
            read -r _ _ _ _ OLDTOTAL[$lib,$l] <<<"$(image_pages "$d/b" "$d/a")"
            row+=" $shared/$pages (${EXEC[$lib,$l]}%) |"
        done
        say "$row"
    done
    # Behaviour check against ld.bfd.
    for lib in $LIBS; do
        for l in "${linkers[@]}"; do
            [ "$l" = ld.bfd ] && continue
            [ -d "$OUT/$BUILD/bump-$lib/ld.bfd" ] || continue
            check "$OUT/$BUILD/bump-$lib/$l/a" "$OUT/$BUILD/bump-$lib/ld.bfd/a"
            check "$OUT/$BUILD/bump-$lib/$l/b" "$OUT/$BUILD/bump-$lib/ld.bfd/b"
        done
    done
    case " ${linkers[*]} " in *" spacer "*) ;; *) return ;; esac
    say ""
    say "Read-only pages of the new image found in the old: $(for lib in $LIBS; do
        printf '%s %s%%; ' "$lib" "${RO[$lib,spacer]}"; done)"
    say ""
    say "Targets ($BUILD build, spacer --layout):"
    target "zlib update, executable pages shared" "${EXEC[zlib,spacer]}" 97
    target "lz4 update, executable pages shared" "${EXEC[lz4,spacer]}" 95
    if [ "$BUILD" = plain ]; then
        target "Lua update, executable pages shared" "${EXEC[lua,spacer]}" 85
    else
        target "Lua update, executable pages shared" "${EXEC[lua,spacer]}" 90
    fi
    target "SQLite update, executable pages shared" "${EXEC[sqlite,spacer]}" 45
    if [ -n "${TOTAL[sqlite,ld.bfd]:-}" ]; then
        # How much the update grows the image (loaded pages holding bytes, new against old),
        # beside what it grows ld.bfd's; and the image against ld.bfd's.
        local grow_s grow_b verdict size
        grow_s=$(awk -v n="${TOTAL[sqlite,spacer]}" -v o="${OLDTOTAL[sqlite,spacer]}" 'BEGIN { printf "%.1f", 100 * (n - o) / o }')
        grow_b=$(awk -v n="${TOTAL[sqlite,ld.bfd]}" -v o="${OLDTOTAL[sqlite,ld.bfd]}" 'BEGIN { printf "%.1f", 100 * (n - o) / o }')
        verdict=$(awk -v s="$grow_s" -v b="$grow_b" 'BEGIN { print (s - b <= 2 ? "met" : "MISSED") }')
        size=$(awk -v s="${TOTAL[sqlite,spacer]}" -v b="${TOTAL[sqlite,ld.bfd]}" 'BEGIN { printf "%+.1f", 100 * (s - b) / b }')
        say "- SQLite update, image growth: ${OLDTOTAL[sqlite,spacer]} -> ${TOTAL[sqlite,spacer]} loaded pages ($grow_s%), ld.bfd ${OLDTOTAL[sqlite,ld.bfd]} -> ${TOTAL[sqlite,ld.bfd]} ($grow_b%) (target at most 2 points beyond ld.bfd's: $verdict)"
        say "- SQLite image against ld.bfd's: ${TOTAL[sqlite,spacer]} vs ${TOTAL[sqlite,ld.bfd]} loaded pages ($size%; page-aligned regions, per-input string merging and per-input CIEs)"
    fi
    target "zlib update, read-only pages shared" "${RO[zlib,spacer]}" 90
    target "lz4 update, read-only pages shared" "${RO[lz4,spacer]}" 90
    if [ -n "${EXEC[zlib,regions]:-}" ]; then
        local l2 worse=""
        for l2 in $LIBS; do
            awk -v a="${EXEC[$l2,spacer]}" -v b="${EXEC[$l2,regions]}" 'BEGIN { exit !(a < b) }' &&
                worse+=" $l2"
        done
        say "- --layout shares at least what --layout-mode=regions shares on every update: $([ -z "$worse" ] && echo met || echo "MISSED ($worse)")"
    fi
    say ""
}

# --- (b) the fleet ----------------------------------------------------------
fleet() {
say ""
say "## Fleet, $BUILD build: five programs on $(set_of old)"
say ""
say "Executable pages of each program found in any other program of the fleet,"
say "and the code bytes ideal deduplication of identical input sections would share:"
say ""
for l in "${linkers[@]}"; do
    d=$OUT/$BUILD/fleet/$l
    mkdir -p "$d"
    layout=""
    case $l in spacer | regions) layout=$d/fleet.layout ;; esac
    for p in $PROGRAMS; do
        build $p old "$(set_of old)"
        link "$l" "$d/$p" "$layout"
    done
done
for l in "${linkers[@]}"; do
    [ "$l" = ld.bfd ] && continue
    [ -d "$OUT/$BUILD/fleet/ld.bfd" ] || continue
    for p in $PROGRAMS; do check "$OUT/$BUILD/fleet/$l/$p" "$OUT/$BUILD/fleet/ld.bfd/$p"; done
done
declare -A FLEET
for l in "${linkers[@]}"; do
    json=$("$SPACER" share --json $(for p in $PROGRAMS; do echo "$OUT/$BUILD/fleet/$l/$p"; done))
    i=0
    for p in $PROGRAMS; do
        FLEET[$l,$p]=$(jq -r ".images[$i].exec | \"\(.shared)/\(.pages) (\(if .pages > 0 then (1000 * .shared / .pages | round) / 10 else 0 end)%)\"" <<<"$json")
        i=$((i + 1))
    done
    FLEET[$l,all]=$(jq -r '.total.exec | "\(.shared)/\(.pages) (\(if .pages > 0 then (1000 * .shared / .pages | round) / 10 else 0 end)%)"' <<<"$json")
done
# Ideal deduplication of identical input sections, from ld.bfd's link maps: the
# code bytes of each program whose input section (same file, same section) another
# program of the fleet also links. The fleet links the same library files, so
# such sections have the same bytes and relocations.
code_inputs() { # MAP -> "file:section size" per code input section
    awk '
        function hex(s,   i, c, v) { v = 0; s = tolower(substr(s, 3))
            for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)) - 1; v = v * 16 + c }
            return v }
        /^Linker script and memory map/ { inmap = 1; next }
        !inmap { next }
        /^[^ ]/ { out = $1; pending = ""; next }
        out != ".text" && out != ".init" && out != ".fini" && out != "__libc_freeres_fn" { next }
        NF == 1 && $1 ~ /^\./ { pending = $1; next }
        NF >= 4 && $1 ~ /^\./ && $2 ~ /^0x/ && $3 ~ /^0x/ { if (hex($3) > 0) print $4 ":" $1, hex($3); pending = ""; next }
        pending != "" && NF >= 3 && $1 ~ /^0x/ && $2 ~ /^0x/ { if (hex($2) > 0) print $3 ":" pending, hex($2); pending = ""; next }
        { pending = "" }
    ' "$1"
}
declare -A IDEAL
if [ -d "$OUT/$BUILD/fleet/ld.bfd" ]; then
    for p in $PROGRAMS; do code_inputs "$OUT/$BUILD/fleet/ld.bfd/$p.map" | sed "s/^/$p /"; done >"$OUT/$BUILD/fleet/inputs.txt"
    while read -r p shared total; do
        IDEAL[$p]="$shared $total"
    done < <(awk '
        { prog[NR] = $1; key[NR] = $2; size[NR] = $3; if (!seen[$2 SUBSEP $1]++) nprog[$2]++ }
        END { for (i = 1; i <= NR; i++) { t[prog[i]] += size[i]; if (nprog[key[i]] > 1) s[prog[i]] += size[i] }
              for (p in t) print p, s[p] + 0, t[p] }' "$OUT/$BUILD/fleet/inputs.txt")
fi
if [ ${#IDEAL[@]} -gt 0 ]; then
    table program "${linkers[@]}" "ideal dedup (code bytes)"
else
    table program "${linkers[@]}"
fi
ideal_s=0; ideal_t=0
for p in $PROGRAMS all; do
    row="| $p |"
    for l in "${linkers[@]}"; do row+=" ${FLEET[$l,$p]} |"; done
    if [ ${#IDEAL[@]} -gt 0 ]; then
        if [ $p = all ]; then
            row+=" $ideal_s/$ideal_t ($(pct $ideal_s $ideal_t)%) |"
        else
            read -r s t <<<"${IDEAL[$p]}"
            ideal_s=$((ideal_s + s)); ideal_t=$((ideal_t + t))
            row+=" $s/$t ($(pct $s $t)%) |"
        fi
    fi
    say "$row"
done
if [ ${#IDEAL[@]} -gt 0 ]; then
    say ""
    for l in "${linkers[@]}"; do
        v=${FLEET[$l,all]}; sh=${v%%/*}; rest=${v#*/}; pg=${rest%% *}
        rel=$(awk -v s="$sh" -v p="$pg" -v is="$ideal_s" -v it="$ideal_t" 'BEGIN { printf "%.1f", (p > 0 && is > 0) ? 100 * (s / p) / (is / it) : 0 }')
        verdict=""
        [ "$l" = spacer ] && verdict=$(awk -v r="$rel" 'BEGIN { print (r >= 90 ? " (target 90%: met)" : " (target 90%: MISSED)") }')
        say "$l shares $rel% of what ideal deduplication would$verdict"
    done
fi
say ""
say "Pairwise (executable pages of the row's program found in the column's program):"
say ""
for l in "${linkers[@]}"; do
    # shellcheck disable=SC2086
    table "$l" $PROGRAMS
    for p in $PROGRAMS; do
        row="| $p |"
        for q in $PROGRAMS; do
            if [ $p = $q ]; then row+=" - |"; continue; fi
            read -r _ _ pct <<<"$(exec_share "$OUT/$BUILD/fleet/$l/$q" "$OUT/$BUILD/fleet/$l/$p")"
            row+=" $pct% |"
        done
        say "$row"
    done
    say ""
done

# --- file size --------------------------------------------------------------
if [ -d "$OUT/$BUILD/fleet/ld.bfd" ]; then
    say "## File size against ld.bfd, $BUILD build"
    say ""
    table program "${linkers[@]}"
    for p in $PROGRAMS; do
        ref=$(stat -c %s "$OUT/$BUILD/fleet/ld.bfd/$p")
        row="| $p |"
        for l in "${linkers[@]}"; do
            s=$(stat -c %s "$OUT/$BUILD/fleet/$l/$p")
            row+=" $s ($(awk -v s=$s -v r=$ref 'BEGIN { printf "%+d, %+.1f%%", s - r, 100 * (s - r) / r }')) |"
        done
        say "$row"
    done
    say ""
fi
}

# --- (c) a fleet planned from all its link commands ---------------------------
# PROGRAM:VERSIONS, VERSIONS as set_of takes them: zonly runs on the other zlib release.
PLANNED="zall:old zlua:old zstdlz4:old zsql:old zcxx:old zonly:new-zlib"
# build_planned PROGRAM:VERSIONS -> build's LINKARGS and LINKCC, and NAME
build_planned() {
    local p=${1%%:*} kind=${1#*:}
    build "$p" "$kind" "$(set_of "$kind")"
    NAME=$p
    [ "$kind" = old ] || NAME=$p-$kind
}
planned() {
    case " ${linkers[*]} " in *" spacer "*) ;; *) return ;; esac
    local d=$OUT/$BUILD/plan e cmds=() order outs json ideal_s=0 ideal_t=0 s t list
    mkdir -p "$d"
    say "## Fleet planned with \`spacer layout plan\`, $BUILD build: $PLANNED"
    say ""
    for e in $PLANNED; do
        build_planned "$e"
        cmds+=(-- "$LINKCC" -static "${LINKARGS[@]}" -o "$d/$NAME.untouched")
        link ld.bfd "$d/$NAME.bfd"
        code_inputs "$d/$NAME.bfd.map" | sed "s/^/$NAME /"
    done >"$d/inputs.txt"
    read -r ideal_s ideal_t < <(awk '
        { prog[NR] = $1; key[NR] = $2; size[NR] = $3; if (!seen[$2 SUBSEP $1]++) nprog[$2]++ }
        END { for (i = 1; i <= NR; i++) { t += size[i]; if (nprog[key[i]] > 1) s += size[i] }
              print s + 0, t + 0 }' "$d/inputs.txt")
    "$SPACER" layout plan --out "$d/fleet.layout" "${cmds[@]}" | sed 's/^/    /' | tee -a "$REPORT"
    say ""
    table "links" "executable pages found in another program" "of ideal ($(pct $ideal_s $ideal_t)% of code bytes)"
    for mode in plan one-by-one; do
        for order in forward reverse; do
            rm -f "$d/$mode-$order.layout"
            [ $mode = plan ] && cp "$d/fleet.layout" "$d/$mode-$order.layout"
            outs=()
            list=$PLANNED
            [ $order = reverse ] && list=$(echo $PLANNED | tr ' ' '\n' | tac | tr '\n' ' ')
            for e in $list; do
                build_planned "$e"
                link spacer "$d/$NAME.$mode-$order" "$d/$mode-$order.layout"
                check "$d/$NAME.$mode-$order" "$d/$NAME.bfd"
            done
            for e in $PLANNED; do build_planned "$e" >/dev/null; outs+=("$d/$NAME.$mode-$order"); done
            json=$("$SPACER" share --json "${outs[@]}")
            read -r s t < <(jq -r '.total.exec | "\(.shared) \(.pages)"' <<<"$json")
            PLANNED_RESULT[$mode,$order]=$(awk -v s="$s" -v t="$t" -v is="$ideal_s" -v it="$ideal_t" \
                'BEGIN { printf "%.1f", 100 * (s / t) / (is / it) }')
            say "| $mode, $order | $s/$t ($(pct $s $t)%) | ${PLANNED_RESULT[$mode,$order]}% |"
        done
    done
    say ""
    target "planned fleet, share of what ideal deduplication would" "${PLANNED_RESULT[plan,forward]}" 90
    local gap
    gap=$(awk -v a="${PLANNED_RESULT[plan,forward]}" -v b="${PLANNED_RESULT[plan,reverse]}" \
        'BEGIN { d = a - b; if (d < 0) d = -d; printf "%.1f", d }')
    say "- planned fleet, forward against reverse link order: $gap points apart (target at most 1: $(awk -v g="$gap" 'BEGIN { print (g <= 1 ? "met" : "MISSED") }'))"
    say ""
}
declare -A PLANNED_RESULT

for BUILD in $BUILDS; do
    if [ "$BUILD" = plain ]; then CORPUS=$CORPUS_PLAIN; else CORPUS=$CORPUS_SECTIONS; fi
    updates
    fleet
    planned
done

# --- run time ---------------------------------------------------------------
both=0
case " ${linkers[*]} " in *" spacer "*) case " ${linkers[*]} " in *" ld.bfd "*) both=1 ;; esac ;; esac
FIRST=${BUILDS%% *}
if [ $hyperfine = 1 ] && [ $both = 1 ]; then
    if command -v hyperfine >/dev/null; then
        say "## Run time of zall (hyperfine)"
        say ""
        hyperfine --warmup 3 --min-runs 20 -N --export-markdown "$OUT/hyperfine.md" \
            -n "spacer --layout" "$OUT/$FIRST/fleet/spacer/zall" \
            -n "ld.bfd" "$OUT/$FIRST/fleet/ld.bfd/zall" >"$OUT/hyperfine.txt" 2>&1 \
            || { cat "$OUT/hyperfine.txt" >&2; die "hyperfine failed"; }
        cat "$OUT/hyperfine.md" | tee -a "$REPORT"
    else
        echo "sharing: hyperfine not installed, run time not compared" >&2
    fi
fi
echo
echo "report: $REPORT"
