// Performance counters (funct 126, gemmini-isa.md §2.11).  Unlike libgemmini's random
// numbers, the values come from the cycle model: each counter reports how much its event
// total grew since the counter was configured or reset.
#include "gemmini.h"

namespace gemmini {

// Internal event ids (gemmini_counter.h numbering) that the model can report.
enum : uint32_t {
  EV_MAIN_LD_CYCLES = 1, EV_MAIN_ST_CYCLES = 2, EV_MAIN_EX_CYCLES = 3,
  EV_LOAD_ACTIVE_CYCLE = 9, EV_STORE_ACTIVE_CYCLE = 12,
  EV_RDMA_ACTIVE_CYCLE = 18, EV_WDMA_ACTIVE_CYCLE = 21, EV_EXE_ACTIVE_CYCLE = 24,
  // Project extension (6-bit id unused by real Gemmini): the model's clock, i.e. CPU cycles
  // including every stall on Gemmini.  Read it around a region to time it end to end.
  EV_L2G_TOTAL_CYCLES = 63,
};
enum : uint32_t { EXT_RS_LD_COUNT = 1, EXT_RS_ST_COUNT = 2, EXT_RS_EX_COUNT = 3, EXT_RDMA_BYTES = 4, EXT_WDMA_BYTES = 5 };

uint64_t Gemmini::event_value(uint32_t ev, bool external) {
  const TimingStats& t = timing.stats;
  auto all = [&](int m) { return count[m] + unrolled[m]; };
  if (external) {
    switch (ev) {
      case EXT_RS_LD_COUNT: return all(M_MVIN) + all(M_MVIN2) + all(M_MVIN3);
      case EXT_RS_ST_COUNT: return all(M_MVOUT);
      case EXT_RS_EX_COUNT: return all(M_PRELOAD) + all(M_COMPUTE_PRELOADED) + all(M_COMPUTE_ACCUMULATED);
      case EXT_RDMA_BYTES: return t.dma_read_bytes;
      case EXT_WDMA_BYTES: return t.dma_write_bytes;
      default: return 0;  // latency totals are not modelled
    }
  }
  switch (ev) {
    case EV_MAIN_LD_CYCLES: case EV_LOAD_ACTIVE_CYCLE: return t.busy[U_LD];
    case EV_MAIN_ST_CYCLES: case EV_STORE_ACTIVE_CYCLE: return t.busy[U_ST];
    case EV_MAIN_EX_CYCLES: case EV_EXE_ACTIVE_CYCLE: return t.busy[U_EX];
    case EV_RDMA_ACTIVE_CYCLE: return t.dma_read_cycles;
    case EV_WDMA_ACTIVE_CYCLE: return t.dma_write_cycles;
    case EV_L2G_TOTAL_CYCLES: return timing.last_seen_cpu();
    default: return 0;  // not modelled (documented in docs/gemmini-extension.md)
  }
}

uint64_t Gemmini::counter_op(uint64_t rs1) {
  const bool reset = rs1 & 1, snap_reset = (rs1 >> 1) & 1, snap_take = (rs1 >> 2) & 1, reconfig = (rs1 >> 3) & 1;
  const uint32_t idx = bits(rs1, 6, 4), ev = bits(rs1, 17, 12);
  const bool ext = bits(rs1, 31, 31);
  auto live = [&](uint32_t i) {
    return static_cast<uint32_t>(event_value(ctr_event[i], ctr_external[i]) - ctr_base[i]);
  };
  // RTL order: the value read is the one before this instruction's reset/config.
  const uint32_t value = snapshot_on ? ctr_snapshot[idx] : live(idx);
  if (reset) {
    for (int i = 0; i < kNumCounters; ++i) {
      ctr_base[i] = event_value(ctr_event[i], ctr_external[i]);
      ctr_snapshot[i] = 0;
    }
    snapshot_on = false;
  }
  if (snap_reset) snapshot_on = false;
  if (snap_take) {
    for (int i = 0; i < kNumCounters; ++i) ctr_snapshot[i] = live(i);
    snapshot_on = true;
  }
  if (reconfig) {
    ctr_event[idx] = ev;
    ctr_external[idx] = ext;
    ctr_base[idx] = event_value(ev, ext);
  }
  return value;
}

}  // namespace gemmini
