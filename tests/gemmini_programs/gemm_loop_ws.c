/* Square-ish int8 GEMM C = sat8(A·B) through loop_ws, tiled to fit half the scratchpad
 * and accumulator (like tiled_matmul_auto's WS path).  Spot-checks SPOT entries against a
 * CPU dot product (a full CPU reference at 512^3 would dominate the simulation time), or
 * every entry when FULL_CHECK=1.  Sizes: -DM=.. -DN=.. -DK=.. (elements, multiples of DIM
 * not required). */
#include <stdio.h>
#include <stdlib.h>
#include "gemmini_isa.h"

#ifndef M
#define M 512
#endif
#ifndef N
#define N M
#endif
#ifndef K
#define K M
#endif
#ifndef FULL_CHECK
#define FULL_CHECK 0
#endif
#ifndef TILE_I
#define TILE_I 4
#endif
#ifndef TILE_J
#define TILE_J 8
#endif
#ifndef TILE_K
#define TILE_K 32
#endif

static elem_t A[M][K], B[K][N], C[M][N];

static int ref(int i, int j) {
  int s = 0;
  for (int k = 0; k < K; k++) s += A[i][k] * B[k][j];
  return s > 127 ? 127 : s < -128 ? -128 : s;
}

int main(void) {
  for (int i = 0; i < M; i++)
    for (int k = 0; k < K; k++) A[i][k] = (elem_t)(((i * 7 + k * 3) & 7) - 4);
  for (int k = 0; k < K; k++)
    for (int j = 0; j < N; j++) B[k][j] = (elem_t)(((k * 5 + j * 11) % 5) - 2);

  const int tI = (M + DIM - 1) / DIM, tJ = (N + DIM - 1) / DIM, tK = (K + DIM - 1) / DIM;
  const int padI = tI * DIM - M, padJ = tJ * DIM - N, padK = tK * DIM - K;
  l2g_counter_configure_cycles(0);
  gemmini_flush(0);
  gemmini_extended3_config_ex(WEIGHT_STATIONARY, 0, 0, ACC_SCALE_IDENTITY, 1, 1, false, false, false);
  gemmini_extended_config_st(N * sizeof(elem_t), NO_ACTIVATION, 1.0f);
  gemmini_extended3_config_ld(K * sizeof(elem_t), MVIN_SCALE_IDENTITY, false, 0);
  gemmini_extended3_config_ld(N * sizeof(elem_t), MVIN_SCALE_IDENTITY, false, 1);
#ifndef SKIP_GEMMINI  /* -DSKIP_GEMMINI: same program without the GEMM, to time Spike alone */
  for (int i0 = 0; i0 < tI; i0 += TILE_I)
    for (int j0 = 0; j0 < tJ; j0 += TILE_J)
      for (int k0 = 0; k0 < tK; k0 += TILE_K) {
        const int I = tI - i0 < TILE_I ? tI - i0 : TILE_I;
        const int J = tJ - j0 < TILE_J ? tJ - j0 : TILE_J;
        const int Kt = tK - k0 < TILE_K ? tK - k0 : TILE_K;
        const bool last_i = i0 + I == tI, last_j = j0 + J == tJ, last_k = k0 + Kt == tK;
        gemmini_loop_ws(I, J, Kt, last_i ? padI : 0, last_j ? padJ : 0, last_k ? padK : 0,
                        &A[i0 * DIM][k0 * DIM], &B[k0 * DIM][j0 * DIM], NULL,
                        last_k ? &C[i0 * DIM][j0 * DIM] : NULL, K, N, 0, N, false, false, false, false,
                        k0 > 0, NO_ACTIVATION, 0, 0, false);
      }
#endif
  gemmini_fence();
  unsigned cycles = counter_read(0);
#ifdef SKIP_GEMMINI
  printf("gemm skipped: PASS\n");
  return 0;
#endif

  int bad = 0, checked = 0;
  unsigned seed = 12345;
  for (int t = 0; t < (FULL_CHECK ? M * N : 64); t++) {
    int i, j;
    if (FULL_CHECK) { i = t / N; j = t % N; }
    else { seed = seed * 1103515245u + 12345u; i = (seed >> 8) % M; seed = seed * 1103515245u + 12345u; j = (seed >> 8) % N; }
    if (t < 4 && !FULL_CHECK) { i = t & 1 ? M - 1 : 0; j = t & 2 ? N - 1 : 0; }
    checked++;
    if (C[i][j] != ref(i, j)) { if (bad < 5) printf("C[%d][%d]=%d want %d\n", i, j, C[i][j], ref(i, j)); bad++; }
  }
  printf("gemm %dx%dx%d: %s (%d/%d mismatches), gemmini region cycles=%u\n", M, N, K, bad ? "FAIL" : "PASS", bad,
         checked, cycles);
  return bad != 0;
}
