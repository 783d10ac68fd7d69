/* Performance counters (funct 126): the properties gemmini_counter.c relies on (§2.11),
 * plus the l2g model-clock event. */
#include "gtest.h"

static elem_t buf[DIM][DIM];

static void traffic(int n) {
  for (int i = 0; i < n; i++) {
    gemmini_mvin(buf, 0);
    gemmini_mvout(buf, 0);
  }
}

int main(void) {
  gemmini_flush(0);
  gemmini_config_ld(DIM);
  gemmini_config_st(DIM);
  counter_reset();
  counter_configure(0, MAIN_LD_CYCLES);
  counter_configure(1, RESERVATION_STATION_LD_COUNT);
  l2g_counter_configure_cycles(2);
  counter_configure(3, RDMA_BYTES_REC);
  CHECK_EQ(counter_read(0), 0, "fresh counter reads 0");
  CHECK_EQ(counter_read(1), 0, "fresh external counter reads 0");
  uint32_t t0 = counter_read(2);
  traffic(8);
  gemmini_fence();
  uint32_t ld = counter_read(0);
  CHECK_EQ(ld > 0, 1, "load cycles grow after mvins (%u)", ld);
  CHECK_EQ(counter_read(3), 8 * DIM * DIM, "RDMA bytes");
  counter_snapshot_take();
  uint32_t s0 = counter_read(0), s1 = counter_read(1);
  traffic(4);
  gemmini_fence();
  CHECK_EQ(counter_read(0), s0, "snapshot is stable");
  CHECK_EQ(s1 >= 2, 1, "external RS load count via snapshot >= 2 (%u)", s1);
  counter_snapshot_reset();
  uint32_t live = counter_read(0);
  CHECK_EQ(live >= s0 + 10, 1, "live %u exceeds snapshot %u by >= 10", live, s0);
  uint32_t t1 = counter_read(2);
  CHECK_EQ(t1 > t0, 1, "model clock advances (%u -> %u)", t0, t1);
  counter_reset();
  CHECK_EQ(counter_read(0), 0, "reads 0 after a global reset");
  DONE("counters");
}
