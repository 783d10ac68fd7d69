/* Start-up code for l2g bare-metal programs (machine mode, no proxy kernel). */
#include "l2g_rt_asm.h"

  .section .text.init, "ax"
  .globl _start
_start:
  .option push
  .option norelax
  la gp, __global_pointer$
  .option pop
  la sp, __stack_top
  la tp, __tls_base

  /* A fault must end the run with a report, never loop: install the trap vector first. */
  la t0, l2g_trap_entry
  csrw mtvec, t0

  /* FS (0x6000) enables the FPU, XS (0x18000) enables RoCC accelerators such as Gemmini;
     both must be set before the first FP or custom instruction. */
  li t0, 0x6000 | 0x18000
  csrs mstatus, t0
  csrwi fcsr, 0

  /* Clear .tbss and .bss (contiguous; see link.ld). */
  la t0, __tbss_start
  la t1, __bss_end
1:
  bgeu t0, t1, 2f
  sd zero, 0(t0)
  addi t0, t0, 8
  j 1b
2:
  call l2g_runtime_init
  li a0, 0
  li a1, 0
  call main
  call l2g_exit
3:
  j 3b

  /* Trap vector: hand the CSRs to C, which prints them and exits with L2G_EXIT_TRAP. */
  .align 4
  .globl l2g_trap_entry
l2g_trap_entry:
  la sp, __stack_top
  csrr a0, mcause
  csrr a1, mepc
  csrr a2, mtval
  call l2g_trap_handler
4:
  j 4b
