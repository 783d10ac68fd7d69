// DMA unit: config_ld / config_st, mvin / mvin2 / mvin3 and mvout (gemmini-isa.md §2.4.2,
// §2.4.3, §3.3, §3.4).  Guest memory is reached through Spike's MMU so translation and
// faults behave as for the CPU; the hot loops move whole rows through a small buffer.
#include <algorithm>
#include <cstring>

#include "gemmini.h"
#include "mmu.h"
#include "numeric.h"

namespace gemmini {

void Gemmini::dram_read(uint64_t addr, uint8_t* buf, size_t n) {
  mmu_t* mmu = proc->get_mmu();
  size_t i = 0;
  for (; i < n && ((addr + i) & 7); ++i) buf[i] = mmu->load<uint8_t>(addr + i);
  for (; i + 8 <= n; i += 8) {
    uint64_t v = mmu->load<uint64_t>(addr + i);
    std::memcpy(buf + i, &v, 8);  // the host is little-endian like the guest
  }
  for (; i < n; ++i) buf[i] = mmu->load<uint8_t>(addr + i);
}

void Gemmini::dram_write(uint64_t addr, const uint8_t* buf, size_t n) {
  mmu_t* mmu = proc->get_mmu();
  size_t i = 0;
  for (; i < n && ((addr + i) & 7); ++i) mmu->store<uint8_t>(addr + i, buf[i]);
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    std::memcpy(&v, buf + i, 8);
    mmu->store<uint64_t>(addr + i, v);
  }
  for (; i < n; ++i) mmu->store<uint8_t>(addr + i, buf[i]);
}

void Gemmini::config_ld(uint64_t rs1, uint64_t rs2) {
  uint32_t id = bits(rs1, 4, 3);
  if (id == 3) fail("state_id=3 is invalid (0 = mvin, 1 = mvin2, 2 = mvin3)");
  LoadState& L = ld[id];
  L.shrunk = bits(rs1, 2, 2);
  L.pixel_repeats = bits(rs1, 15, 8);
  if (L.pixel_repeats == 0) L.pixel_repeats = 1;  // 0 is treated as 1 (§2.4.2)
  L.block_stride = bits(rs1, 31, 16);
  L.scale = f32_from_bits(static_cast<uint32_t>(bits(rs1, 63, 32)));
  L.stride = rs2;
}

void Gemmini::config_st(uint64_t rs1, uint64_t rs2) {
  uint32_t act = bits(rs1, 3, 2);
  if ((act == ACT_LAYERNORM || act == ACT_IGELU) && !cfg.has_normalizations)
    fail("act=%u (%s) needs the normalization unit; config '%s' has has_normalizations=0", act,
         act == ACT_LAYERNORM ? "LAYERNORM" : "IGELU", cfg.name.c_str());
  // RTL behaviour: config_st writes the low two bits and clears bit 2 (SOFTMAX needs a
  // config_norm after it, §4.1).
  acc_act = act;
  st_stride = bits(rs2, 31, 0);
  uint32_t scale_bits = static_cast<uint32_t>(bits(rs2, 63, 32));
  if (scale_bits != 0xFFFFFFFFu) acc_scale_f = f32_from_bits(scale_bits);  // all-ones keeps it (RTL)
  if (!cfg.has_max_pool) return;  // RTL ignores the pool fields without a pooling unit
  uint32_t ps = bits(rs1, 5, 4), psize = bits(rs1, 7, 6);
  if (ps == 0 && psize != 0)
    fail("pool_stride=0 with pool_size=%u selects the RTL's 1-D mvout mode, which is not supported", psize);
  pool_stride = ps;
  if (ps != 0) {
    pool_size = psize;
    pool_upad = bits(rs1, 9, 8);
    pool_lpad = bits(rs1, 11, 10);
    pool_out_dim = bits(rs1, 31, 24);
    pool_porows = bits(rs1, 39, 32);
    pool_pocols = bits(rs1, 47, 40);
    pool_orows = bits(rs1, 55, 48);
    pool_ocols = bits(rs1, 63, 56);
  }
}

void Gemmini::mvin(uint64_t dram, uint64_t rs2, int s) {
  const Operand op = decode_operand(rs2);
  const LocalAddr& a = op.addr;
  if (a.garbage) fail("destination is GARBAGE_ADDR");
  check_addr_bits(a, "destination");
  const LoadState& L = ld[s];
  if (op.rows == 0 || op.cols == 0) fail("rows=%u cols=%u: a mvin must move at least one element", op.rows, op.cols);
  if (op.rows > dim) fail("rows=%u exceeds DIM=%u", op.rows, dim);
  const bool wide = a.is_acc && !L.shrunk;  // DRAM holds acc_t
  const uint32_t esize = wide ? 4 : 1;
  const uint32_t max_cols = (wide ? cfg.max_block_len_acc() : cfg.max_block_len()) * dim;
  if (op.cols > max_cols)
    fail("cols=%u exceeds %u (%s data: MAX_BLOCK_LEN%s x DIM)", op.cols, max_cols, wide ? "acc_t" : "elem_t",
         wide ? "_ACC" : "");
  const uint32_t nblocks = (op.cols + dim - 1) / dim;
  const uint32_t p = L.pixel_repeats;
  if (p > 1) {
    if (a.is_acc) fail("pixel_repeats=%u is not allowed for accumulator destinations", p);
    if (p * op.cols > dim) fail("pixel_repeats=%u x cols=%u exceeds DIM=%u", p, op.cols, dim);
  }
  if (nblocks > 1 && L.block_stride < op.rows)
    fail("block_mvin_stride=%u is smaller than rows=%u for a %u-block mvin", L.block_stride, op.rows, nblocks);
  const int64_t base = a.row;
  const int64_t first = std::max<int64_t>(0, base - (p - 1));
  const int64_t last = base + op.rows - 1 + int64_t(nblocks - 1) * L.block_stride;
  check_rows(a.is_acc, first, last, "destination");

  const bool zeros = dram == 0;  // rs1 = 0 loads zeros (§3.3.3)
  const bool unit_scale = L.scale == 1.0f;
  uint8_t buf[4 * 64 * 2];
  const uint32_t row_bytes = op.cols * esize;
  uint64_t beats = 0;
  for (uint32_t r = 0; r < op.rows; ++r) {
    const uint64_t src = dram + r * L.stride;
    if (zeros) {
      std::memset(buf, 0, row_bytes);
    } else {
      dram_read(src, buf, row_bytes);
      if (timing_on) beats += timing.dma_beats(src, row_bytes);
    }
    for (uint32_t b = 0; b < nblocks; ++b) {
      const uint32_t c0 = b * dim, n = std::min(dim, op.cols - c0);
      const int64_t row = base + r + int64_t(b) * L.block_stride;
      for (uint32_t px = 0; px < p && px <= row; ++px) {
        const uint32_t dst_row = static_cast<uint32_t>(row - px);
        const uint32_t off = px * op.cols;  // pixel repeats shift into the upper columns
        if (!a.is_acc) {
          int8_t* d = sp_row(dst_row) + off;
          const int8_t* x = reinterpret_cast<const int8_t*>(buf) + c0;
          if (unit_scale) std::memcpy(d, x, n);
          else for (uint32_t c = 0; c < n; ++c) d[c] = mvin_scale(x[c], L.scale);
        } else {
          int32_t* d = acc_row(dst_row) + off;
          int32_t v[64];
          if (wide) {
            std::memcpy(v, buf + size_t(c0) * 4, size_t(n) * 4);
          } else {
            const int8_t* x = reinterpret_cast<const int8_t*>(buf) + c0;
            for (uint32_t c = 0; c < n; ++c) v[c] = unit_scale ? x[c] : mvin_scale(x[c], L.scale);
          }
          if (a.accumulate) for (uint32_t c = 0; c < n; ++c) d[c] = wadd(d[c], v[c]);
          else std::memcpy(d, v, size_t(n) * 4);
        }
      }
    }
  }
  if (timing_on) {
    RowSpan w[8];
    int nw = 0;
    for (uint32_t b = 0; b < nblocks && nw < 8; ++b)
      w[nw++] = RowSpan{a.is_acc, uint32_t(base + b * L.block_stride), op.rows, 1};
    if (p > 1) w[0] = RowSpan{a.is_acc, uint32_t(first), uint32_t(base - first) + op.rows, 1};
    const uint64_t local = uint64_t(op.rows) * nblocks;  // one local row write per cycle
    const uint64_t occ = std::max(local, beats);
    const uint64_t lat = zeros ? 0 : timing.params().dma_latency_cycles;
    timing.stats.dma_read_bytes += zeros ? 0 : uint64_t(op.rows) * row_bytes;
    timing.stats.dma_read_cycles += beats;
    timing.schedule(U_LD, op_issue(U_LD), occ, lat, nullptr, 0, w, nw);
  }
}

static uint32_t nonterminal(uint32_t cmd) {
  switch (cmd) {
    case NC_MEAN: return NC_SUM;
    case NC_INV_STDDEV: return NC_VARIANCE;
    case NC_INV_SUM_EXP: return NC_SUM_EXP;
    default: return cmd;
  }
}

void Gemmini::mvout(uint64_t dram, uint64_t rs2) {
  const Operand op = decode_operand(rs2);
  const LocalAddr& a = op.addr;
  if (a.garbage) fail("source is GARBAGE_ADDR");
  check_addr_bits(a, "source");
  if (cfg.has_max_pool && pool_stride != 0) return mvout_pooled(dram, op);
  if (op.rows == 0 || op.cols == 0) fail("rows=%u cols=%u: a mvout must move at least one element", op.rows, op.cols);
  if (op.rows > dim) fail("rows=%u exceeds DIM=%u", op.rows, dim);
  const bool full = a.is_acc && a.read_full;
  const uint32_t cmd = a.is_acc ? a.norm_cmd : 0;
  if (cmd && !cfg.has_normalizations)
    fail("norm_cmd=%u in the source address needs the normalization unit; config '%s' has has_normalizations=0", cmd,
         cfg.name.c_str());
  const uint32_t max_cols = full ? dim : cfg.max_block_len() * dim;
  if (op.cols > max_cols) fail("cols=%u exceeds %u%s", op.cols, max_cols, full ? " (full-width reads are one block)" : "");
  const uint32_t nblocks = (op.cols + dim - 1) / dim;
  const int64_t base = a.row;
  check_rows(a.is_acc, base, base + int64_t(nblocks - 1) * dim + op.rows - 1, "source");

  const bool normed = a.is_acc && !full &&
                      (acc_act == ACT_LAYERNORM || acc_act == ACT_SOFTMAX || acc_act == ACT_IGELU);
  uint64_t beats = 0;
  if (cmd) {
    // Statistics pass: reads the raw rows, writes nothing to DRAM (§4.3).
    for (uint32_t r = 0; r < op.rows; ++r)
      for (uint32_t b = 0; b < nblocks; ++b) {
        const uint32_t c0 = b * dim, n = std::min(dim, op.cols - c0);
        norm_stats(acc_row(uint32_t(base + b * dim + r)), n, b + 1 == nblocks ? cmd : nonterminal(cmd));
      }
  } else {
    const uint32_t osize = full ? 4 : 1;
    uint8_t buf[4 * 64 * 2];
    for (uint32_t r = 0; r < op.rows; ++r) {
      for (uint32_t b = 0; b < nblocks; ++b) {
        const uint32_t c0 = b * dim, n = std::min(dim, op.cols - c0);
        const uint32_t row = uint32_t(base + b * dim + r);
        if (!a.is_acc) std::memcpy(buf + c0, sp_row(row), n);
        else if (full) std::memcpy(buf + size_t(c0) * 4, acc_row(row), size_t(n) * 4);
        else acc_readout(acc_row(row), n, reinterpret_cast<int8_t*>(buf) + c0);
      }
      const uint64_t dst = dram + r * st_stride;
      dram_write(dst, buf, size_t(op.cols) * osize);
      if (timing_on) beats += timing.dma_beats(dst, size_t(op.cols) * osize);
      if (normed && acc_act != ACT_IGELU) norm_reset_after_emit();
    }
    if (timing_on) timing.stats.dma_write_bytes += uint64_t(op.rows) * op.cols * osize;
  }
  if (timing_on) {
    RowSpan rsp[8];
    int nr = 0;
    for (uint32_t b = 0; b < nblocks && nr < 8; ++b) rsp[nr++] = RowSpan{a.is_acc, uint32_t(base + b * dim), op.rows, 1};
    const TimingParams& tp = timing.params();
    const uint64_t local = uint64_t(op.rows) * nblocks;
    const uint64_t occ = std::max(local, beats);
    uint64_t lat = (a.is_acc ? tp.acc_read_latency_cycles : 0) + (cmd ? 0 : tp.dma_latency_cycles);
    uint64_t not_before = 0;
    const bool divides = cmd == NC_MEAN || cmd == NC_INV_STDDEV || cmd == NC_INV_SUM_EXP;
    if (cmd || normed) {
      not_before = stat_ready[stat_id];
      timing.stats.norm_busy += local;
      if (divides) lat += tp.norm_latency_cycles;
    }
    timing.stats.dma_write_cycles += beats;
    uint64_t done = timing.schedule(U_ST, op_issue(U_ST), occ, lat, rsp, nr, nullptr, 0, not_before);
    if (cmd) stat_ready[stat_id] = done;
  }
}

void Gemmini::mvout_pooled(uint64_t dram, const Operand& op) {
  const LocalAddr& a = op.addr;
  if (a.is_acc && a.read_full) fail("full-width accumulator reads cannot be pooled");
  if (a.is_acc && a.norm_cmd) fail("norm_cmd=%u cannot be combined with pooling", a.norm_cmd);
  if (op.cols == 0 || op.cols > dim) fail("cols=%u (channels) must be 1..DIM=%u when pooling", op.cols, dim);
  const int64_t base = a.row;
  const int64_t npix = int64_t(pool_orows) * pool_ocols;
  if (npix > 0) check_rows(a.is_acc, base, base + npix - 1, "pooling source");
  int8_t out[64];
  int8_t px[64];
  for (uint32_t pr = 0; pr < pool_porows; ++pr)
    for (uint32_t pc = 0; pc < pool_pocols; ++pc) {
      for (uint32_t ch = 0; ch < op.cols; ++ch) out[ch] = -128;
      for (uint32_t wr = 0; wr < pool_size; ++wr)
        for (uint32_t wc = 0; wc < pool_size; ++wc) {
          const int64_t orow = int64_t(pr) * pool_stride + wr - pool_upad;
          const int64_t ocol = int64_t(pc) * pool_stride + wc - pool_lpad;
          if (orow < 0 || ocol < 0 || orow >= pool_orows || ocol >= pool_ocols) {
            std::memset(px, 0, op.cols);  // padding contributes 0
          } else {
            const uint32_t row = uint32_t(base + orow * pool_ocols + ocol);
            if (!a.is_acc) {
              std::memcpy(px, sp_row(row), op.cols);
            } else {
              const int32_t* x = acc_row(row);
              for (uint32_t ch = 0; ch < op.cols; ++ch) {
                int8_t v = acc_scale(x[ch], acc_scale_f);
                px[ch] = (acc_act == ACT_RELU && v < 0) ? 0 : v;
              }
            }
          }
          for (uint32_t ch = 0; ch < op.cols; ++ch) out[ch] = std::max(out[ch], px[ch]);
        }
      dram_write(dram + (uint64_t(pr) * pool_out_dim + pc) * st_stride, reinterpret_cast<uint8_t*>(out), op.cols);
    }
  if (timing_on) {
    RowSpan rsp{a.is_acc, uint32_t(base), uint32_t(std::max<int64_t>(npix, 0)), 1};
    const uint64_t outs = uint64_t(pool_porows) * pool_pocols;
    const uint64_t occ = std::max<uint64_t>(outs * pool_size * pool_size, outs);
    timing.stats.dma_write_bytes += outs * op.cols;
    const TimingParams& tp = timing.params();
    timing.schedule(U_ST, op_issue(U_ST), occ, tp.dma_latency_cycles + (a.is_acc ? tp.acc_read_latency_cycles : 0),
                    &rsp, 1, nullptr, 0);
  }
}

}  // namespace gemmini
