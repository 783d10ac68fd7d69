/* l2g's Gemmini kernels: tiled matmul (+bias, requantize, activation) and residual add,
 * each driven by a tile plan that the compiler computed (l2g.passes.tile.MatmulPlan).
 *
 * Only instructions of real Gemmini's ISA are issued (through gemmini_isa.h), so the same
 * code runs on the Spike extension and on Gemmini silicon built with the same parameters.
 */
#ifndef L2G_GEMMINI_KERNELS_H
#define L2G_GEMMINI_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>

#include "gemmini_isa.h"

/* A tile plan: tile counts are in DIM x DIM tiles. */
typedef struct {
  size_t m, k, n;             /* logical sizes: C[m,n] = A[m,k] @ B[k,n] */
  size_t tile_i, tile_j, tile_k;
} l2g_matmul_plan_t;

#define L2G_CEIL_DIV(a, b) (((a) + (b) - 1) / (b))

/* C = act(ACC_SCALE(A @ B + bias, scale)), int8 C (or raw int32 C when full_c).
 * Row strides are in elements, so an operand may be a column slice of a wider matrix (one
 * attention head of a hidden-state matrix).  b_transposed: B is stored n x k (row stride
 * stride_b) and the array transposes it on the way in (Kᵀ read straight from K, no CPU
 * transpose).  bias is int32 or NULL: with stride_d = 0 one row of n values
 * broadcast to every row, else an m x n matrix with that row stride (an attention mask added
 * in the accumulator, where it costs no CPU pass).  Weight-stationary dataflow, one loop_ws
 * per tile block, k innermost so partial sums stay in the accumulator. */
static inline void l2g_matmul_ws(const l2g_matmul_plan_t *p, const elem_t *A, size_t stride_a,
                                 const elem_t *B, size_t stride_b, bool b_transposed, const acc_t *bias, size_t stride_d,
                                 void *C, size_t stride_c, float scale, int act, bool full_c) {
  const size_t tm = L2G_CEIL_DIV(p->m, DIM), tk = L2G_CEIL_DIV(p->k, DIM), tn = L2G_CEIL_DIV(p->n, DIM);
  const size_t pad_m = tm * DIM - p->m, pad_k = tk * DIM - p->k, pad_n = tn * DIM - p->n;
  const size_t bi = L2G_CEIL_DIV(tm, p->tile_i), bj = L2G_CEIL_DIV(tn, p->tile_j), bk = L2G_CEIL_DIV(tk, p->tile_k);
  const size_t c_size = full_c ? sizeof(acc_t) : sizeof(elem_t);

  gemmini_extended3_config_ex(WEIGHT_STATIONARY, act & 3, 0, ACC_SCALE_IDENTITY, 1, 1, false, b_transposed, false);
  gemmini_extended_config_st(stride_c * c_size, act & 3, scale);
  gemmini_extended3_config_ld(stride_a * sizeof(elem_t), MVIN_SCALE_IDENTITY, false, 0);
  gemmini_extended3_config_ld(stride_b * sizeof(elem_t), MVIN_SCALE_IDENTITY, false, 1);
  gemmini_extended3_config_ld(stride_d * sizeof(acc_t), MVIN_SCALE_IDENTITY, false, 2); /* 0: repeating row */

  for (size_t i0 = 0; i0 < bi; i0++) {
    const bool last_i = i0 == bi - 1;
    const size_t blk_i = last_i ? tm - i0 * p->tile_i : p->tile_i;
    for (size_t j0 = 0; j0 < bj; j0++) {
      const bool last_j = j0 == bj - 1;
      const size_t blk_j = last_j ? tn - j0 * p->tile_j : p->tile_j;
      for (size_t k0 = 0; k0 < bk; k0++) {
        const bool last_k = k0 == bk - 1;
        const size_t blk_k = last_k ? tk - k0 * p->tile_k : p->tile_k;
        const elem_t *a = A + i0 * p->tile_i * DIM * stride_a + k0 * p->tile_k * DIM;
        const elem_t *b = b_transposed ? B + j0 * p->tile_j * DIM * stride_b + k0 * p->tile_k * DIM
                                       : B + k0 * p->tile_k * DIM * stride_b + j0 * p->tile_j * DIM;
        const acc_t *d = (k0 == 0 && bias) ? bias + i0 * p->tile_i * DIM * stride_d + j0 * p->tile_j * DIM : NULL;
        void *c = last_k ? (char *)C + (i0 * p->tile_i * DIM * stride_c + j0 * p->tile_j * DIM) * c_size : NULL;
        gemmini_loop_ws(blk_i, blk_j, blk_k, last_i ? pad_m : 0, last_j ? pad_n : 0, last_k ? pad_k : 0, a, b, d, c,
                        stride_a, stride_b, stride_d, stride_c, false, b_transposed, full_c, false,
                        /* ex_accumulate: onto the bias, or onto earlier k-blocks' partial sums */
                        k0 > 0 || bias != NULL, act, 0, 0, false);
      }
    }
  }
  gemmini_fence();
}

/* C = act(ACC_SCALE(MVIN_SCALE(A, sa) + MVIN_SCALE(B, sb), scale)) for int8 rows x cols
 * matrices with row stride cols: Gemmini's residual add (loop_ws with is_resadd, K = 0).
 * tile_rows (a multiple of DIM) rows are processed per loop_ws so that a block of whole rows
 * fits half the accumulator. */
static inline void l2g_resadd_ws(size_t rows, size_t cols, size_t tile_rows, const elem_t *A, float sa,
                                 const elem_t *B, float sb, elem_t *C, float scale, bool relu) {
  const size_t tn = L2G_CEIL_DIV(cols, DIM), pad_n = tn * DIM - cols;
  gemmini_extended_config_st(cols * sizeof(elem_t), relu ? 1 : 0, scale);
  gemmini_extended3_config_ex(WEIGHT_STATIONARY, 0, 0, ACC_SCALE_IDENTITY, 1, 1, false, false, false);
  gemmini_extended3_config_ld(cols * sizeof(elem_t), sa, true, 0);
  gemmini_extended3_config_ld(cols * sizeof(elem_t), sb, true, 1);
  for (size_t r0 = 0; r0 < rows; r0 += tile_rows) {
    const size_t r = rows - r0 < tile_rows ? rows - r0 : tile_rows;
    const size_t ti = L2G_CEIL_DIV(r, DIM);
    gemmini_loop_ws(ti, tn, 0, ti * DIM - r, pad_n, 0, A + r0 * cols, B + r0 * cols, NULL, C + r0 * cols,
                    cols, cols, 0, cols, false, false, false, false, false, relu ? 1 : 0, 0, 0, true);
  }
  gemmini_fence();
}

/* out[r, c] = sat8(RNE(fl32(acc[r, c]) * scale[c])): requantization with one scale per output
 * column, which Gemmini's single acc_scale register cannot express.  Written as the host
 * reference computes it (float32 multiply, nearbyint, clip, cast). */
static inline void l2g_requant_cols(const acc_t *acc, elem_t *out, size_t rows, size_t cols, const float *scale) {
  for (size_t r = 0; r < rows; r++) {
    for (size_t c = 0; c < cols; c++) {
      float f = nearbyintf((float)acc[r * cols + c] * scale[c]);
      f = f < 127.0f ? f : 127.0f;
      f = f > -128.0f ? f : -128.0f;
      out[r * cols + c] = (elem_t)f;
    }
  }
}

#ifdef HAS_NORMALIZATIONS
/* ---- the I-BERT normalization unit (gemmini-isa.md §4) -------------------------------------
 * Inputs are int32 rows x cols matrices in DRAM (row stride cols).  A block of up to DIM rows
 * is moved into the accumulator with column tile j at accumulator rows j*DIM .. j*DIM+DIM-1;
 * the unit then reads it back through mvouts whose norm_cmd field drives the statistics
 * (§4.3), in the pass order of §4.5, and the RESET pass writes the int8 result. */

#define L2G_ACC_ADDR(row) (0x80000000u | (uint32_t)(row))

static inline void l2g__norm_load_block(const acc_t *x, size_t r0, size_t rows, size_t cols) {
  for (size_t c0 = 0; c0 < cols; c0 += DIM) {
    const size_t w = cols - c0 < DIM ? cols - c0 : DIM;
    gemmini_extended_mvin(x + r0 * cols + c0, L2G_ACC_ADDR(c0), w, rows);
  }
}

/* Three passes per row (statistics, statistics, RESET read-out), NORM_STAT_IDS rows at a time.
 * pass_other/pass_last: the norm_cmd of a pass for non-final / final column tiles.
 * col_scale (LayerNorm): one read-out scale per DIM-column tile, set before each RESET mvout. */
static inline void l2g__norm_passes(elem_t *out, size_t r0, size_t rows, size_t cols, const int pass_other[3],
                                    const int pass_last[3], const float *col_scale, int act) {
  for (size_t row0 = 0; row0 < rows; row0 += NORM_STAT_IDS) {
    const size_t n = rows - row0 < NORM_STAT_IDS ? rows - row0 : NORM_STAT_IDS;
    for (int pass = 0; pass < 3; pass++) {
      for (size_t s = 0; s < n; s++) {
        gemmini_config_norm(0, 0, 1, 0, s, 0, 0); /* select the statistics slot only */
        const size_t r = row0 + s;
        for (size_t c0 = 0; c0 < cols; c0 += DIM) {
          const size_t w = cols - c0 < DIM ? cols - c0 : DIM;
          const int code = (c0 + DIM >= cols) ? pass_last[pass] : pass_other[pass];
          if (pass == 2 && col_scale) gemmini_extended_config_st(cols * sizeof(elem_t), act, col_scale[c0 / DIM]);
          gemmini_extended_mvout(out + (r0 + r) * cols + c0, L2G_ACC_ADDR(c0 + r) | ((uint32_t)code << 26), w, 1);
        }
      }
    }
  }
}

/* Rows of cols elements mvin'd into the accumulator: acc_t, or elem_t when shrunk (a shrunk
 * mvin sign-extends each int8; MVIN_SCALE 1.0 keeps its value). */
static inline void l2g__norm_config_load(size_t cols, bool shrunk) {
  gemmini_extended3_config_ex(WEIGHT_STATIONARY, 0, 0, ACC_SCALE_IDENTITY, 1, 1, false, false, false);
  gemmini_extended3_config_ld(cols * (shrunk ? sizeof(elem_t) : sizeof(acc_t)), MVIN_SCALE_IDENTITY, shrunk, 0);
}

/* out = the unit's SOFTMAX read-out of each row of x: ACC_SCALE(iexp(x - max), inv_sum_exp * scale). */
static inline void l2g_softmax_unit(const acc_t *x, elem_t *out, size_t rows, size_t cols, int32_t qb, int32_t qc,
                                    int32_t qln2, int32_t qln2_inv, float scale) {
  static const int other[3] = {5, 6, 0}, last[3] = {5, 7, 0}; /* MAX; SUM_EXP / INV_SUM_EXP; RESET */
  l2g__norm_config_load(cols, false);
  gemmini_extended_config_st(cols * sizeof(elem_t), NO_ACTIVATION, scale);
  gemmini_config_norm(qln2, 0, 0, 1, 0, qb, qc); /* act_msb = 1 selects SOFTMAX */
  gemmini_config_norm(qln2_inv, 1, 0, 1, 0, qb, qc);
  for (size_t r0 = 0; r0 < rows; r0 += DIM) {
    const size_t n = rows - r0 < DIM ? rows - r0 : DIM;
    l2g__norm_load_block(x, r0, n, cols);
    l2g__norm_passes(out, r0, n, cols, other, last, NULL, NO_ACTIVATION);
  }
  gemmini_fence();
}

/* out = the unit's LAYERNORM read-out of each row: (x - mean) * inv_stddev, scaled per column tile. */
static inline void l2g_layernorm_unit(const acc_t *x, elem_t *out, size_t rows, size_t cols, const float *col_scale) {
  static const int other[3] = {1, 3, 0}, last[3] = {2, 4, 0}; /* SUM / MEAN; VARIANCE / INV_STDDEV; RESET */
  l2g__norm_config_load(cols, false);
  gemmini_extended_config_st(cols * sizeof(elem_t), LAYERNORM, col_scale[0]);
  for (size_t r0 = 0; r0 < rows; r0 += DIM) {
    const size_t n = rows - r0 < DIM ? rows - r0 : DIM;
    l2g__norm_load_block(x, r0, n, cols);
    l2g__norm_passes(out, r0, n, cols, other, last, col_scale, LAYERNORM);
  }
  gemmini_fence();
}

/* out = ACC_SCALE(igelu(x), scale), elementwise, through the unit's IGELU read-out.
 * Elementwise, so unlike softmax / LayerNorm no whole row has to sit in the accumulator:
 * column chunks of up to half the accumulator alternate between its halves, so the next
 * chunk's mvins overlap this chunk's read-outs (wide FFN rows, 3072 columns, exceed it).
 * x holds acc_t, or elem_t when x_shrunk, so an int8 matmul output needs no widening pass. */
static inline void l2g__igelu_unit(const void *x, bool x_shrunk, elem_t *out, size_t rows, size_t cols,
                                   int32_t qb, int32_t qc, float scale) {
  const size_t chunk = ACC_ROWS / 2 / DIM * DIM;
  const size_t esize = x_shrunk ? sizeof(elem_t) : sizeof(acc_t);
  size_t half = 0;
  l2g__norm_config_load(cols, x_shrunk);
  gemmini_extended_config_st(cols * sizeof(elem_t), IGELU, scale);
  gemmini_config_norm(0, 0, 0, 0, 0, qb, qc);
  for (size_t r0 = 0; r0 < rows; r0 += DIM) {
    const size_t n = rows - r0 < DIM ? rows - r0 : DIM;
    for (size_t k0 = 0; k0 < cols; k0 += chunk, half ^= ACC_ROWS / 2) {
      const size_t kw = cols - k0 < chunk ? cols - k0 : chunk;
      for (size_t c0 = 0; c0 < kw; c0 += DIM) {
        const size_t w = kw - c0 < DIM ? kw - c0 : DIM;
        gemmini_extended_mvin((const char *)x + (r0 * cols + k0 + c0) * esize, L2G_ACC_ADDR(half + c0), w, n);
      }
      for (size_t c0 = 0; c0 < kw; c0 += DIM) {
        const size_t w = kw - c0 < DIM ? kw - c0 : DIM;
        gemmini_extended_mvout(out + r0 * cols + k0 + c0, L2G_ACC_ADDR(half + c0), w, n);
      }
    }
  }
  gemmini_fence();
}

static inline void l2g_igelu_unit(const acc_t *x, elem_t *out, size_t rows, size_t cols, int32_t qb, int32_t qc,
                                  float scale) {
  l2g__igelu_unit(x, false, out, rows, cols, qb, qc, scale);
}

/* The same for an int8 input (the read-out of a requantizing matmul). */
static inline void l2g_igelu_unit_i8(const elem_t *x, elem_t *out, size_t rows, size_t cols, int32_t qb, int32_t qc,
                                     float scale) {
  l2g__igelu_unit(x, true, out, rows, cols, qb, qc, scale);
}
#endif /* HAS_NORMALIZATIONS */

#endif /* L2G_GEMMINI_KERNELS_H */
