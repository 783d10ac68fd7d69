/* Tiny self-checking harness and reference arithmetic for the Gemmini test programs.
 * The references are written from gemmini-isa.md independently of the extension's C++. */
#ifndef GTEST_H
#define GTEST_H
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "gemmini_isa.h"

static int g_failures = 0, g_checks = 0;
#define CHECK_EQ(got, want, ...)                                                   \
  do {                                                                             \
    long long _g = (long long)(got), _w = (long long)(want);                       \
    g_checks++;                                                                    \
    if (_g != _w) {                                                                \
      if (g_failures < 20) {                                                       \
        printf("FAIL %s:%d: got %lld want %lld: ", __FILE__, __LINE__, _g, _w);    \
        printf(__VA_ARGS__);                                                       \
        printf("\n");                                                              \
      }                                                                            \
      g_failures++;                                                                \
    }                                                                              \
  } while (0)
#define DONE(name)                                                                  \
  do {                                                                              \
    printf("%s: %s (%d checks, %d failures)\n", name, g_failures ? "FAIL" : "PASS", g_checks, g_failures); \
    return g_failures != 0;                                                         \
  } while (0)

static inline int8_t ref_sat8(long long v) { return v > 127 ? 127 : v < -128 ? -128 : (int8_t)v; }
/* RNE as gemmini.h's ROUND_NEAR_EVEN does it: truncate, then compare the remainder to 0.5 */
static inline long long ref_rne(float y) {
  if (y != y) return 0;
  if (y >= 2147483647.0f) return 2147483647LL;
  if (y <= -2147483648.0f) return -2147483648LL;
  long long q = (long long)y;
  float r = y - (float)q;
  if (r > 0.5f || (r == 0.5f && (q & 1))) q++;
  else if (r < -0.5f || (r == -0.5f && (q & 1))) q--;
  return q;
}
static inline long long ref_rne_d(double y) {
  long long q = (long long)y;
  double r = y - (double)q;
  if (r > 0.5 || (r == 0.5 && (q & 1))) q++;
  else if (r < -0.5 || (r == -0.5 && (q & 1))) q--;
  return q;
}
static inline int8_t ref_mvin_scale(int8_t x, float s) { return ref_sat8(ref_rne((float)x * s)); }
static inline int8_t ref_acc_scale(int32_t x, float s) { return ref_sat8(ref_rne((float)x * s)); }
/* rounding right shift, round half to even */
static inline int32_t ref_rrs(int32_t x, int s) {
  if (s == 0) return x;
  int64_t q = (int64_t)x >> s;
  int64_t rem = (int64_t)x - (q << s);  /* 0 .. 2^s-1 */
  int64_t half = (int64_t)1 << (s - 1);
  if (rem > half || (rem == half && (q & 1))) q++;
  return (int32_t)q;
}
static inline uint32_t lcg(uint32_t* s) { *s = *s * 1664525u + 1013904223u; return *s >> 8; }
static inline int8_t rnd8(uint32_t* s, int lo, int hi) { return (int8_t)(lo + (int)(lcg(s) % (uint32_t)(hi - lo + 1))); }
#endif
