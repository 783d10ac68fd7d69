"""I-BERT integer-only kernels, exactly as Gemmini's normalization unit computes them.

This module is THE single definition of the integer nonlinear kernels used by l2g.  Every
function exists twice, with identical semantics, bit for bit:

* a vectorized **numpy reference** (``igelu``, ``iexp``, ``softmax_unit`` ...), written with
  int64 intermediates and an explicit wrap to 32 bits (two's complement) wherever the
  hardware's int32 arithmetic could overflow, and float32 exactly where the hardware uses
  float32; and
* a **Relax builder** (``emit_igelu``, ``emit_iexp``, ``emit_softmax_unit`` ...) that emits the
  same computation as Relax ops into a :class:`tvm.relax.BlockBuilder`.  Built with the host
  LLVM target it gives the same bits as the numpy reference (``tests/test_ibert.py`` checks
  this on random inputs and edge values), and therefore as the Spike extension, which
  implements gemmini-isa.md.

Semantics (section numbers are those of ``/work/shared/docs/gemmini-isa.md``)
-------------------------------------------------------------------------------

Numeric primitives (§3.2):

* ``fl32(v)``: int32 -> binary32, round to nearest even (RNE).
* ``ACC_SCALE(x, S) = sat8(RNE(fl32(x) * S))``: float32 product (RNE), RNE to an integer,
  then saturation.  :func:`acc_scale`.
* ``RRS(x, s)``: rounding (half to even) arithmetic right shift.  :func:`rrs`.

Integer kernels (§4.4), all int32 two's-complement arithmetic, every product wraps:

* i-GELU ``igelu(q) = q * (sign(q) * ((min(|q|, -qb) + qb)^2 + qc) + qc)``.
* i-exp ``iexp(q)`` for ``q <= 0``: ``z = ((-q) * qln2_inv) >> 16``; ``qp = q + z * qln2``;
  ``e = (qp + qb)^2 + qc``; result ``e >> (z & 31)``.  The ``& 31`` is the CPU-gold / MODEL
  behaviour recommended by §4.4 (x86 ``sar`` and RV64 ``sraw`` mask the count); silicon (RTL
  2023) saturates ``z`` at 32 and returns 0.  The two agree whenever ``z <= 31``, and
  :func:`softmax_clamp` (the separately named step the compiler puts in front of the unit)
  guarantees exactly that, so compiled programs are correct under both.

Statistics (§4.3), per row (last axis), count ``N`` = row length:

* LayerNorm: ``mean = trunc(wrap32(sum x) / N)``; ``var = trunc(wrap32(sum wrap32((x-mean)^2)) / N)``;
  ``sd = isqrt(var)`` (floor of the square root; ``0 -> 1``); ``inv_stddev = fl32(1 / sd)``.
  A negative ``var`` can only come from int32 overflow; it is treated as 0 (so ``sd = 1``).
* Softmax: ``max = max(x)``; ``sum = wrap32(sum iexp(x - max))``;
  ``inv_sum_exp = fl32(127) / fl32(sum)`` (float32 division).

Read-out (§3.6, the RTL column, which the table marks normative), ``S`` = acc_scale:

* LAYERNORM: ``ACC_SCALE(x - mean, fl32(inv_stddev * S))``.
* IGELU:     ``ACC_SCALE(igelu(x), S)``.
* SOFTMAX:   ``ACC_SCALE(iexp(x - max), fl32(inv_sum_exp * S))``; l2g always uses
  ``S = 1.0`` (output scale 1/127, values in [0, 127]), for which the RTL, MODEL and
  CPU-gold forms of §3.6 all agree.

Deliberate choices (see docs/ibert.md):

* LAYERNORM read-out follows the RTL (§3.6 "normative") form.  The MODEL form truncates
  and the CPU-gold form rounds ``(x - mean) / sd`` to an *integer* before scaling, which
  leaves only a handful of output levels (the normalized value in whole standard
  deviations) and is useless for BERT accuracy.  :func:`layernorm_readout_cpu_gold` gives
  the CPU-gold form for tests against gemmini-rocc-tests only.
* ``z & 31`` in i-exp, as recommended by §4.4 (see above).

Constants (§4.6) are computed with the C expressions of gemmini.h, float32 where C uses
``float`` (``acc_scale_t``, ``scale_t``) and double where C promotes to double, then
truncated toward zero to int32: :func:`gelu_consts`, :func:`softmax_consts`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    # constants
    "GeluConsts", "SoftmaxConsts", "LNAffine",
    "gelu_consts", "softmax_consts", "ln_affine_consts",
    # numpy reference
    "wrap32", "fl32", "rne", "acc_scale", "rrs", "shift_scale", "isqrt", "isqrt_newton",
    "igelu", "iexp", "softmax_clamp_delta", "softmax_clamp",
    "layernorm_stats", "layernorm_readout", "layernorm_readout_cpu_gold", "layernorm_unit",
    "isqrt64_newton", "layernorm_wide_stats", "layernorm_wide",
    "softmax_stats", "softmax_readout", "softmax_unit", "igelu_readout", "igelu_unit",
    "ln_affine", "igelu_real", "iexp_real",
    # Relax builders
    "emit_acc_scale", "emit_shift_scale", "emit_isqrt", "emit_igelu", "emit_iexp",
    "emit_igelu_unit", "emit_softmax_clamp", "emit_softmax_unit", "emit_layernorm_unit",
    "emit_isqrt64", "emit_layernorm_wide",
    "emit_ln_affine",
]

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
_M32 = (1 << 32) - 1

# I-BERT polynomial coefficients (Kim et al. 2021), as gemmini.h spells them.
GELU_A, GELU_B = -0.2888, -1.769          # erf: L(x) = sign(x) [a (clip(|x|, -b) + b)^2 + 1]
EXP_A, EXP_B, EXP_C = 0.3585, 1.353, 0.344  # exp on (-ln2, 0]: a (p + b)^2 + c
LN2 = 0.693147                              # gemmini.h literal
SQRT2 = 1.41421356237                       # gemmini.h literal


def _f32(v) -> np.float32:
    return np.float32(v)


def _trunc_i32(v: float, what: str) -> int:
    """C ``(int32)`` conversion of a double: truncation toward zero; out of range is an error."""
    if not math.isfinite(v):
        raise ValueError(f"{what}: constant {v} is not finite")
    t = int(v)  # truncates toward zero
    if not INT32_MIN <= t <= INT32_MAX:
        raise ValueError(f"{what}: constant {t} does not fit in int32")
    return t


# ============================================================================================
# Constants (§4.6)
# ============================================================================================

@dataclass(frozen=True)
class GeluConsts:
    """i-GELU constants for an input scale ``scale`` (real value = q * scale).

    ``qb`` (negative) and ``qc`` (negative) are what ``config_norm`` writes.  The kernel's
    integer result r has real value ``r * out_scale``.
    """

    qb: int
    qc: int
    scale: float      # S, the float32 input scale the constants were derived from
    s_erf: float      # float32 S_erf = -0.2888 * (S*S/2) (negative)

    @property
    def out_scale(self) -> float:
        """Real value of one unit of ``igelu(q)``: ``S * S_erf / 2`` (positive)."""
        return float(self.scale) * float(self.s_erf) / 2.0

    def max_abs_result(self, qmax: int) -> int:
        """Upper bound of ``|igelu(q)|`` for ``|q| <= qmax`` (no-overflow check)."""
        return qmax * (self.qb * self.qb + 2 * abs(self.qc))


@dataclass(frozen=True)
class SoftmaxConsts:
    """i-exp constants for an input scale ``scale``.  ``qb`` and ``qc`` share the
    ``config_norm`` fields with i-GELU; ``qln2`` and ``qln2_inv`` are the two ``q_const``s."""

    qb: int
    qc: int
    qln2: int
    qln2_inv: int
    scale: float

    @property
    def exp_scale(self) -> float:
        """Real value of one unit of ``iexp(q)``: ``a * S^2``."""
        return EXP_A * float(self.scale) ** 2

    @property
    def exp_max(self) -> int:
        """``iexp(0) = qb^2 + qc``, the largest value i-exp returns."""
        return self.qb * self.qb + self.qc


def gelu_consts(scale: float) -> GeluConsts:
    """§4.6 IGELU constants, with gemmini.h's C types::

        const acc_scale_t sqrt_2 = 1.41421356237, S = bert_scale;     // float
        const acc_scale_t S_erf = (-0.2888 * ((S*S) / 2));            // double product -> float
        const acc_t qb = -1.769 / (S / sqrt_2);                      // double division, trunc
        const acc_t qc = 1.0 / S_erf;                                 // double division, trunc
    """
    S = _f32(scale)
    if not (S > 0):
        raise ValueError(f"gelu_consts: scale must be > 0, got {scale}")
    sqrt_2 = _f32(SQRT2)
    s2 = _f32(_f32(S * S) / _f32(2.0))
    s_erf = _f32(GELU_A * float(s2))
    qb = _trunc_i32(GELU_B / float(_f32(S / sqrt_2)), "gelu qb")
    qc = _trunc_i32(1.0 / float(s_erf), "gelu qc")
    return GeluConsts(qb=qb, qc=qc, scale=float(S), s_erf=float(s_erf))


def softmax_consts(scale: float) -> SoftmaxConsts:
    """§4.6 SOFTMAX constants, with gemmini.h's C types::

        const scale_t a = 0.3585, b = 1.353, c = 0.344;              // float
        const acc_t qln2 = (int) (0.693147 / bert_scale);             // double division
        const acc_t qln2_inv = 65536 / qln2;                          // int division
        const acc_t qb = b / bert_scale;                              // float division
        const acc_t qc = c / (a*bert_scale*bert_scale);               // float arithmetic
    """
    S = _f32(scale)
    if not (S > 0):
        raise ValueError(f"softmax_consts: scale must be > 0, got {scale}")
    a, b, c = _f32(EXP_A), _f32(EXP_B), _f32(EXP_C)
    qln2 = _trunc_i32(LN2 / float(S), "qln2")
    if qln2 <= 0:
        raise ValueError(f"softmax_consts: scale {scale} too coarse (qln2 = 0)")
    qln2_inv = 65536 // qln2
    qb = _trunc_i32(float(_f32(b / S)), "exp qb")
    qc = _trunc_i32(float(_f32(c / _f32(_f32(a * S) * S))), "exp qc")
    return SoftmaxConsts(qb=qb, qc=qc, qln2=qln2, qln2_inv=qln2_inv, scale=float(S))


@dataclass(frozen=True)
class LNAffine:
    """Integer per-channel affine applied after the LAYERNORM read-out (gamma / beta).

    ``y_q[j] = clip(RNE(fl32(wrap32(n_q[j] * gamma_q[j] + beta_q[j])) * multiplier[j]) + zp)``

    ``n_q`` is the unit's int8 output; channel j has scale ``norm_scale[j]`` (the
    reciprocal of the read-out scale used for that channel).  ``gamma_q`` are int32 values
    within ±(2^15 - 1) at one per-tensor scale ``gamma_scale``; ``beta_q`` is int32 at scale
    ``norm_scale[j] * gamma_scale``; ``multiplier[j] = fl32(norm_scale[j] * gamma_scale /
    out_scale)`` (float32).
    """

    gamma_q: np.ndarray     # int32 (N,)
    beta_q: np.ndarray      # int32 (N,)
    multiplier: np.ndarray  # float32 (N,)
    norm_scale: np.ndarray  # float64 (N,)
    gamma_scale: float
    out_scale: float
    #: int64 accumulator without wrap (the wide LayerNorm's int16 normalized values on the
    #: CPU); False: the int32 accumulator of the unit's int8 output
    wide: bool = False


@dataclass(frozen=True)
class WideAffine:
    """LayerNorm gamma / beta folded into the wide LayerNorm's one read-out (CPU path).

    ``y_q[j] = clip(RNE(fl32(fl32(fl32(x - mean) * inv_stddev) * gain[j]) + bias[j]) + zp)``
    with ``gain = fl32(gamma / out_scale)`` and ``bias = fl32(beta / out_scale)``: one rounding
    instead of the int16 normalized value plus an integer affine, and one pass instead of two.
    """

    gain: np.ndarray  # float32 (N,)
    bias: np.ndarray  # float32 (N,)

    @classmethod
    def of(cls, gamma, beta, out_scale: float) -> "WideAffine":
        g = np.asarray(gamma, np.float64).reshape(-1) / float(out_scale)
        b = np.asarray(beta, np.float64).reshape(-1) / float(out_scale)
        return cls(gain=g.astype(np.float32), bias=np.broadcast_to(b, g.shape).astype(np.float32))


def ln_affine_consts(gamma, beta, norm_scale, out_scale: float, gamma_bits: int = 16,
                     wide: bool = False) -> LNAffine:
    """Quantize LayerNorm's gamma / beta for :func:`ln_affine`.  ``norm_scale`` is a scalar
    or a per-channel vector (the scale of the normalized values: the unit's int8 output, or
    with ``wide`` the int16 output of :func:`layernorm_wide`)."""
    gamma = np.asarray(gamma, dtype=np.float64).reshape(-1)
    beta = np.asarray(beta, dtype=np.float64).reshape(-1)
    ns = np.broadcast_to(np.asarray(norm_scale, dtype=np.float64), gamma.shape).copy()
    gmax = float(np.max(np.abs(gamma))) if gamma.size else 0.0
    qg = (1 << (gamma_bits - 1)) - 1
    gamma_scale = gmax / qg if gmax > 0 else 1.0
    gamma_q = np.rint(gamma / gamma_scale).astype(np.int64)
    beta_q = np.rint(beta / (ns * gamma_scale)).astype(np.int64)
    bound = (1 << 15 if wide else 128) * qg + (int(np.max(np.abs(beta_q))) if beta_q.size else 0)
    if bound > (1 << 62 if wide else INT32_MAX):
        raise ValueError("ln_affine_consts: beta too large for the accumulator at this scale")
    mult = (ns * gamma_scale / float(out_scale)).astype(np.float32)
    return LNAffine(gamma_q=gamma_q.astype(np.int32), beta_q=beta_q.astype(np.int32),
                    multiplier=mult, norm_scale=ns, gamma_scale=float(gamma_scale),
                    out_scale=float(out_scale), wide=wide)


# ============================================================================================
# numpy reference: primitives
# ============================================================================================

def wrap32(x) -> np.ndarray:
    """Wrap integers to int32 two's complement (returned as int64 for further arithmetic)."""
    x = np.asarray(x).astype(np.int64)
    x = x & _M32
    return np.where(x > INT32_MAX, x - (1 << 32), x)


def fl32(x) -> np.ndarray:
    """int32 -> float32 with RNE (``fl32`` of §0)."""
    return wrap32(x).astype(np.int32).astype(np.float32)


def rne(f) -> np.ndarray:
    """Round half to even, keeping the float dtype."""
    return np.rint(f)


def _dtype_range(dtype) -> tuple[int, int]:
    ii = np.iinfo(np.dtype(dtype))
    return int(ii.min), int(ii.max)


def acc_scale(x, scale, zero_point: int = 0, out_dtype="int8") -> np.ndarray:
    """``ACC_SCALE(x, S) = sat8(RNE(fl32(x) * S))`` (§3.2).  ``S`` is rounded to float32
    (it may be a per-row array).  With ``zero_point != 0`` or another ``out_dtype`` this is
    the general requantization ``clip(RNE(fl32(x) * S) + zp)`` (not a Gemmini primitive)."""
    return _scale_float32(fl32(x), scale, zero_point, out_dtype)


def _scale_float32(fx, scale, zero_point: int = 0, out_dtype="int8") -> np.ndarray:
    """The float part of :func:`acc_scale` on values already converted to float32."""
    return _round_to(np.asarray(fx, np.float32) * np.asarray(scale, dtype=np.float32), zero_point, out_dtype)


def _round_to(f, zero_point: int = 0, out_dtype="int8") -> np.ndarray:
    """``clip(RNE(f) + zp)`` in ``out_dtype`` for float32 ``f``: every read-out's last step."""
    lo, hi = _dtype_range(out_dtype)
    r = np.clip(np.rint(f), np.float32(lo - zero_point), np.float32(hi - zero_point))
    return (r.astype(np.int32) + np.int32(zero_point)).astype(out_dtype)


def rrs(x, s: int) -> np.ndarray:
    """Rounding right shift RRS(x, s) on int32 (§3.2): half to even."""
    x = wrap32(x)
    if s == 0:
        return x.astype(np.int32)
    q = x >> s
    h = (x >> (s - 1)) & 1
    t = (x & ((1 << (s - 1)) - 1)) != 0
    o = q & 1
    return (q + (h & (t | o.astype(bool)))).astype(np.int32)


def shift_scale(x, shift: int) -> np.ndarray:
    """Exact rescaling by a power of two: ``x << shift`` for shift >= 0 (wraps), ``RRS(x,
    -shift)`` for shift < 0.  New scale = old scale * 2**-shift."""
    if shift >= 0:
        return wrap32(wrap32(x) << shift).astype(np.int32)
    return rrs(x, -shift)


def isqrt(n) -> np.ndarray:
    """floor(sqrt(n)) for int32 ``n >= 0`` (exact); negative ``n`` gives 0."""
    n = np.maximum(wrap32(n), 0)
    s = np.floor(np.sqrt(n.astype(np.float64))).astype(np.int64)
    s = np.where(s * s > n, s - 1, s)
    s = np.where((s + 1) * (s + 1) <= n, s + 1, s)
    return s.astype(np.int32)


def _bit_length(n: np.ndarray) -> np.ndarray:
    """Bit length of non-negative int64 values below 2^53 (frexp is exact there)."""
    return np.frexp(n.astype(np.float64))[1].astype(np.int64)


NEWTON_STEPS = 5
"""Newton steps :func:`isqrt_newton` needs for every n in [0, 2^31) from its starting
point; checked exhaustively (``pytest -m slow tests/test_ibert.py``).  I-BERT quotes "at
most 4"; from ``2^ceil(bits/2)`` four steps are one short for 148722 values of n (the
first is 16785408; e.g. n = 1179510328 gives 34344 instead of 34343); five always suffice."""


def isqrt_newton(n, steps: int = NEWTON_STEPS) -> np.ndarray:
    """I-BERT's integer square root (Algorithm 4): start at ``x0 = 2^ceil(bits(n)/2)``, iterate
    ``x <- floor((x + floor(n/x)) / 2)`` while it decreases.  Written branch-free as
    ``x <- min(x, (x + n // x) // 2)``, which is a fixed point once converged."""
    n = np.maximum(wrap32(n), 0)
    x = np.left_shift(np.int64(1), (_bit_length(n) + 1) // 2)
    for _ in range(steps):
        x = np.minimum(x, (x + n // np.maximum(x, 1)) // 2)
    return x.astype(np.int32)


def _trunc_div(a: np.ndarray, d: int) -> np.ndarray:
    """C int32 division by a positive constant: truncation toward zero."""
    q = np.abs(a) // d
    return np.where(a < 0, -q, q)


# ============================================================================================
# numpy reference: kernels (§4.4)
# ============================================================================================

def igelu(q, c: GeluConsts) -> np.ndarray:
    """§4.4 i-GELU on int32 ``q``; int32 result at scale ``c.out_scale``."""
    q = wrap32(q)
    sign = np.where(q < 0, -1, 1)
    a = np.minimum(wrap32(np.abs(q)), -c.qb)
    t = wrap32(a + c.qb)
    poly = wrap32(t * t + c.qc)
    erf = wrap32(sign * poly)
    return wrap32(q * wrap32(erf + c.qc)).astype(np.int32)


def iexp(q, c: SoftmaxConsts) -> np.ndarray:
    """§4.4 i-exp on int32 ``q <= 0``; int32 result at scale ``c.exp_scale``.
    The final shift is silicon's (2023 RTL): 0 when any of z's bits 5..15 is set (z >= 32,
    or a wrapped product), else a logical shift by z.  The spec recommends the CPU gold's
    ``z & 31``; docs/ibert.md says why l2g follows silicon."""
    q = wrap32(q)
    z = wrap32(wrap32(-q) * c.qln2_inv) >> 16
    qp = wrap32(q + z * c.qln2)
    t = wrap32(qp + c.qb)
    e = wrap32(t * t + c.qc)
    return np.where((z & 0xFFE0) != 0, 0, wrap32((e & 0xFFFFFFFF) >> (z & 31))).astype(np.int32)


def softmax_clamp_delta(c: SoftmaxConsts) -> int:
    """Largest ``d >= 0`` with ``((d * qln2_inv) >> 16) <= 31`` (so i-exp never shifts by 32+)."""
    return ((1 << 21) - 1) // c.qln2_inv


def softmax_clamp(x, c: SoftmaxConsts) -> np.ndarray:
    """Compiler pre-step in front of the SOFTMAX unit: ``max(x, rowmax(x) - delta)``.

    After it every ``x - max`` lies in ``[-delta, 0]``: the i-exp product cannot overflow and
    ``z <= 31``, so ``z & 31`` (CPU gold / MODEL) and silicon's saturation agree, and far-off
    (masked) elements contribute ``e >> 31 == 0`` instead of ``e >> (z mod 32)``."""
    x = wrap32(x)
    m = x.max(axis=-1, keepdims=True)
    return np.maximum(x, m - softmax_clamp_delta(c)).astype(np.int32)


def igelu_real(x: np.ndarray, scale: float) -> np.ndarray:
    """Real-valued i-GELU of real inputs that are multiples of ``scale`` (for error studies)."""
    c = gelu_consts(scale)
    q = np.rint(np.asarray(x, np.float64) / c.scale).astype(np.int64)
    return igelu(q, c).astype(np.float64) * c.out_scale


def iexp_real(x: np.ndarray, scale: float) -> np.ndarray:
    """Real-valued i-exp of real ``x <= 0`` quantized at ``scale`` (for error studies)."""
    c = softmax_consts(scale)
    q = np.rint(np.asarray(x, np.float64) / c.scale).astype(np.int64)
    return iexp(q, c).astype(np.float64) * c.exp_scale


# ---- statistics (§4.3) and read-out (§3.6) -------------------------------------------------

def layernorm_stats(x) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row (last axis) ``(mean int32, sd int32, inv_stddev float32)``, keepdims."""
    x = wrap32(x)
    n = x.shape[-1]
    mean = _trunc_div(wrap32(x.sum(axis=-1, keepdims=True)), n)
    d = wrap32(x - mean)
    var = _trunc_div(wrap32(wrap32(d * d).sum(axis=-1, keepdims=True)), n)
    sd = isqrt(var)
    sd = np.where(sd == 0, 1, sd)
    inv = np.float32(1.0) / sd.astype(np.float32)
    return mean.astype(np.int32), sd.astype(np.int32), inv.astype(np.float32)


def layernorm_readout(x, mean, inv_stddev, scale) -> np.ndarray:
    """LAYERNORM read-out, RTL form: ``ACC_SCALE(x - mean, fl32(inv_stddev * S))``."""
    f = (np.asarray(inv_stddev, np.float32) * np.asarray(scale, np.float32)).astype(np.float32)
    return acc_scale(wrap32(wrap32(x) - wrap32(mean)), f)


def layernorm_readout_cpu_gold(x, mean, sd, scale) -> np.ndarray:
    """CPU-gold form (gemmini-rocc-tests; the §3.6 "recommendation"):
    ``ACC_SCALE(clamp32(RNE((double)(x - mean) / sd)), S)`` with an unwrapped difference.
    Not used by the compiler (see module docstring); for extension tests only."""
    d = wrap32(x).astype(np.float64) - wrap32(mean).astype(np.float64)
    y = np.clip(np.rint(d / np.asarray(sd, np.float64)), INT32_MIN, INT32_MAX)
    return acc_scale(y.astype(np.int64), scale)


def layernorm_unit(x, scale) -> np.ndarray:
    """The whole LN unit on int32 rows: stats passes, then the RESET pass's int8 output
    ``≈ (x - mean) / sd * S``.  ``scale`` may be per channel (last axis): Gemmini applies
    one acc_scale per mvout, so per-column-block scales cost one config_st per block."""
    mean, _, inv = layernorm_stats(x)
    return layernorm_readout(x, mean, inv, scale)


# ---- wide LayerNorm: int64 statistics on the CPU -----------------------------------------

NEWTON_STEPS_64 = 7
"""Newton steps :func:`isqrt64_newton` runs.  From ``x0 <= 2·sqrt(n)`` the relative error
falls 1 → 0.25 → 0.025 → 3e-4 → 5e-8 → 1e-15, i.e. below one unit for every ``n < 2^62``
after five steps; the floors can leave ``x`` one above the root, which the final
``min`` step and the correction remove.  Seven steps leave a margin (checked on random and
edge values in tests/test_ibert.py)."""


def _isqrt64_start(n: np.ndarray) -> np.ndarray:
    """``2^k`` for ``n`` in ``[2^(2k-2), 2^(2k))`` (``1`` for ``n = 0``): a power of two at
    most twice the root, chosen by comparisons so that numpy and Relax pick the same one."""
    x = np.ones_like(n)
    for k in range(1, 32):
        x = np.where(n >= (np.int64(1) << np.int64(2 * k - 2)), np.int64(1) << np.int64(k), x)
    return x


def isqrt64_newton(n, steps: int = NEWTON_STEPS_64) -> np.ndarray:
    """floor(sqrt(n)) for int64 ``0 <= n < 2^62`` by integer Newton steps (negative -> 0)."""
    n = np.maximum(np.asarray(n, np.int64), 0)
    x = _isqrt64_start(n)
    for _ in range(steps):
        x = np.minimum(x, (x + n // np.maximum(x, 1)) // 2)
    return np.where(x * x > n, x - 1, x)


def layernorm_wide_stats(x) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row ``(mean int64, sd int64, inv_stddev float32)`` with int64 sums and no wrap.

    The unit's int32 variance sum forces a right shift of the input when rows are large;
    on models with outlier channels (MiniLM: ~220 against ~1) that shift leaves the ordinary
    channels a few bits.  These statistics keep the input at full precision instead; the
    compiler places them on the CPU (see ``IntegerOnlyOptions.ln_wide``)."""
    x = np.asarray(x).astype(np.int64)
    n = x.shape[-1]
    mean = _trunc_div(x.sum(axis=-1, keepdims=True), n)
    d = x - mean
    var = (d * d).sum(axis=-1, keepdims=True) // n
    sd = isqrt64_newton(var)
    sd = np.where(sd == 0, 1, sd)
    inv = np.float32(1.0) / sd.astype(np.float32)
    return mean, sd, inv.astype(np.float32)


def layernorm_wide(x, scale, out_dtype: str = "int16") -> np.ndarray:
    """Wide LayerNorm, the unit's read-out ``sat(RNE(fl32(x - mean) * fl32(inv_stddev * S)))``
    with ``x - mean`` unwrapped (int64 → float32, RNE) and an int16 result by default: on
    the CPU nothing forces the unit's int8, and the extra bits keep the normalized values from
    adding a second rounding on top of the output's int8 quantization."""
    mean, _, inv = layernorm_wide_stats(x)
    f = (inv * np.asarray(scale, np.float32)).astype(np.float32)
    d = np.asarray(x).astype(np.int64) - mean
    return _scale_float32(d.astype(np.float32), f, 0, out_dtype)


def layernorm_wide_affine(x, aff: WideAffine, zero_point: int = 0, out_dtype: str = "int8") -> np.ndarray:
    """Wide LayerNorm with gamma / beta in its read-out (:class:`WideAffine`), in float32
    step by step as the C and LLVM code compute it (no fused multiply-add)."""
    mean, _, inv = layernorm_wide_stats(x)
    d = (np.asarray(x).astype(np.int64) - mean).astype(np.float32)
    v = (d * inv).astype(np.float32) * aff.gain
    v = (v.astype(np.float32) + aff.bias).astype(np.float32)
    return _round_to(v, zero_point, out_dtype)


def softmax_stats(x, c: SoftmaxConsts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row ``(max int32, iexp(x - max) int32, inv_sum_exp float32)``."""
    x = wrap32(x)
    m = x.max(axis=-1, keepdims=True)
    e = iexp(wrap32(x - m), c)
    s = wrap32(e.astype(np.int64).sum(axis=-1, keepdims=True))
    inv = np.float32(127.0) / s.astype(np.int32).astype(np.float32)
    return m.astype(np.int32), e, inv.astype(np.float32)


def softmax_readout(e, inv_sum_exp, scale: float = 1.0) -> np.ndarray:
    """SOFTMAX read-out, RTL form: ``ACC_SCALE(e, fl32(inv_sum_exp * S))``."""
    f = (np.asarray(inv_sum_exp, np.float32) * np.float32(scale)).astype(np.float32)
    return acc_scale(e, f)


def softmax_unit(x, c: SoftmaxConsts, scale: float = 1.0) -> np.ndarray:
    """The whole SOFTMAX unit on int32 rows (no clamp; see :func:`softmax_clamp`).
    With ``scale = 1`` the int8 result has scale 1/127 and lies in [0, 127]."""
    _, e, inv = softmax_stats(x, c)
    return softmax_readout(e, inv, scale)


def igelu_readout(r, scale) -> np.ndarray:
    """IGELU read-out: ``ACC_SCALE(igelu(x), S)`` given ``r = igelu(x)``."""
    return acc_scale(r, scale)


def igelu_unit(x, c: GeluConsts, scale) -> np.ndarray:
    """i-GELU on the accumulator read-out path: int8 ``≈ igelu(x) * S``."""
    return igelu_readout(igelu(x, c), scale)


def ln_affine(n_q, aff: LNAffine, zero_point: int = 0, out_dtype="int8") -> np.ndarray:
    """LayerNorm gamma/beta as an integer per-channel affine on the normalized values."""
    if aff.wide:
        acc = np.asarray(n_q).astype(np.int64) * aff.gamma_q.astype(np.int64) + aff.beta_q.astype(np.int64)
        return _scale_float32(acc.astype(np.float32), aff.multiplier, zero_point, out_dtype)
    acc = wrap32(wrap32(n_q) * aff.gamma_q.astype(np.int64) + aff.beta_q.astype(np.int64))
    return acc_scale(acc, aff.multiplier, zero_point, out_dtype)


# ============================================================================================
# Relax builders (same bits as the numpy reference on the LLVM host target)
# ============================================================================================
#
# Rules that make the host module bit-exact:
# * int32 products / sums that may overflow are computed in int64 and narrowed with
#   ``astype(int32)`` (LLVM ``trunc``: a well-defined wrap).  TVM emits ``mul nsw`` for int32,
#   so int32 overflow is never left to LLVM.
# * float32 stays float32: casts are explicit; constants are float32.
# * ``R.round`` lowers to ``llvm.nearbyint``: round half to even (checked by the tests).
# * out-of-range float -> int casts are avoided by clipping before ``astype``.

def _relax():
    from tvm import relax  # local import keeps the numpy half usable without TVM
    return relax


def _ci(v, dtype: str = "int64"):
    # the dtype must be given explicitly: relax.const narrows int64 numpy data to int32
    return _relax().const(np.asarray(v, dtype=dtype), dtype)


def _cf(v):
    return _relax().const(np.asarray(v, dtype=np.float32), "float32")


class _E:
    """Tiny emitter: every op goes through ``bb.emit`` (normalized, shape-inferred)."""

    def __init__(self, bb):
        self.bb = bb
        self.op = _relax().op

    def emit(self, e):
        return self.bb.emit(e)

    def i64(self, x):
        return self.emit(self.op.astype(x, "int64"))

    def w32(self, x):  # int64 -> int32 wrap
        return self.emit(self.op.astype(x, "int32"))

    def add(self, a, b):
        return self.emit(self.op.add(a, b))

    def sub(self, a, b):
        return self.emit(self.op.subtract(a, b))

    def mul(self, a, b):
        return self.emit(self.op.multiply(a, b))

    def f32(self, x):
        return self.emit(self.op.astype(x, "float32"))


def _last_dim(e) -> int:
    shape = e.ty.shape
    return int(shape[-1])


def emit_acc_scale(bb, x, scale, zero_point: int = 0, out_dtype: str = "int8"):
    """Relax :func:`acc_scale`.  ``x`` int32 expr; ``scale`` a Python float (rounded to
    float32) or a float32 Relax expr (e.g. a per-row factor)."""
    E = _E(bb)
    s = scale if isinstance(scale, _relax().Expr) else _cf(scale)
    return _emit_round_to(E, E.mul(E.f32(x), s), zero_point, out_dtype)


def _emit_round_to(E, f, zero_point: int = 0, out_dtype: str = "int8"):
    """Relax :func:`_round_to` on a float32 expr."""
    lo, hi = _dtype_range(out_dtype)
    r = E.emit(E.op.round(f))
    r = E.emit(E.op.minimum(E.emit(E.op.maximum(r, _cf(lo - zero_point))), _cf(hi - zero_point)))
    r = E.emit(E.op.astype(r, "int32"))
    if zero_point:
        r = E.add(r, _ci(zero_point, "int32"))
    return E.emit(E.op.astype(r, out_dtype))


def emit_shift_scale(bb, x, shift: int):
    """Relax :func:`shift_scale` (``x`` int32)."""
    E = _E(bb)
    if shift == 0:
        return x
    if shift > 0:
        return E.w32(E.emit(E.op.left_shift(E.i64(x), _ci(shift))))
    # RRS(x, s) == (x + 2^(s-1) - 1 + o) >> s with o = bit s of x: below the half the sum
    # stays under the next multiple of 2^s, above it reaches it, and at the half exactly it
    # does iff o = 1 (half to even).  Five int64 ops per element instead of nine.
    s = -shift
    x64 = E.i64(x)
    o = E.emit(E.op.bitwise_and(E.emit(E.op.right_shift(x64, _ci(s))), _ci(1)))
    biased = E.add(x64, E.add(o, _ci((1 << (s - 1)) - 1)))
    return E.w32(E.emit(E.op.right_shift(biased, _ci(s))))


def emit_isqrt(bb, n, steps: int = NEWTON_STEPS):
    """Relax :func:`isqrt_newton` (== floor(sqrt(n)) for int32 n; negative -> 0), integer only."""
    E = _E(bb)
    return E.w32(_emit_newton_sqrt(E, E.emit(E.op.maximum(E.i64(n), _ci(0))), 16, steps))


def _emit_newton_sqrt(E, n64, max_k: int, steps: int):
    """Integer Newton square root of int64 ``n64 >= 0``: start at ``x0 = 2^ceil(bits(n)/2)``
    (for bits in (2k-2, 2k] -> 2^k, i.e. ``n >= 2^(2k-2)`` -> 2^k, k <= ``max_k``), then
    ``x <- min(x, (x + n // x) // 2)``, a fixed point once converged."""
    x = E.emit(E.op.full_like(n64, _ci(1)))
    for k in range(1, max_k + 1):
        x = E.emit(E.op.where(E.emit(E.op.greater_equal(n64, _ci(1 << (2 * k - 2)))), _ci(1 << k), x))
    for _ in range(steps):
        nx = E.emit(E.op.floor_divide(E.add(x, E.emit(E.op.floor_divide(n64, E.emit(E.op.maximum(x, _ci(1)))))), _ci(2)))
        x = E.emit(E.op.minimum(x, nx))
    return x


def emit_igelu(bb, q, c: GeluConsts):
    """Relax :func:`igelu` (``q`` int32 -> int32)."""
    E = _E(bb)
    q64 = E.i64(q)
    neg = E.emit(E.op.less(q64, _ci(0)))
    sign = E.emit(E.op.where(neg, _ci(-1), _ci(1)))
    a = E.emit(E.op.minimum(E.i64(E.w32(E.emit(E.op.abs(q64)))), _ci(-c.qb)))
    t = E.i64(E.w32(E.add(a, _ci(c.qb))))
    poly = E.i64(E.w32(E.add(E.mul(t, t), _ci(c.qc))))
    erf = E.i64(E.w32(E.mul(sign, poly)))
    s = E.i64(E.w32(E.add(erf, _ci(c.qc))))
    return E.w32(E.mul(q64, s))


def emit_iexp(bb, q, c: SoftmaxConsts):
    """Relax :func:`iexp` (``q`` int32 <= 0 -> int32), silicon's saturating final shift."""
    E = _E(bb)
    q64 = E.i64(q)
    nq = E.i64(E.w32(E.emit(E.op.negative(q64))))
    z = E.emit(E.op.right_shift(E.i64(E.w32(E.mul(nq, _ci(c.qln2_inv)))), _ci(16)))
    qp = E.i64(E.w32(E.add(q64, E.mul(z, _ci(c.qln2)))))
    t = E.i64(E.w32(E.add(qp, _ci(c.qb))))
    e_u = E.emit(E.op.bitwise_and(E.add(E.mul(t, t), _ci(c.qc)), _ci(0xFFFFFFFF)))
    shifted = E.w32(E.emit(E.op.right_shift(e_u, E.emit(E.op.bitwise_and(z, _ci(31))))))
    saturated = E.emit(E.op.not_equal(E.emit(E.op.bitwise_and(z, _ci(0xFFE0))), _ci(0)))
    return E.emit(E.op.where(saturated, _ci(0, "int32"), shifted))


def emit_igelu_unit(bb, x, c: GeluConsts, scale):
    """Relax :func:`igelu_unit`: int32 in, int8 out."""
    return emit_acc_scale(bb, emit_igelu(bb, x, c), scale)


def emit_softmax_clamp(bb, x, c: SoftmaxConsts):
    """Relax :func:`softmax_clamp` (int32 -> int32)."""
    E = _E(bb)
    m = E.i64(E.emit(E.op.max(x, axis=-1, keepdims=True)))
    lo = E.sub(m, _ci(softmax_clamp_delta(c)))
    return E.w32(E.emit(E.op.maximum(E.i64(x), lo)))


def emit_softmax_unit(bb, x, c: SoftmaxConsts, scale: float = 1.0):
    """Relax :func:`softmax_unit` over the last axis: int32 in, int8 out."""
    E = _E(bb)
    m = E.emit(E.op.max(x, axis=-1, keepdims=True))
    d = E.w32(E.sub(E.i64(x), E.i64(m)))
    e = emit_iexp(bb, d, c)
    s = E.w32(E.emit(E.op.sum(E.i64(e), axis=-1, keepdims=True)))
    inv = E.emit(E.op.divide(_cf(127.0), E.f32(s)))
    f = E.mul(inv, _cf(scale))
    return emit_acc_scale(bb, e, f)


def emit_layernorm_unit(bb, x, scale):
    """Relax :func:`layernorm_unit` over the last axis: int32 in, int8 out.  ``scale`` is a
    float or a per-channel float vector (one read-out scale per column block on Gemmini)."""
    E = _E(bb)
    n = _last_dim(x)
    x64 = E.i64(x)

    def trunc_div(v64):  # v64: int64 holding an int32 value; C division by n > 0
        a = E.emit(E.op.abs(v64))
        q = E.emit(E.op.floor_divide(a, _ci(n)))
        return E.emit(E.op.where(E.emit(E.op.less(v64, _ci(0))), E.emit(E.op.negative(q)), q))

    s = E.i64(E.w32(E.emit(E.op.sum(x64, axis=-1, keepdims=True))))
    mean = trunc_div(s)                                    # int64 in int32 range
    d = E.i64(E.w32(E.sub(x64, mean)))
    sq = E.i64(E.w32(E.mul(d, d)))
    vs = E.i64(E.w32(E.emit(E.op.sum(sq, axis=-1, keepdims=True))))
    var = trunc_div(vs)
    sd = E.i64(emit_isqrt(bb, E.w32(var)))
    sd = E.emit(E.op.where(E.emit(E.op.equal(sd, _ci(0))), _ci(1), sd))
    inv = E.emit(E.op.divide(_cf(1.0), E.f32(E.w32(sd))))
    f = E.mul(inv, _cf(scale))
    return emit_acc_scale(bb, E.w32(d), f)


def emit_isqrt64(bb, n, steps: int = NEWTON_STEPS_64):
    """Relax :func:`isqrt64_newton` (``n`` int64)."""
    E = _E(bb)
    n64 = E.emit(E.op.maximum(n, _ci(0)))
    x = _emit_newton_sqrt(E, n64, 31, steps)
    over = E.emit(E.op.greater(E.mul(x, x), n64))
    return E.emit(E.op.where(over, E.sub(x, _ci(1)), x))


def _emit_wide_stats(bb, x):
    """(x - mean as int64, inv_stddev float32) of :func:`layernorm_wide_stats`.

    The int64 widening and the centering are emitted once per consumer rather than shared:
    operator fusion then folds each copy into the reduction or the read-out that uses it, and
    no int64 copy of the rows is written to memory (two passes fewer on the CPU)."""
    E = _E(bb)
    n = _last_dim(x)
    s = E.emit(E.op.sum(E.i64(x), axis=-1, keepdims=True))
    a = E.emit(E.op.abs(s))
    q = E.emit(E.op.floor_divide(a, _ci(n)))
    mean = E.emit(E.op.where(E.emit(E.op.less(s, _ci(0))), E.emit(E.op.negative(q)), q))
    d = E.sub(E.i64(x), mean)
    var = E.emit(E.op.floor_divide(E.emit(E.op.sum(E.mul(d, d), axis=-1, keepdims=True)), _ci(n)))
    sd = emit_isqrt64(bb, var)
    sd = E.emit(E.op.where(E.emit(E.op.equal(sd, _ci(0))), _ci(1), sd))
    return E.sub(E.i64(x), mean), E.emit(E.op.divide(_cf(1.0), E.f32(sd)))


def emit_layernorm_wide(bb, x, scale, out_dtype: str = "int16"):
    """Relax :func:`layernorm_wide` over the last axis: int32 in, int16 out (int64 inside)."""
    d, inv = _emit_wide_stats(bb, x)
    return emit_acc_scale(bb, d, _E(bb).mul(inv, _cf(scale)), 0, out_dtype)


def emit_layernorm_wide_affine(bb, x, aff: WideAffine, zero_point: int = 0, out_dtype: str = "int8"):
    """Relax :func:`layernorm_wide_affine` over the last axis."""
    E = _E(bb)
    d, inv = _emit_wide_stats(bb, x)
    v = E.add(E.mul(E.mul(E.f32(d), inv), _cf(aff.gain)), _cf(aff.bias))
    return _emit_round_to(E, v, zero_point, out_dtype)


def emit_ln_affine(bb, n_q, aff: LNAffine, zero_point: int = 0, out_dtype: str = "int8"):
    """Relax :func:`ln_affine`: int8 normalized values -> quantized ``gamma * n + beta``."""
    E = _E(bb)
    g = _ci(aff.gamma_q)
    b = _ci(aff.beta_q)
    acc = E.add(E.mul(E.i64(n_q), g), b)
    if not aff.wide:
        acc = E.w32(acc)
    return emit_acc_scale(bb, acc, aff.multiplier, zero_point, out_dtype)
