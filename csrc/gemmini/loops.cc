// loop_ws and loop_conv_ws: the hardware loop unrollers, expanded here into the same
// primitive commands (config_ld/config_st/mvin/preload/compute/mvout) that software would
// issue, in libgemmini's order (gemmini-isa.md §2.9, §2.10, §3.7, §3.8).  Going through
// the primitives keeps one implementation of every check and of the cycle model.
#include <algorithm>

#include "gemmini.h"
#include "numeric.h"

namespace gemmini {

namespace {
constexpr uint32_t ACC_BIT = 1u << 31, ACCUM_BIT = 1u << 30, FULL_BIT = 1u << 29;

struct LoopScope {
  Gemmini& g;
  explicit LoopScope(Gemmini& gg) : g(gg) {
    g.in_loop = true;
    if (g.timing_on) g.timing.loop_begin(g.cpu_issue_time);
  }
  ~LoopScope() {  // sub_op survives unwinding for the error message
    g.in_loop = false;
    if (g.timing_on) g.timing.loop_end();
  }
};
}  // namespace

void Gemmini::loop_ws(uint64_t rs1, uint64_t rs2) {
  const bool ex_accumulate = bits(rs1, 0, 0), full_C = bits(rs1, 1, 1), low_D = bits(rs1, 2, 2);
  const uint32_t act = bits(rs1, 10, 8), b_spad_id = bits(rs1, 17, 16), a_spad_id = bits(rs1, 19, 18);
  const bool a_tr = bits(rs2, 0, 0), b_tr = bits(rs2, 1, 1), is_resadd = bits(rs2, 2, 2);
  const LoopWsRegs& L = lws;
  const uint32_t I = L.I, J = L.J, K = L.K, padI = L.pad_I, padJ = L.pad_J, padK = L.pad_K;
  if (I == 0 || J == 0) fail("I=%u J=%u: loop bounds (in DIM tiles) must be non-zero", I, J);
  if (K == 0 && !is_resadd) fail("K=0 is only valid with is_resadd=1");
  if (padI >= dim || padJ >= dim || padK >= dim)
    fail("pad_I=%u pad_J=%u pad_K=%u: pads must be < DIM=%u", padI, padJ, padK, dim);
  if (act > ACT_SOFTMAX) fail("act=%u is not an activation code (0..4)", act);
  const bool norm_act = act == ACT_LAYERNORM || act == ACT_SOFTMAX;
  if ((norm_act || act == ACT_IGELU) && !cfg.has_normalizations)
    fail("act=%u needs the normalization unit; config '%s' has has_normalizations=0", act, cfg.name.c_str());
  const uint32_t sp_half = cfg.sp_rows() / 2, acc_half = cfg.acc_rows / 2;
  const uint64_t sp_need = (uint64_t(I) * K + uint64_t(K) * J) * dim;  // 64-bit: 16-bit bounds
  if (sp_need > sp_half)
    fail("(I*K + K*J)*DIM = %llu scratchpad rows exceed half the scratchpad (%u rows)",
         (unsigned long long)sp_need, sp_half);
  if (uint64_t(I) * J * dim > acc_half)
    fail("I*J*DIM = %llu accumulator rows exceed half the accumulator (%u rows)",
         (unsigned long long)(uint64_t(I) * J * dim), acc_half);
  if (!is_resadd) {
    if (!ws) fail("loop_ws needs the weight-stationary dataflow (config_ex dataflow=1)");
    if (a_tr != a_transpose || b_tr != b_transpose)
      fail("loop transposes (A=%d, B=%d) differ from config_ex's (A=%d, B=%d)", a_tr, b_tr, a_transpose, b_transpose);
  }

  LoopScope scope(*this);
  // Timing only: alternate halves like the RTL's double-buffered loop unroller, unless the
  // program pins operands to a half (spad ids 1/2) to reuse them across calls.
  const bool alternate = a_spad_id == 0 && b_spad_id == 0;
  struct ShiftScope {
    Timing& t;
    ~ShiftScope() { t.set_loop_shift(0, 0); }
  } shift_scope{timing};
  if (alternate) timing.set_loop_shift(loop_sp_parity ? sp_half : 0, loop_acc_parity ? acc_half : 0);
  if (alternate) {
    loop_sp_parity = !loop_sp_parity;
    if (lws.C != 0) loop_acc_parity = !loop_acc_parity;  // partial sums stay put until C is stored
  }
  const uint32_t D = dim;
  auto rows_of = [&](uint32_t idx, uint32_t n, uint32_t pad) { return D - (idx + 1 == n ? pad : 0); };
  const uint32_t A_sp = a_spad_id == 2 ? sp_half : 0;
  const uint32_t B_sp = (b_spad_id == 2 ? cfg.sp_rows() : sp_half) - K * J * D;
  const uint32_t D_sp = ACC_BIT;
  const uint32_t C_sp = ACC_BIT | ACCUM_BIT | (full_C ? FULL_BIT : 0);
  const uint64_t dsize = low_D ? 1 : 4, csize = full_C ? 4 : 1;

  if (is_resadd) {
    for (uint32_t i = 0; i < I; ++i)
      for (uint32_t j = 0; j < J; ++j) {
        const uint32_t r = rows_of(i, I, padI), c = rows_of(j, J, padJ);
        const uint32_t row = (i * J + j) * D;
        if (L.A) { sub_op = "mvin"; unrolled[M_MVIN]++; mvin(L.A + (i * L.A_stride + j) * D, encode_operand(ACC_BIT | row, c, r), 0); }
        if (L.B) { sub_op = "mvin2"; unrolled[M_MVIN2]++; mvin(L.B + (i * L.B_stride + j) * D, encode_operand(ACC_BIT | ACCUM_BIT | row, c, r), 1); }
        if (L.C) {
          sub_op = "mvout"; unrolled[M_MVOUT]++;
          mvout(L.C + (i * L.C_stride + j) * D * csize, encode_operand(ACC_BIT | (full_C ? FULL_BIT : 0) | row, c, r));
        }
      }
    return;
  }

  if (L.D) {
    for (uint32_t i = 0; i < I; ++i)
      for (uint32_t j = 0; j < J; ++j) {
        sub_op = "mvin3"; unrolled[M_MVIN3]++;
        mvin(L.D + (i * L.D_stride + j) * D * dsize,
             encode_operand(D_sp + (i * J + j) * D, rows_of(j, J, padJ), rows_of(i, I, padI)), 2);
      }
  }
  for (uint32_t k = 0; k < K; ++k)
    for (uint32_t j = 0; j < J; ++j)
      for (uint32_t i = 0; i < I; ++i) {
        const uint32_t a_sp = A_sp + (a_tr ? (k * I + i) : (i * K + k)) * D;
        const uint32_t b_sp = B_sp + (b_tr ? (j * K + k) : (k * J + j)) * D;
        uint32_t c_sp = C_sp + (i * J + j) * D;
        const uint32_t ri = rows_of(i, I, padI), cj = rows_of(j, J, padJ), kk = rows_of(k, K, padK);
        if (j == 0 && L.A) {
          sub_op = "mvin"; unrolled[M_MVIN]++;
          if (a_tr) mvin(L.A + (k * L.A_stride + i) * D, encode_operand(a_sp, ri, kk), 0);
          else mvin(L.A + (i * L.A_stride + k) * D, encode_operand(a_sp, kk, ri), 0);
        }
        if (i == 0 && L.B) {
          sub_op = "mvin2"; unrolled[M_MVIN2]++;
          if (b_tr) mvin(L.B + (j * L.B_stride + k) * D, encode_operand(b_sp, kk, cj), 1);
          else mvin(L.B + (k * L.B_stride + j) * D, encode_operand(b_sp, cj, kk), 1);
        }
        if (!ex_accumulate && k == 0) c_sp &= ~ACCUM_BIT;
        sub_op = "preload"; unrolled[M_PRELOAD]++;
        preload(encode_operand(i == 0 ? b_sp : GARBAGE_ADDR, cj, kk), encode_operand(c_sp, cj, ri));
        sub_op = i == 0 ? "compute_preloaded" : "compute_accumulated";
        unrolled[i == 0 ? M_COMPUTE_PRELOADED : M_COMPUTE_ACCUMULATED]++;
        compute(encode_operand(a_sp, kk, ri), encode_operand(GARBAGE_ADDR, D, D), i == 0);
        if (L.C && k + 1 == K) {
          if (!norm_act) {
            sub_op = "mvout"; unrolled[M_MVOUT]++;
            mvout(L.C + (i * L.C_stride + j) * D * csize, encode_operand(C_sp + (i * J + j) * D, cj, ri));
          } else if (j + 1 == J) {
            loop_ws_norm_passes(i, full_C, act);
          }
        }
      }
}

// §4.5: three passes over row block i (statistics, statistics, emit), NORM_STAT_IDS rows
// at a time, one DIM-wide chunk per mvout like libgemmini's loop_ws.
void Gemmini::loop_ws_norm_passes(uint32_t i, bool full_C, uint32_t act) {
  const LoopWsRegs& L = lws;
  const uint32_t D = dim;
  const uint32_t rows = D - (i + 1 == L.I ? L.pad_I : 0);
  const uint32_t Jc = L.J * D - L.pad_J;
  const uint64_t esize = full_C ? 4 : 1;
  const uint32_t Cb = ACC_BIT | ACCUM_BIT | (full_C ? FULL_BIT : 0);
  const uint32_t cb_row = i * L.J * D;
  const uint64_t Cd = L.C + uint64_t(i) * D * L.C_stride * esize;
  static const uint32_t LN[3][2] = {{NC_SUM, NC_MEAN}, {NC_VARIANCE, NC_INV_STDDEV}, {NC_RESET, NC_RESET}};
  static const uint32_t SM[3][2] = {{NC_MAX, NC_MAX}, {NC_SUM_EXP, NC_INV_SUM_EXP}, {NC_RESET, NC_RESET}};
  const auto& P = act == ACT_LAYERNORM ? LN : SM;
  const uint32_t nstat = cfg.norm_stat_ids;
  for (uint32_t row0 = 0; row0 < rows; row0 += nstat) {
    const uint32_t n = std::min(nstat, rows - row0);
    for (int pass = 0; pass < 3; ++pass)
      for (uint32_t s = 0; s < n; ++s) {
        sub_op = "config_norm"; unrolled[M_CONFIG_NORM]++;
        config_norm(uint64_t(s) << 8 | 1u << 17 | CFG_NORM, 0);  // set_stats_id_only
        const uint32_t r = row0 + s;
        for (uint32_t c0 = 0; c0 < Jc; c0 += D) {
          const uint32_t code = (c0 + D >= Jc) ? P[pass][1] : P[pass][0];
          sub_op = "mvout"; unrolled[M_MVOUT]++;
          mvout(Cd + (uint64_t(r) * L.C_stride + c0) * esize,
                encode_operand((Cb + cb_row + c0 + r) | code << 26, std::min(D, Jc - c0), 1));
        }
      }
  }
}

void Gemmini::loop_conv_ws(uint64_t rs1, uint64_t rs2) {
  bool no_bias = bits(rs1, 0, 0), wrot180 = bits(rs1, 1, 1), trans_output_1203 = bits(rs1, 2, 2);
  bool trans_weight_1203 = bits(rs1, 3, 3), trans_weight_0132 = bits(rs1, 4, 4), trans_input_3120 = bits(rs1, 5, 5);
  const bool dw = bits(rs1, 6, 6);
  int64_t max_pixels_per_row = bits(rs1, 15, 8);
  const uint32_t b_spad_id = bits(rs1, 17, 16), a_spad_id = bits(rs1, 19, 18);
  bool no_pool = bits(rs2, 0, 0), input_dilated = bits(rs2, 2, 2);
  const bool downsample = bits(rs2, 1, 1);
  const uint32_t activation = bits(rs2, 4, 3);
  if (max_pixels_per_row == 0) max_pixels_per_row = 1;
  if (!cfg.has_training_convs)  // §1.1: forced off on builds without training convs
    wrot180 = input_dilated = trans_output_1203 = trans_weight_1203 = trans_weight_0132 = trans_input_3120 = false;
  if (!cfg.has_max_pool) no_pool = true;

  const LoopConvRegs& R = lcv;
  const int64_t D = dim;
  const int64_t batch_size = R.batch_size, in_row_dim = R.in_row_dim, in_col_dim = R.in_col_dim;
  const int64_t in_channels = R.in_channels, out_channels = R.out_channels;
  const int64_t in_stride = R.in_stride, weight_stride = R.weight_stride, out_stride = R.out_stride;
  const int64_t out_row_dim = R.out_row_dim, out_col_dim = R.out_col_dim;
  const int64_t pool_out_row_dim = R.pool_out_row_dim, pool_out_col_dim = R.pool_out_col_dim;
  const int64_t stride = R.stride, kernel_dim = R.kernel_dim, kernel_dilation = R.kernel_dilation;
  const int64_t pool_size = R.pool_size, pool_stride = R.pool_stride;
  const int64_t batches = R.batches, porows = R.porows, pocols = R.pocols, pochs = R.pochs;
  const int64_t krows = R.krows, kcols = R.kcols, kchs = R.kchs;
  const int64_t lpad = R.lpad, rpad = R.rpad, upad = R.upad, dpad = R.dpad, plpad = R.plpad, pupad = R.pupad;
  const int64_t orows = R.orows, ocols = R.ocols;
  const uint64_t weights_addr = R.weights, output = R.output, bias = R.bias, input = R.input;
  const int64_t ochs = pochs;

  if (batches == 0 || orows == 0 || ocols == 0 || ochs == 0 || krows == 0 || kcols == 0 || kchs == 0)
    fail("batches=%lld orows=%lld ocols=%lld pochs=%lld krows=%lld kcols=%lld kchs=%lld: tile sizes must be non-zero",
         (long long)batches, (long long)orows, (long long)ocols, (long long)ochs, (long long)krows, (long long)kcols,
         (long long)kchs);
  if (kernel_dilation == 0) fail("kernel_dilation=0 (use 1 for no dilation)");
  if (stride == 0) fail("stride=0 is invalid");
  if (input_dilated && stride != 1) fail("input_dilated=1 requires stride=1, got stride=%lld", (long long)stride);

  auto UD = [&](int64_t x) { return input_dilated ? (x + 1) >> 1 : x; };
  auto DS = [&](int64_t x) { return downsample ? x >> 1 : x; };
  auto US = [&](int64_t x) { return downsample ? x << 1 : x; };

  const int64_t dil_krows = krows + (kernel_dilation - 1) * (krows - 1);
  const int64_t dil_kcols = kcols + (kernel_dilation - 1) * (kcols - 1);
  const int64_t irows_wo = orows * stride + dil_krows - 1, icols_wo = ocols * stride + dil_kcols - 1;
  const int64_t irows_unpad_wo = irows_wo - upad - dpad, icols_unpad_wo = icols_wo - lpad - rpad;
  const int64_t ichs = kchs;
  const int64_t irows_unpadded = input_dilated ? (irows_unpad_wo + 1) / 2 : irows_unpad_wo;
  const int64_t icols_unpadded = input_dilated ? (icols_unpad_wo + 1) / 2 : icols_unpad_wo;
  const int64_t irows = input_dilated ? irows_unpadded + UD(upad) + UD(dpad) : irows_wo;
  const int64_t icols = input_dilated ? icols_unpadded + UD(lpad) + UD(rpad) : icols_wo;

  const int64_t och_banks = (ochs + D - 1) / D, ich_banks = (kchs + D - 1) / D;
  const int64_t B_rows = trans_weight_0132 ? ich_banks * kcols * krows * ochs : och_banks * kcols * krows * kchs;
  const int64_t sp_rows = cfg.sp_rows(), sp_half = sp_rows / 2;
  const int64_t A_start = a_spad_id == 2 ? sp_half : 0;
  const int64_t B_start = (b_spad_id == 2 ? sp_rows : sp_half) - B_rows;
  if (B_start < 0) fail("weights need %lld scratchpad rows, more than the region holds", (long long)B_rows);
  const uint32_t D_start = ACC_BIT + conv_d_row;
  const uint32_t C_start = ACC_BIT + ACCUM_BIT + conv_c_row;
  // Bias and output regions alternate between accumulator halves on successive calls.
  if (bias != 0) conv_d_row = (conv_d_row + cfg.acc_rows / 2) % cfg.acc_rows;
  if (output != 0) conv_c_row = (conv_c_row + cfg.acc_rows / 2) % cfg.acc_rows;

  LoopScope scope(*this);
  const uint64_t one = bits_from_f32(1.0f);
  const int64_t MBL = cfg.max_block_len(), MBLA = cfg.max_block_len_acc();
  auto sub_config_ld = [&](uint64_t block_stride, uint64_t pixels, uint64_t id, uint64_t dram_stride) {
    sub_op = "config_ld"; unrolled[M_CONFIG_LD]++;
    config_ld(one << 32 | (block_stride & 0xFFFF) << 16 | (pixels & 0xFF) << 8 | id << 3 | CFG_LD, dram_stride);
  };
  auto sub_mvin = [&](uint64_t dram, int64_t sp, int64_t cols, int64_t rows, int state) {
    static const char* const nm[3] = {"mvin", "mvin2", "mvin3"};
    static const int mm[3] = {M_MVIN, M_MVIN2, M_MVIN3};
    sub_op = nm[state]; unrolled[mm[state]]++;
    mvin(dram, encode_operand(uint32_t(sp), uint64_t(cols) & 0xFFFF, uint64_t(rows) & 0xFFFF), state);
  };

  // ---- bias
  if (bias != 0) {
    const int64_t max_ochs = std::min(ochs, MBLA * D);
    sub_config_ld(batches * orows * ocols, 1, 2, 0);
    for (int64_t b = 0; b < batches; ++b)
      for (int64_t orow = 0; orow < orows; ++orow)
        for (int64_t ocol = 0; ocol < ocols; ocol += D) {
          const int64_t I = std::min(ocols - ocol, D);
          for (int64_t och = 0; och < ochs; och += max_ochs) {
            const int64_t J = std::min(ochs - och, max_ochs);
            const int64_t d_sp = D_start + (och / D) * batches * orows * ocols + b * orows * ocols + orow * ocols + ocol;
            sub_mvin(no_bias ? 0 : bias + och * 4, d_sp, J, I, 2);
          }
        }
  }

  // ---- input
  if (input != 0) {
    const int64_t max_chs = trans_input_3120 ? std::min(batches, MBL * D) : std::min(ichs, MBL * D);
    const int64_t dram_stride = trans_input_3120 ? batch_size : in_stride;
    const int64_t spad_stride = trans_input_3120 ? ichs * DS(irows) * DS(icols) : batches * DS(irows) * DS(icols);
    sub_config_ld(spad_stride, max_pixels_per_row, 0, US(dram_stride));
    const int64_t b_it = trans_input_3120 ? max_chs : 1, ich_it = trans_input_3120 ? 1 : max_chs;
    for (int64_t b = 0; b < batches; b += b_it)
      for (int64_t irow = -UD(upad); irow < irows_unpadded + UD(dpad); irow += US(1)) {
        const int64_t irow_padded = irow + UD(upad);
        for (int64_t icol = -UD(lpad); icol < icols_unpadded + UD(rpad);) {
          int64_t I = std::min(icols_unpadded - icol, US(D));
          if (icol < 0) I = std::min(-icol, D);
          else if (icol >= icols_unpadded) I = std::min(icols_unpadded + UD(rpad) - icol, D);
          const int64_t icol_padded = icol + UD(lpad);
          for (int64_t ich = 0; ich < ichs; ich += ich_it) {
            const int64_t K = trans_input_3120 ? std::min(batches - b, max_chs) : std::min(ichs - ich, max_chs);
            int64_t a_sp = trans_input_3120
                               ? A_start + (b / D) * spad_stride + ich * DS(irows) * DS(icols)
                               : A_start + (ich / D) * spad_stride + b * DS(irows) * DS(icols);
            a_sp += DS(irow_padded) * DS(icols) + DS(icol_padded);
            const bool zeros = irow < 0 || irow >= irows_unpadded || icol < 0 || icol >= icols_unpadded;
            uint64_t in = 0;
            if (!zeros)
              in = trans_input_3120
                       ? input + ((ich * in_row_dim * in_col_dim + irow * in_col_dim + icol) * batch_size + b)
                       : input + ((b * in_row_dim * in_col_dim + irow * in_col_dim + icol) * in_stride + ich);
            sub_mvin(in, a_sp, K, DS(I), 0);
          }
          icol += I;
        }
      }
  }

  // ---- weights
  if (weights_addr != 0) {
    const int64_t max_chs = trans_weight_0132 ? std::min(kchs, MBL * D) : std::min(ochs, MBL * D);
    const int64_t dram_stride = dw ? 1
                                : trans_weight_1203 ? kernel_dim * kernel_dim * out_channels
                                : trans_weight_0132 ? in_channels
                                                    : weight_stride;
    const int64_t blk = trans_weight_0132 ? krows * kcols * ochs : krows * kcols * kchs;
    sub_config_ld(blk, 1, 1, dram_stride);
    const int64_t och_it = trans_weight_0132 ? D : max_chs, kch_it = trans_weight_0132 ? max_chs : D;
    for (int64_t och = 0; och < ochs; och += och_it)
      for (int64_t krow = 0; krow < krows; ++krow)
        for (int64_t kcol = 0; kcol < kcols; ++kcol)
          for (int64_t kch = 0; kch < kchs; kch += kch_it) {
            int64_t K = std::min(kchs - kch, D), J = std::min(ochs - och, max_chs);
            if (trans_weight_0132) { K = std::min(ochs - och, D); J = std::min(kchs - kch, max_chs); }
            const int64_t b_sp = trans_weight_0132
                                     ? B_start + (kch / D) * krows * kcols * ochs + krow * kcols * ochs + kcol * ochs + och
                                     : B_start + (och / D) * krows * kcols * kchs + krow * kcols * kchs + kcol * kchs + kch;
            uint64_t w;
            if (dw) w = weights_addr + (krow * kernel_dim + kcol);
            else if (trans_weight_1203) w = weights_addr + ((kch * kernel_dim * kernel_dim + krow * kernel_dim + kcol) * out_channels + och);
            else if (trans_weight_0132) w = weights_addr + ((krow * kernel_dim * out_channels + kcol * out_channels + och) * in_channels + kch);
            else w = weights_addr + ((krow * kernel_dim * in_channels + kcol * in_channels + kch) * weight_stride + och);
            sub_mvin(w, b_sp, J, K, 1);
          }
  }

  // ---- compute
  {
    const int64_t b_it = trans_input_3120 ? D : 1;
    const int64_t ocol_it = trans_input_3120 ? 1 : (D << (input_dilated ? 1 : 0));
    if (trans_input_3120) {
      sub_op = "config_ex"; unrolled[M_CONFIG_EX]++;
      config_ex(uint64_t(irows * icols & 0xFFFF) << 16 | 1u << 7, uint64_t(orows * ocols & 0xFFFF) << 48);
    }
    for (int64_t och = 0; och < ochs; och += D)
      for (int64_t krow = 0; krow < krows; ++krow)
        for (int64_t kcol = 0; kcol < kcols; kcol += max_pixels_per_row)
          for (int64_t kch = 0; kch < kchs; kch += D) {
            bool new_weights = true;
            for (int64_t b = 0; b < batches; b += b_it)
              for (int64_t orow = 0; orow < orows; ++orow) {
                if (input_dilated && ((krow * kernel_dilation + orow - upad) % 2 != 0)) continue;
                for (int64_t ocol = 0; ocol < ocols;) {
                  if (input_dilated && ((kcol * kernel_dilation + ocol - lpad) % 2 != 0)) { ++ocol; continue; }
                  const int64_t irow = UD(orow * stride + krow * kernel_dilation);
                  const int64_t icol = UD(ocol * stride + kcol * kernel_dilation);
                  const int64_t c_sp = C_start + (och / D) * batches * orows * ocols + b * orows * ocols + orow * ocols + ocol;
                  const int64_t pixels = std::min(kcols - kcol, max_pixels_per_row);
                  const int64_t I = trans_input_3120 ? std::min(batches - b, D)
                                                     : UD(std::min(ocols - ocol, D << (input_dilated ? 1 : 0)));
                  const int64_t J = std::min(ochs - och, D);
                  const int64_t K = pixels * std::min(kchs - kch, D);
                  int64_t a_sp = trans_input_3120
                                     ? A_start + (b / D) * kchs * DS(irows) * DS(icols) + kch * DS(irows) * DS(icols)
                                     : A_start + (kch / D) * batches * DS(irows) * DS(icols) + b * DS(irows) * DS(icols);
                  a_sp += DS(irow) * DS(icols) + DS(icol);
                  const int64_t krow_ = wrot180 ? krows - krow - 1 : krow, kcol_ = wrot180 ? kcols - kcol - 1 : kcol;
                  const int64_t b_sp = trans_weight_0132
                                           ? B_start + (kch / D) * krows * kcols * ochs + krow_ * kcols * ochs + kcol_ * ochs + och
                                           : B_start + (och / D) * krows * kcols * kchs + krow_ * kcols * kchs + kcol_ * kchs + kch;
                  sub_op = "preload"; unrolled[M_PRELOAD]++;
                  preload(encode_operand(new_weights ? uint32_t(b_sp) : GARBAGE_ADDR, J, K),
                          encode_operand(uint32_t(c_sp), J, I));
                  sub_op = new_weights ? "compute_preloaded" : "compute_accumulated";
                  unrolled[new_weights ? M_COMPUTE_PRELOADED : M_COMPUTE_ACCUMULATED]++;
                  compute(encode_operand(uint32_t(a_sp), K, I), encode_operand(GARBAGE_ADDR, J, I), new_weights);
                  ocol += ocol_it;
                  new_weights = false;
                }
              }
          }
  }

  // ---- output
  if (output != 0 && no_pool) {
    for (int64_t b = 0; b < batches; ++b)
      for (int64_t orow = 0; orow < orows; ++orow)
        for (int64_t ocol = 0; ocol < ocols; ocol += D) {
          const int64_t I = std::min(ocols - ocol, D);
          for (int64_t och = 0; och < ochs; och += D) {
            const int64_t J = std::min(ochs - och, D);
            const int64_t c_sp = C_start + (och / D) * batches * orows * ocols + b * orows * ocols + orow * ocols + ocol;
            const uint64_t out =
                trans_output_1203 ? output + ((orow * out_col_dim * batch_size + ocol * batch_size + b) * out_channels + och)
                                  : output + ((b * out_row_dim * out_col_dim + orow * out_col_dim + ocol) * out_stride + och);
            sub_op = "mvout"; unrolled[M_MVOUT]++;
            mvout(out, encode_operand(uint32_t(c_sp), J, I));
          }
        }
  } else if (output != 0) {
    const uint64_t scale_bits = bits_from_f32(acc_scale_f);
    sub_op = "config_st"; unrolled[M_CONFIG_ST]++;
    config_st(uint64_t(ocols & 0xFF) << 56 | uint64_t(orows & 0xFF) << 48 | uint64_t(pocols & 0xFF) << 40 |
                  uint64_t(porows & 0xFF) << 32 | uint64_t(pool_out_col_dim & 0xFF) << 24 | uint64_t(plpad & 3) << 10 |
                  uint64_t(pupad & 3) << 8 | uint64_t(pool_size & 3) << 6 | uint64_t(pool_stride & 3) << 4 |
                  uint64_t(activation) << 2 | CFG_ST,
              scale_bits << 32 | uint64_t(out_stride & 0xFFFFFFFF));
    for (int64_t b = 0; b < batches; ++b)
      for (int64_t poch = 0; poch < pochs; poch += D) {
        const int64_t channels = poch + D >= pochs ? pochs - poch : D;
        const int64_t c_sp = C_start + (poch / D) * batches * orows * ocols + b * orows * ocols;
        sub_op = "mvout"; unrolled[M_MVOUT]++;
        mvout(output + ((b * pool_out_row_dim * pool_out_col_dim) * out_stride + poch), encode_operand(uint32_t(c_sp), channels, 0));
      }
    sub_op = "config_st"; unrolled[M_CONFIG_ST]++;
    config_st(uint64_t(activation) << 2 | CFG_ST, scale_bits << 32 | uint64_t(out_stride & 0xFFFFFFFF));
  }
}

}  // namespace gemmini
