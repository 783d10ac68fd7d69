#include <stdio.h>
int main(void) {
  printf("spinning\n");
  for (volatile unsigned long i = 0;; i++) {}
}
