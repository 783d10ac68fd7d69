/* Reads tensors from the host, sends them back unchanged and transformed, plus a tensor the
 * guest generates itself, so the host can check both directions bit for bit. */
#include <stdio.h>
#include <stdlib.h>
#include "l2g_rt.h"

int main(void) {
  int64_t a_shape[2] = {A_ROWS, A_COLS};
  int64_t f_shape[1] = {F_LEN};
  int8_t *a = malloc(A_ROWS * A_COLS);
  float *f = malloc(sizeof(float) * F_LEN);
  if (!a || !f) { printf("out of memory\n"); return 2; }
  l2g_input_tensor("a", L2G_INT8, 2, a_shape, a);
  l2g_input_tensor("f", L2G_FLOAT32, 1, f_shape, f);
  if (l2g_output_tensor("a_echo", L2G_INT8, 2, a_shape, a)) return 3;

  for (long i = 0; i < F_LEN; i++) f[i] = f[i] * 2.0f + 1.0f;
  if (l2g_output_tensor("f_affine", L2G_FLOAT32, 1, f_shape, f)) return 3;

  /* xorshift64 stream the host recomputes */
  int64_t g_shape[1] = {G_LEN};
  uint64_t *g = malloc(8 * G_LEN), x = 0x9E3779B97F4A7C15ull;
  for (long i = 0; i < G_LEN; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; g[i] = x; }
  if (l2g_output_tensor("xorshift", L2G_INT64, 1, g_shape, g)) return 3;
  printf("sent %d tensors\n", 3);
  return 0;
}
