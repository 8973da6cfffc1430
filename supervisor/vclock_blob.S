/* The virtual clock's fast path, copied into each target's vDSO (see
 * vdso.c).  Never executed in the supervisor: it is data to us.
 *
 * Position independent: it reaches only its own slot (page_ptr, written by
 * the supervisor through /proc/PID/mem) and the clock page that slot points
 * to, an anonymous RW page the target maps on its first clock read and
 * registers with a trapped call.  Layout of the clock page (vdso.h):
 *     0: int64  monotonic ns      8: int64  realtime ns
 *    16: uint32 reads since the supervisor last wrote the page
 *    20: uint32 limit: reads served before the next one traps
 * Every read past the limit, every clock it does not serve (CPU clocks,
 * bad ids) and every NULL pointer takes the real, trapped syscall. */

#define NR_mmap 9
#define NR_gettimeofday 96
#define NR_time 201
#define NR_clock_gettime 228
/* Clock ids 0..11 served from the page. */
#define REAL_CLOCKS 0x921 /* REALTIME, REALTIME_COARSE, REALTIME_ALARM, TAI */
#define MONO_CLOCKS 0x2d2 /* MONOTONIC, _RAW, _COARSE, BOOTTIME, BOOTTIME_ALARM */

    .section .rodata
    .p2align 6
    .globl vclock_blob_start, vclock_blob_end
    .globl vclock_blob_clock_gettime, vclock_blob_gettimeofday, vclock_blob_time
    .globl vclock_blob_reg_clock_gettime, vclock_blob_reg_gettimeofday, vclock_blob_reg_time
vclock_blob_start:
page_ptr:
    .quad 0

/* rax = clock page, or 0 if it cannot be mapped; keeps rdi and rsi. */
map_page:
    push %rdi
    push %rsi
    xor %edi, %edi
    mov $4096, %esi
    mov $3, %edx            /* PROT_READ | PROT_WRITE */
    mov $0x22, %r10d        /* MAP_PRIVATE | MAP_ANONYMOUS */
    mov $-1, %r8
    xor %r9d, %r9d
    mov $NR_mmap, %eax
    syscall
    cmp $-4096, %rax
    jbe 1f
    xor %eax, %eax
1:  pop %rsi
    pop %rdi
    ret

/* ZF clear and r8 = page when a read may be served, else ZF set. */
take_read:
    mov page_ptr(%rip), %r8
    test %r8, %r8
    jz 1f
    mov 16(%r8), %ecx
    cmp 20(%r8), %ecx
    jae 2f
    inc %ecx
    mov %ecx, 16(%r8)
    ret                     /* ZF clear: inc of a value below a uint32 */
2:  xor %ecx, %ecx          /* sets ZF */
1:  ret

/* int clock_gettime(clockid_t id, struct timespec *ts) */
vclock_blob_clock_gettime:
    cmpq $0, page_ptr(%rip)
    je 8f
    test %rsi, %rsi
    jz 9f
    mov %edi, %ecx
    cmp $11, %ecx
    ja 9f
    mov $REAL_CLOCKS, %eax
    bt %ecx, %eax
    jc 1f
    mov $MONO_CLOCKS, %eax
    bt %ecx, %eax
    jnc 9f
    call take_read
    jz 9f
    mov 0(%r8), %rax
    jmp 2f
1:  call take_read
    jz 9f
    mov 8(%r8), %rax
2:  test %rax, %rax
    js 9f
    xor %edx, %edx
    mov $1000000000, %ecx
    div %rcx
    mov %rax, 0(%rsi)
    mov %rdx, 8(%rsi)
    xor %eax, %eax
    ret
8:  call map_page
    mov %rax, %r9
    mov $NR_clock_gettime, %eax
    syscall
vclock_blob_reg_clock_gettime:
    ret
9:  mov $NR_clock_gettime, %eax
    syscall
    ret

/* int gettimeofday(struct timeval *tv, struct timezone *tz) */
vclock_blob_gettimeofday:
    cmpq $0, page_ptr(%rip)
    je 8f
    test %rdi, %rdi
    jz 9f
    test %rsi, %rsi
    jnz 9f
    call take_read
    jz 9f
    mov 8(%r8), %rax
    test %rax, %rax
    js 9f
    xor %edx, %edx
    mov $1000000000, %ecx
    div %rcx
    mov %rax, 0(%rdi)
    mov %rdx, %rax
    xor %edx, %edx
    mov $1000, %ecx
    div %rcx
    mov %rax, 8(%rdi)
    xor %eax, %eax
    ret
8:  call map_page
    mov %rax, %r9
    mov $NR_gettimeofday, %eax
    syscall
vclock_blob_reg_gettimeofday:
    ret
9:  mov $NR_gettimeofday, %eax
    syscall
    ret

/* time_t time(time_t *t) */
vclock_blob_time:
    cmpq $0, page_ptr(%rip)
    je 8f
    call take_read
    jz 9f
    mov 8(%r8), %rax
    test %rax, %rax
    js 9f
    xor %edx, %edx
    mov $1000000000, %ecx
    div %rcx
    test %rdi, %rdi
    jz 1f
    mov %rax, 0(%rdi)
1:  ret
8:  call map_page
    mov %rax, %r9
    mov $NR_time, %eax
    syscall
vclock_blob_reg_time:
    ret
9:  mov $NR_time, %eax
    syscall
    ret
vclock_blob_end:

    .section .note.GNU-stack, "", @progbits
