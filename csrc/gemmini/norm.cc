// I-BERT normalization unit (gemmini-isa.md §4): config_norm, the per-slot statistics
// updated by accumulator reads with norm_cmd != 0, and the read-out activations
// (LAYERNORM, IGELU, SOFTMAX) applied when a row is emitted.
#include <algorithm>
#include <cmath>

#include "gemmini.h"
#include "numeric.h"

namespace gemmini {

void Gemmini::config_norm(uint64_t rs1, uint64_t rs2) {
  if (!cfg.has_normalizations)
    fail("config_norm needs the normalization unit; config '%s' has has_normalizations=0", cfg.name.c_str());
  const uint32_t id = bits(rs1, 15, 8);
  if (id >= cfg.norm_stat_ids) fail("stat_id=%u exceeds NORM_STAT_IDS=%u", id, cfg.norm_stat_ids);
  stat_id = id;
  if (bits(rs1, 17, 17)) return;  // set_stats_id_only
  const bool act_msb = bits(rs1, 16, 16);
  if (act_msb && (acc_act & 3))
    fail("act_msb=1 with config_st act=%u gives code %u; SOFTMAX needs config_st act=0", acc_act & 3,
         4 | (acc_act & 3));
  qb = static_cast<int32_t>(bits(rs2, 31, 0));
  qc = static_cast<int32_t>(bits(rs2, 63, 32));
  const int32_t q = static_cast<int32_t>(bits(rs1, 63, 32));
  if (bits(rs1, 18, 18)) qln2_inv = q;
  else qln2 = q;
  acc_act = (acc_act & 3) | (act_msb ? 4u : 0u);  // RTL: {act_msb, act[1:0]}
}

static int32_t isqrt_floor(int64_t v) {
  if (v <= 0) return 0;
  int64_t r = static_cast<int64_t>(std::sqrt(static_cast<double>(v)));
  while (r * r > v) --r;
  while ((r + 1) * (r + 1) <= v) ++r;
  return static_cast<int32_t>(r);
}

void Gemmini::norm_stats(const int32_t* x, uint32_t n, uint32_t cmd) {
  NormStat& s = stat[stat_id];
  switch (cmd) {
    case NC_SUM:
    case NC_MEAN:
      for (uint32_t i = 0; i < n; ++i) s.sum = wadd(s.sum, x[i]);
      s.count = wadd(s.count, static_cast<int32_t>(n));
      if (cmd == NC_MEAN) {
        // int32 division truncating toward zero; guard the one overflowing quotient
        s.mean = (s.count == 0) ? 0 : (s.sum == INT32_MIN && s.count == -1) ? INT32_MIN : s.sum / s.count;
        s.sum = s.count = 0;
      }
      break;
    case NC_VARIANCE:
    case NC_INV_STDDEV:
      for (uint32_t i = 0; i < n; ++i) {
        const int32_t d = wadd(x[i], wmul(s.mean, -1));
        s.sum = wadd(s.sum, wmul(d, d));
      }
      s.count = wadd(s.count, static_cast<int32_t>(n));
      if (cmd == NC_INV_STDDEV) {
        const int32_t var = s.count > 0 ? s.sum / s.count : 0;
        int32_t sd = isqrt_floor(var);
        if (sd == 0) sd = 1;
        s.stddev = sd;
        s.inv_stddev = 1.0f / static_cast<float>(sd);
        s.sum = s.count = 0;
      }
      break;
    case NC_MAX:
      for (uint32_t i = 0; i < n; ++i) s.running_max = std::max(s.running_max, x[i]);
      break;
    case NC_SUM_EXP:
    case NC_INV_SUM_EXP:
      s.max = s.running_max;
      for (uint32_t i = 0; i < n; ++i) s.sum = wadd(s.sum, iexp(wadd(x[i], wmul(s.max, -1)), qb, qc, qln2, qln2_inv));
      s.count = wadd(s.count, static_cast<int32_t>(n));
      if (cmd == NC_INV_SUM_EXP) {
        s.inv_sum_exp = 127.0f / static_cast<float>(s.sum);
        s.sum = s.count = 0;
      }
      break;
    default:
      break;
  }
}

void Gemmini::norm_reset_after_emit() {
  // RTL: a RESET read that emits a row clears the running state, so the next MAX pass
  // starts from INT32_MIN and the next SUM pass from zero (§4.3).
  NormStat& s = stat[stat_id];
  s.sum = s.count = 0;
  s.running_max = INT32_MIN;
}

void Gemmini::acc_readout(const int32_t* x, uint32_t n, int8_t* out) {
  const float S = acc_scale_f;
  switch (acc_act) {
    case ACT_NONE:
      for (uint32_t i = 0; i < n; ++i) out[i] = acc_scale(x[i], S);
      break;
    case ACT_RELU:  // RTL order: relu, then scale
      for (uint32_t i = 0; i < n; ++i) out[i] = acc_scale(x[i] > 0 ? x[i] : 0, S);
      break;
    case ACT_LAYERNORM: {
      // RTL form (§3.6): ACC_SCALE(x - mean, inv_stddev * S), the product formed once in
      // float32.  The spec's CPU-gold alternative rounds (x - mean) / sd to an integer first,
      // which leaves a normalized row only ~3 bits; the compiler's I-BERT LayerNorm
      // (l2g.passes.ibert.layernorm_readout) relies on the RTL form, as silicon computes it.
      const NormStat& s = stat[stat_id];
      const float scale = s.inv_stddev * S;
      for (uint32_t i = 0; i < n; ++i) out[i] = acc_scale(wadd(x[i], wmul(s.mean, -1)), scale);
      break;
    }
    case ACT_IGELU:
      for (uint32_t i = 0; i < n; ++i) out[i] = acc_scale(igelu(x[i], qb, qc), S);
      break;
    case ACT_SOFTMAX: {
      const NormStat& s = stat[stat_id];
      const float scale = s.inv_sum_exp * S;  // RTL: inv_sum_exp pre-multiplied by acc_scale
      for (uint32_t i = 0; i < n; ++i) out[i] = acc_scale(iexp(wadd(x[i], wmul(s.max, -1)), qb, qc, qln2, qln2_inv), scale);
      break;
    }
    default:
      fail("accumulator activation code %u is invalid", acc_act);
  }
}

}  // namespace gemmini
