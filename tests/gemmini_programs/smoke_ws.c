/* Minimal WS matmul (gemmini-isa.md §3.10): C = A·B, int8 and full-width results. */
#include <stdio.h>
#include "gemmini_isa.h"

static elem_t A[DIM][DIM], B[DIM][DIM], C[DIM][DIM];
static acc_t Cf[DIM][DIM];

int main(void) {
  for (int i = 0; i < DIM; i++)
    for (int j = 0; j < DIM; j++) { A[i][j] = (i * 3 + j) % 7 - 3; B[i][j] = (i + 2 * j) % 5 - 2; }
  gemmini_flush(0);
  gemmini_config_ex(WEIGHT_STATIONARY, 0, 0);
  gemmini_extended3_config_ld(DIM, MVIN_SCALE_IDENTITY, false, 0);
  gemmini_extended3_config_ld(DIM, MVIN_SCALE_IDENTITY, false, 1);
  gemmini_config_st(DIM);
  gemmini_mvin(A, 0);
  gemmini_mvin2(B, DIM);
  gemmini_preload(DIM, GEMMINI_ACC_ADDR);
  gemmini_compute_preloaded(0, GARBAGE_ADDR);
  gemmini_mvout(C, GEMMINI_ACC_ADDR);
  gemmini_config_st(DIM * sizeof(acc_t));
  gemmini_mvout(Cf, GEMMINI_ACC_ADDR | GEMMINI_ACC_FULL);
  gemmini_fence();
  int bad = 0;
  for (int i = 0; i < DIM; i++)
    for (int j = 0; j < DIM; j++) {
      int s = 0;
      for (int k = 0; k < DIM; k++) s += A[i][k] * B[k][j];
      int e8 = s > 127 ? 127 : s < -128 ? -128 : s;
      if (C[i][j] != e8 || Cf[i][j] != s) bad++;
    }
  printf("smoke_ws: %s (%d mismatches)\n", bad ? "FAIL" : "PASS", bad);
  return bad != 0;
}
