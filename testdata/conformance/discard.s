# Local symbols of every kind --discard-locals (-X) and --discard-all (-x) decide about:
# temporary labels (.L) in a merged string section, one of them named by a relocation, in
# plain data and in code, a file symbol, local functions and data, and a hidden global.
        .file "discard.s"
        .section .rodata.str1.1,"aMS",@progbits,1
.LC0:   .string "hi"
.Lmerge_unused:
        .string "x"
        .section .rodata
.Lplain: .quad 1
        .data
static_var:
        .quad .Lplain
        .text
        .globl _start
        .hidden hidden_fn
        .globl hidden_fn
_start: lea .LC0(%rip), %rax
        call local_fn
        call hidden_fn
        call helper
        mov %eax, %edi
        mov $60, %eax
        syscall
.Lin_text:
        nop
local_fn:
        ret
hidden_fn:
        ret
.L_unused_text_label:
        nop
