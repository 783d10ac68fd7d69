/* gemmini_isa.h: target-side C interface to Gemmini's RoCC ISA (custom-3 opcode).
 *
 * Written for l2g from the ISA specification (docs: gemmini-isa.md).  Macro names, argument
 * orders and encodings follow real Gemmini's software (gemmini-rocc-tests/include/gemmini.h),
 * so code written against real Gemmini compiles against this header, and the instructions
 * it emits run unchanged on Gemmini silicon built with the same gemmini_params.h.
 *
 * The one deliberate difference: gemmini_fence() emits the RISC-V `fence` followed by a
 * harmless counter read (funct 126, no side effects).  A Spike extension cannot observe a
 * `fence`; the counter op is how l2g's cycle model learns that the CPU waits for Gemmini.
 * On real hardware the extra read costs one RoCC round trip.
 */
#ifndef L2G_GEMMINI_ISA_H
#define L2G_GEMMINI_ISA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gemmini_params.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- funct7 values (gemmini-isa.md §2.2) ------------------------------------------ */
#define k_CONFIG 0
#define k_MVIN2 1
#define k_MVIN 2
#define k_MVOUT 3
#define k_COMPUTE_PRELOADED 4
#define k_COMPUTE_ACCUMULATE 5
#define k_PRELOAD 6
#define k_FLUSH 7
#define k_LOOP_WS 8
#define k_LOOP_WS_CONFIG_BOUNDS 9
#define k_LOOP_WS_CONFIG_ADDRS_AB 10
#define k_LOOP_WS_CONFIG_ADDRS_DC 11
#define k_LOOP_WS_CONFIG_STRIDES_AB 12
#define k_LOOP_WS_CONFIG_STRIDES_DC 13
#define k_MVIN3 14
#define k_LOOP_CONV_WS 15
#define k_LOOP_CONV_WS_CONFIG_1 16
#define k_LOOP_CONV_WS_CONFIG_2 17
#define k_LOOP_CONV_WS_CONFIG_3 18
#define k_LOOP_CONV_WS_CONFIG_4 19
#define k_LOOP_CONV_WS_CONFIG_5 20
#define k_LOOP_CONV_WS_CONFIG_6 21
#define k_COUNTER 126

/* config sub-ops in rs1[1:0] */
#define CONFIG_EX 0
#define CONFIG_LD 1
#define CONFIG_ST 2
#define CONFIG_BERT 3
#define CONFIG_NORM CONFIG_BERT

/* ---- constants ------------------------------------------------------------------------ */
#define GARBAGE_ADDR ((uint32_t)(-1))
#define OUTPUT_STATIONARY 0
#define WEIGHT_STATIONARY 1
#define NO_ACTIVATION 0
#define RELU 1
#define LAYERNORM 2
#define IGELU 3
#define SOFTMAX 4

/* local address bits (§1.3) */
#define GEMMINI_ACC_ADDR ((uint32_t)1 << 31)          /* accumulator, overwrite */
#define GEMMINI_ACC_ACCUMULATE ((uint32_t)3 << 30)    /* accumulator, accumulate */
#define GEMMINI_ACC_FULL ((uint32_t)1 << 29)          /* full-width (int32) read */
#define GEMMINI_NORM_CMD(c) ((uint32_t)(c) << 26)     /* statistics command on acc reads */

/* norm_cmd codes (§4.3) */
#define NORM_RESET 0
#define NORM_SUM 1
#define NORM_MEAN 2
#define NORM_VARIANCE 3
#define NORM_INV_STDDEV 4
#define NORM_MAX 5
#define NORM_SUM_EXP 6
#define NORM_INV_SUM_EXP 7

/* ---- raw instruction emitters ------------------------------------------------------------
 * funct3 = 0b011 (xs1, xs2 read; no rd) for every command; 0b111 (rd written) for counters. */
#define L2G_STR_(x) #x
#define L2G_STR(x) L2G_STR_(x)
#define ROCC_INSTRUCTION_RS1_RS2(x, rs1, rs2, funct)                                            \
  do {                                                                                         \
    uint64_t _l2g_rs1 = (uint64_t)(rs1), _l2g_rs2 = (uint64_t)(rs2);                            \
    __asm__ volatile(".insn r CUSTOM_3, 3, " L2G_STR(funct) ", x0, %0, %1"            \
                     : : "r"(_l2g_rs1), "r"(_l2g_rs2) : "memory");                                                               \
  } while (0)

#define ROCC_INSTRUCTION_RD_RS1_RS2(x, rd, rs1, rs2, funct)                                     \
  do {                                                                                         \
    uint64_t _l2g_rs1 = (uint64_t)(rs1), _l2g_rs2 = (uint64_t)(rs2), _l2g_rd;                   \
    __asm__ volatile(".insn r CUSTOM_3, 7, " L2G_STR(funct) ", %0, %1, %2"             \
                     : "=r"(_l2g_rd) : "r"(_l2g_rs1), "r"(_l2g_rs2) : "memory");                    \
    (rd) = _l2g_rd;                                                                             \
  } while (0)

/* ---- float <-> bits ------------------------------------------------------------------- */
static inline uint32_t scale_t_to_scale_t_bits(scale_t x) {
  union { scale_t f; uint32_t b; } u;
  u.f = x;
  return u.b;
}
static inline uint32_t acc_scale_t_to_acc_scale_t_bits(acc_scale_t x) {
  union { acc_scale_t f; uint32_t b; } u;
  u.f = x;
  return u.b;
}

#define GEMMINI_OPERAND(addr, cols, rows) \
  (((uint64_t)(rows) << (ADDR_LEN + 16)) | ((uint64_t)(cols) << ADDR_LEN) | (uint64_t)(uint32_t)(addr))

/* ---- flush / fence (§2.8) ---------------------------------------------------------------- */
#define gemmini_flush(skip) ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, skip, 0, k_FLUSH)
#define gemmini_fence()                                        \
  do {                                                         \
    __asm__ volatile("fence" ::: "memory");                    \
    uint64_t _l2g_fence_ctr;                                   \
    ROCC_INSTRUCTION_RD_RS1_RS2(XCUSTOM_ACC, _l2g_fence_ctr, 0, 0, k_COUNTER); \
    (void)_l2g_fence_ctr;                                      \
  } while (0)

/* ---- config_ex (§2.4.1) ------------------------------------------------------------------ */
#define gemmini_extended3_config_ex(dataflow, sys_act, sys_shift, sys_acc_scale, C_stride, A_stride, A_transpose, \
                                    B_transpose, set_only_strides)                                            \
  ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC,                                                                       \
      ((uint64_t)acc_scale_t_to_acc_scale_t_bits((acc_scale_t)(sys_acc_scale)) << 32) |                        \
      ((uint64_t)(uint16_t)(A_stride) << 16) | ((uint64_t)((B_transpose) ? 1 : 0) << 9) |                      \
      ((uint64_t)((A_transpose) ? 1 : 0) << 8) | ((uint64_t)((set_only_strides) ? 1 : 0) << 7) |              \
      ((uint64_t)(sys_act) << 3) | ((uint64_t)(dataflow) << 2) | CONFIG_EX,                                    \
      ((uint64_t)(uint16_t)(C_stride) << 48) | (uint64_t)(uint32_t)(sys_shift), k_CONFIG)
#define gemmini_extended2_config_ex(dataflow, sys_act, sys_shift, A_stride, A_transpose, B_transpose) \
  gemmini_extended3_config_ex(dataflow, sys_act, sys_shift, ACC_SCALE_IDENTITY, 1, A_stride, A_transpose, B_transpose, false)
#define gemmini_extended_config_ex(dataflow, sys_act, sys_shift, A_stride, A_transpose, B_transpose) \
  gemmini_extended2_config_ex(dataflow, sys_act, sys_shift, A_stride, A_transpose, B_transpose)
#define gemmini_config_ex(dataflow, sys_act, sys_shift) gemmini_extended_config_ex(dataflow, sys_act, sys_shift, 1, 0, 0)

/* ---- config_ld (§2.4.2): strides in bytes; id = 0 mvin, 1 mvin2, 2 mvin3 ----------------- */
#define gemmini_extended5_config_ld(stride, scale, shrunk, block_mvin_stride, pixel_repeats, id)              \
  ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC,                                                                     \
      ((uint64_t)scale_t_to_scale_t_bits((scale_t)(scale)) << 32) | ((uint64_t)(uint16_t)(block_mvin_stride) << 16) | \
      ((uint64_t)(uint8_t)(pixel_repeats) << 8) | ((uint64_t)(id) << 3) | ((uint64_t)((shrunk) ? 1 : 0) << 2) | CONFIG_LD, \
      stride, k_CONFIG)
#define gemmini_extended4_config_ld(stride, scale, shrunk, block_mvin_stride, id) \
  gemmini_extended5_config_ld(stride, scale, shrunk, block_mvin_stride, 1, id)
#define gemmini_extended3_config_ld(stride, scale, shrunk, id) gemmini_extended4_config_ld(stride, scale, shrunk, DIM, id)
#define gemmini_extended2_config_ld(stride, scale, shrunk) gemmini_extended3_config_ld(stride, scale, shrunk, 0)
#define gemmini_extended_config_ld(stride, scale) gemmini_extended2_config_ld(stride, scale, false)
#define gemmini_config_ld(stride) gemmini_extended_config_ld(stride, MVIN_SCALE_IDENTITY)

/* ---- config_st (§2.4.3): stride in bytes; acc_act is the low two bits (pass act & 3) ----- */
#define gemmini_extended2_config_st(stride, acc_act, acc_scale, pool_stride, pool_size, pool_out_dim, porows, pocols, \
                                    orows, ocols, upad, lpad)                                                       \
  ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC,                                                                             \
      ((uint64_t)(uint8_t)(ocols) << 56) | ((uint64_t)(uint8_t)(orows) << 48) | ((uint64_t)(uint8_t)(pocols) << 40) | \
      ((uint64_t)(uint8_t)(porows) << 32) | ((uint64_t)(uint8_t)(pool_out_dim) << 24) | ((uint64_t)((lpad) & 3) << 10) | \
      ((uint64_t)((upad) & 3) << 8) | ((uint64_t)((pool_size) & 3) << 6) | ((uint64_t)((pool_stride) & 3) << 4) |   \
      ((uint64_t)((acc_act) & 3) << 2) | CONFIG_ST,                                                                 \
      ((uint64_t)acc_scale_t_to_acc_scale_t_bits((acc_scale_t)(acc_scale)) << 32) | (uint64_t)(uint32_t)(stride), k_CONFIG)
#define gemmini_extended_config_st(stride, acc_act, acc_scale) \
  gemmini_extended2_config_st(stride, acc_act, acc_scale, 0, 0, 0, 0, 0, 0, 0, 0, 0)
#define gemmini_config_st(stride) gemmini_extended_config_st(stride, NO_ACTIVATION, ACC_SCALE_IDENTITY)

/* ---- config_norm (§2.4.4), I-BERT builds only --------------------------------------------- */
#define gemmini_config_norm(q_const, q_const_type, set_stats_id_only, act_msb, stat_id, igelu_qb, igelu_qc)          \
  ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC,                                                                            \
      ((uint64_t)(uint32_t)(q_const) << 32) | ((uint64_t)((q_const_type) & 1) << 18) |                              \
      ((uint64_t)((set_stats_id_only) & 1) << 17) | ((uint64_t)((act_msb) & 1) << 16) |                             \
      ((uint64_t)(uint8_t)(stat_id) << 8) | CONFIG_BERT,                                                           \
      ((uint64_t)(uint32_t)(igelu_qc) << 32) | (uint64_t)(uint32_t)(igelu_qb), k_CONFIG)

/* ---- data movement (§2.5, §2.6): note cols before rows -------------------------------------- */
#define gemmini_extended_mvin(dram_addr, spad_addr, cols, rows) \
  ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, (uint64_t)(uintptr_t)(dram_addr), GEMMINI_OPERAND(spad_addr, cols, rows), k_MVIN)
#define gemmini_extended_mvin2(dram_addr, spad_addr, cols, rows) \
  ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, (uint64_t)(uintptr_t)(dram_addr), GEMMINI_OPERAND(spad_addr, cols, rows), k_MVIN2)
#define gemmini_extended_mvin3(dram_addr, spad_addr, cols, rows) \
  ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, (uint64_t)(uintptr_t)(dram_addr), GEMMINI_OPERAND(spad_addr, cols, rows), k_MVIN3)
#define gemmini_block_mvin(dram_addr, spad_addr, len) gemmini_extended_mvin(dram_addr, spad_addr, (len) * DIM, DIM)
#define gemmini_mvin(dram_addr, spad_addr) gemmini_extended_mvin(dram_addr, spad_addr, DIM, DIM)
#define gemmini_mvin2(dram_addr, spad_addr) gemmini_extended_mvin2(dram_addr, spad_addr, DIM, DIM)
#define gemmini_mvin3(dram_addr, spad_addr) gemmini_extended_mvin3(dram_addr, spad_addr, DIM, DIM)
#define gemmini_extended_mvout(dram_addr, spad_addr, cols, rows) \
  ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, (uint64_t)(uintptr_t)(dram_addr), GEMMINI_OPERAND(spad_addr, cols, rows), k_MVOUT)
#define gemmini_mvout(dram_addr, spad_addr) gemmini_extended_mvout(dram_addr, spad_addr, DIM, DIM)

/* ---- matmul (§2.7) ---------------------------------------------------------------------------- */
#define gemmini_extended_preload(BD, C, BD_cols, BD_rows, C_cols, C_rows) \
  ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, GEMMINI_OPERAND(BD, BD_cols, BD_rows), GEMMINI_OPERAND(C, C_cols, C_rows), k_PRELOAD)
#define gemmini_preload(BD, C) gemmini_extended_preload(BD, C, DIM, DIM, DIM, DIM)
#define gemmini_preload_zeros(C) gemmini_preload(GARBAGE_ADDR, C)
#define gemmini_extended_compute_preloaded(A, BD, A_cols, A_rows, BD_cols, BD_rows)                            \
  ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, GEMMINI_OPERAND(A, A_cols, A_rows), GEMMINI_OPERAND(BD, BD_cols, BD_rows), \
                           k_COMPUTE_PRELOADED)
#define gemmini_extended_compute_accumulated(A, BD, A_cols, A_rows, BD_cols, BD_rows)                          \
  ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, GEMMINI_OPERAND(A, A_cols, A_rows), GEMMINI_OPERAND(BD, BD_cols, BD_rows), \
                           k_COMPUTE_ACCUMULATE)
#define gemmini_compute_preloaded(A, BD) gemmini_extended_compute_preloaded(A, BD, DIM, DIM, DIM, DIM)
#define gemmini_compute_accumulated(A, BD) gemmini_extended_compute_accumulated(A, BD, DIM, DIM, DIM, DIM)

/* ---- loop_ws (§2.9): I, J, K in DIM tiles; strides in elements ---------------------------------- */
#define gemmini_loop_ws(I, J, K, pad_I, pad_J, pad_K, A, B, D, C, A_stride, B_stride, D_stride, C_stride, A_transpose, \
                        B_transpose, full_C, low_D, ex_accumulate, act, a_spad_id, b_spad_id, is_resadd)              \
  do {                                                                                                            \
    ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC,                                                                        \
        ((uint64_t)(uint16_t)(pad_K) << 32) | ((uint64_t)(uint16_t)(pad_J) << 16) | (uint64_t)(uint16_t)(pad_I),     \
        ((uint64_t)(uint16_t)(K) << 32) | ((uint64_t)(uint16_t)(J) << 16) | (uint64_t)(uint16_t)(I),                 \
        k_LOOP_WS_CONFIG_BOUNDS);                                                                                \
    ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, (uintptr_t)(A), (uintptr_t)(B), k_LOOP_WS_CONFIG_ADDRS_AB);               \
    ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, (uintptr_t)(D), (uintptr_t)(C), k_LOOP_WS_CONFIG_ADDRS_DC);               \
    ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, A_stride, B_stride, k_LOOP_WS_CONFIG_STRIDES_AB);                       \
    ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, D_stride, C_stride, k_LOOP_WS_CONFIG_STRIDES_DC);                       \
    ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC,                                                                        \
        ((uint64_t)((a_spad_id) & 3) << 18) | ((uint64_t)((b_spad_id) & 3) << 16) | ((uint64_t)((act) & 7) << 8) | \
        ((uint64_t)((low_D) ? 1 : 0) << 2) | ((uint64_t)((full_C) ? 1 : 0) << 1) | (uint64_t)((ex_accumulate) ? 1 : 0), \
        ((uint64_t)((is_resadd) ? 1 : 0) << 2) | ((uint64_t)((B_transpose) ? 1 : 0) << 1) | (uint64_t)((A_transpose) ? 1 : 0), \
        k_LOOP_WS);                                                                                              \
  } while (0)

/* ---- loop_conv_ws (§2.10) ------------------------------------------------------------------------ */
#define gemmini_loop_conv_ws(batch_size, in_row_dim, in_col_dim, in_channels, out_channels, out_row_dim, out_col_dim,     \
                             pool_out_row_dim, pool_out_col_dim, stride, padding, kernel_dim, kernel_dilation, pool_size, \
                             pool_stride, pool_padding, batches, porows, pocols, pochs, krows, kcols, kchs, lpad, rpad,   \
                             upad, dpad, plpad, prpad, pupad, pdpad, orows, ocols, weights, output, bias, input, no_bias, \
                             no_pool, downsample, wrot180, input_dilated, activation, trans_output_1203,                 \
                             trans_weight_1203, trans_weight_0132, trans_input_3120, max_pixels_per_row, in_stride,      \
                             weight_stride, out_stride, dw, a_spad_id, b_spad_id)                                        \
  do {                                                                                                                 \
    ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC,                                                                             \
        ((uint64_t)(uint16_t)(out_channels) << 48) | ((uint64_t)(uint16_t)(in_channels) << 32) |                          \
        ((uint64_t)(uint16_t)(in_row_dim) << 16) | (uint64_t)(uint16_t)(batch_size),                                      \
        ((uint64_t)(uint8_t)(padding) << 56) | ((uint64_t)(uint8_t)(stride) << 48) | ((uint64_t)(uint16_t)(out_col_dim) << 32) | \
        ((uint64_t)(uint16_t)(pool_out_row_dim) << 16) | (uint64_t)(uint16_t)(out_row_dim),                               \
        k_LOOP_CONV_WS_CONFIG_1);                                                                                     \
    ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC,                                                                             \
        ((uint64_t)(uint16_t)(kernel_dim) << 48) | ((uint64_t)(uint16_t)(pool_out_col_dim) << 32) |                       \
        ((uint64_t)(uint16_t)(pool_size) << 16) | ((uint64_t)(uint8_t)(pool_stride) << 8) | (uint64_t)(uint8_t)(pool_padding), \
        ((uint64_t)(uint16_t)(batches) << 48) | ((uint64_t)(uint16_t)(porows) << 32) | ((uint64_t)(uint16_t)(pocols) << 16) | \
        (uint64_t)(uint16_t)(pochs),                                                                                  \
        k_LOOP_CONV_WS_CONFIG_2);                                                                                     \
    ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC,                                                                             \
        ((uint64_t)(uint16_t)(krows) << 48) | ((uint64_t)(uint16_t)(kcols) << 32) | ((uint64_t)(uint16_t)(kchs) << 16) |  \
        (uint64_t)(uint16_t)(lpad),                                                                                   \
        ((uint64_t)(uint16_t)(rpad) << 48) | ((uint64_t)(uint16_t)(upad) << 32) | ((uint64_t)(uint8_t)(dpad) << 24) |     \
        ((uint64_t)(uint8_t)(plpad) << 16) | (uint64_t)(uint16_t)(in_col_dim),                                            \
        k_LOOP_CONV_WS_CONFIG_3);                                                                                     \
    ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC,                                                                             \
        ((uint64_t)(uint16_t)(orows) << 48) | ((uint64_t)(uint16_t)(prpad) << 32) | ((uint64_t)((pupad) & 0x7ff) << 21) | \
        ((uint64_t)((pdpad) & 0x7ff) << 10) | (uint64_t)((kernel_dilation) & 0x3ff),                                   \
        ((uint64_t)(uint16_t)(in_stride) << 48) | ((uint64_t)(uint16_t)(weight_stride) << 32) |                           \
        ((uint64_t)(uint16_t)(out_stride) << 16) | (uint64_t)(uint16_t)(ocols),                                           \
        k_LOOP_CONV_WS_CONFIG_4);                                                                                     \
    ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, (uintptr_t)(weights), (uintptr_t)(output), k_LOOP_CONV_WS_CONFIG_5);          \
    ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC, (uintptr_t)(bias), (uintptr_t)(input), k_LOOP_CONV_WS_CONFIG_6);              \
    ROCC_INSTRUCTION_RS1_RS2(XCUSTOM_ACC,                                                                             \
        ((uint64_t)((a_spad_id) & 3) << 18) | ((uint64_t)((b_spad_id) & 3) << 16) |                                       \
        ((uint64_t)(uint8_t)(max_pixels_per_row) << 8) | ((uint64_t)((dw) ? 1 : 0) << 6) |                                \
        ((uint64_t)((trans_input_3120) ? 1 : 0) << 5) | ((uint64_t)((trans_weight_0132) ? 1 : 0) << 4) |                  \
        ((uint64_t)((trans_weight_1203) ? 1 : 0) << 3) | ((uint64_t)((trans_output_1203) ? 1 : 0) << 2) |                 \
        ((uint64_t)((wrot180) ? 1 : 0) << 1) | (uint64_t)((no_bias) ? 1 : 0),                                             \
        ((uint64_t)((activation) & 3) << 3) | ((uint64_t)((input_dilated) ? 1 : 0) << 2) |                                \
        ((uint64_t)((downsample) ? 1 : 0) << 1) | (uint64_t)((no_pool) ? 1 : 0),                                          \
        k_LOOP_CONV_WS);                                                                                              \
  } while (0)

/* ---- performance counters (§2.11; gemmini_counter.h names) --------------------------------------- */
#define NUM_COUNTERS 8
#define NUM_EXTERNAL_COUNTERS 8
#define COUNTER_DISABLE 0
#define MAIN_LD_CYCLES 1
#define MAIN_ST_CYCLES 2
#define MAIN_EX_CYCLES 3
#define LOAD_ACTIVE_CYCLE 9
#define STORE_ACTIVE_CYCLE 12
#define RDMA_ACTIVE_CYCLE 18
#define WDMA_ACTIVE_CYCLE 21
#define EXE_ACTIVE_CYCLE 24
#define LOOP_MATMUL_ACTIVE_CYCLES 43
#define TRANSPOSE_PRELOAD_UNROLLER_ACTIVE_CYCLES 44
/* external counters: configure with code 44 + id */
#define RESERVATION_STATION_LD_COUNT (44 + 1)
#define RESERVATION_STATION_ST_COUNT (44 + 2)
#define RESERVATION_STATION_EX_COUNT (44 + 3)
#define RDMA_BYTES_REC (44 + 4)
#define WDMA_BYTES_SENT (44 + 5)
/* l2g extension: internal event 63 counts the cycle model's clock (CPU time including every
 * stall on Gemmini).  Real Gemmini has no event 63; there the counter reads 0. */
#define L2G_EVENT_TOTAL_CYCLES 63

static inline uint32_t gemmini_counter_op(uint64_t rs1) {
  uint64_t rd;
  ROCC_INSTRUCTION_RD_RS1_RS2(XCUSTOM_ACC, rd, rs1, 0, k_COUNTER);
  return (uint32_t)rd;
}
static inline void counter_reset(void) { (void)gemmini_counter_op(1); }
static inline void counter_snapshot_reset(void) { (void)gemmini_counter_op(2); }
static inline void counter_snapshot_take(void) { (void)gemmini_counter_op(4); }
static inline void counter_configure(size_t index, size_t counter_code) {
  const bool external = counter_code > 44;
  const uint64_t code = external ? counter_code - 44 : counter_code;
  (void)gemmini_counter_op(((uint64_t)index << 4) | 8 | ((code & 0x3f) << 12) | ((uint64_t)external << 31));
}
static inline uint32_t counter_read(size_t index) { return gemmini_counter_op((uint64_t)index << 4); }
/* Attach counter `index` to the model's clock (l2g extension, see above). */
static inline void l2g_counter_configure_cycles(size_t index) {
  (void)gemmini_counter_op(((uint64_t)index << 4) | 8 | ((uint64_t)L2G_EVENT_TOTAL_CYCLES << 12));
}

#ifdef __cplusplus
}
#endif
#endif /* L2G_GEMMINI_ISA_H */
