/* Data movement: mvin/mvin2/mvin3, strides, block mvins, partial tiles, zero loads, mvin
 * scaling (RNE, saturation), accumulator loads (shrunk / acc_t / accumulate), accumulator
 * read-out (scale, RELU, full width), pixel repeats, and max pooling on mvout. */
#include "gtest.h"

#define ROWSTR 40
#define VROW (4 * DIM) /* accumulator rows of the read-out test values */
static elem_t src[DIM][ROWSTR];
static elem_t wide[DIM][4 * DIM + 8];
static elem_t out8[DIM][4 * DIM];
static acc_t src32[DIM][DIM], out32[DIM][DIM];
static elem_t spad_model[2 * DIM][DIM];

static void read_rows(uint32_t row, int n) { /* spad rows -> out8 (n <= DIM) */
  gemmini_config_st(sizeof(out8[0]));
  gemmini_extended_mvout(out8, row, DIM, n);
  gemmini_fence();
}

int main(void) {
  uint32_t seed = 7;
  gemmini_flush(0);

  /* --- 1. strided mvin via each load state; partial tile leaves the rest untouched */
  for (int i = 0; i < DIM; i++) for (int j = 0; j < ROWSTR; j++) src[i][j] = (elem_t)(i * 16 + j - 100);
  for (int s = 0; s < 3; s++) {
    gemmini_extended3_config_ld(ROWSTR, MVIN_SCALE_IDENTITY, false, s);
    uint32_t row = 100 + 32 * s;
    if (s == 0) gemmini_extended_mvin(src, row, DIM, DIM);
    if (s == 1) gemmini_extended_mvin2(src, row, DIM, DIM);
    if (s == 2) gemmini_extended_mvin3(src, row, DIM, DIM);
    read_rows(row, DIM);
    for (int i = 0; i < DIM; i++) for (int j = 0; j < DIM; j++) CHECK_EQ(out8[i][j], src[i][j], "state %d (%d,%d)", s, i, j);
  }
  gemmini_extended3_config_ld(ROWSTR, MVIN_SCALE_IDENTITY, false, 0);
  gemmini_extended_mvin(&src[0][3], 100, 7, 5); /* 5 rows x 7 cols from column 3 */
  read_rows(100, DIM);
  for (int i = 0; i < DIM; i++)
    for (int j = 0; j < DIM; j++)
      CHECK_EQ(out8[i][j], (i < 5 && j < 7) ? src[i][j + 3] : src[i][j], "partial (%d,%d)", i, j);

  /* --- 2. block mvin: cols > DIM lands block b at base + b*block_stride */
  for (int i = 0; i < DIM; i++) for (int j = 0; j < 4 * DIM + 8; j++) wide[i][j] = rnd8(&seed, -128, 127);
  const int bcols = (3 * DIM + 5 < MAX_BLOCK_LEN * DIM) ? 3 * DIM + 5 : MAX_BLOCK_LEN * DIM - 3, bstride = DIM + 4;
  gemmini_extended4_config_ld(sizeof(wide[0]), MVIN_SCALE_IDENTITY, false, bstride, 0);
  gemmini_extended_mvin(wide, 300, bcols, DIM);
  for (int b = 0; b < 4; b++) {
    read_rows(300 + b * bstride, DIM);
    for (int i = 0; i < DIM; i++)
      for (int j = 0; j < DIM && b * DIM + j < bcols; j++) CHECK_EQ(out8[i][j], wide[i][b * DIM + j], "block %d (%d,%d)", b, i, j);
  }

  /* --- 3. zero loads (rs1 = 0), scratchpad and accumulate-into-accumulator */
  gemmini_extended_mvin(NULL, 300, DIM, 3);
  read_rows(300, DIM);
  for (int i = 0; i < DIM; i++) for (int j = 0; j < DIM; j++) CHECK_EQ(out8[i][j], i < 3 ? 0 : wide[i][j], "zeros (%d,%d)", i, j);

  /* --- 4. mvin scale: float32 product, RNE, saturating */
  static const float scales[] = {0.5f, 1.5f, -1.0f, 2.0f, 0.3333333f, 100.0f, -0.25f, 0.0f};
  for (int si = 0; si < 8; si++) {
    for (int i = 0; i < DIM; i++) for (int j = 0; j < DIM; j++) src[i][j] = (elem_t)((i * DIM + j) - 128);
    gemmini_extended3_config_ld(ROWSTR, scales[si], false, 1);
    gemmini_extended_mvin2(src, 400, DIM, DIM);
    read_rows(400, DIM);
    for (int i = 0; i < DIM; i++)
      for (int j = 0; j < DIM; j++) CHECK_EQ(out8[i][j], ref_mvin_scale(src[i][j], scales[si]), "mvin scale %d x=%d", si, src[i][j]);
  }

  /* --- 5. accumulator loads: shrunk (int8, scaled, sign-extended), acc_t, accumulate */
  gemmini_extended3_config_ld(ROWSTR, 0.5f, true, 0);
  gemmini_extended_mvin(src, GEMMINI_ACC_ADDR | 40, DIM, DIM);
  gemmini_config_st(DIM * sizeof(acc_t));
  gemmini_extended_mvout(out32, GEMMINI_ACC_ADDR | GEMMINI_ACC_FULL | 40, DIM, DIM);
  gemmini_fence();
  for (int i = 0; i < DIM; i++) for (int j = 0; j < DIM; j++) CHECK_EQ(out32[i][j], ref_mvin_scale(src[i][j], 0.5f), "acc shrunk (%d,%d)", i, j);
  for (int i = 0; i < DIM; i++) for (int j = 0; j < DIM; j++) src32[i][j] = (acc_t)(lcg(&seed) * 37u) ;
  src32[0][0] = 2147483647; /* wraps when accumulated */
  gemmini_extended3_config_ld(DIM * sizeof(acc_t), 3.0f /* ignored for acc_t */, false, 2);
  gemmini_extended_mvin3(src32, GEMMINI_ACC_ACCUMULATE | 40, DIM, DIM);
  gemmini_extended_mvout(out32, GEMMINI_ACC_ADDR | GEMMINI_ACC_FULL | 40, DIM, DIM);
  gemmini_fence();
  for (int i = 0; i < DIM; i++)
    for (int j = 0; j < DIM; j++)
      CHECK_EQ(out32[i][j], (int32_t)((uint32_t)src32[i][j] + (uint32_t)(int32_t)ref_mvin_scale(src[i][j], 0.5f)), "acc accumulate (%d,%d)", i, j);

  /* --- 6. accumulator read-out: scale with ties, saturation, > 2^24 values, RELU */
  static const int32_t vals[16] = {3, 5, -3, -5, 7, -7, 1000, -1000, 16777217, -16777219, 255, 256, 257, -1, 0, 2147483647};
  static const float oscales[] = {0.5f, 1.0f, 0.0078125f, -1.0f, 1.0f / 3.0f};
  for (int i = 0; i < DIM; i++) for (int j = 0; j < DIM; j++) src32[i][j] = vals[j % 16] / (i + 1) * ((i & 1) ? -1 : 1);
  gemmini_extended3_config_ld(DIM * sizeof(acc_t), MVIN_SCALE_IDENTITY, false, 2);
  gemmini_extended_mvin3(src32, GEMMINI_ACC_ADDR | VROW, DIM, DIM);
  for (int act = 0; act < 2; act++)
    for (int si = 0; si < 5; si++) {
      gemmini_extended_config_st(sizeof(out8[0]), act, oscales[si]);
      gemmini_extended_mvout(out8, GEMMINI_ACC_ADDR | VROW, DIM, DIM);
      gemmini_fence();
      for (int i = 0; i < DIM; i++)
        for (int j = 0; j < DIM; j++) {
          int32_t x = src32[i][j];
          if (act == RELU && x < 0) x = 0; /* RTL order: relu, then scale */
          CHECK_EQ(out8[i][j], ref_acc_scale(x, oscales[si]), "readout act=%d scale#%d x=%ld", act, si, (long)src32[i][j]);
        }
    }
  /* multi-block accumulator read (cols = 2*DIM: second block is DIM rows further) */
  gemmini_extended_config_st(2 * DIM, NO_ACTIVATION, 1.0f);
  static elem_t out2[DIM][2 * DIM];
  gemmini_extended_mvout(out2, GEMMINI_ACC_ADDR | 40, 2 * DIM, DIM);
  gemmini_fence();
  for (int i = 0; i < DIM; i++)
    for (int j = 0; j < DIM; j++) {
      CHECK_EQ(out2[i][j], ref_acc_scale(out32[i][j], 1.0f), "2-block acc read lo (%d,%d)", i, j);
      /* block 1 starts DIM rows later; rows never written read as zero */
      const int r = 40 + DIM + i;
      const int32_t want = (r >= VROW && r < VROW + DIM) ? src32[r - VROW][j] : (r < 40 + DIM) ? out32[r - 40][j] : 0;
      CHECK_EQ(out2[i][DIM + j], ref_acc_scale(want, 1.0f), "2-block acc read hi (%d,%d)", i, j);
    }

  /* --- 7. pixel repeats: row base+i, cols [k*cols,(k+1)*cols) hold DRAM row i+k */
  {
    const int p = 3, cols = DIM / 4, rows = 6, base = 20;
    for (int r = 0; r < 2 * DIM; r++) for (int c = 0; c < DIM; c++) spad_model[r][c] = (elem_t)(r + c);
    static elem_t init[2 * DIM][DIM];
    for (int r = 0; r < 2 * DIM; r++) for (int c = 0; c < DIM; c++) init[r][c] = spad_model[r][c];
    gemmini_extended3_config_ld(DIM, MVIN_SCALE_IDENTITY, false, 0);
    gemmini_extended_mvin(init, 0, DIM, DIM);
    gemmini_extended_mvin(init[DIM], DIM, DIM, DIM);
    for (int i = 0; i < rows; i++) for (int j = 0; j < ROWSTR; j++) src[i][j] = (elem_t)(-(i * 10 + j) - 1);
    gemmini_extended5_config_ld(ROWSTR, MVIN_SCALE_IDENTITY, false, DIM, p, 0);
    gemmini_extended_mvin(src, base, cols, rows);
    for (int r = 0; r < rows; r++)
      for (int px = 0; px < p && px <= base + r; px++)
        for (int c = 0; c < cols; c++) spad_model[base + r - px][px * cols + c] = src[r][c];
    read_rows(DIM, DIM);
    for (int i = 0; i < DIM; i++)
      for (int j = 0; j < DIM; j++) CHECK_EQ(out8[i][j], spad_model[DIM + i][j], "pixel repeats row %d col %d", DIM + i, j);
  }

#ifdef HAS_MAX_POOL
  /* --- 8. max pooling on mvout from the accumulator: scale, RELU, then window max */
  {
    enum { OR = 5, OC = 5, CH = DIM < 10 ? DIM : 10, PS = 3, PSTR = 2, UP = 1, LP = 1, POR = 3, POC = 3, POD = 3 };
    static acc_t px[OR * OC][DIM];
    static elem_t pooled[POR * POD][CH];
    for (int r = 0; r < OR * OC; r++) for (int c = 0; c < DIM; c++) px[r][c] = (acc_t)((int)(lcg(&seed) % 401) - 200);
    gemmini_extended3_config_ld(DIM * sizeof(acc_t), MVIN_SCALE_IDENTITY, false, 2);
    for (int r = 0; r < OR * OC; r += DIM) {
      int n = OR * OC - r < DIM ? OR * OC - r : DIM;
      gemmini_extended_mvin3(px[r], GEMMINI_ACC_ADDR | (200 + r), DIM, n);
    }
    gemmini_extended2_config_st(CH, RELU, 0.5f, PSTR, PS, POD, POR, POC, OR, OC, UP, LP);
    gemmini_extended_mvout(pooled, GEMMINI_ACC_ADDR | 200, CH, 0);
    gemmini_config_st(DIM); /* pooling off again */
    gemmini_fence();
    for (int pr = 0; pr < POR; pr++)
      for (int pc = 0; pc < POC; pc++)
        for (int ch = 0; ch < CH; ch++) {
          int m = -128;
          for (int wr = 0; wr < PS; wr++)
            for (int wc = 0; wc < PS; wc++) {
              int orow = pr * PSTR + wr - UP, ocol = pc * PSTR + wc - LP;
              int v = 0;
              if (orow >= 0 && ocol >= 0 && orow < OR && ocol < OC) {
                int32_t x = px[orow * OC + ocol][ch];
                v = ref_acc_scale(x, 0.5f);
                if (v < 0) v = 0;
              }
              if (v > m) m = v;
            }
          CHECK_EQ(pooled[pr * POD + pc][ch], m, "pool (%d,%d) ch %d", pr, pc, ch);
        }
  }
#endif
  DONE("isa_data");
}
