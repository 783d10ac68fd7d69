// The Gemmini accelerator state and its functional units.  One object per simulated core.
// The units are member functions split over files by concern:
//   memory.cc   scratchpad/accumulator storage and bounds checks
//   dma.cc      mvin / mvout (scaling, shrunk, block strides, pixel repeats, pooling)
//   mesh.cc     config_ex, preload, compute (OS and WS)
//   norm.cc     I-BERT normalization unit (config_norm, statistics, read-out activations)
//   loops.cc    loop_ws and loop_conv_ws unrolled into the primitive ops
//   counters.cc funct 126
//   extension.cc dispatch, error reporting, stats/dump writers
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "config.h"
#include "decode.h"
#include "timing.h"

class processor_t;

namespace gemmini {

// A Gemmini misuse detected while executing a command.  Caught by the dispatcher, which
// prints `gemmini: error: <mnemonic> at pc=0x..: <message>` and exits with status 3.
struct GemminiError {
  std::string msg;
};
[[noreturn]] void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

struct LoadState {
  uint64_t stride = 0;
  float scale = 1.0f;
  bool shrunk = false;
  uint32_t block_stride = 0;
  uint32_t pixel_repeats = 1;
};

struct NormStat {
  int32_t sum = 0;
  int32_t count = 0;
  int32_t running_max = INT32_MIN;
  int32_t max = INT32_MIN;
  int32_t mean = 0;
  int32_t stddev = 1;  // integer sqrt(var)
  float inv_stddev = 0.0f;
  float inv_sum_exp = 0.0f;
};

struct LoopWsRegs {
  uint32_t I = 0, J = 0, K = 0, pad_I = 0, pad_J = 0, pad_K = 0;
  uint64_t A = 0, B = 0, D = 0, C = 0;
  uint64_t A_stride = 0, B_stride = 0, D_stride = 0, C_stride = 0;
};

struct LoopConvRegs {
  uint32_t batch_size = 0, in_row_dim = 0, in_col_dim = 0, in_channels = 0, out_channels = 0;
  uint32_t out_row_dim = 0, pool_out_row_dim = 0, out_col_dim = 0, pool_out_col_dim = 0;
  uint32_t stride = 0, padding = 0, kernel_dim = 0;
  uint32_t pool_size = 0, pool_stride = 0, pool_padding = 0;
  uint32_t batches = 0, porows = 0, pocols = 0, pochs = 0;
  uint32_t krows = 0, kcols = 0, kchs = 0, lpad = 0, rpad = 0, upad = 0, dpad = 0, plpad = 0;
  uint32_t orows = 0, prpad = 0, pupad = 0, pdpad = 0, kernel_dilation = 0;
  uint32_t in_stride = 0, weight_stride = 0, out_stride = 0, ocols = 0;
  uint64_t weights = 0, output = 0, bias = 0, input = 0;
};

constexpr int kNumCounters = 8;
constexpr int kNumExternal = 8;

class Gemmini {
 public:
  explicit Gemmini(const HwConfig& cfg);

  // Executes one RoCC command; returns the rd value.  Throws GemminiError on misuse.
  uint64_t execute(processor_t* p, uint32_t funct, uint64_t rs1, uint64_t rs2, uint64_t minstret);
  void finish();  // end of program: CPU waits for Gemmini; write stats and dump once

  const HwConfig cfg;
  const uint32_t dim;

  // ---- memory.cc -------------------------------------------------------------------
  std::vector<int8_t> spad;  // sp_rows × dim
  std::vector<int32_t> acc;  // acc_rows × dim
  int8_t* sp_row(uint32_t row) { return &spad[size_t(row) * dim]; }
  int32_t* acc_row(uint32_t row) { return &acc[size_t(row) * dim]; }
  // Bounds-check rows [first, last] of one memory; `what` names the field for the message.
  void check_rows(bool is_acc, int64_t first, int64_t last, const char* what) const;
  void check_addr_bits(const LocalAddr& a, const char* what) const;

  // ---- dma.cc ----------------------------------------------------------------------
  void config_ld(uint64_t rs1, uint64_t rs2);
  void config_st(uint64_t rs1, uint64_t rs2);
  void mvin(uint64_t dram, uint64_t rs2, int state);
  void mvout(uint64_t dram, uint64_t rs2);
  void mvout_pooled(uint64_t dram, const Operand& src);
  void dram_read(uint64_t addr, uint8_t* buf, size_t n);
  void dram_write(uint64_t addr, const uint8_t* buf, size_t n);
  LoadState ld[3];
  uint64_t st_stride = 0;
  uint32_t acc_act = ACT_NONE;  // 3-bit read-out activation
  float acc_scale_f = 0.0f;     // RTL resets acc_scale to 0.0 (§1.4)
  uint32_t pool_stride = 0, pool_size = 0, pool_upad = 0, pool_lpad = 0;
  uint32_t pool_out_dim = 0, pool_porows = 0, pool_pocols = 0, pool_orows = 0, pool_ocols = 0;

  // ---- mesh.cc ---------------------------------------------------------------------
  void config_ex(uint64_t rs1, uint64_t rs2);
  void preload(uint64_t rs1, uint64_t rs2);
  void compute(uint64_t rs1, uint64_t rs2, bool preloaded);
  bool ws = false;  // dataflow: false = OS, true = WS
  uint32_t sys_act = ACT_NONE;
  uint32_t sys_shift = 0;
  float sys_acc_scale = 1.0f;
  bool a_transpose = false, b_transpose = false;
  uint32_t a_stride = 1, c_stride = 1;
  bool have_preload = false;
  Operand pre_bd, pre_c;
  std::vector<int32_t> pe;       // OS: dim×dim stationary partial sums
  std::vector<int32_t> weights;  // WS: dim×dim stationary weights (k-major), zero padded
  uint32_t w_cols = 0, w_rows = 0;
  std::vector<int32_t> pre_tile;  // operand read by the last preload (B in WS, D in OS)
  RowSpan pre_span{false, 0, 0, 1};  // timing: rows that preload read

  // ---- norm.cc ---------------------------------------------------------------------
  void config_norm(uint64_t rs1, uint64_t rs2);
  // Statistics pass over one DIM-wide block of one accumulator row (norm_cmd != 0).
  void norm_stats(const int32_t* x, uint32_t n, uint32_t cmd);
  // Read-out of one accumulator row block through activation/normalization and scale.
  void acc_readout(const int32_t* x, uint32_t n, int8_t* out);
  void norm_reset_after_emit();
  int32_t qb = 0, qc = 0, qln2 = 0, qln2_inv = 0;
  uint32_t stat_id = 0;
  std::vector<NormStat> stat;
  std::vector<uint64_t> stat_ready;  // timing: when each slot's last statistic is final

  // ---- loops.cc --------------------------------------------------------------------
  void loop_ws(uint64_t rs1, uint64_t rs2);
  void loop_conv_ws(uint64_t rs1, uint64_t rs2);
  void loop_ws_norm_passes(uint32_t i, bool full_C, uint32_t act);
  LoopWsRegs lws;
  bool loop_sp_parity = false, loop_acc_parity = false;  // timing-only double buffering
  LoopConvRegs lcv;
  uint32_t conv_d_row = 0, conv_c_row = 0;  // halves alternate across calls (§3.8)
  bool in_loop = false;
  const char* sub_op = nullptr;  // primitive op a loop is executing, for error messages

  // ---- counters.cc -----------------------------------------------------------------
  uint64_t counter_op(uint64_t rs1);
  uint64_t event_value(uint32_t event, bool external);
  uint32_t ctr_event[kNumCounters] = {};
  bool ctr_external[kNumCounters] = {};
  uint64_t ctr_base[kNumCounters] = {};
  uint32_t ctr_snapshot[kNumCounters] = {};
  bool snapshot_on = false;

  // ---- bookkeeping (extension.cc) ----------------------------------------------------
  processor_t* proc = nullptr;
  uint64_t cur_minstret = 0;
  Timing timing;
  bool timing_on = true;
  bool trace = false;  // L2G_GEMMINI_TRACE=1: one stderr line per CPU-issued command
  uint64_t cpu_issue_time = 0;  // when the CPU's current command entered Gemmini
  // Time at which the current primitive command enters Gemmini: the CPU's issue time, or
  // the loop unroller's next slot for commands a loop instruction generates.
  uint64_t op_issue(int unit) { return in_loop ? timing.loop_issue(unit) : cpu_issue_time; }
  uint64_t count[M_COUNT] = {};         // commands issued by the CPU
  uint64_t unrolled[M_COUNT] = {};      // primitive commands issued by loop unrollers
  uint64_t macs = 0;
  bool finished = false;
  void write_stats(const char* path);
  void write_dump(const char* path);
  void count_op(int m) { (in_loop ? unrolled : count)[m]++; }
};

}  // namespace gemmini
