/* Plain RV64 integer work (no Gemmini): a xorshift loop whose result is printed, so the
 * compiler cannot drop it.  Reports the instructions it retired, for the simulator's
 * instructions-per-second figure. */
#include <stdio.h>
#include "l2g_rt.h"

#ifndef ITERS
#define ITERS 20000000
#endif

int main(void) {
  uint64_t i0 = l2g_rdinstret();
  uint64_t x = 88172645463325252ull, acc = 0;
  for (long i = 0; i < ITERS; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    acc += x & 0xff;
  }
  int64_t retired = (int64_t)(l2g_rdinstret() - i0), one[1] = {1};
  printf("acc %lu\n", (unsigned long)acc);
  l2g_output_tensor("instret", L2G_INT64, 1, one, &retired);
  return 0;
}
