/* preload / compute_preloaded / compute_accumulated in both dataflows: transposes, partial
 * tiles, GARBAGE operands, sys_shift rounding, RELU on the array->scratchpad path,
 * accumulate vs overwrite in the accumulator, a_stride and c_stride. */
#include "gtest.h"

static elem_t Am[DIM][DIM], Bm[DIM][DIM], Dm[DIM][DIM], A2[DIM][DIM];
static elem_t out8[DIM][DIM];
static acc_t out32[DIM][DIM], pre32[DIM][DIM];

enum { SA = 0, SB = DIM, SD = 2 * DIM, SA2 = 3 * DIM, SC = 8 * DIM, SAS = 10 * DIM /* strided A */ };

static void load_all(void) {
  gemmini_extended3_config_ld(DIM, MVIN_SCALE_IDENTITY, false, 0);
  gemmini_mvin(Am, SA);
  gemmini_mvin(Bm, SB);
  gemmini_mvin(Dm, SD);
  gemmini_mvin(A2, SA2);
}
static void read_spad(uint32_t row) { gemmini_config_st(DIM); gemmini_mvout(out8, row); gemmini_fence(); }
static void read_acc(uint32_t row) {
  gemmini_config_st(DIM * 4);
  gemmini_mvout(out32, GEMMINI_ACC_ADDR | GEMMINI_ACC_FULL | row);
  gemmini_fence();
}
/* element (i,j) of a logical rows x cols operand stored transposed or not */
static int el(elem_t m[DIM][DIM], int r, int c, int tr) { return tr ? m[c][r] : m[r][c]; }

int main(void) {
  uint32_t seed = 99;
  for (int i = 0; i < DIM; i++)
    for (int j = 0; j < DIM; j++) {
      /* keep OS partial sums inside the array's 20-bit range for every DIM (§3.5.6) */
      const int lim = DIM <= 16 ? 127 : 63;
      Am[i][j] = rnd8(&seed, -lim - 1, lim); Bm[i][j] = rnd8(&seed, -lim - 1, lim);
      Dm[i][j] = rnd8(&seed, -128, 127); A2[i][j] = rnd8(&seed, -20, 20);
    }
  gemmini_flush(0);
  load_all();

  /* --- WS: C(spad) = relu(sat8(D + A·B)), every legal transpose combination */
  for (int t = 0; t < 3; t++) {
    int at = t == 1, bt = t == 2;
    gemmini_extended_config_ex(WEIGHT_STATIONARY, RELU, 0, 1, at, bt);
    gemmini_preload(SB, SC);
    gemmini_compute_preloaded(SA, SD);
    read_spad(SC);
    for (int i = 0; i < DIM; i++)
      for (int j = 0; j < DIM; j++) {
        long s = Dm[i][j];
        for (int k = 0; k < DIM; k++) s += el(Am, i, k, at) * el(Bm, k, j, bt);
        int e = ref_sat8(s); if (e < 0) e = 0;
        CHECK_EQ(out8[i][j], e, "WS at=%d bt=%d (%d,%d)", at, bt, i, j);
      }
  }

  /* --- WS: weights stay for compute_accumulated; acc overwrite then accumulate */
  gemmini_extended_config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 0, 1, false, false);
  gemmini_preload(SB, GEMMINI_ACC_ADDR | 0);
  gemmini_compute_preloaded(SA, GARBAGE_ADDR);
  gemmini_preload(GARBAGE_ADDR, GEMMINI_ACC_ACCUMULATE | 0);
  gemmini_compute_accumulated(SA2, GARBAGE_ADDR);
  read_acc(0);
  for (int i = 0; i < DIM; i++)
    for (int j = 0; j < DIM; j++) {
      long s = 0;
      for (int k = 0; k < DIM; k++) s += (Am[i][k] + A2[i][k]) * Bm[k][j];
      CHECK_EQ(out32[i][j], s, "WS accumulate (%d,%d)", i, j);
    }

  /* --- WS partial tile: A PRxPK, B PKxPJ, C PRxPJ; the rest of C keeps its old contents */
  enum { PR = DIM - 3, PK = DIM - 1, PJ = DIM - 2 };
  for (int i = 0; i < DIM; i++) for (int j = 0; j < DIM; j++) pre32[i][j] = i * 1000 + j;
  gemmini_extended3_config_ld(DIM * 4, MVIN_SCALE_IDENTITY, false, 2);
  gemmini_mvin3(pre32, GEMMINI_ACC_ADDR | 32);
  gemmini_extended_preload(SB, GEMMINI_ACC_ACCUMULATE | 32, PJ, PK, PJ, PR);
  gemmini_extended_compute_preloaded(SA, GARBAGE_ADDR, PK, PR, PJ, PR);
  read_acc(32);
  for (int i = 0; i < DIM; i++)
    for (int j = 0; j < DIM; j++) {
      long s = pre32[i][j];
      if (i < PR && j < PJ) for (int k = 0; k < PK; k++) s += Am[i][k] * Bm[k][j];
      CHECK_EQ(out32[i][j], s, "WS partial (%d,%d)", i, j);
    }

  /* --- WS with a_stride = 2 (A rows every other scratchpad row) and c_stride = 2 */
  gemmini_extended3_config_ld(DIM, MVIN_SCALE_IDENTITY, false, 0);
  for (int i = 0; i < DIM; i++) gemmini_extended_mvin(Am[i], SAS + 2 * i, DIM, 1);
  gemmini_extended3_config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 0, 1.0f, 2, 2, false, false, false);
  gemmini_preload(SB, GEMMINI_ACC_ADDR | 64);
  gemmini_compute_preloaded(SAS, GARBAGE_ADDR);
  gemmini_config_st(DIM * 4); /* C row i sits at acc row 64 + 2i */
  gemmini_mvout(out32, GEMMINI_ACC_ADDR | GEMMINI_ACC_FULL | 64);
  gemmini_fence();
  for (int i = 0; i < DIM / 2; i++)
    for (int j = 0; j < DIM; j++) {
      long s = 0;
      for (int k = 0; k < DIM; k++) s += Am[i][k] * Bm[k][j];
      CHECK_EQ(out32[2 * i][j], s, "WS strides (%d,%d)", i, j);
    }

  /* --- OS: P = D, P += A·B, C = sat8(RRS(P, shift)); legal transposes; K accumulation */
  for (int t = 0; t < 3; t++) {
    int at = t >= 1, bt = t == 2;
    for (int shift = 0; shift <= 3; shift += 3) {
      gemmini_extended_config_ex(OUTPUT_STATIONARY, NO_ACTIVATION, shift, 1, at, bt);
      gemmini_preload(SD, SC);
      gemmini_compute_preloaded(SA, SB);
      read_spad(SC);
      for (int i = 0; i < DIM; i++)
        for (int j = 0; j < DIM; j++) {
          long s = Dm[i][j];
          for (int k = 0; k < DIM; k++) s += el(Am, i, k, at) * el(Bm, k, j, bt);
          CHECK_EQ(out8[i][j], ref_sat8(ref_rrs((int32_t)s, shift)), "OS at=%d bt=%d shift=%d (%d,%d)", at, bt, shift, i, j);
        }
    }
  }
  /* OS, two K steps into the accumulator with a rounding shift (RTL shifts acc outputs too) */
  gemmini_extended_config_ex(OUTPUT_STATIONARY, NO_ACTIVATION, 1, 1, false, false);
  gemmini_preload(GARBAGE_ADDR, GARBAGE_ADDR);
  gemmini_compute_preloaded(SA, SB);
  gemmini_preload(GARBAGE_ADDR, GEMMINI_ACC_ADDR | 96);
  gemmini_compute_accumulated(SA2, SD);
  read_acc(96);
  for (int i = 0; i < DIM; i++)
    for (int j = 0; j < DIM; j++) {
      long s = 0;
      for (int k = 0; k < DIM; k++) s += Am[i][k] * Bm[k][j] + A2[i][k] * Dm[k][j];
      CHECK_EQ(out32[i][j], ref_rrs((int32_t)s, 1), "OS accumulate (%d,%d)", i, j);
    }
  /* OS with RELU to scratchpad and a GARBAGE B (zero matrix): C = relu(sat8(D)) */
  gemmini_extended_config_ex(OUTPUT_STATIONARY, RELU, 0, 1, false, false);
  gemmini_preload(SD, SC);
  gemmini_compute_preloaded(SA, GARBAGE_ADDR);
  read_spad(SC);
  for (int i = 0; i < DIM; i++)
    for (int j = 0; j < DIM; j++) CHECK_EQ(out8[i][j], Dm[i][j] < 0 ? 0 : Dm[i][j], "OS garbage B (%d,%d)", i, j);

  /* rounding-shift ties: RRS(x, 2) for x = 2, 6, -2, -6, 10 -> 0, 2, 0, -2, 2 */
  CHECK_EQ(ref_rrs(2, 2), 0, "rrs"); CHECK_EQ(ref_rrs(6, 2), 2, "rrs"); CHECK_EQ(ref_rrs(-6, 2), -2, "rrs");
  DONE("isa_matmul");
}
