#include <stdio.h>
#include "l2g_rt.h"

int main(void) {
  uint64_t c0 = l2g_rdcycle(), i0 = l2g_rdinstret();
  printf("hello from spike\n");
  printf("counters advance: %d\n", l2g_rdcycle() > c0 && l2g_rdinstret() > i0);
  return EXIT_CODE;
}
