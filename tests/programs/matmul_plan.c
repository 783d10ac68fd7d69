/* One planned matmul through l2g_matmul_ws: sizes and tiles come from -D defines (the
 * host's MatmulPlan), data from the host's input tensors. */
#include <stdio.h>
#include <stdlib.h>
#include "l2g_rt.h"
#include "l2g_gemmini_kernels.h"

#ifndef BIAS_STRIDE
#define BIAS_STRIDE 0 /* one bias row for every output row; MAT_N: a full bias matrix */
#endif
#define BIAS_ROWS (BIAS_STRIDE ? MAT_M : 1)
#ifndef B_TRANSPOSED
#define B_TRANSPOSED 0 /* 1: the host's B is stored MAT_N x MAT_K */
#endif

static elem_t A[MAT_M * MAT_K], B[MAT_K * MAT_N], C[MAT_M * MAT_N];
static acc_t bias[BIAS_ROWS * MAT_N];

int main(void) {
  int64_t sa[2] = {MAT_M, MAT_K}, sb[2] = {B_TRANSPOSED ? MAT_N : MAT_K, B_TRANSPOSED ? MAT_K : MAT_N}, sd[1] = {BIAS_ROWS * MAT_N}, sc[2] = {MAT_M, MAT_N};
  l2g_input_tensor("A", L2G_INT8, 2, sa, A);
  l2g_input_tensor("B", L2G_INT8, 2, sb, B);
  l2g_input_tensor("bias", L2G_INT32, 1, sd, bias);
  const l2g_matmul_plan_t plan = {MAT_M, MAT_K, MAT_N, TILE_I, TILE_J, TILE_K};
  gemmini_flush(0);
  l2g_counter_configure_cycles(7); /* the cycle model's clock */
  uint32_t t0 = counter_read(7);
  l2g_matmul_ws(&plan, A, MAT_K, B, B_TRANSPOSED ? MAT_K : MAT_N, B_TRANSPOSED, USE_BIAS ? bias : NULL, BIAS_STRIDE, C, MAT_N, SCALE, ACT, false);
  uint32_t t1 = counter_read(7);
  int64_t cycles = (int64_t)(uint32_t)(t1 - t0), one[1] = {1};
  l2g_output_tensor("cycles", L2G_INT64, 1, one, &cycles);
  l2g_output_tensor("C", L2G_INT8, 2, sc, C);
  return 0;
}
