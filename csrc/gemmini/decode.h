// Instruction and operand field decoding for Gemmini's RoCC ISA (gemmini-isa.md §1.3, §2).
// Kept free of simulator state so every unit (and the loop unrollers) decodes identically.
#pragma once
#include <cstdint>

namespace gemmini {

enum Funct : uint32_t {
  F_CONFIG = 0,
  F_MVIN2 = 1,  // numbering quirk: funct 1 is mvin2 (load state 1)
  F_MVIN = 2,
  F_MVOUT = 3,
  F_COMPUTE_PRELOADED = 4,
  F_COMPUTE_ACCUMULATED = 5,
  F_PRELOAD = 6,
  F_FLUSH = 7,
  F_LOOP_WS = 8,
  F_LOOP_WS_CONFIG_BOUNDS = 9,
  F_LOOP_WS_CONFIG_ADDRS_AB = 10,
  F_LOOP_WS_CONFIG_ADDRS_DC = 11,
  F_LOOP_WS_CONFIG_STRIDES_AB = 12,
  F_LOOP_WS_CONFIG_STRIDES_DC = 13,
  F_MVIN3 = 14,
  F_LOOP_CONV_WS = 15,
  F_LOOP_CONV_WS_CONFIG_1 = 16,
  F_LOOP_CONV_WS_CONFIG_2 = 17,
  F_LOOP_CONV_WS_CONFIG_3 = 18,
  F_LOOP_CONV_WS_CONFIG_4 = 19,
  F_LOOP_CONV_WS_CONFIG_5 = 20,
  F_LOOP_CONV_WS_CONFIG_6 = 21,
  F_COUNTER = 126,
  F_FENCE = 127,  // accepted as a no-op fence, like libgemmini; real software never emits it
};

// config sub-op in rs1[1:0]
enum ConfigKind : uint32_t { CFG_EX = 0, CFG_LD = 1, CFG_ST = 2, CFG_NORM = 3 };

// Activation codes shared by config_ex (sys path) and config_st/config_norm (acc read-out).
enum Act : uint32_t { ACT_NONE = 0, ACT_RELU = 1, ACT_LAYERNORM = 2, ACT_IGELU = 3, ACT_SOFTMAX = 4 };

// norm_cmd codes (accumulator read address bits 28:26), §4.3
enum NormCmd : uint32_t {
  NC_RESET = 0, NC_SUM = 1, NC_MEAN = 2, NC_VARIANCE = 3,
  NC_INV_STDDEV = 4, NC_MAX = 5, NC_SUM_EXP = 6, NC_INV_SUM_EXP = 7,
};

// Names used in error messages and in the stats file.  A stable small integer id per
// mnemonic lets the hot path count instructions in a plain array.
enum Mnemonic : int {
  M_CONFIG_EX, M_CONFIG_LD, M_CONFIG_ST, M_CONFIG_NORM,
  M_MVIN, M_MVIN2, M_MVIN3, M_MVOUT, M_PRELOAD, M_COMPUTE_PRELOADED, M_COMPUTE_ACCUMULATED,
  M_FLUSH, M_LOOP_WS, M_LOOP_WS_CONFIG_BOUNDS, M_LOOP_WS_CONFIG_ADDRS_AB, M_LOOP_WS_CONFIG_ADDRS_DC,
  M_LOOP_WS_CONFIG_STRIDES_AB, M_LOOP_WS_CONFIG_STRIDES_DC,
  M_LOOP_CONV_WS, M_LOOP_CONV_WS_CONFIG_1, M_LOOP_CONV_WS_CONFIG_2, M_LOOP_CONV_WS_CONFIG_3,
  M_LOOP_CONV_WS_CONFIG_4, M_LOOP_CONV_WS_CONFIG_5, M_LOOP_CONV_WS_CONFIG_6,
  M_COUNTER, M_FENCE, M_UNKNOWN, M_COUNT
};
const char* mnemonic_name(int m);
// Mnemonic of an instruction; config needs rs1 to tell EX/LD/ST/NORM apart.
int mnemonic_of(uint32_t funct, uint64_t rs1);

inline uint64_t bits(uint64_t v, unsigned hi, unsigned lo) {
  return (v >> lo) & ((hi - lo >= 63) ? ~0ull : ((1ull << (hi - lo + 1)) - 1));
}

constexpr uint32_t GARBAGE_ADDR = 0xFFFFFFFFu;

// One local (private-memory) address, rs[31:0].
struct LocalAddr {
  uint32_t raw = 0;
  bool garbage = false;
  bool is_acc = false;
  bool accumulate = false;  // acc writes only
  bool read_full = false;   // acc reads only
  uint32_t norm_cmd = 0;    // acc reads only
  uint32_t row = 0;         // data[13:0]
  uint32_t junk = 0;        // bits 25:14, which the RTL drops; nonzero is misuse here
};
LocalAddr decode_local(uint32_t raw);

// The shared operand layout of mvin/mvout/preload/compute (§2.3).
struct Operand {
  LocalAddr addr;
  uint32_t cols = 0;  // [47:32]
  uint32_t rows = 0;  // [63:48]
};
inline Operand decode_operand(uint64_t v) {
  Operand o;
  o.addr = decode_local(static_cast<uint32_t>(v));
  o.cols = static_cast<uint32_t>(bits(v, 47, 32));
  o.rows = static_cast<uint32_t>(bits(v, 63, 48));
  return o;
}
// Inverse, used by the loop unrollers to issue primitive ops exactly as software would.
inline uint64_t encode_operand(uint32_t addr, uint64_t cols, uint64_t rows) {
  return (rows << 48) | (cols << 32) | addr;
}

}  // namespace gemmini
