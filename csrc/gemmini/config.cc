#include "config.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace gemmini {

[[noreturn]] static void config_fail(const std::string& origin, int line, const std::string& what) {
  std::fprintf(stderr, "gemmini: error: config %s:%d: %s\n", origin.c_str(), line, what.c_str());
  std::exit(2);
}

static std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

static uint64_t parse_uint(const std::string& v, const std::string& origin, int line, const std::string& key) {
  char* end = nullptr;
  unsigned long long x = std::strtoull(v.c_str(), &end, 0);
  if (v.empty() || *end || v[0] == '-') config_fail(origin, line, key + ": expected a non-negative integer, got '" + v + "'");
  return x;
}

static bool parse_bool(const std::string& v, const std::string& origin, int line, const std::string& key) {
  if (v == "1" || v == "true" || v == "True") return true;
  if (v == "0" || v == "false" || v == "False") return false;
  config_fail(origin, line, key + ": expected 0 or 1, got '" + v + "'");
}

static double parse_float(const std::string& v, const std::string& origin, int line, const std::string& key) {
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end || !(x >= 0)) config_fail(origin, line, key + ": expected a non-negative number, got '" + v + "'");
  return x;
}

HwConfig parse_config(const std::string& text, const std::string& origin) {
  HwConfig c;
  std::istringstream in(text);
  std::string raw;
  int line = 0;
  while (std::getline(in, raw)) {
    ++line;
    size_t hash = raw.find('#');
    std::string l = trim(hash == std::string::npos ? raw : raw.substr(0, hash));
    if (l.empty()) continue;
    size_t eq = l.find('=');
    if (eq == std::string::npos) config_fail(origin, line, "expected 'key = value', got '" + l + "'");
    std::string k = trim(l.substr(0, eq)), v = trim(l.substr(eq + 1));
    auto U = [&](uint32_t& dst) { dst = static_cast<uint32_t>(parse_uint(v, origin, line, k)); };
    auto B = [&](bool& dst) { dst = parse_bool(v, origin, line, k); };
    TimingParams& t = c.timing;
    if (k == "name") c.name = v;
    else if (k == "dim") U(c.dim);
    else if (k == "sp_banks") U(c.sp_banks);
    else if (k == "sp_bank_rows") U(c.sp_bank_rows);
    else if (k == "acc_banks") U(c.acc_banks);
    else if (k == "acc_rows") U(c.acc_rows);
    else if (k == "has_normalizations") B(c.has_normalizations);
    else if (k == "norm_stat_ids") U(c.norm_stat_ids);
    else if (k == "has_max_pool") B(c.has_max_pool);
    else if (k == "has_training_convs") B(c.has_training_convs);
    else if (k == "timing.cpu_cpi") t.cpu_cpi = parse_float(v, origin, line, k);
    else if (k == "timing.dma_bytes_per_cycle") U(t.dma_bytes_per_cycle);
    else if (k == "timing.dma_latency_cycles") U(t.dma_latency_cycles);
    else if (k == "timing.cmd_issue_cycles") U(t.cmd_issue_cycles);
    else if (k == "timing.rs_entries_ld") U(t.rs_entries_ld);
    else if (k == "timing.rs_entries_ex") U(t.rs_entries_ex);
    else if (k == "timing.rs_entries_st") U(t.rs_entries_st);
    else if (k == "timing.mesh_latency_cycles") U(t.mesh_latency_cycles);
    else if (k == "timing.acc_read_latency_cycles") U(t.acc_read_latency_cycles);
    else if (k == "timing.norm_latency_cycles") U(t.norm_latency_cycles);
    else config_fail(origin, line, "unknown key '" + k + "' (l2g.hwconfig and the extension disagree; rebuild?)");
  }
  auto pow2 = [](uint32_t x) { return x && !(x & (x - 1)); };
  if (c.dim != 8 && c.dim != 16 && c.dim != 32)
    config_fail(origin, 0, "dim=" + std::to_string(c.dim) + " unsupported (8, 16 or 32)");
  if (!pow2(c.sp_banks) || !pow2(c.sp_bank_rows) || !pow2(c.acc_banks) || !pow2(c.acc_rows))
    config_fail(origin, 0, "memory sizes must be powers of two");
  if (c.sp_rows() > (1u << 14)) config_fail(origin, 0, "scratchpad rows exceed the 14-bit local address field");
  if (c.acc_rows > (1u << 14)) config_fail(origin, 0, "accumulator rows exceed the 14-bit local address field");
  if (c.norm_stat_ids == 0 || c.norm_stat_ids > 256) config_fail(origin, 0, "norm_stat_ids must be 1..256");
  if (c.timing.dma_bytes_per_cycle == 0) config_fail(origin, 0, "timing.dma_bytes_per_cycle must be > 0");
  if (!c.timing.rs_entries_ld || !c.timing.rs_entries_ex || !c.timing.rs_entries_st)
    config_fail(origin, 0, "timing.rs_entries_* must be > 0");
  return c;
}

HwConfig load_config_from_env() {
  const char* path = std::getenv("L2G_GEMMINI_CONFIG");
  if (!path || !*path) return HwConfig{};
  std::ifstream f(path);
  if (!f) {
    std::fprintf(stderr, "gemmini: error: cannot read L2G_GEMMINI_CONFIG=%s\n", path);
    std::exit(2);
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_config(ss.str(), path);
}

}  // namespace gemmini
