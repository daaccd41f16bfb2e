#!/usr/bin/env bash
# What a host running unikernel VMs saves: N VMs of the test unikernel (testdata/unikernel/)
# run together in three combinations,
#   same     N x kernel A
#   update   N/2 x A + N/2 x B   (B: kvprintf of libukdebug grown, -DUKDEBUG_PRINT_RUNS)
#   apps     N/2 x A + N/2 x C   (C: another application, app2 with libukcrc)
#   lz4      N/2 x D + N/2 x E   (app3 on liblz4: lz4 1.9.3 in D, 1.9.4 in E, from crates.io)
# with the kernels linked by ld.bfd and by spacer (--layout, one layout file for them all).
#
# 1. Under QEMU with KVM and KSM (`-machine mem-merge=on`): once every guest has booted, KSM is
#    turned on until it has done three full scans; pages_sharing (host pages saved) and
#    pages_shared are read, then the VMs are stopped. KSM's settings are restored at the end.
# 2. Under `spacer vm --hold`, whose guests map the image pages from a page store: the PSS of
#    the store pages (Pss_Shmem of /proc/PID/smaps_rollup) and of the whole process, beside the
#    QEMU processes' PSS for the same fleet without KSM; no scan is needed.
# 3. Start-up: `spacer vm` against `qemu-system-x86_64 -enable-kvm` booting kernel A to its
#    exit (hyperfine).
#
#   bench/vm-fleet.sh [N]      (N even, default 8; needs root for KSM, /dev/kvm, qemu, hyperfine)
# The tables go to standard output and to target/bench/vm-fleet/report.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$HOME/.cargo/bin:$PATH"
N=${1:-8}
if [ $((N % 2)) -ne 0 ] || [ "$N" -lt 2 ]; then
    echo "usage: $0 [N]   (N even, at least 2)" >&2
    exit 2
fi
KSM=/sys/kernel/mm/ksm
for need in "$KSM/run" /dev/kvm; do
    if [ ! -w "$need" ]; then
        echo "$0: $need is not writable (run as root on a host with KVM and KSM)" >&2
        exit 1
    fi
done
command -v qemu-system-x86_64 >/dev/null || { echo "$0: qemu-system-x86_64 missing (scripts/setup.sh)" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "$0: hyperfine missing (scripts/setup.sh)" >&2; exit 1; }

cargo build --release -q
SPACER="$ROOT/target/release/spacer"
OUT="$ROOT/target/bench/vm-fleet"
rm -rf "$OUT" && mkdir -p "$OUT/bin"
ln -sf "$SPACER" "$OUT/bin/ld"
STORE=/dev/shm/spacer-vm-fleet-$$
REPORT="$OUT/report.md"

# KSM's settings as found, restored on exit whatever happens.
saved_run=$(cat $KSM/run)
saved_scan=$(cat $KSM/pages_to_scan)
saved_sleep=$(cat $KSM/sleep_millisecs)
pids=()
stop_vms() {
    if [ ${#pids[@]} -gt 0 ]; then
        kill "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    fi
    pids=()
}
cleanup() {
    stop_vms
    echo "$saved_scan" > $KSM/pages_to_scan
    echo "$saved_sleep" > $KSM/sleep_millisecs
    echo "$saved_run" > $KSM/run
    rm -rf "$STORE"
}
trap cleanup EXIT

# Kernels A, B and C, by each linker.
build() { # linker-dir|"" out-dir [VAR=value...]
    local ldir=$1 dir=$2
    shift 2
    env "$@" bash testdata/unikernel/build.sh "$ldir" "$dir" > "$dir.log" 2>&1 ||
        { echo "building $dir failed:" >&2; tail -20 "$dir.log" >&2; exit 1; }
}
grown=EXTRA_CFLAGS_libukdebug=-DUKDEBUG_PRINT_RUNS
app2=(APP=app2 APP_LIBS=libukcrc)
layout="EXTRA_LDFLAGS=-Wl,--layout,$OUT/fleet.layout"
build "" "$OUT/bfd-A"
build "" "$OUT/bfd-B" "$grown"
build "" "$OUT/bfd-C" "${app2[@]}"
build "$OUT/bin" "$OUT/spacer-A" "$layout"
build "$OUT/bin" "$OUT/spacer-B" "$layout" "$grown"
build "$OUT/bin" "$OUT/spacer-C" "$layout" "${app2[@]}"
# The lz4 releases of the layout corpus (built from crates.io sources, cached).
source "$ROOT/bench/corpus.sh"
lz4_app() { # version: build.sh variables for app3 on that lz4
    local src
    src=$(lookup lz4 "$1" 5)
    lz4=(APP=app3 APP_LIBS=liblz4 "EXTRA_CFLAGS_liblz4=-I$src -DLZ4_USER_MEMORY_FUNCTIONS"
        "EXTRA_CFLAGS_app3=-I$src")
}
lz4_app 1.9.3
build "" "$OUT/bfd-D" "${lz4[@]}"
build "$OUT/bin" "$OUT/spacer-D" "$layout" "${lz4[@]}"
lz4_app 1.9.4
build "" "$OUT/bfd-E" "${lz4[@]}"
build "$OUT/bin" "$OUT/spacer-E" "$layout" "${lz4[@]}"

kernels() { # linker combination: the N kernels' directories, one per line
    local l=$1 c=$2 k
    for ((k = 0; k < N; k++)); do
        case $c in
            same) echo "$OUT/$l-A" ;;
            update) if ((k < N / 2)); then echo "$OUT/$l-A"; else echo "$OUT/$l-B"; fi ;;
            apps) if ((k < N / 2)); then echo "$OUT/$l-A"; else echo "$OUT/$l-C"; fi ;;
            lz4) if ((k < N / 2)); then echo "$OUT/$l-D"; else echo "$OUT/$l-E"; fi ;;
        esac
    done
}

wait_for() { # seconds description command...: polls the command until it succeeds
    local secs=$1 what=$2
    shift 2
    local end=$((SECONDS + secs))
    until "$@"; do
        if [ $SECONDS -ge $end ]; then
            echo "$0: timed out waiting for $what" >&2
            exit 1
        fi
        sleep 0.2
    done
}
all_booted() { # serial files...: every guest printed its last line
    local f
    for f in "$@"; do grep -q "boot: exit status" "$f" 2>/dev/null || return 1; done
}
all_holding() { # stderr files...
    local f
    for f in "$@"; do grep -q "holding its memory" "$f" 2>/dev/null || return 1; done
}
scans_reached() { [ "$(cat $KSM/full_scans)" -ge "$1" ]; }

qemu_cmd() { # kernel-dir: a guest that halts when done (no exit device), so that it stays
    echo qemu-system-x86_64 -enable-kvm -machine pc,mem-merge=on -nodefaults -display none \
        -no-reboot -m 64 -serial "file:$2" -kernel "$1/kernel.elf32"
}

# KSM on the QEMU fleet: prints the table cells pages_sharing, pages_shared, saved KiB and
# the QEMU processes' PSS before KSM.
ksm_fleet() { # linker combination
    echo 0 > $KSM/run
    local serials=() k=0 d
    for d in $(kernels "$1" "$2"); do
        local s="$OUT/serial-$1-$2-$k.txt"
        serials+=("$s")
        # shellcheck disable=SC2046
        $(qemu_cmd "$d" "$s") 2>/dev/null &
        pids+=($!)
        k=$((k + 1))
    done
    wait_for 300 "the QEMU guests to boot" all_booted "${serials[@]}"
    local pss=0 p
    for p in "${pids[@]}"; do pss=$((pss + $(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup))); done
    local start
    start=$(cat $KSM/full_scans)
    echo 10000 > $KSM/pages_to_scan
    echo 10 > $KSM/sleep_millisecs
    echo 1 > $KSM/run
    wait_for 300 "three full KSM scans" scans_reached $((start + 3))
    local sharing
    sharing=$(cat $KSM/pages_sharing)
    echo "$sharing | $(cat $KSM/pages_shared) | $((sharing * 4)) | $pss"
    echo 0 > $KSM/run
    stop_vms
}

# spacer vm fleet: prints the table cells distinct store pages, PSS of the store pages and
# total PSS (KiB).
vm_fleet() { # linker combination
    rm -rf "$STORE"
    local errs=() k=0 d
    for d in $(kernels "$1" "$2"); do
        local e="$OUT/vm-$1-$2-$k.err"
        errs+=("$e")
        "$SPACER" vm --hold --store "$STORE" "$d/kernel" > "$OUT/vm-$1-$2-$k.txt" 2> "$e" &
        pids+=($!)
        k=$((k + 1))
    done
    wait_for 120 "the spacer vm guests to stop" all_holding "${errs[@]}"
    local shm=0 total=0 p
    for p in "${pids[@]}"; do
        shm=$((shm + $(awk '/^Pss_Shmem:/ {print $2}' /proc/$p/smaps_rollup)))
        total=$((total + $(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup)))
    done
    echo "$(find "$STORE" -type f | wc -l) | $shm | $total"
    stop_vms
    rm -rf "$STORE"
}

rows() { # measure: a table row for each combination and linker
    local c l
    for c in same update apps lz4; do
        for l in bfd spacer; do
            "$1" $l $c > "$OUT/result.txt"
            echo "| $c | $l | $(cat "$OUT/result.txt") |" | tee -a "$REPORT"
        done
    done
}

{
    echo "# Unikernel fleets: $N VMs per combination ($(date -u +%Y-%m-%d), $(nproc) cores)"
    echo
    echo "## KSM on QEMU/KVM guests (mem-merge=on, three full scans)"
    echo
    echo "| combination | linker | pages_sharing | pages_shared | saved (KiB) | QEMU PSS before KSM (KiB) |"
    echo "|---|---|---:|---:|---:|---:|"
} | tee "$REPORT"
rows ksm_fleet

{
    echo
    echo "## spacer vm: image pages mapped from the page store (no scan)"
    echo
    echo "| combination | linker | distinct store pages | PSS of store pages (KiB) | spacer vm PSS, all (KiB) |"
    echo "|---|---|---:|---:|---:|"
} | tee -a "$REPORT"
rows vm_fleet

{
    echo
    echo "## Start-up: boot of kernel A to its exit"
    echo
} | tee -a "$REPORT"
rm -rf "$STORE"
"$SPACER" vm --store "$STORE" "$OUT/spacer-A/kernel" > /dev/null || true
hyperfine -N -i --warmup 2 --runs 10 --export-markdown "$OUT/startup.md" \
    "$SPACER vm --store $STORE $OUT/spacer-A/kernel" \
    "qemu-system-x86_64 -enable-kvm -nodefaults -display none -no-reboot -m 64 -serial null -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel $OUT/spacer-A/kernel.elf32" \
    > "$OUT/hyperfine.txt"
cat "$OUT/startup.md" | tee -a "$REPORT"
