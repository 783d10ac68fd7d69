// Analytical cycle model of Gemmini (not RTL).
//
// Decoupled access/execute: the load (DMA read), execute (systolic array) and store
// (accumulator read-out / normalization / DMA write) units each process their own command
// queue in order, concurrently with each other.  A command starts when its unit is free,
// its reservation-station slot is free, and every row it touches is free of hazards with the
// *other* units (RAW on rows it reads; WAR/WAW on rows it writes), tracked per scratchpad /
// accumulator row the way Gemmini's ROB tracks local-address ranges.  Same-unit ordering
// is given by the in-order queue, so same-unit accesses never create hazards here.
//
// CPU time: Spike retires instructions; the model runs the CPU at timing.cpu_cpi cycles per
// retired instruction.  A RoCC command enters Gemmini at the CPU's current time; when the
// command queue (reservation station) is full the CPU stalls.  The CPU waits for all
// outstanding Gemmini work at every counter op (funct 126; gemmini_fence() in
// gemmini_isa.h emits one after the RISC-V fence, since Spike extensions cannot observe
// fences) and at the end of the program.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "config.h"

namespace gemmini {

enum Unit { U_LD = 0, U_EX = 1, U_ST = 2, U_NUM = 3 };

// Rows start + k·stride for k < count, in the scratchpad or the accumulator.
struct RowSpan {
  bool acc;
  uint32_t start;
  uint32_t count;
  uint32_t stride;
};

struct TimingStats {
  uint64_t busy[U_NUM] = {0, 0, 0};
  uint64_t norm_busy = 0;
  uint64_t cpu_stall_cycles = 0;   // CPU waiting on Gemmini: full queues + syncs
  uint64_t sync_stall_cycles = 0;  // the part of the above spent at fences/counter reads
  uint64_t dma_read_bytes = 0, dma_write_bytes = 0;
  uint64_t dma_read_cycles = 0, dma_write_cycles = 0;
  uint64_t loop_active_cycles = 0;
  uint64_t first_issue = UINT64_MAX;  // when the first command entered Gemmini
};

class Timing {
 public:
  void init(const HwConfig& cfg, bool enabled);
  bool enabled() const { return enabled_; }

  // The CPU sends one command.  `unit` is the queue it goes to, or -1 for commands that
  // only update configuration registers; `loop_cmd` marks loop instructions and their
  // configs.  Returns the cycle at which it enters Gemmini.
  uint64_t cpu_issue(uint64_t minstret, int unit, bool loop_cmd);

  // The loop unrollers, as in the RTL (LoopMatmul / LoopConv): up to two loop instructions
  // are held at once, and each loop's load, execute and store commands come from separate
  // state machines that each move on to the next loop as soon as they have issued their
  // share of this one.  So the next loop's operand loads are issued while this loop's
  // computes still run (into the other scratchpad half), and a store waiting for a free
  // store-queue slot does not hold back the computes behind it.  loop_begin/loop_end
  // bracket one loop instruction; loop_issue issues one of its primitive commands.
  void loop_begin(uint64_t issue);
  void loop_end();
  uint64_t loop_issue(int unit);

  // Schedule one command on `unit`; returns its completion cycle.
  //  occupancy: cycles the unit is busy (throughput cost)
  //  latency:   extra cycles until its results are visible (pipeline / memory latency)
  //  not_before: an extra readiness constraint (e.g. a normalization statistic)
  uint64_t schedule(Unit unit, uint64_t issue, uint64_t occupancy, uint64_t latency,
                    const RowSpan* reads, int nreads, const RowSpan* writes, int nwrites,
                    uint64_t not_before = 0);

  // The CPU waits for every outstanding command (fence semantics).  Returns the new CPU time.
  uint64_t sync(uint64_t minstret);
  // CPU time at the last instruction the model saw.
  uint64_t cpu_now(uint64_t minstret) const;
  uint64_t last_seen_cpu() const { return cpu_now(last_minstret_); }
  uint64_t all_done() const { return last_completion_; }
  // Total cycles so far: the later of the CPU and the last Gemmini completion.
  uint64_t total_cycles() const;

  // Cycles the DMA needs to move `bytes` starting at byte address `addr` (bus beats).
  uint64_t dma_beats(uint64_t addr, uint64_t bytes) const {
    uint64_t bw = tp_.dma_bytes_per_cycle;
    return (addr % bw + bytes + bw - 1) / bw;
  }

  // Double buffering of loop_ws, for hazard tracking only.  The functional unrolling keeps
  // libgemmini's fixed layout (A and B in the lower scratchpad half, C from accumulator row
  // 0), so every call would seem to overwrite the rows the previous one still reads.  The
  // RTL alternates halves between in-flight loops (scratchpad every call, accumulator after
  // a call that stores C), so the model tracks a loop's rows at those alternated places.
  void set_loop_shift(uint32_t sp_shift, uint32_t acc_shift) { sp_shift_ = sp_shift; acc_shift_ = acc_shift; }

  TimingStats stats;
  const TimingParams& params() const { return tp_; }

 private:
  uint64_t rs_slot_free(int unit) const;
  void note_minstret(uint64_t minstret);

  bool enabled_ = true;
  TimingParams tp_;
  uint32_t dim_ = 16;
  uint32_t sp_rows_ = 0, acc_rows_ = 0;
  uint32_t sp_shift_ = 0, acc_shift_ = 0;
  // Per row (scratchpad rows, then accumulator rows), per unit: last write completion and
  // last read end.  One record per row keeps a hazard check to a single cache line.
  struct RowTimes {
    uint64_t wr[U_NUM];
    uint64_t rd[U_NUM];
  };
  std::vector<RowTimes> rows_;
  uint64_t unit_free_[U_NUM] = {0, 0, 0};
  // completion times of the last rs_entries commands per unit (ring buffers)
  std::vector<uint64_t> ring_[U_NUM];
  size_t ring_pos_[U_NUM] = {0, 0, 0};

  uint64_t issue_cursor_ = 0;  // when the last CPU-issued command entered Gemmini
  // Loop unrollers: when each unit's state machine issued its last command, when the
  // current loop was accepted, and when each of the two loop slots finished issuing (the
  // slot at loop_pos_ holds the older loop, the one the next loop instruction waits for).
  uint64_t loop_cursor_[U_NUM] = {0, 0, 0};
  uint64_t loop_start_ = 0, loop_last_issue_ = 0;
  uint64_t loop_slot_end_[2] = {0, 0};
  int loop_pos_ = 0;
  uint64_t loops_idle() const { return std::max(loop_slot_end_[0], loop_slot_end_[1]); }
  double cpu_base_ = 0;        // CPU time at minstret_base_
  uint64_t minstret_base_ = 0;
  uint64_t last_minstret_ = 0;
  bool have_minstret_ = false;
  uint64_t last_completion_ = 0;
};

}  // namespace gemmini
