#include "timing.h"

#include <algorithm>

namespace gemmini {

void Timing::init(const HwConfig& cfg, bool enabled) {
  enabled_ = enabled;
  tp_ = cfg.timing;
  dim_ = cfg.dim;
  sp_rows_ = cfg.sp_rows();
  acc_rows_ = cfg.acc_rows;
  rows_.assign(size_t(sp_rows_) + acc_rows_, RowTimes{{0, 0, 0}, {0, 0, 0}});
  ring_[U_LD].assign(tp_.rs_entries_ld, 0);
  ring_[U_EX].assign(tp_.rs_entries_ex, 0);
  ring_[U_ST].assign(tp_.rs_entries_st, 0);
}

void Timing::note_minstret(uint64_t minstret) {
  if (!have_minstret_) {
    // The program's instructions before the first Gemmini command count as CPU time too.
    have_minstret_ = true;
    minstret_base_ = 0;
    cpu_base_ = 0;
  }
  last_minstret_ = minstret;
}

uint64_t Timing::cpu_now(uint64_t minstret) const {
  if (!have_minstret_) return 0;
  uint64_t d = minstret >= minstret_base_ ? minstret - minstret_base_ : 0;
  return static_cast<uint64_t>(cpu_base_ + static_cast<double>(d) * tp_.cpu_cpi);
}

uint64_t Timing::rs_slot_free(int unit) const {
  // The slot this command needs was held by the command rs_entries positions earlier.
  return ring_[unit][ring_pos_[unit]];
}

uint64_t Timing::cpu_issue(uint64_t minstret, int unit, bool loop_cmd) {
  note_minstret(minstret);
  uint64_t now = cpu_now(minstret);
  uint64_t t = std::max(now, issue_cursor_ + tp_.cmd_issue_cycles);
  if (unit >= 0) t = std::max(t, rs_slot_free(unit));
  // The RTL's loop unroller sits in front of the command queues: a loop instruction (or
  // one of its configs) waits for a free loop slot, any other command until no loop is
  // left unrolling, so it cannot overtake a loop's commands.
  t = std::max(t, loop_cmd ? loop_slot_end_[loop_pos_] : loops_idle());
  if (t > now) {
    // RoCC backpressure: the CPU cannot retire the command until Gemmini accepts it.
    stats.cpu_stall_cycles += t - now;
    cpu_base_ = static_cast<double>(t);
    minstret_base_ = minstret;
  }
  issue_cursor_ = t;
  stats.first_issue = std::min(stats.first_issue, t);
  return t;
}

void Timing::loop_begin(uint64_t issue) {
  loop_start_ = std::max(issue, loop_slot_end_[loop_pos_]);
  loop_last_issue_ = loop_start_;
}

void Timing::loop_end() {
  loop_slot_end_[loop_pos_] = loop_last_issue_;
  loop_pos_ ^= 1;
}

uint64_t Timing::loop_issue(int unit) {
  // (the RTL's arbiter merging the state machines passes one command per cycle; a tile
  // compute takes DIM cycles, so that shared port is not modelled)
  uint64_t t = std::max(loop_start_, loop_cursor_[unit] + tp_.cmd_issue_cycles);
  t = std::max(t, rs_slot_free(unit));
  loop_cursor_[unit] = t;
  loop_last_issue_ = std::max(loop_last_issue_, t);
  return t;
}

uint64_t Timing::schedule(Unit unit, uint64_t issue, uint64_t occupancy, uint64_t latency,
                          const RowSpan* reads, int nreads, const RowSpan* writes, int nwrites,
                          uint64_t not_before) {
  uint64_t start = std::max(std::max(issue, unit_free_[unit]), not_before);
  const int o1 = (unit + 1) % U_NUM, o2 = (unit + 2) % U_NUM;
  RowTimes* const base = rows_.data();
  // (the shifts are half a memory and loop rows lie in one half, so no span wraps)
  auto first = [&](const RowSpan& s) {
    return s.acc ? base + sp_rows_ + (s.start + acc_shift_) % acc_rows_ : base + (s.start + sp_shift_) % sp_rows_;
  };
  // Hazards against the other two units (same-unit order is the queue's).
  for (int i = 0; i < nreads; ++i) {
    const RowTimes* t = first(reads[i]);
    const size_t step = reads[i].stride;
    for (uint32_t k = 0; k < reads[i].count; ++k, t += step) {
      const uint64_t w = t->wr[o1] > t->wr[o2] ? t->wr[o1] : t->wr[o2];
      if (w > start) start = w;
    }
  }
  for (int i = 0; i < nwrites; ++i) {
    const RowTimes* t = first(writes[i]);
    const size_t step = writes[i].stride;
    for (uint32_t k = 0; k < writes[i].count; ++k, t += step) {
      const uint64_t w = std::max(std::max(t->wr[o1], t->wr[o2]), std::max(t->rd[o1], t->rd[o2]));
      if (w > start) start = w;
    }
  }
  const uint64_t end_busy = start + occupancy;
  const uint64_t done = end_busy + latency;
  unit_free_[unit] = end_busy;
  stats.busy[unit] += occupancy;
  for (int i = 0; i < nreads; ++i) {
    RowTimes* t = first(reads[i]);
    const size_t step = reads[i].stride;
    for (uint32_t k = 0; k < reads[i].count; ++k, t += step)
      if (t->rd[unit] < end_busy) t->rd[unit] = end_busy;
  }
  for (int i = 0; i < nwrites; ++i) {
    RowTimes* t = first(writes[i]);
    const size_t step = writes[i].stride;
    for (uint32_t k = 0; k < writes[i].count; ++k, t += step)
      if (t->wr[unit] < done) t->wr[unit] = done;
  }
  ring_[unit][ring_pos_[unit]] = done;
  if (++ring_pos_[unit] == ring_[unit].size()) ring_pos_[unit] = 0;
  if (done > last_completion_) last_completion_ = done;
  return done;
}

uint64_t Timing::sync(uint64_t minstret) {
  note_minstret(minstret);
  uint64_t now = cpu_now(minstret);
  uint64_t done = std::max({last_completion_, issue_cursor_, loops_idle()});
  if (done > now) {
    stats.cpu_stall_cycles += done - now;
    stats.sync_stall_cycles += done - now;
    cpu_base_ = static_cast<double>(done);
    minstret_base_ = minstret;
    now = done;
  }
  return now;
}

uint64_t Timing::total_cycles() const {
  return std::max({last_seen_cpu(), last_completion_, issue_cursor_, loops_idle()});
}

}  // namespace gemmini
