#!/usr/bin/env bash
# Builds the test unikernel the way Unikraft builds a KVM image:
#   1. every library's C and assembly files are compiled freestanding;
#   2. each library is partially linked (ld -r -d) into libX.ld.o, and
#      objcopy keeps only the symbols in its exportsyms.uk global: libX.o;
#   3. the libraries are linked with the platform script (-dT link64.lds) and
#      the libraries' INSERT fragments (-T libctors.ld -T libukdebug.ld) into
#      kernel.dbg, stripped into kernel, and converted to a 32-bit ELF
#      (kernel.elf32) because QEMU's multiboot loader refuses 64-bit ELFs.
#
# Usage: build.sh LINKER_DIR OUT_DIR
#   LINKER_DIR  empty: the system linker (ld.bfd); otherwise a directory
#               holding an `ld`, passed as -B LINKER_DIR/ to every gcc link
#   OUT_DIR     where objects and images go (created; old contents removed)
#
# Optional environment (unset or empty: the build above, unchanged):
#   EXTRA_CFLAGS_<lib>  more compiler flags for one library's files, e.g.
#                       EXTRA_CFLAGS_libukdebug=-DUKDEBUG_PRINT_RUNS (split at
#                       white space)
#   EXTRA_LDFLAGS       more flags for the final link only, before its -o,
#                       e.g. -Wl,--layout,FILE (split at white space)
#   APP, APP_LIBS       another application and the libraries it adds, e.g.
#                       APP=app2 APP_LIBS=libukcrc (a key-value table with CRC-32)
#
# Boot the result with:
#   qemu-system-x86_64 -nodefaults -display none -no-reboot -m 64 \
#     -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
#     -kernel OUT_DIR/kernel.elf32
# A successful run exits with status 85.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 LINKER_DIR OUT_DIR" >&2
    exit 2
fi
linker_dir=$1
out=$2
src=$(cd "$(dirname "$0")" && pwd)

CC=${CC:-gcc}
OBJCOPY=${OBJCOPY:-objcopy}
STRIP=${STRIP:-strip}

# Libraries in link order: the platform libraries, then the application's own
# libraries and the application (APP_LIBS and APP, below).
LIBS=(libplat libnolibc libukdebug libctors libukboot)
# shellcheck disable=SC2206
LIBS+=(${APP_LIBS:-} "${APP:-app}")
# Per-library extra compiler flags: a COMMON symbol in the application, and
# one section per function and object (as Unikraft's dead code elimination
# builds) in two libraries, so that .text.*, .rodata.*, .data.*, .bss.*,
# .tdata.* and .tbss.* input sections reach the final link.
declare -A LIB_CFLAGS=(
    [app]="-fcommon -ffunction-sections -fdata-sections"
    [libukdebug]="-ffunction-sections -fdata-sections"
)
# The libraries' linker script fragments, in the order Unikraft passes them.
FRAGMENTS=(libctors/libctors.ld libukdebug/libukdebug.ld)

COMPFLAGS=(
    -std=gnu11 -O2 -g -Wall -Wextra -Werror
    -ffreestanding -nostdlib -nostdinc -isystem "$("$CC" -print-file-name=include)"
    -U __linux__ -fno-pie -m64 -mno-red-zone -fno-asynchronous-unwind-tables
    -fno-reorder-blocks -fno-stack-protector
    -fcf-protection=none -fno-tree-sra -fno-split-stack
    -fno-tree-loop-distribute-patterns
    # No SSE in kernel code, as kernels are built; it also lets the kernel run on
    # KVM hosts that emulate a guest's kernel mode (PVM), whose emulator lacks SSE.
    -mgeneral-regs-only
)
for lib in "${LIBS[@]}"; do
    if [ -d "$src/$lib/include" ]; then
        COMPFLAGS+=(-I "$src/$lib/include")
    fi
done

LINKFLAGS=()
if [ -n "$linker_dir" ]; then
    LINKFLAGS+=(-B "${linker_dir%/}/")
fi
LIBLDFLAGS=(-nostdlib -Wl,-r -Wl,-d -Wl,--build-id=none -no-pie -nostdinc)
LDFLAGS=(-nostdlib -Wl,--build-id=none -nostdinc -no-pie
         -Wl,-m,elf_x86_64 -Wl,--entry=_multiboot_entry)

# Every link and objcopy command is printed in full (it is what a linker
# failure needs); compilations print one short line unless V=1.
run() {
    printf '+ %s\n' "$*" >&2
    "$@"
}
compile() {
    local what=$1
    shift
    if [ "${V:-0}" = 1 ]; then
        printf '+ %s\n' "$*" >&2
    else
        printf '  CC      %s\n' "$what" >&2
    fi
    "$@"
}

rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)

olibs=()
for lib in "${LIBS[@]}"; do
    mkdir -p "$out/$lib"
    objs=()
    for f in "$src/$lib"/*.c "$src/$lib"/*.S; do
        [ -e "$f" ] || continue
        base=$(basename "$f")
        obj="$out/$lib/${base%.*}.o"
        extra_cflags_var="EXTRA_CFLAGS_$lib"
        # shellcheck disable=SC2086
        compile "$lib/$base" "$CC" "${COMPFLAGS[@]}" ${LIB_CFLAGS[$lib]:-} \
            ${!extra_cflags_var:-} -I "$src/$lib" -c "$f" -o "$obj"
        objs+=("$obj")
    done
    run "$CC" "${LINKFLAGS[@]}" "${LIBLDFLAGS[@]}" "${objs[@]}" \
        -Wl,--start-group -Wl,--end-group -o "$out/$lib.ld.o"
    run "$OBJCOPY" --keep-global-symbols="$src/$lib/exportsyms.uk" \
        "$out/$lib.ld.o" "$out/$lib.o"
    olibs+=("$out/$lib.o")
done

scripts=(-Wl,-dT,"$src/link64.lds")
for frag in "${FRAGMENTS[@]}"; do
    scripts+=(-Wl,-T,"$src/$frag")
done

# shellcheck disable=SC2086
run "$CC" "${LINKFLAGS[@]}" "${LDFLAGS[@]}" "${olibs[@]}" \
    -Wl,--start-group -Wl,--end-group "${scripts[@]}" ${EXTRA_LDFLAGS:-} \
    -o "$out/kernel.dbg"
run "$STRIP" -s "$out/kernel.dbg" -o "$out/kernel"
run "$OBJCOPY" -O elf32-i386 "$out/kernel" "$out/kernel.elf32"
echo "built $out/kernel.elf32" >&2
