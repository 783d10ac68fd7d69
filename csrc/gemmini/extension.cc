// Spike glue: registers the `gemmini` extension on the custom-3 opcode, dispatches each
// command to the functional units, reports misuse, and writes the stats/dump files at exit.
//
// Exit codes (documented in docs/gemmini-extension.md):
//   2  the hardware config file (L2G_GEMMINI_CONFIG) is malformed
//   3  Gemmini misuse: a command with an out-of-range or illegal field.  The one-line
//      message is `gemmini: error: <mnemonic> at pc=0x<pc>: <field and value>`.
// Unknown functs raise an illegal-instruction trap (after a one-line note on stderr), so
// the guest runtime's trap handler reports mcause/mepc and ends the run.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "extension.h"
#include "gemmini.h"
#include "processor.h"
#include "rocc.h"

namespace gemmini {

static std::vector<Gemmini*>& instances() {
  static std::vector<Gemmini*> v;
  return v;
}

static void at_exit_handler() {
  for (Gemmini* g : instances()) g->finish();
}

void Gemmini::finish() {
  if (finished) return;
  finished = true;
  if (timing_on) timing.sync(cur_minstret);
  // Only the first core's accelerator writes the files (single-core runs are the norm).
  if (this != instances().front()) return;
  if (const char* p = std::getenv("L2G_GEMMINI_STATS"); p && *p) write_stats(p);
  if (const char* p = std::getenv("L2G_GEMMINI_DUMP"); p && *p) write_dump(p);
}

void Gemmini::write_stats(const char* path) {
  FILE* f = std::fopen(path, "w");
  if (!f) {
    std::fprintf(stderr, "gemmini: warning: cannot write stats to %s\n", path);
    return;
  }
  const TimingStats& t = timing.stats;
  const uint64_t cycles = timing_on ? timing.total_cycles() : 0;
  const double util = cycles ? double(macs) / (double(cycles) * dim * dim) : 0.0;
  std::fprintf(f, "{\n  \"config\": \"%s\",\n  \"dim\": %u,\n  \"timing_model\": %s,\n", cfg.name.c_str(), dim,
               timing_on ? "true" : "false");
  std::fprintf(f, "  \"total_cycles\": %" PRIu64 ",\n", cycles);
  std::fprintf(f, "  \"busy_cycles\": {\"load\": %" PRIu64 ", \"execute\": %" PRIu64 ", \"store\": %" PRIu64
                  ", \"norm\": %" PRIu64 "},\n",
               t.busy[U_LD], t.busy[U_EX], t.busy[U_ST], t.norm_busy);
  std::fprintf(f, "  \"stall_cycles\": %" PRIu64 ",\n  \"fence_stall_cycles\": %" PRIu64 ",\n", t.cpu_stall_cycles,
               t.sync_stall_cycles);
  // The span from the first command to the last completion: utilization of the
  // accelerator while the program used it, without the CPU-only prologue/epilogue.
  const uint64_t span = (timing_on && t.first_issue != UINT64_MAX && timing.all_done() > t.first_issue)
                            ? timing.all_done() - t.first_issue : 0;
  std::fprintf(f, "  \"macs\": %" PRIu64 ",\n  \"utilization\": %.6f,\n", macs, util);
  std::fprintf(f, "  \"gemmini_span_cycles\": %" PRIu64 ",\n  \"gemmini_span_utilization\": %.6f,\n", span,
               span ? double(macs) / (double(span) * dim * dim) : 0.0);
  std::fprintf(f, "  \"dma_bytes\": {\"read\": %" PRIu64 ", \"write\": %" PRIu64 "},\n", t.dma_read_bytes,
               t.dma_write_bytes);
  for (int pass = 0; pass < 2; ++pass) {
    const uint64_t* c = pass ? unrolled : count;
    std::fprintf(f, "  \"%s\": {", pass ? "unrolled" : "instructions");
    bool first = true;
    for (int m = 0; m < M_COUNT; ++m) {
      if (!c[m]) continue;
      std::fprintf(f, "%s\"%s\": %" PRIu64, first ? "" : ", ", mnemonic_name(m), c[m]);
      first = false;
    }
    std::fprintf(f, "}%s\n", pass ? "" : ",");
  }
  std::fprintf(f, "}\n");
  std::fclose(f);
}

void Gemmini::write_dump(const char* path) {
  FILE* f = std::fopen(path, "wb");
  if (!f) {
    std::fprintf(stderr, "gemmini: warning: cannot write dump to %s\n", path);
    return;
  }
  // Raw little-endian bytes: scratchpad (int8 rows), then accumulator (int32 rows).
  std::fwrite(spad.data(), 1, spad.size(), f);
  std::fwrite(acc.data(), 4, acc.size(), f);
  std::fclose(f);
}

static int unit_of(int m) {
  switch (m) {
    case M_MVIN: case M_MVIN2: case M_MVIN3: return U_LD;
    case M_MVOUT: return U_ST;
    case M_COMPUTE_PRELOADED: case M_COMPUTE_ACCUMULATED: return U_EX;
    default: return -1;
  }
}

uint64_t Gemmini::execute(processor_t* p, uint32_t funct, uint64_t rs1, uint64_t rs2, uint64_t minstret) {
  proc = p;
  cur_minstret = minstret;
  sub_op = nullptr;
  const int m = mnemonic_of(funct, rs1);
  count[m]++;
  if (timing_on) {
    if (m == M_COUNTER || m == M_FENCE) timing.sync(minstret);  // the CPU waits for Gemmini
    else cpu_issue_time = timing.cpu_issue(minstret, unit_of(m), m >= M_LOOP_WS && m <= M_LOOP_CONV_WS_CONFIG_6);
  }
  if (trace)
    std::fprintf(stderr, "gemmini: trace: %s rs1=0x%" PRIx64 " rs2=0x%" PRIx64 " minstret=%" PRIu64 " issue=%" PRIu64
                 " done=%" PRIu64 "\n", mnemonic_name(m), rs1, rs2, minstret, cpu_issue_time, timing.all_done());
  switch (m) {
    case M_CONFIG_EX: config_ex(rs1, rs2); break;
    case M_CONFIG_LD: config_ld(rs1, rs2); break;
    case M_CONFIG_ST: config_st(rs1, rs2); break;
    case M_CONFIG_NORM: config_norm(rs1, rs2); break;
    case M_MVIN: mvin(rs1, rs2, 0); break;
    case M_MVIN2: mvin(rs1, rs2, 1); break;
    case M_MVIN3: mvin(rs1, rs2, 2); break;
    case M_MVOUT: mvout(rs1, rs2); break;
    case M_PRELOAD: preload(rs1, rs2); break;
    case M_COMPUTE_PRELOADED: compute(rs1, rs2, true); break;
    case M_COMPUTE_ACCUMULATED: compute(rs1, rs2, false); break;
    case M_FLUSH: break;  // TLB flush: nothing to do for Spike's MMU-backed DMA
    case M_FENCE: break;
    case M_LOOP_WS: loop_ws(rs1, rs2); break;
    case M_LOOP_WS_CONFIG_BOUNDS:
      lws.I = bits(rs2, 15, 0); lws.J = bits(rs2, 31, 16); lws.K = bits(rs2, 47, 32);
      lws.pad_I = bits(rs1, 15, 0); lws.pad_J = bits(rs1, 31, 16); lws.pad_K = bits(rs1, 47, 32);
      break;
    case M_LOOP_WS_CONFIG_ADDRS_AB: lws.A = rs1; lws.B = rs2; break;
    case M_LOOP_WS_CONFIG_ADDRS_DC: lws.D = rs1; lws.C = rs2; break;
    case M_LOOP_WS_CONFIG_STRIDES_AB: lws.A_stride = rs1; lws.B_stride = rs2; break;
    case M_LOOP_WS_CONFIG_STRIDES_DC: lws.D_stride = rs1; lws.C_stride = rs2; break;
    case M_LOOP_CONV_WS: loop_conv_ws(rs1, rs2); break;
    case M_LOOP_CONV_WS_CONFIG_1:
      lcv.batch_size = bits(rs1, 15, 0); lcv.in_row_dim = bits(rs1, 31, 16);
      lcv.in_channels = bits(rs1, 47, 32); lcv.out_channels = bits(rs1, 63, 48);
      lcv.out_row_dim = bits(rs2, 15, 0); lcv.pool_out_row_dim = bits(rs2, 31, 16);
      lcv.out_col_dim = bits(rs2, 47, 32); lcv.stride = bits(rs2, 55, 48); lcv.padding = bits(rs2, 63, 56);
      break;
    case M_LOOP_CONV_WS_CONFIG_2:
      lcv.pool_padding = bits(rs1, 7, 0); lcv.pool_stride = bits(rs1, 15, 8); lcv.pool_size = bits(rs1, 31, 16);
      lcv.pool_out_col_dim = bits(rs1, 47, 32); lcv.kernel_dim = bits(rs1, 63, 48);
      lcv.pochs = bits(rs2, 15, 0); lcv.pocols = bits(rs2, 31, 16); lcv.porows = bits(rs2, 47, 32);
      lcv.batches = bits(rs2, 63, 48);
      break;
    case M_LOOP_CONV_WS_CONFIG_3:
      lcv.lpad = bits(rs1, 15, 0); lcv.kchs = bits(rs1, 31, 16); lcv.kcols = bits(rs1, 47, 32); lcv.krows = bits(rs1, 63, 48);
      lcv.in_col_dim = bits(rs2, 15, 0); lcv.plpad = bits(rs2, 23, 16); lcv.dpad = bits(rs2, 31, 24);
      lcv.upad = bits(rs2, 47, 32); lcv.rpad = bits(rs2, 63, 48);
      break;
    case M_LOOP_CONV_WS_CONFIG_4:
      lcv.kernel_dilation = bits(rs1, 9, 0); lcv.pdpad = bits(rs1, 20, 10); lcv.pupad = bits(rs1, 31, 21);
      lcv.prpad = bits(rs1, 47, 32); lcv.orows = bits(rs1, 63, 48);
      lcv.ocols = bits(rs2, 15, 0); lcv.out_stride = bits(rs2, 31, 16); lcv.weight_stride = bits(rs2, 47, 32);
      lcv.in_stride = bits(rs2, 63, 48);
      break;
    case M_LOOP_CONV_WS_CONFIG_5: lcv.weights = rs1; lcv.output = rs2; break;
    case M_LOOP_CONV_WS_CONFIG_6: lcv.bias = rs1; lcv.input = rs2; break;
    case M_COUNTER: return counter_op(rs1);
    default: break;
  }
  return 0;
}

}  // namespace gemmini

using gemmini::Gemmini;

class gemmini_extension_t : public extension_t {
 public:
  gemmini_extension_t() : g(new Gemmini(gemmini::load_config_from_env())) {
    // Owned for the life of the process: the stats/dump writer runs from atexit, after
    // Spike has torn its processors (and possibly this object) down.
    const char* t = std::getenv("L2G_GEMMINI_TIMING");
    g->timing_on = !(t && std::strcmp(t, "0") == 0);
    g->timing.init(g->cfg, g->timing_on);
    const char* tr = std::getenv("L2G_GEMMINI_TRACE");
    g->trace = tr && *tr && std::strcmp(tr, "0") != 0;
    if (gemmini::instances().empty()) std::atexit(gemmini::at_exit_handler);
    gemmini::instances().push_back(g);
  }
  std::vector<insn_desc_t> get_instructions(const processor_t&) override;
  std::vector<disasm_insn_t*> get_disasms(const processor_t* = nullptr) override { return {}; }
  const char* name() const override { return "gemmini"; }

  reg_t dispatch(processor_t* p, uint32_t funct, reg_t rs1, reg_t rs2, reg_t pc) {
    const uint64_t minstret = p->get_state()->minstret->read();
    const int m = gemmini::mnemonic_of(funct, rs1);
    if (m == gemmini::M_UNKNOWN) {
      std::fprintf(stderr, "gemmini: error: unknown funct=%u at pc=0x%" PRIx64 ": raising an illegal-instruction trap\n",
                   funct, uint64_t(pc));
      illegal_instruction(*p);
    }
    try {
      return g->execute(p, funct, rs1, rs2, minstret);
    } catch (const gemmini::GemminiError& e) {
      g->in_loop = false;
      if (g->sub_op)
        std::fprintf(stderr, "gemmini: error: %s at pc=0x%" PRIx64 ": unrolled %s: %s\n", gemmini::mnemonic_name(m),
                     uint64_t(pc), g->sub_op, e.msg.c_str());
      else
        std::fprintf(stderr, "gemmini: error: %s at pc=0x%" PRIx64 ": %s\n", gemmini::mnemonic_name(m), uint64_t(pc),
                     e.msg.c_str());
      std::fflush(stderr);
      std::exit(3);  // atexit still writes the stats and dump files
    }
  }

  Gemmini* g;
};

// Spike's step loop bumps minstret only when it leaves its fast inner loop, so a mid-step
// read is stale.  Returning PC_SERIALIZE_BEFORE (Spike's decode_macros.h; the same trick its
// CSR instructions use for exact rdinstret) ends the step without retiring this instruction;
// Spike sets state.serialized and re-executes it, now with an exact minstret.
static constexpr reg_t kPcSerializeBefore = 3;

static reg_t gemmini_custom3(processor_t* p, insn_t insn, reg_t pc) {
  auto* ext = static_cast<gemmini_extension_t*>(p->get_extension("gemmini"));
  if (ext->g->timing_on) {
    state_t* st = p->get_state();
    if (!st->serialized) return kPcSerializeBefore;
    st->serialized = false;
  }
  rocc_insn_union_t u;
  u.i = insn;
  state_t* state = p->get_state();
  // Operands whose xs bit is clear read as all ones, as in Spike's rocc_t.
  const reg_t xs1 = u.r.xs1 ? state->XPR[insn.rs1()] : reg_t(-1);
  const reg_t xs2 = u.r.xs2 ? state->XPR[insn.rs2()] : reg_t(-1);
  const reg_t rd = ext->dispatch(p, u.r.funct, xs1, xs2, pc);
  if (u.r.xd) {
    state->log_reg_write[insn.rd() << 4] = {rd, 0};
    state->XPR.write(insn.rd(), rd);
  }
  return pc + 4;
}

std::vector<insn_desc_t> gemmini_extension_t::get_instructions(const processor_t&) {
  std::vector<insn_desc_t> insns;
  push_custom_insn(insns, ROCC_OPCODE3, ROCC_OPCODE_MASK, ILLEGAL_INSN_FUNC, gemmini_custom3);
  return insns;
}

REGISTER_EXTENSION(gemmini, []() { return new gemmini_extension_t; })
