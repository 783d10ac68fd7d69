/* Microbenchmark: NSTEPS back-to-back WS preload+compute pairs on resident tiles (a new
 * weight tile every REUSE computes), no data movement in the timed region.  Operands are
 * precomputed so the CPU loop is a handful of instructions per pair. */
#include "gtest.h"
#ifndef NSTEPS
#define NSTEPS 1024
#endif
#ifndef REUSE
#define REUSE 4
#endif
static uint64_t pre_bd[NSTEPS], pre_c[NSTEPS], cmp_a[NSTEPS];
int main(void) {
  for (int s = 0; s < NSTEPS; s++) {
    const int fresh = s % REUSE == 0;
    pre_bd[s] = GEMMINI_OPERAND(fresh ? (uint32_t)((s / REUSE % 64) * DIM + 4096) : GARBAGE_ADDR, DIM, DIM);
    pre_c[s] = GEMMINI_OPERAND(GEMMINI_ACC_ADDR | ((s % 32) * DIM), DIM, DIM);
    cmp_a[s] = GEMMINI_OPERAND((s % 64) * DIM, DIM, DIM);
  }
  const uint64_t garbage = GEMMINI_OPERAND(GARBAGE_ADDR, DIM, DIM);
  gemmini_flush(0);
  gemmini_config_ex(WEIGHT_STATIONARY, 0, 0);
  l2g_counter_configure_cycles(0);
  gemmini_fence();
  uint32_t t0 = counter_read(0);
  for (int s = 0; s < NSTEPS; s += REUSE) {
    ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, pre_bd[s], pre_c[s], k_PRELOAD);
    ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, cmp_a[s], garbage, k_COMPUTE_PRELOADED);
    for (int r = 1; r < REUSE; r++) {
      ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, pre_bd[s + r], pre_c[s + r], k_PRELOAD);
      ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, cmp_a[s + r], garbage, k_COMPUTE_ACCUMULATE);
    }
  }
  gemmini_fence();
  uint32_t t1 = counter_read(0);
  printf("bench_compute: PASS cycles=%u macs=%lu\n", t1 - t0, (unsigned long)NSTEPS * DIM * DIM * DIM);
  return 0;
}
