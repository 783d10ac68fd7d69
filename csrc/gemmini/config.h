// Hardware configuration of one Gemmini build, read once at start-up.
//
// The file format is exactly what l2g.hwconfig.GemminiConfig.extension_config() writes:
// flat `key = value` lines, `#` comments, timing keys prefixed `timing.`.  Unknown keys are
// fatal so that the Python side and this extension can never silently disagree.
#pragma once
#include <cstdint>
#include <string>

namespace gemmini {

// Mirrors l2g.hwconfig.TimingParams (same names, same defaults; see that file for why
// each value was chosen).  All of it feeds the analytical cycle model in timing.cc.
struct TimingParams {
  double cpu_cpi = 1.0;
  uint32_t dma_bytes_per_cycle = 16;
  uint32_t dma_latency_cycles = 80;
  uint32_t cmd_issue_cycles = 1;
  uint32_t rs_entries_ld = 8;
  uint32_t rs_entries_ex = 16;
  uint32_t rs_entries_st = 4;
  uint32_t mesh_latency_cycles = 4;
  uint32_t acc_read_latency_cycles = 6;
  uint32_t norm_latency_cycles = 20;
};

struct HwConfig {
  std::string name = "default";
  uint32_t dim = 16;
  uint32_t sp_banks = 4;
  uint32_t sp_bank_rows = 4096;
  uint32_t acc_banks = 2;
  uint32_t acc_rows = 1024;
  bool has_normalizations = false;
  uint32_t norm_stat_ids = 2;
  bool has_max_pool = true;
  bool has_training_convs = true;
  TimingParams timing;

  uint32_t sp_rows() const { return sp_banks * sp_bank_rows; }
  // MAX_BYTES = 64 in both covered configs; block lengths never drop below 1 tile.
  uint32_t max_block_len() const { return dim >= 64 ? 1 : 64 / dim; }
  uint32_t max_block_len_acc() const { return dim * 4 >= 64 ? 1 : 64 / (dim * 4); }
};

// Reads $L2G_GEMMINI_CONFIG, or returns the built-in `default` config when it is unset.
// Prints a one-line error and exits with status 2 on a malformed file.
HwConfig load_config_from_env();
HwConfig parse_config(const std::string& text, const std::string& origin);

}  // namespace gemmini
