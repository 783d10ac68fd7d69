// Execute unit: config_ex, preload and compute on the DIM×DIM systolic array, both
// dataflows (gemmini-isa.md §2.4.1, §3.5).  Operand tiles are widened once into dense
// int32 DIM×DIM buffers so the multiply is a fixed-size loop the compiler vectorizes.
#include <algorithm>
#include <cstring>

#include "gemmini.h"
#include "numeric.h"

namespace gemmini {

void Gemmini::config_ex(uint64_t rs1, uint64_t rs2) {
  const bool only_strides = bits(rs1, 7, 7);
  const uint32_t new_a_stride = bits(rs1, 31, 16), new_c_stride = bits(rs2, 63, 48);
  if (!only_strides) {
    const bool new_ws = bits(rs1, 2, 2);
    const bool at = bits(rs1, 8, 8), bt = bits(rs1, 9, 9);
    const uint64_t shift = bits(rs2, 31, 0);
    if (!new_ws && !at && bt) fail("dataflow=OS with b_transpose=1 and a_transpose=0 is not supported (one transposer)");
    if (new_ws && at && bt) fail("dataflow=WS with a_transpose=1 and b_transpose=1 is not supported (one transposer)");
    if (shift >= 32) fail("sys_shift=%llu must be < 32", (unsigned long long)shift);
    ws = new_ws;
    // Codes 2 and 3 mean nothing on the array -> scratchpad path (§2.4.1).
    sys_act = bits(rs1, 4, 3) == ACT_RELU ? ACT_RELU : ACT_NONE;
    sys_shift = static_cast<uint32_t>(shift);
    sys_acc_scale = f32_from_bits(static_cast<uint32_t>(bits(rs1, 63, 32)));
    a_transpose = at;
    b_transpose = bt;
  }
  a_stride = new_a_stride;
  c_stride = new_c_stride;
}

// Reads an operand tile from the scratchpad into a dense dim×dim int32 buffer, zero padded:
// element (r, c) of the logical rows×cols operand; `transposed` means it is stored c-major.
// Zero padding makes partial tiles fall out of the fixed-size multiply for free.
static void load_tile(Gemmini& g, const Operand& o, uint32_t stride, bool transposed, int32_t* t) {
  const uint32_t dim = g.dim;
  std::fill(t, t + size_t(dim) * dim, 0);
  if (o.addr.garbage) return;  // GARBAGE_ADDR reads as a zero matrix (§3.5.3)
  const uint32_t stored_rows = transposed ? o.cols : o.rows;
  const uint32_t stored_cols = transposed ? o.rows : o.cols;
  for (uint32_t s = 0; s < stored_rows; ++s) {
    const int8_t* src = g.sp_row(o.addr.row + s * stride);
    for (uint32_t c = 0; c < stored_cols; ++c) {
      if (transposed) t[size_t(c) * dim + s] = src[c];
      else t[size_t(s) * dim + c] = src[c];
    }
  }
}

static void check_operand(Gemmini& g, const Operand& o, uint32_t stride, bool transposed, const char* what) {
  if (o.rows > g.dim || o.cols > g.dim)
    fail("%s rows=%u cols=%u exceed DIM=%u", what, o.rows, o.cols, g.dim);
  if (o.addr.garbage) return;
  g.check_addr_bits(o.addr, what);
  if (o.addr.is_acc)
    fail("%s=0x%08x is an accumulator address; matmul operands are read from the scratchpad only", what, o.addr.raw);
  const uint32_t n = transposed ? o.cols : o.rows;
  if (n) g.check_rows(false, o.addr.row, int64_t(o.addr.row) + int64_t(n - 1) * stride, what);
}

void Gemmini::preload(uint64_t rs1, uint64_t rs2) {
  pre_bd = decode_operand(rs1);
  pre_c = decode_operand(rs2);
  // WS preloads B (b_transpose applies); OS preloads D (never transposed).
  const bool bt = ws && b_transpose;
  check_operand(*this, pre_bd, 1, bt, ws ? "B" : "D");
  if (pre_c.rows > dim || pre_c.cols > dim) fail("C rows=%u cols=%u exceed DIM=%u", pre_c.rows, pre_c.cols, dim);
  if (!pre_c.addr.garbage) check_addr_bits(pre_c.addr, "C");
  // The operand is captured now: commands take effect in program order.
  load_tile(*this, pre_bd, 1, bt, pre_tile.data());
  pre_span = RowSpan{false, pre_bd.addr.row, pre_bd.addr.garbage ? 0u : (bt ? pre_bd.cols : pre_bd.rows), 1};
  have_preload = true;
}

template <unsigned D>
__attribute__((always_inline)) static inline void matmul_tile(const int32_t* __restrict a, const int32_t* __restrict b, int32_t* __restrict c, unsigned nrows) {
  for (unsigned i = 0; i < nrows; ++i) {
    int32_t acc[D];
    for (unsigned j = 0; j < D; ++j) acc[j] = c[i * D + j];
    for (unsigned k = 0; k < D; ++k) {
      const int32_t x = a[i * D + k];
      for (unsigned j = 0; j < D; ++j) acc[j] += x * b[k * D + j];
    }
    for (unsigned j = 0; j < D; ++j) c[i * D + j] = acc[j];
  }
}

// The baseline x86-64 ISA has no packed 32-bit multiply, so without help this loop stays
// scalar; an AVX2 clone (picked at load time when the host has it) vectorizes it.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void matmul(uint32_t dim, const int32_t* a, const int32_t* b, int32_t* c, unsigned nrows) {
  switch (dim) {
    case 8: return matmul_tile<8>(a, b, c, nrows);
    case 16: return matmul_tile<16>(a, b, c, nrows);
    default: return matmul_tile<32>(a, b, c, nrows);
  }
}

void Gemmini::compute(uint64_t rs1, uint64_t rs2, bool preloaded) {
  if (!have_preload) fail("no preload precedes this compute (each compute needs its own preload)");
  have_preload = false;
  const Operand A = decode_operand(rs1), BD = decode_operand(rs2);
  if (A.addr.garbage) fail("A is GARBAGE_ADDR (undefined data)");
  check_operand(*this, A, a_stride, a_transpose, "A");
  const bool bt = !ws && b_transpose;  // OS reads B here; WS reads D (never transposed)
  check_operand(*this, BD, 1, bt, ws ? "D" : "B");
  const Operand& C = pre_c;
  if (!C.addr.garbage && C.rows)
    check_rows(C.addr.is_acc, C.addr.row, int64_t(C.addr.row) + int64_t(C.rows - 1) * c_stride, "C");

  const size_t n2 = size_t(dim) * dim;
  int32_t at[32 * 32], bd[32 * 32], res[32 * 32];
  load_tile(*this, A, a_stride, a_transpose, at);
  load_tile(*this, BD, 1, bt, bd);
  uint64_t mac_cols;
  if (ws) {
    if (preloaded) {
      std::memcpy(weights.data(), pre_tile.data(), n2 * 4);
      w_rows = pre_bd.addr.garbage ? 0 : pre_bd.rows;
      w_cols = pre_bd.addr.garbage ? 0 : pre_bd.cols;
    }
    std::memcpy(res, bd, n2 * 4);  // result = D + A·W
    matmul(dim, at, weights.data(), res, A.rows);
    mac_cols = w_cols;
  } else {
    if (preloaded) std::memcpy(pe.data(), pre_tile.data(), n2 * 4);
    matmul(dim, at, bd, pe.data(), A.rows);
    // The RTL array carries 20-bit partial sums; wrapping once per compute equals wrapping
    // on every MAC (modular arithmetic), so OS accumulation is exact RTL behaviour (§3.5.6).
    for (size_t i = 0; i < n2; ++i) pe[i] = wrap20(pe[i]);
    for (size_t i = 0; i < n2; ++i) res[i] = rrs(pe[i], sys_shift);  // RTL shifts for both destinations
    mac_cols = BD.addr.garbage ? 0 : BD.cols;
  }
  macs += uint64_t(A.rows) * A.cols * mac_cols;

  if (!C.addr.garbage) {
    for (uint32_t i = 0; i < C.rows; ++i) {
      const uint32_t row = C.addr.row + i * c_stride;
      const int32_t* r = res + size_t(i) * dim;
      if (!C.addr.is_acc) {
        int8_t* d = sp_row(row);
        for (uint32_t j = 0; j < C.cols; ++j) {
          int8_t v = sat8(r[j]);
          d[j] = (sys_act == ACT_RELU && v < 0) ? 0 : v;
        }
      } else {
        int32_t* d = acc_row(row);
        if (C.addr.accumulate) for (uint32_t j = 0; j < C.cols; ++j) d[j] = wadd(d[j], r[j]);
        else std::memcpy(d, r, size_t(C.cols) * 4);
      }
    }
  }

  if (timing_on) {
    RowSpan reads[3];
    int nr = 0;
    reads[nr++] = RowSpan{false, A.addr.row, a_transpose ? A.cols : A.rows, a_stride};
    if (!BD.addr.garbage) reads[nr++] = RowSpan{false, BD.addr.row, bt ? BD.cols : BD.rows, 1};
    if (preloaded && pre_span.count) reads[nr++] = pre_span;
    RowSpan w{C.addr.is_acc, C.addr.row, C.addr.garbage ? 0u : C.rows, c_stride};
    uint64_t occ;
    if (ws) occ = std::max<uint64_t>(A.rows, preloaded ? pre_span.count : 0);
    else occ = std::max<uint64_t>({A.cols, A.rows, preloaded ? uint64_t(pre_span.count) : 0});
    occ = std::max<uint64_t>(occ, 1);
    // Fill and drain of the skewed systolic array, plus the fixed pipeline around it.
    const uint64_t lat = 2ull * dim + timing.params().mesh_latency_cycles;
    timing.schedule(U_EX, op_issue(U_EX), occ, lat, reads, nr, &w, 1);
  }
}

}  // namespace gemmini
