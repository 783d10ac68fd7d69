#include <stdio.h>
#include "l2g_rt.h"

/* Loads from an address with no memory behind it: a load access fault inside this function. */
__attribute__((noinline)) int fault_here(volatile int *p) { return *p; }

int main(void) {
  printf("about to fault\n");
  return fault_here((volatile int *)0x10);
}
