/* The normalization-unit kernels of l2g_gemmini_kernels.h on host-provided int32 rows (and
 * i-GELU on int8 rows too, the read-out of a requantizing matmul). */
#include <stdio.h>
#include "l2g_rt.h"
#include "l2g_gemmini_kernels.h"

static acc_t X[ROWS * COLS];
static elem_t X8[ROWS * COLS];
static elem_t SM[ROWS * COLS], LN[ROWS * COLS], GE[ROWS * COLS], GE8[ROWS * COLS];
static float ln_scale[(COLS + DIM - 1) / DIM];

int main(void) {
  int64_t sx[2] = {ROWS, COLS}, ss[1] = {(COLS + DIM - 1) / DIM};
  l2g_input_tensor("x", L2G_INT32, 2, sx, X);
  l2g_input_tensor("ln_scale", L2G_FLOAT32, 1, ss, ln_scale);
  l2g_input_tensor("x8", L2G_INT8, 2, sx, X8);
  gemmini_flush(0);
  l2g_softmax_unit(X, SM, ROWS, COLS, SM_QB, SM_QC, SM_QLN2, SM_QLN2_INV, 1.0f);
  l2g_layernorm_unit(X, LN, ROWS, COLS, ln_scale);
  l2g_igelu_unit(X, GE, ROWS, COLS, GE_QB, GE_QC, GE_SCALE);
  l2g_igelu_unit_i8(X8, GE8, ROWS, COLS, GE8_QB, GE8_QC, GE8_SCALE);
  l2g_output_tensor("softmax", L2G_INT8, 2, sx, SM);
  l2g_output_tensor("layernorm", L2G_INT8, 2, sx, LN);
  l2g_output_tensor("igelu", L2G_INT8, 2, sx, GE);
  l2g_output_tensor("igelu_i8", L2G_INT8, 2, sx, GE8);
  return 0;
}
