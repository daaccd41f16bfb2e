# Three entry points, each exiting with its own status, so that which one a command line made
# the entry shows in the program's exit status.
        .text
        .globl _start
_start: mov $60, %eax
        xor %edi, %edi
        syscall

        .globl start
start:  mov $60, %eax
        mov $3, %edi
        syscall

        .globl foo
foo:    mov $60, %eax
        mov $5, %edi
        syscall

        .section .text.unused,"ax",@progbits
        .globl unused
unused: ret
