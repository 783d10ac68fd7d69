/* loop_ws against a CPU reference: padding in all dimensions, acc_t and int8 (low_D,
 * repeating) biases, full-width C, transposed A or B, K split across calls with
 * ex_accumulate, mvin scales, RELU + read-out scale, and resadd mode. */
#include "gtest.h"

#define M 40
#define N 56
#define KK 72
#define TI ((M + DIM - 1) / DIM)
#define TJ ((N + DIM - 1) / DIM)
#define TK ((KK + DIM - 1) / DIM)
#define PADI (TI * DIM - M)
#define PADJ (TJ * DIM - N)
#define PADK (TK * DIM - KK)

static elem_t A[M][KK], At[KK][M], B[KK][N], Bt[N][KK], D8[N], C8[M][N], R1[M][N], R2[M][N];
static acc_t D32[M][N], C32[M][N];

typedef struct {
  int a_tr, b_tr, full_c, low_d, repeat_bias, has_bias, act;
  float sa, sb, sd, scale;
} Case;

static long ref_acc(const Case* c, int i, int j) {
  long s = 0;
  for (int k = 0; k < KK; k++)
    s += ref_mvin_scale(A[i][k], c->sa) * ref_mvin_scale(B[k][j], c->sb);
  if (c->has_bias) s += c->low_d ? ref_mvin_scale(D8[j], c->sd) : (c->repeat_bias ? D32[0][j] : D32[i][j]);
  return s;
}

static void run_case(const Case* c, const char* name) {
  const size_t csize = c->full_c ? 4 : 1;
  gemmini_extended3_config_ex(WEIGHT_STATIONARY, 0, 0, ACC_SCALE_IDENTITY, 1, 1, c->a_tr, c->b_tr, false);
  gemmini_extended_config_st(N * csize, c->act, c->scale);
  gemmini_extended3_config_ld((c->a_tr ? M : KK), c->sa, false, 0);
  gemmini_extended3_config_ld((c->b_tr ? KK : N), c->sb, false, 1);
  gemmini_extended3_config_ld(c->repeat_bias ? 0 : N * (c->low_d ? 1 : 4), c->sd, c->low_d, 2);
  const void* Ap = c->a_tr ? (void*)At : (void*)A;
  const void* Bp = c->b_tr ? (void*)Bt : (void*)B;
  const void* Dp = !c->has_bias ? NULL : c->low_d ? (void*)D8 : (void*)D32;
  void* Cp = c->full_c ? (void*)C32 : (void*)C8;
  memset(C32, 0x5a, sizeof C32);
  memset(C8, 0x5a, sizeof C8);
  gemmini_loop_ws(TI, TJ, TK, PADI, PADJ, PADK, Ap, Bp, Dp, Cp, c->a_tr ? M : KK, c->b_tr ? KK : N,
                  c->repeat_bias ? 0 : N, N, c->a_tr, c->b_tr, c->full_c, c->low_d, c->has_bias, c->act, 0, 0, false);
  gemmini_fence();
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      long s = ref_acc(c, i, j);
      if (c->full_c) CHECK_EQ(C32[i][j], (int32_t)s, "%s (%d,%d)", name, i, j);
      else {
        long x = (c->act == RELU && s < 0) ? 0 : s;
        CHECK_EQ(C8[i][j], ref_acc_scale((int32_t)x, c->scale), "%s (%d,%d)", name, i, j);
      }
    }
}

int main(void) {
  uint32_t seed = 5;
  for (int i = 0; i < M; i++) for (int k = 0; k < KK; k++) At[k][i] = A[i][k] = rnd8(&seed, -128, 127);
  for (int k = 0; k < KK; k++) for (int j = 0; j < N; j++) Bt[j][k] = B[k][j] = rnd8(&seed, -128, 127);
  for (int i = 0; i < M; i++) for (int j = 0; j < N; j++) D32[i][j] = (acc_t)(lcg(&seed) % 200001) - 100000;
  for (int j = 0; j < N; j++) D8[j] = rnd8(&seed, -128, 127);
  gemmini_flush(0);

  Case c1 = {0, 0, 0, 0, 0, 1, RELU, 1.0f, 1.0f, 1.0f, 0.0025f};
  run_case(&c1, "bias relu scale");
  Case c2 = {0, 0, 1, 1, 1, 1, NO_ACTIVATION, 1.0f, 1.0f, 2.0f, 1.0f};
  run_case(&c2, "low_D repeating bias, full C");
  Case c3 = {1, 0, 1, 0, 0, 0, NO_ACTIVATION, 1.0f, 1.0f, 1.0f, 1.0f};
  run_case(&c3, "A transposed");
  Case c4 = {0, 1, 1, 0, 1, 1, NO_ACTIVATION, 1.0f, 1.0f, 1.0f, 1.0f};
  run_case(&c4, "B transposed, repeating acc bias");
  Case c5 = {0, 0, 0, 0, 0, 0, NO_ACTIVATION, 0.5f, -1.5f, 1.0f, 1.0f / 64};
  run_case(&c5, "mvin scales");

  /* K split over two loop_ws calls: partial sums stay in the accumulator */
  {
    Case c = {0, 0, 1, 0, 0, 0, NO_ACTIVATION, 1.0f, 1.0f, 1.0f, 1.0f};
    gemmini_extended3_config_ex(WEIGHT_STATIONARY, 0, 0, ACC_SCALE_IDENTITY, 1, 1, false, false, false);
    gemmini_extended_config_st(N * 4, NO_ACTIVATION, 1.0f);
    gemmini_extended3_config_ld(KK, 1.0f, false, 0);
    gemmini_extended3_config_ld(N, 1.0f, false, 1);
    memset(C32, 0, sizeof C32);
    const int k1 = TK / 2;
    gemmini_loop_ws(TI, TJ, k1, PADI, PADJ, 0, A, B, NULL, NULL, KK, N, 0, N, false, false, true, false, false, 0, 0, 0, false);
    gemmini_loop_ws(TI, TJ, TK - k1, PADI, PADJ, PADK, &A[0][k1 * DIM], &B[k1 * DIM][0], NULL, C32, KK, N, 0, N, false,
                    false, true, false, true, 0, 0, 0, false);
    gemmini_fence();
    for (int i = 0; i < M; i++) for (int j = 0; j < N; j++) CHECK_EQ(C32[i][j], (int32_t)ref_acc(&c, i, j), "K split (%d,%d)", i, j);
  }

  /* resadd: C = relu(ACC_SCALE(MVIN_SCALE(R1, 0.5) + MVIN_SCALE(R2, 2.0), 0.75)) */
  {
    for (int i = 0; i < M; i++) for (int j = 0; j < N; j++) { R1[i][j] = rnd8(&seed, -128, 127); R2[i][j] = rnd8(&seed, -128, 127); }
    gemmini_extended_config_st(N, RELU, 0.75f);
    gemmini_config_ex(WEIGHT_STATIONARY, 0, 0);
    gemmini_extended4_config_ld(N, 0.5f, true, DIM, 0);
    gemmini_extended4_config_ld(N, 2.0f, true, DIM, 1);
    gemmini_loop_ws(TI, TJ, 0, PADI, PADJ, 0, R1, R2, NULL, C8, N, N, 0, N, false, false, false, false, false, RELU, 0, 0, true);
    gemmini_fence();
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) {
        int32_t s = ref_mvin_scale(R1[i][j], 0.5f) + ref_mvin_scale(R2[i][j], 2.0f);
        CHECK_EQ(C8[i][j], ref_acc_scale(s < 0 ? 0 : s, 0.75f), "resadd (%d,%d)", i, j);
      }
  }
  DONE("loop_ws");
}
