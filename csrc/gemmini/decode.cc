#include "decode.h"

namespace gemmini {

static const char* const kNames[M_COUNT] = {
  "config_ex", "config_ld", "config_st", "config_norm",
  "mvin", "mvin2", "mvin3", "mvout", "preload", "compute_preloaded", "compute_accumulated",
  "flush", "loop_ws", "loop_ws_config_bounds", "loop_ws_config_addrs_ab", "loop_ws_config_addrs_dc",
  "loop_ws_config_strides_ab", "loop_ws_config_strides_dc",
  "loop_conv_ws", "loop_conv_ws_config_1", "loop_conv_ws_config_2", "loop_conv_ws_config_3",
  "loop_conv_ws_config_4", "loop_conv_ws_config_5", "loop_conv_ws_config_6",
  "counter", "fence", "unknown",
};

const char* mnemonic_name(int m) { return (m >= 0 && m < M_COUNT) ? kNames[m] : "unknown"; }

int mnemonic_of(uint32_t funct, uint64_t rs1) {
  switch (funct) {
    case F_CONFIG:
      switch (rs1 & 3) {
        case CFG_EX: return M_CONFIG_EX;
        case CFG_LD: return M_CONFIG_LD;
        case CFG_ST: return M_CONFIG_ST;
        default: return M_CONFIG_NORM;
      }
    case F_MVIN2: return M_MVIN2;
    case F_MVIN: return M_MVIN;
    case F_MVOUT: return M_MVOUT;
    case F_COMPUTE_PRELOADED: return M_COMPUTE_PRELOADED;
    case F_COMPUTE_ACCUMULATED: return M_COMPUTE_ACCUMULATED;
    case F_PRELOAD: return M_PRELOAD;
    case F_FLUSH: return M_FLUSH;
    case F_LOOP_WS: return M_LOOP_WS;
    case F_LOOP_WS_CONFIG_BOUNDS: return M_LOOP_WS_CONFIG_BOUNDS;
    case F_LOOP_WS_CONFIG_ADDRS_AB: return M_LOOP_WS_CONFIG_ADDRS_AB;
    case F_LOOP_WS_CONFIG_ADDRS_DC: return M_LOOP_WS_CONFIG_ADDRS_DC;
    case F_LOOP_WS_CONFIG_STRIDES_AB: return M_LOOP_WS_CONFIG_STRIDES_AB;
    case F_LOOP_WS_CONFIG_STRIDES_DC: return M_LOOP_WS_CONFIG_STRIDES_DC;
    case F_MVIN3: return M_MVIN3;
    case F_LOOP_CONV_WS: return M_LOOP_CONV_WS;
    case F_LOOP_CONV_WS_CONFIG_1: return M_LOOP_CONV_WS_CONFIG_1;
    case F_LOOP_CONV_WS_CONFIG_2: return M_LOOP_CONV_WS_CONFIG_2;
    case F_LOOP_CONV_WS_CONFIG_3: return M_LOOP_CONV_WS_CONFIG_3;
    case F_LOOP_CONV_WS_CONFIG_4: return M_LOOP_CONV_WS_CONFIG_4;
    case F_LOOP_CONV_WS_CONFIG_5: return M_LOOP_CONV_WS_CONFIG_5;
    case F_LOOP_CONV_WS_CONFIG_6: return M_LOOP_CONV_WS_CONFIG_6;
    case F_COUNTER: return M_COUNTER;
    case F_FENCE: return M_FENCE;
    default: return M_UNKNOWN;
  }
}

LocalAddr decode_local(uint32_t raw) {
  LocalAddr a;
  a.raw = raw;
  // Exactly 0xFFFFFFFF, as libgemmini compares; the RTL's looser test accepts a superset
  // that software never produces (§1.3).
  a.garbage = raw == GARBAGE_ADDR;
  a.is_acc = (raw >> 31) & 1;
  a.accumulate = (raw >> 30) & 1;
  a.read_full = (raw >> 29) & 1;
  a.norm_cmd = (raw >> 26) & 7;
  a.row = raw & 0x3FFF;
  a.junk = (raw >> 14) & 0xFFF;
  return a;
}

}  // namespace gemmini
