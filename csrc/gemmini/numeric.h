// Numeric primitives of gemmini-isa.md §3.2 and the I-BERT kernels of §4.4.
// All narrowing saturates; all int32 arithmetic that the hardware does at 32 bits wraps,
// so it is written with uint32_t to stay well-defined C++.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace gemmini {

inline int8_t sat8(int64_t v) { return static_cast<int8_t>(v > 127 ? 127 : (v < -128 ? -128 : v)); }

inline float f32_from_bits(uint32_t b) { float f; std::memcpy(&f, &b, 4); return f; }
inline uint32_t bits_from_f32(float f) { uint32_t b; std::memcpy(&b, &f, 4); return b; }

// RNE of a float32 to an integer clamped to int32 (NaN -> 0).  nearbyintf honours the default
// round-to-nearest-even mode, which Spike never changes on the host side.
inline int64_t rne_clamp(float y) {
  if (std::isnan(y)) return 0;
  if (y >= 2147483647.0f) return 2147483647;
  if (y <= -2147483648.0f) return -2147483648LL;
  return static_cast<int64_t>(std::nearbyintf(y));
}

// MVIN_SCALE(x:int8, s:float32) = sat8(RNE(fl32(x)·s)); the product is rounded to float32 first.
inline int8_t mvin_scale(int8_t x, float s) {
  float y = static_cast<float>(x) * s;
  return sat8(rne_clamp(y));
}

// ACC_SCALE(x:int32, s:float32) = sat8(RNE(fl32(x)·s)); fl32(x) rounds for |x| > 2^24.
inline int8_t acc_scale(int32_t x, float s) {
  float y = static_cast<float>(x) * s;
  return sat8(rne_clamp(y));
}

// Rounding right shift, round-half-to-even (§3.2).
inline int32_t rrs(int32_t x, uint32_t s) {
  if (s == 0) return x;
  int32_t q = x >> s;
  uint32_t ux = static_cast<uint32_t>(x);
  uint32_t h = (ux >> (s - 1)) & 1;
  uint32_t t = (s >= 2) ? ((ux & ((1u << (s - 1)) - 1)) != 0) : 0;
  uint32_t o = (s < 32) ? ((ux >> s) & 1) : 0;
  return static_cast<int32_t>(static_cast<uint32_t>(q) + (h & (t | o)));
}

// Sign-extend the low 20 bits: the OS array's partial-sum width (§3.5.6).
inline int32_t wrap20(int32_t x) {
  return static_cast<int32_t>(static_cast<uint32_t>(x) << 12) >> 12;
}

inline int32_t wadd(int32_t a, int32_t b) { return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b)); }
inline int32_t wmul(int32_t a, int32_t b) { return static_cast<int32_t>(static_cast<uint32_t>(a) * static_cast<uint32_t>(b)); }

// i-GELU (§4.4): q·(sign·((min(|q|,−qb)+qb)² + qc) + qc), 32-bit wrapping.
inline int32_t igelu(int32_t q, int32_t qb, int32_t qc) {
  int32_t sign = q < 0 ? -1 : 1;
  // |q| and −qb are 32-bit two's-complement like the CPU gold / RTL: |INT32_MIN| stays INT32_MIN
  // (found by tests/test_gemmini_differential.py, ibert seed 31).
  int64_t aq = wmul(q, sign);
  int64_t lim = wmul(qb, -1);
  int32_t a = static_cast<int32_t>(aq < lim ? aq : lim);
  int32_t t = wadd(a, qb);
  int32_t poly = wadd(wmul(t, t), qc);
  int32_t erf = wmul(sign, poly);
  return wmul(q, wadd(erf, qc));
}

// i-exp (§4.4) for q = x − max ≤ 0, with silicon's final shift (2023 RTL): z saturates to 32
// when any of its bits 5..15 is set, and the shift is logical, so such elements give 0.  The
// spec recommends the CPU gold's z & 31 instead; following silicon means an element far below
// its row's max (a masked token) gives exactly 0 with no clamp pass on the CPU, and a program
// computes the same on Spike as on the chip.
inline int32_t iexp(int32_t q, int32_t qb, int32_t qc, int32_t qln2, int32_t qln2_inv) {
  int32_t z = wmul(wmul(q, -1), qln2_inv) >> 16;
  int32_t qp = wadd(q, wmul(z, qln2));
  int32_t t = wadd(qp, qb);
  int32_t e = wadd(wmul(t, t), qc);
  if (static_cast<uint32_t>(z) & 0xFFE0u) return 0;
  return static_cast<int32_t>(static_cast<uint32_t>(e) >> (static_cast<uint32_t>(z) & 31u));
}

}  // namespace gemmini
