/* loop_conv_ws against a CPU convolution: NHWC input, [kh][kw][cin][cout] weights, zero
 * padding, stride 1 and 2, bias / no bias, RELU + scale, 2x2 max pooling (configs with
 * has_max_pool), and on configs with training convs the wrot180 flag and the downsampled
 * 1x1 stride-2 path.  The whole problem is one tile, with the arguments sp_tiled_conv
 * derives. */
#include "gtest.h"

#define BATCH 2
#define MAX_DIM 10
#define MAX_CH 20
#define OUT_CH 24
#define MAX_KD 3

static int IN_DIM = 9, KD = 3, PAD = 1, IN_CH = MAX_CH;
static elem_t in_buf[BATCH * MAX_DIM * MAX_DIM * MAX_CH];
static elem_t w_buf[MAX_KD * MAX_KD * MAX_CH * OUT_CH];
static acc_t bias[OUT_CH];
static elem_t out[BATCH][MAX_DIM][MAX_DIM][OUT_CH];
static elem_t ref[BATCH][MAX_DIM][MAX_DIM][OUT_CH];
#define IN(b, r, c, ch) in_buf[(((b) * IN_DIM + (r)) * IN_DIM + (c)) * IN_CH + (ch)]
#define W(kr, kc, ch, o) w_buf[(((kr) * KD + (kc)) * IN_CH + (ch)) * OUT_CH + (o)]

static void reference(int stride, int out_dim, int use_bias, int act, float scale, int wrot) {
  for (int b = 0; b < BATCH; b++)
    for (int orow = 0; orow < out_dim; orow++)
      for (int ocol = 0; ocol < out_dim; ocol++)
        for (int och = 0; och < OUT_CH; och++) {
          int32_t s = use_bias ? bias[och] : 0;
          for (int kr = 0; kr < KD; kr++)
            for (int kc = 0; kc < KD; kc++) {
              int ir = orow * stride + kr - PAD, ic = ocol * stride + kc - PAD;
              if (ir < 0 || ic < 0 || ir >= IN_DIM || ic >= IN_DIM) continue;
              const int wr = wrot ? KD - 1 - kr : kr, wc = wrot ? KD - 1 - kc : kc;
              for (int ch = 0; ch < IN_CH; ch++) s += IN(b, ir, ic, ch) * W(wr, wc, ch, och);
            }
          if (act == RELU && s < 0) s = 0;
          ref[b][orow][ocol][och] = ref_acc_scale(s, scale);
        }
}

static void conv(int stride, int use_bias, int act, float scale, int pool, int wrot, int pixels) {
  const int out_dim = (IN_DIM + 2 * PAD - KD) / stride + 1;
  const int pool_size = pool ? 2 : 1, pool_stride = pool ? 2 : 1;
  const int pool_out_dim = pool ? (out_dim - pool_size) / pool_stride + 1 : out_dim;
  const int porows = pool_out_dim, pocols = pool_out_dim;
  const int orows = porows * pool_stride + pool_size - 1, ocols = pocols * pool_stride + pool_size - 1;
  const int o_rows = orows > out_dim ? out_dim : orows, o_cols = ocols > out_dim ? out_dim : ocols;
  const int pdpad = orows - o_rows, prpad = ocols - o_cols;
  /* as tiled_conv and the loop unroller size the input window: orows*stride + krows - 1 */
  const int irows = o_rows * stride + KD - 1, icols = o_cols * stride + KD - 1;
  const int dpad = -PAD + irows > IN_DIM ? -PAD + irows - IN_DIM : 0;
  const int rpad = -PAD + icols > IN_DIM ? -PAD + icols - IN_DIM : 0;
  /* tiled_conv's downsampling rule: 1x1 stride-2 unpadded convs load every other pixel */
  const int downsample = stride == 2 && KD == 1 && PAD == 0 && IN_DIM % 2 == 0 && !pool;
  memset(out, 0x55, sizeof out);
  gemmini_extended_config_st(OUT_CH, act, scale);
  gemmini_extended3_config_ex(WEIGHT_STATIONARY, 0, 0, 0, 1, stride >> downsample, false, false, false);
  gemmini_loop_conv_ws(BATCH, IN_DIM, IN_DIM, IN_CH, OUT_CH, out_dim, out_dim, pool_out_dim, pool_out_dim, stride, PAD,
                       KD, 1, pool_size, pool_stride, 0, BATCH, porows, pocols, OUT_CH, KD, KD, IN_CH, PAD, rpad, PAD, dpad,
                       0, prpad, 0, pdpad, o_rows, o_cols, w_buf, out, use_bias ? bias : (acc_t*)1, in_buf, !use_bias, !pool,
                       downsample, wrot, false, act, false, false, false, false, pixels, IN_CH, OUT_CH, OUT_CH, false, 0, 0);
  gemmini_fence();
  reference(stride, out_dim, use_bias, act, scale, wrot);
  if (!pool) {
    for (int b = 0; b < BATCH; b++)
      for (int r = 0; r < out_dim; r++)
        for (int c = 0; c < out_dim; c++)
          for (int ch = 0; ch < OUT_CH; ch++)
            CHECK_EQ(((elem_t*)out)[((b * out_dim + r) * out_dim + c) * OUT_CH + ch], ref[b][r][c][ch],
                     "conv s=%d k=%d bias=%d wrot=%d (%d,%d,%d,%d)", stride, KD, use_bias, wrot, b, r, c, ch);
  } else {
    for (int b = 0; b < BATCH; b++)
      for (int pr = 0; pr < pool_out_dim; pr++)
        for (int pc = 0; pc < pool_out_dim; pc++)
          for (int ch = 0; ch < OUT_CH; ch++) {
            int m = -128;
            for (int wr = 0; wr < pool_size; wr++)
              for (int wc = 0; wc < pool_size; wc++) {
                int v = ref[b][pr * pool_stride + wr][pc * pool_stride + wc][ch];
                if (v > m) m = v;
              }
            CHECK_EQ(((elem_t*)out)[((b * pool_out_dim + pr) * pool_out_dim + pc) * OUT_CH + ch], m,
                     "pooled conv (%d,%d,%d,%d)", b, pr, pc, ch);
          }
  }
}

static void fill(uint32_t* seed) {
  for (int i = 0; i < BATCH * IN_DIM * IN_DIM * IN_CH; i++) in_buf[i] = rnd8(seed, -30, 30);
  for (int i = 0; i < KD * KD * IN_CH * OUT_CH; i++) w_buf[i] = rnd8(seed, -30, 30);
}

int main(void) {
  uint32_t seed = 3;
  fill(&seed);
  for (int o = 0; o < OUT_CH; o++) bias[o] = (acc_t)((int)(lcg(&seed) % 4001) - 2000);
  gemmini_flush(0);
  conv(1, 1, RELU, 1.0f / 64, 0, 0, 1);
  conv(2, 0, NO_ACTIVATION, 1.0f / 32, 0, 0, 1);
  conv(1, 1, NO_ACTIVATION, 1.0f / 64, 0, 0, 1);  /* accumulator halves alternate across calls */
#ifdef HAS_MAX_POOL
  conv(1, 1, RELU, 1.0f / 64, 1, 0, 1);
#endif
#ifdef HAS_TRAINING_CONVS
  conv(1, 1, NO_ACTIVATION, 1.0f / 64, 0, 1, 1);  /* wrot180 */
#endif
  /* first-layer optimization: 3 input channels, up to DIM/3 kernel columns per row */
  IN_CH = 3;
  fill(&seed);
  conv(1, 1, RELU, 1.0f / 16, 0, 0, DIM / 3 < KD ? DIM / 3 : KD);
#ifdef HAS_TRAINING_CONVS
  IN_DIM = 10; KD = 1; PAD = 0; IN_CH = MAX_CH;
  fill(&seed);
  conv(2, 1, NO_ACTIVATION, 1.0f / 16, 0, 0, 1);  /* downsample */
#endif
  DONE("loop_conv");
}
