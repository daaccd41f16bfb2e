#!/usr/bin/env bash
# Link-time benchmark: spacer against ld.bfd, ld.gold, ld.lld, mold and
# (optionally) wild, on real programs linked statically.
#
# The inputs (bench/build-inputs.sh) are compiled once and cached under
# target/bench/. For each input the linker command line that gcc's driver
# would run is recorded once; every linker is then run directly with those
# arguments, so the timings are of the linker alone, not of the gcc driver.
# Before timing, each linker's output is run and its output compared with the
# ld.bfd build; a linker that fails to link or produces a broken program is
# reported and left out of the timings for that input.
#
# Usage: bench/run.sh [options]
#   --with-wild        also benchmark wild (installs wild-linker 0.10.0 into
#                      target/bench/wild with cargo the first time: minutes)
#   --linkers LIST     comma-separated subset of: spacer,spacer+layout,ld.bfd,ld.gold,ld.lld,
#                      mold,wild (spacer+layout: spacer relinking with --layout and
#                      --page-digests, to measure what the sharing layout costs)
#   --inputs LIST      comma-separated subset of: hello,lua,zstd,sqlite,cxx,big,rg
#   --warmup N         hyperfine warmup runs (default 2)
#   --min-runs N       hyperfine minimum runs (default 10)
#   --no-spacer        do not build or run spacer
#
# Environment: SPACER=/path/to/spacer uses that binary instead of building
# target/release/spacer.
#
# After timing, each linker links once more in a single process (--no-fork for spacer, mold
# and wild) to measure its peak memory (RSS).
#
# Results: target/bench/results/INPUT.json (hyperfine), INPUT.status.tsv, INPUT.rss.tsv and
# the table in target/bench/report.md, also printed at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/target/bench
RESULTS=$BENCH/results
OUT=$BENCH/out
LOGS=$BENCH/logs
WILD_VERSION=0.10.0
LINK_TIMEOUT=300
RUN_TIMEOUT=120

with_wild=0
no_spacer=0
warmup=2
min_runs=10
linkers_wanted="spacer,spacer+layout,ld.bfd,ld.gold,ld.lld,mold,wild"
inputs_wanted="hello,lua,zstd,sqlite,cxx,big,rg"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case $1 in
    --with-wild) with_wild=1 ;;
    --no-spacer) no_spacer=1 ;;
    --linkers) linkers_wanted=$2; shift ;;
    --inputs) inputs_wanted=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --min-runs) min_runs=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

log() { echo "bench: $*" >&2; }
wanted() { case ",$linkers_wanted," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

mkdir -p "$BENCH" "$RESULTS" "$OUT" "$LOGS"
export PATH="$HOME/.cargo/bin:$PATH"

for tool in hyperfine python3 gcc g++ ar timeout; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        log "$tool is missing; running scripts/setup.sh"
        "$ROOT/scripts/setup.sh"
        break
    fi
done

# ---- linkers ---------------------------------------------------------------
# LINKER_NAMES[i] is run as LINKER_PATHS[i] with the recorded arguments.
LINKER_NAMES=()
LINKER_PATHS=()
NOTES=()

add_linker() { LINKER_NAMES+=("$1"); LINKER_PATHS+=("$2"); }

# extra_args NAME ODIR: arguments a linker gets after the recorded ones.
extra_args() {
    case $1 in
    spacer+layout) printf '%s\n' --layout "$2/spacer.layout" --page-digests ;;
    esac
}

# single_process NAME: the option that keeps a forking linker in one process.
single_process() {
    case $1 in
    spacer | spacer+layout | mold | wild) echo --no-fork ;;
    esac
}

if [ "$no_spacer" = 0 ] && { wanted spacer || wanted spacer+layout; }; then
    spacer_bin=${SPACER:-}
    if [ -z "$spacer_bin" ]; then
        log "building spacer (cargo build --release)"
        if (cd "$ROOT" && cargo build --release) >"$LOGS/spacer-build.log" 2>&1; then
            spacer_bin=$ROOT/target/release/spacer
        else
            log "cargo build --release failed; see $LOGS/spacer-build.log"
            NOTES+=("spacer: cargo build --release failed (see target/bench/logs/spacer-build.log)")
        fi
    fi
    if [ -n "$spacer_bin" ]; then
        # Run spacer through a symlink named ld, as `gcc -B DIR/` would.
        mkdir -p "$BENCH/bin/spacer"
        ln -sfn "$(realpath "$spacer_bin")" "$BENCH/bin/spacer/ld"
        wanted spacer && add_linker spacer "$BENCH/bin/spacer/ld"
        wanted spacer+layout && add_linker spacer+layout "$BENCH/bin/spacer/ld"
    fi
fi

for l in ld.bfd ld.gold ld.lld mold; do
    wanted "$l" || continue
    if p=$(command -v "$l"); then
        add_linker "$l" "$p"
    else
        NOTES+=("$l: not installed (scripts/setup.sh installs it)")
    fi
done

if wanted wild; then
    wild_bin=""
    for cand in "$(command -v wild || true)" "$HOME/.cargo/bin/wild" "$BENCH/wild/bin/wild"; do
        if [ -n "$cand" ] && [ -x "$cand" ]; then
            wild_bin=$cand
            break
        fi
    done
    if [ -z "$wild_bin" ] && [ "$with_wild" = 1 ]; then
        log "installing wild-linker $WILD_VERSION into $BENCH/wild (takes several minutes)"
        if cargo install --locked "wild-linker@$WILD_VERSION" --root "$BENCH/wild" >"$LOGS/wild-install.log" 2>&1; then
            wild_bin=$BENCH/wild/bin/wild
        else
            NOTES+=("wild: cargo install wild-linker@$WILD_VERSION failed (see target/bench/logs/wild-install.log)")
        fi
    fi
    if [ -n "$wild_bin" ]; then
        add_linker wild "$wild_bin"
    elif [ "$with_wild" = 0 ]; then
        NOTES+=("wild: not found (pass --with-wild to install it)")
    fi
fi

# The ld.bfd build is the reference every other output is compared with.
have_bfd=0
for n in "${LINKER_NAMES[@]}"; do [ "$n" = ld.bfd ] && have_bfd=1; done
if [ "$have_bfd" = 0 ] && command -v ld.bfd >/dev/null 2>&1; then
    REF_BFD=$(command -v ld.bfd)
else
    REF_BFD=""
fi

log "linkers: ${LINKER_NAMES[*]}"
for i in "${!LINKER_NAMES[@]}"; do
    v=$("${LINKER_PATHS[$i]}" --version 2>/dev/null | head -n1 || true)
    log "  ${LINKER_NAMES[$i]}: ${LINKER_PATHS[$i]} ${v:+($v)}"
done

# ---- inputs ----------------------------------------------------------------
IFS=, read -r -a INPUT_NAMES <<<"$inputs_wanted"
"$ROOT/bench/build-inputs.sh" "${INPUT_NAMES[@]}"

# link_once LINKER_PATH ARGS_FILE OUTPUT LOG [EXTRA...]: exit status of the linker
link_once() {
    local linker=$1 argsfile=$2 output=$3 logfile=$4
    shift 4
    local args=() a
    while IFS= read -r a; do
        [ "$a" = @OUT@ ] && a=$output
        args+=("$a")
    done <"$argsfile"
    rm -f "$output"
    timeout "$LINK_TIMEOUT" "$linker" "${args[@]}" "$@" >"$logfile" 2>&1
}

# run_prog EXE RUNARGS_FILE OUTFILE: runs the program, writes stdout and the
# exit status to OUTFILE
run_prog() {
    local exe=$1 runargs=$2 outfile=$3
    local args=()
    mapfile -t args <"$runargs"
    local rc=0
    (cd "$(dirname "$exe")" && timeout "$RUN_TIMEOUT" "$exe" "${args[@]}") >"$outfile" 2>"$outfile.stderr" || rc=$?
    echo "exit status: $rc" >>"$outfile"
    return "$rc"
}

first_line() { grep -v '^[[:space:]]*$' "$1" | head -n 3 | tr '\n' ' ' | cut -c1-200; }

for input in "${INPUT_NAMES[@]}"; do
    dir=$BENCH/inputs/$input
    odir=$OUT/$input
    rm -rf "$odir"
    mkdir -p "$odir"
    status=$RESULTS/$input.status.tsv
    : >"$status"
    rss=$RESULTS/$input.rss.tsv
    : >"$rss"
    rm -f "$RESULTS/$input.json"
    log "== $input"

    # Reference output from ld.bfd.
    ref=$odir/reference.stdout
    ref_linker=${REF_BFD:-}
    for i in "${!LINKER_NAMES[@]}"; do
        [ "${LINKER_NAMES[$i]}" = ld.bfd ] && ref_linker=${LINKER_PATHS[$i]}
    done
    if [ -z "$ref_linker" ]; then
        log "ld.bfd is not available; cannot check outputs"
        exit 1
    fi
    if ! link_once "$ref_linker" "$dir/link.args" "$odir/reference" "$LOGS/$input.reference.link.log" ||
        ! run_prog "$odir/reference" "$dir/run.args" "$ref"; then
        log "the ld.bfd build of $input does not link or run; see $LOGS/$input.reference.link.log and $ref"
        exit 1
    fi

    names=()
    cmds=()
    for i in "${!LINKER_NAMES[@]}"; do
        name=${LINKER_NAMES[$i]}
        linker=${LINKER_PATHS[$i]}
        exe=$odir/$name
        llog=$LOGS/$input.$name.link.log
        mapfile -t extra < <(extra_args "$name" "$odir")
        rc=0
        link_once "$linker" "$dir/link.args" "$exe" "$llog" "${extra[@]}" || rc=$?
        if [ "$rc" != 0 ]; then
            if [ "$rc" = 124 ]; then
                detail="link timed out after ${LINK_TIMEOUT}s"
            elif [ "$rc" -gt 128 ]; then
                detail="linker killed by signal $((rc - 128)): $(first_line "$llog")"
            else
                detail="link failed (exit $rc): $(first_line "$llog")"
            fi
            printf '%s\tlink-failed\t\t%s\n' "$name" "$detail" >>"$status"
            log "  $name: $detail (log: $llog)"
            continue
        fi
        if [ ! -s "$exe" ]; then
            detail="linker exited 0 but wrote no output: $(first_line "$llog")"
            printf '%s\tno-output\t\t%s\n' "$name" "$detail" >>"$status"
            log "  $name: $detail"
            continue
        fi
        size=$(stat -c %s "$exe")
        chmod +x "$exe"
        rc=0
        run_prog "$exe" "$dir/run.args" "$odir/$name.stdout" || rc=$?
        if ! cmp -s "$ref" "$odir/$name.stdout"; then
            if [ "$rc" -gt 128 ]; then
                detail="linked program killed by signal $((rc - 128))"
            else
                detail="linked program's output differs from the ld.bfd build (exit $rc)"
            fi
            detail="$detail; see $odir/$name.stdout{,.stderr}"
            printf '%s\tbad-output\t%s\t%s\n' "$name" "$size" "$detail" >>"$status"
            log "  $name: $detail"
            continue
        fi
        printf '%s\tok\t%s\t\n' "$name" "$size" >>"$status"
        log "  $name: links and runs correctly ($size bytes)"

        # Command line for hyperfine, run without a shell (-N).
        cmd=$(printf '%q' "$linker")
        while IFS= read -r a; do
            [ "$a" = @OUT@ ] && a=$odir/$name.timed
            cmd+=" $(printf '%q' "$a")"
        done <"$dir/link.args"
        for a in "${extra[@]}"; do cmd+=" $(printf '%q' "$a")"; done
        names+=("$name")
        cmds+=("$cmd")
    done

    if [ "${#names[@]}" = 0 ]; then
        log "  no linker produced a working $input; nothing to time"
        continue
    fi
    hf=(hyperfine -N --style basic --warmup "$warmup" --min-runs "$min_runs"
        --export-json "$RESULTS/$input.json")
    for i in "${!names[@]}"; do
        hf+=(-n "${names[$i]}" "${cmds[$i]}")
    done
    if ! "${hf[@]}" >"$LOGS/$input.hyperfine.log" 2>&1; then
        log "  hyperfine failed for $input; see $LOGS/$input.hyperfine.log"
        rm -f "$RESULTS/$input.json"
    fi
    # Peak memory: one more link of each, in a single process.
    for i in "${!names[@]}"; do
        name=${names[$i]}
        # shellcheck disable=SC2086 # the command was quoted with printf %q for hyperfine
        eval "set -- ${cmds[$i]}"
        if kib=$(python3 "$ROOT/bench/maxrss.py" "$@" $(single_process "$name")); then
            printf '%s\t%s\n' "$name" "$kib" >>"$rss"
        fi
    done
    rm -f "$odir"/*.timed
done

notes_file=$RESULTS/notes.txt
printf '%s\n' "${NOTES[@]+"${NOTES[@]}"}" >"$notes_file"
python3 "$ROOT/bench/report.py" "$RESULTS" "${INPUT_NAMES[@]}" | tee "$BENCH/report.md"
log "report written to target/bench/report.md"
