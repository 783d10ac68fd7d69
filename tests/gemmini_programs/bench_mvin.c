/* Microbenchmark: NTILES DIM x DIM mvins (row pitch PITCH bytes) into the scratchpad, then
 * a fence; reports the model clock for the region (counter event 63). */
#include "gtest.h"
#ifndef NTILES
#define NTILES 256
#endif
#ifndef PITCH
#define PITCH DIM
#endif
static elem_t buf[NTILES * DIM * PITCH];
int main(void) {
  gemmini_flush(0);
  gemmini_config_ld(PITCH);
  l2g_counter_configure_cycles(0);
  gemmini_fence();
  uint32_t t0 = counter_read(0);
  for (int t = 0; t < NTILES; t++) gemmini_mvin(&buf[t * DIM * PITCH], (t * DIM) % (BANK_NUM * BANK_ROWS));
  gemmini_fence();
  uint32_t t1 = counter_read(0);
  printf("bench_mvin: PASS cycles=%u bytes=%u\n", t1 - t0, (unsigned)(NTILES * DIM * DIM));
  return 0;
}
