/* I-BERT normalization unit (ibert config): LAYERNORM and SOFTMAX through loop_ws, LAYERNORM
 * with block statistics mvouts (multi-block rule), and IGELU on a plain accumulator read,
 * all against the algorithm definitions of gemmini-isa.md §4. */
#include "gtest.h"

#ifndef HAS_NORMALIZATIONS
int main(void) { printf("norm: SKIP (config has no normalization unit)\n"); return 0; }
#else
#define M 20
#define N 40
#define KK 32
#define TI ((M + DIM - 1) / DIM)
#define TJ ((N + DIM - 1) / DIM)
#define TK ((KK + DIM - 1) / DIM)
static elem_t A[M][KK], B[KK][N], C8[M][N];
static acc_t X[M][N];
static int32_t w32(int64_t v) { return (int32_t)(uint32_t)(uint64_t)v; }

static int32_t ref_isqrt(int32_t v) {
  if (v <= 0) return 0;
  int64_t r = 0;
  while ((r + 1) * (r + 1) <= v) r++;
  return (int32_t)r;
}
static int32_t ref_iexp(int32_t q, int32_t qb, int32_t qc, int32_t qln2, int32_t qln2_inv) {
  int32_t z = w32((int64_t)w32(-(int64_t)q) * qln2_inv) >> 16;
  int32_t qp = w32((int64_t)q + w32((int64_t)z * qln2));
  int32_t t = w32((int64_t)qp + qb);
  int32_t e = w32((int64_t)w32((int64_t)t * t) + qc);
  if ((uint32_t)z & 0xFFE0u) return 0; /* silicon: z saturates to 32 */
  return (int32_t)((uint32_t)e >> (z & 31));
}
static int32_t ref_igelu(int32_t q, int32_t qb, int32_t qc) {
  int32_t sign = q < 0 ? -1 : 1;
  int64_t aq = q < 0 ? -(int64_t)q : q;
  int32_t a = (int32_t)(aq < -(int64_t)qb ? aq : -(int64_t)qb);
  int32_t t = w32((int64_t)a + qb);
  int32_t poly = w32((int64_t)w32((int64_t)t * t) + qc);
  return w32((int64_t)q * w32((int64_t)w32((int64_t)sign * poly) + qc));
}
static void ref_layernorm_row(const acc_t* x, int n, float S, int8_t* out) {
  int32_t sum = 0;
  for (int j = 0; j < n; j++) sum = w32((int64_t)sum + x[j]);
  int32_t mean = sum / n;
  int32_t vs = 0;
  for (int j = 0; j < n; j++) { int32_t d = w32((int64_t)x[j] - mean); vs = w32((int64_t)vs + w32((int64_t)d * d)); }
  int32_t sd = ref_isqrt(vs / n);
  if (sd == 0) sd = 1;
  /* RTL read-out: ACC_SCALE(x - mean, fl32(fl32(1/sd) * S)) */
  const float f = (1.0f / (float)sd) * S;
  for (int j = 0; j < n; j++) out[j] = ref_acc_scale(w32((int64_t)x[j] - mean), f);
}

static void matmul_ref(void) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      int32_t s = 0;
      for (int k = 0; k < KK; k++) s += A[i][k] * B[k][j];
      X[i][j] = s;
    }
}
static void setup_matmul(int act, float scale) {
  gemmini_extended3_config_ex(WEIGHT_STATIONARY, act & 3, 0, ACC_SCALE_IDENTITY, 1, 1, false, false, false);
  gemmini_extended_config_st(N, act & 3, scale);
  gemmini_extended3_config_ld(KK, 1.0f, false, 0);
  gemmini_extended3_config_ld(N, 1.0f, false, 1);
}

int main(void) {
  uint32_t seed = 11;
  gemmini_flush(0);
  /* --- LAYERNORM through loop_ws (§4.5 pass sequence inside the loop) */
  for (int i = 0; i < M; i++) for (int k = 0; k < KK; k++) A[i][k] = rnd8(&seed, -60, 60);
  for (int k = 0; k < KK; k++) for (int j = 0; j < N; j++) B[k][j] = rnd8(&seed, -60, 60);
  matmul_ref();
  const float ln_scale = 12.5f;
  setup_matmul(LAYERNORM, ln_scale);
  gemmini_loop_ws(TI, TJ, TK, TI * DIM - M, TJ * DIM - N, TK * DIM - KK, A, B, NULL, C8, KK, N, 0, N, false, false,
                  false, false, false, LAYERNORM, 0, 0, false);
  gemmini_fence();
  for (int i = 0; i < M; i++) {
    int8_t want[N];
    ref_layernorm_row(X[i], N, ln_scale, want);
    for (int j = 0; j < N; j++) CHECK_EQ(C8[i][j], want[j], "layernorm loop_ws (%d,%d) x=%ld", i, j, (long)X[i][j]);
  }

  /* --- LAYERNORM by hand: one block mvout per pass (multi-block rule), sp_tiled_norm style */
  {
    gemmini_extended3_config_ld(N * 4, 1.0f, false, 0);
    for (int c0 = 0; c0 < N; c0 += DIM)
      gemmini_extended_mvin(&X[0][c0], GEMMINI_ACC_ADDR | (c0 / DIM) * DIM, (N - c0 < DIM ? N - c0 : DIM), DIM);
    gemmini_extended_config_st(N, LAYERNORM, ln_scale);
    static const int codes[3] = {NORM_MEAN, NORM_INV_STDDEV, NORM_RESET};
    for (int r = 0; r < 3; r++) {
      for (int pass = 0; pass < 3; pass++) {
        gemmini_config_norm(0, 0, 1, 0, 0, 0, 0); /* stat id 0 only */
        gemmini_extended_mvout(C8[r], GEMMINI_ACC_ACCUMULATE | GEMMINI_NORM_CMD(codes[pass]) | r, N, 1);
      }
    }
    gemmini_fence();
    for (int r = 0; r < 3; r++) {
      int8_t want[N];
      ref_layernorm_row(X[r], N, ln_scale, want);
      for (int j = 0; j < N; j++) CHECK_EQ(C8[r][j], want[j], "layernorm block mvout (%d,%d)", r, j);
    }
  }

  /* --- SOFTMAX through loop_ws, constants of §4.6 with S = 0.05 */
  {
    for (int i = 0; i < M; i++) for (int k = 0; k < KK; k++) A[i][k] = rnd8(&seed, -3, 3);
    for (int k = 0; k < KK; k++) for (int j = 0; j < N; j++) B[k][j] = rnd8(&seed, -3, 3);
    matmul_ref();
    const float S = 0.05f;
    const int32_t qln2 = (int32_t)(0.693147f / S), qln2_inv = 65536 / qln2;
    const int32_t qb = (int32_t)(1.353f / S), qc = (int32_t)(0.344f / (0.3585f * S * S));
    setup_matmul(SOFTMAX, 1.0f);
    gemmini_config_norm(qln2, 0, 0, 1, 0, qb, qc);
    gemmini_config_norm(qln2_inv, 1, 0, 1, 0, qb, qc);
    gemmini_loop_ws(TI, TJ, TK, TI * DIM - M, TJ * DIM - N, 0, A, B, NULL, C8, KK, N, 0, N, false, false, false, false,
                    false, SOFTMAX, 0, 0, false);
    gemmini_fence();
    for (int i = 0; i < M; i++) {
      int32_t mx = X[i][0];
      for (int j = 1; j < N; j++) if (X[i][j] > mx) mx = X[i][j];
      int32_t sum = 0;
      for (int j = 0; j < N; j++) sum = w32((int64_t)sum + ref_iexp(X[i][j] - mx, qb, qc, qln2, qln2_inv));
      float inv = 127.0f / (float)sum;
      for (int j = 0; j < N; j++)
        CHECK_EQ(C8[i][j], ref_acc_scale(ref_iexp(X[i][j] - mx, qb, qc, qln2, qln2_inv), inv * 1.0f), "softmax (%d,%d)", i, j);
    }
  }

  /* --- IGELU on a plain accumulator read, constants of §4.6 with S = 0.05 */
  {
    const float S = 0.05f;
    const float s_erf = -0.2888f * (S * S / 2);
    const int32_t qb = (int32_t)(-1.769f / (S / 1.41421356f)), qc = (int32_t)(1.0f / s_erf);
    const float out_scale = -1.0f / 20000;
    static acc_t xs[DIM][DIM];
    static elem_t o[DIM][DIM];
    for (int i = 0; i < DIM; i++) for (int j = 0; j < DIM; j++) xs[i][j] = (acc_t)((int)(lcg(&seed) % 601) - 300);
    gemmini_extended3_config_ld(DIM * 4, 1.0f, false, 2);
    gemmini_mvin3(xs, GEMMINI_ACC_ADDR | 200);
    gemmini_extended_config_st(DIM, IGELU, out_scale);
    gemmini_config_norm(0, 0, 0, 0, 0, qb, qc);
    gemmini_mvout(o, GEMMINI_ACC_ADDR | 200);
    gemmini_fence();
    for (int i = 0; i < DIM; i++)
      for (int j = 0; j < DIM; j++) CHECK_EQ(o[i][j], ref_acc_scale(ref_igelu(xs[i][j], qb, qc), out_scale), "igelu x=%ld", (long)xs[i][j]);
  }
  DONE("norm");
}
#endif
