/* Each CASE misuses Gemmini once; the extension must stop the run with a one-line error
 * (exit status 3) or, for an unknown funct, an illegal-instruction trap. */
#include "gtest.h"

static elem_t buf[64][64];

int main(void) {
  gemmini_flush(0);
  gemmini_config_ex(WEIGHT_STATIONARY, 0, 0);
  gemmini_config_ld(DIM);
  gemmini_config_st(DIM);
  printf("before misuse\n");
#if CASE == 1
  gemmini_extended_mvin(buf, 0, DIM, DIM + 1);
#elif CASE == 2
  ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, 0, 0, 50);
#elif CASE == 3
  gemmini_config_norm(0, 0, 0, 0, 0, 0, 0);
#elif CASE == 4
  gemmini_mvin(buf, BANK_NUM * BANK_ROWS - 4);
#elif CASE == 5
  gemmini_extended_config_ex(OUTPUT_STATIONARY, 0, 0, 1, false, true);
#elif CASE == 6
  gemmini_compute_preloaded(0, GARBAGE_ADDR);
#elif CASE == 7
  gemmini_mvout(buf, GARBAGE_ADDR);
#elif CASE == 8
  gemmini_loop_ws(16, 16, 16, 0, 0, 0, buf, buf, NULL, buf, 64, 64, 0, 64, false, false, false, false, false, 0, 0, 0, false);
#elif CASE == 9
  gemmini_mvout(buf, GEMMINI_ACC_ADDR | (ACC_ROWS - 4));
#elif CASE == 10
  ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, (3 << 3) | CONFIG_LD, DIM, k_CONFIG);
#elif CASE == 11
  gemmini_extended5_config_ld(64, MVIN_SCALE_IDENTITY, false, DIM, 2, 0);
  gemmini_loop_ws(1, 1, 1, 0, 0, 0, buf, buf, NULL, buf, 64, 64, 0, 64, false, false, false, false, false, 0, 0, 0, false);
#elif CASE == 12
  gemmini_extended_config_st(DIM, LAYERNORM, 1.0f);
#elif CASE == 13
  gemmini_extended_mvin(buf, 0, 4 * DIM + 1, 1);
#endif
  gemmini_fence();
  printf("after misuse (should not be reached)\n");
  return 0;
}
