"""Replace the float softmax / GELU / LayerNorm brackets by I-BERT integer kernels.

Entry point: :func:`integer_only` (``mod, ctx -> mod``; ``ctx`` may be None).

Input (the convention of ``passes/quantize.py``, read there): every nonlinear op is bracketed
as ``y = R.quantize(op(R.dequantize(x, s_in, zp_in)), s_out, zp_out, out_dtype)`` with scalar
float32 scales and scalar integer zero points; ``x`` is int8 or int32 (softmax sees the raw
Q·Kᵀ accumulator with the attention mask already added, "-inf" as ``quantize.mask_bias``; LayerNorm
sees the int32 residual stream at scale ``absmax / 2**20``).  ``op`` is one of

* ``R.nn.softmax`` over the last axis;
* ``R.nn.gelu``, ``R.nn.gelu_tanh``, or any chain of elementwise ops with scalar constants
  that computes GELU, such as the erf form ``x * 0.5 * (1 + erf(x / sqrt2))`` the ONNX
  importer emits (recognized by its ops — it must contain ``erf`` or ``tanh`` — and by
  evaluating the chain on a probe vector: within 5e-3 of exact GELU on [-8, 8]);
* ``R.nn.layer_norm`` over the last axis with constant gamma / beta.

Output: each matched bracket (the ``R.quantize`` and the float ops and ``R.dequantize`` that
only it used) is replaced by integer Relax ops from :mod:`l2g.passes.ibert`, in separately
named steps (each one a run of bindings, in this order):

softmax
    ``prepare`` (astype int32, minus zp) → ``prescale`` (RRS by ``k`` bits when the scale is so
    fine that the row sum of i-exp could overflow int32) → ``softmax_clamp`` (``max(x,
    rowmax - delta)``, only where ``(rowmax - x)·qln2_inv`` could overflow int32, judged from
    the static row span of Q·Kᵀ + mask (:func:`static_row_span`) when there is one; elsewhere
    i-exp's saturating shift, silicon's, makes masked positions exactly 0) → ``softmax_unit`` (the
    normalization unit: MAX, SUM_EXP / INV_SUM_EXP, RESET read-out with acc_scale 1.0: int8
    at scale 1/127 in [0, 127]) → ``requant`` only if ``s_out != 1/127`` or ``zp_out != 0``.
GELU
    ``prepare`` → ``prescale`` (left shift for int8 inputs, which refines the constants, or
    RRS plus saturation for int32 inputs, so that ``|igelu| < 2**30``) → ``igelu_unit``
    (IGELU read-out with ``acc_scale = S·S_erf/2 / s_out``; with ``zp_out != 0`` the zero
    point is added after rounding, which is no longer a Gemmini read-out).
LayerNorm
    ``prepare`` → ``prescale`` (shift and saturate so that the unit's int32 variance sum
    ``Σ(x-mean)²`` fits: with calibration samples in ``ctx.calib_inputs`` the shift is the
    finest with ``ln_var_margin`` (8×) headroom over the largest row sum measured on them; without,
    the worst case ``N·(2·|x|max)² < 2**30``, which for the int32 residual stream costs about 4
    more bits of input resolution) → ``layernorm_unit`` (SUM/MEAN, VARIANCE/INV_STDDEV,
    RESET read-out: int8 ``(x - mean)·inv_stddev·S_j``; ``S_j`` is one float32 read-out scale per
    group of ``ln_scale_group`` channels, chosen from gamma, beta and ``s_out`` so that no
    information the int8 output could carry is clipped) → ``ln_affine`` (gamma / beta as an
    integer per-channel affine ``n·G_j + B_j`` in int32 followed by a float32 ACC_SCALE to
    ``s_out``; runs on the CPU or as a Gemmini matmul/resadd read-out).  LayerNorm's epsilon
    is dropped (the unit has none; a zero variance gives ``sd = 1``).
    When the calibrated prescale would leave the row's typical ``|x - mean|`` too few bits
    (outlier channels, as in MiniLM), ``layernorm_wide`` replaces the unit: int64 statistics
    on the CPU, no prescale, int16 normalized values; with ``ln_wide_affine`` (the Gemmini
    build) ``layernorm_wide_affine`` takes gamma / beta into its float32 read-out instead,
    one rounding in one pass (docs/ibert.md, "Wide statistics").

Every numeric decision is recorded as a typed plan (:class:`SoftmaxPlan`, :class:`GeluPlan`,
:class:`LayerNormPlan`) whose ``reference`` method is the numpy model of exactly what the
emitted Relax computes; pass an :class:`IntegerOnlyReport` to collect them.  After the pass
the replaced regions contain integer ops plus the float32 read-out primitive
(``astype f32``, ``multiply``, ``round``, ``maximum``/``minimum``, ``astype int``) and the unit's
two float32 reciprocals (``1/sd``, ``127/sum``); no ``softmax``, ``gelu``, ``erf``, ``tanh``,
``layer_norm``, ``exp``, ``sqrt`` or ``dequantize`` / ``quantize`` remains for them.  Brackets
around other ops (the pooler's ``tanh``) are left alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from l2g.passes import ibert as ib
from l2g.passes.unit_calls import emit_unit_call

__all__ = ["integer_only", "IntegerOnlyOptions", "IntegerOnlyReport",
           "SoftmaxPlan", "GeluPlan", "LayerNormPlan", "InputCalibration", "plan_softmax", "plan_gelu",
           "plan_layernorm"]

#: |x| assumed for an int32 input: the magnitude bound of the convention in quantize.py
#: (residual stream at absmax / 2**20 with headroom; Q·Kᵀ with MASK_BIAS = -2**24).
INT32_INPUT_BOUND = 1 << 24
#: LayerNorm's int32 input is the residual stream at scale absmax / 2**20 (quantize.py).
LN_INT32_BOUND = 1 << 20


@dataclass(frozen=True)
class IntegerOnlyOptions:
    """Knobs of :func:`integer_only`; the defaults are what the pipeline uses."""

    #: GELU prescale shift (``x << k``; negative = RRS); None = automatic.
    gelu_shift: int | None = None
    #: largest automatic left shift for GELU (refines qb / qc; the overflow bound usually
    #: stops it earlier, e.g. at 3 for int8 input at scale 0.05)
    gelu_max_shift: int = 6
    #: softmax prescale (negative = RRS by -k); None = automatic.
    softmax_shift: int | None = None
    #: LayerNorm prescale; None = automatic.
    ln_shift: int | None = None
    #: |x| bound assumed for int32 LayerNorm inputs (values beyond saturate in ``prescale``)
    ln_int32_bound: int = LN_INT32_BOUND
    #: |x| bound assumed for other int32 inputs
    int32_bound: int = INT32_INPUT_BOUND
    #: channels per LayerNorm read-out scale (16 = Gemmini DIM: one config_st per column
    #: block); 0 = one scale for the whole row
    ln_scale_group: int = 16
    #: measure each LayerNorm input's largest row sum of squares on ``ctx.calib_inputs``
    #: (first ``ln_calib_samples``) and pick the LayerNorm prescale from it instead of from
    #: the worst-case |x| bound
    ln_calibrate: bool = True
    ln_calib_samples: int = 4
    #: headroom factor over the calibrated sum of squares (the int32 limit is 2**31)
    ln_var_margin: float = 8.0
    #: which brackets to rewrite (a subset of softmax / gelu / layernorm)
    ops: tuple[str, ...] = ("softmax", "gelu", "layernorm")
    #: where LayerNorm statistics come from: "unit" (int32 sums: the normalization unit's
    #: semantics, after a prescale), "wide" (int64 sums on the CPU, input at full precision)
    #: or "auto": "wide" when the calibrated prescale would leave the row's typical
    #: ``|x - mean|`` fewer than ``ln_min_unit_bits`` bits (models with outlier channels)
    ln_stats: str = "auto"
    ln_min_unit_bits: int = 8
    #: wide LayerNorms take gamma / beta into their float32 read-out (ib.WideAffine): one
    #: rounding in one CPU pass instead of int16 normalized values plus an integer affine
    #: pass.  On for the Gemmini build (compile.gemmini_quantization), where the pass costs
    #: cycles; off on the host path, where it cost 3 of 872 SST-2 dev labels, net, past the
    #: 1-point bound of tests/test_sst2_classifier.py (docs/ibert.md, "Wide statistics")
    ln_wide_affine: bool = False
    #: bound an int32 GELU input by its calibrated |x| max times this margin (saturating
    #: beyond) instead of by ``int32_bound``, for a finer prescale.  Off by default: on
    #: MiniLM (16 SST-2 sentences) margin 2 lowered the integer-only cosine from 0.9896 to
    #: 0.9884, because i-GELU's polynomial error, not its input step, dominates there
    #: while the saturation does cut rare large inputs.  None = no calibrated bound
    gelu_range_margin: float | None = None
    #: cap of the normalized range (in standard deviations) a read-out scale must cover;
    #: None = sqrt(N), the largest |x - mean| / sd that can occur
    ln_norm_range: float | None = None


@dataclass(frozen=True)
class _IO:
    in_dtype: str
    in_zero_point: int
    in_scale: float
    out_scale: float
    out_zero_point: int
    out_dtype: str


def _qrange(dtype: str) -> tuple[int, int]:
    ii = np.iinfo(np.dtype(dtype))
    return int(ii.min), int(ii.max)


def _in_bound(io: _IO, int32_bound: int) -> int:
    if io.in_dtype == "int32":
        return int32_bound + abs(io.in_zero_point)
    lo, hi = _qrange(io.in_dtype)
    return max(-lo, hi) + abs(io.in_zero_point)


def _shifted_bound(qmax: int, shift: int) -> int:
    return qmax << shift if shift >= 0 else (qmax >> -shift) + 1


def _prepare_np(x, io: _IO, shift: int, clip: int | None) -> np.ndarray:
    v = ib.wrap32(np.asarray(x).astype(np.int64) - io.in_zero_point)
    v = ib.shift_scale(v, shift)
    if clip is not None:
        v = np.clip(v, -clip, clip).astype(np.int32)
    return v


def _prepare_emit(bb, x, io: _IO, shift: int, clip: int | None):
    from tvm import relax

    op = relax.op
    v = bb.emit(op.astype(x, "int32")) if io.in_dtype != "int32" else x
    if io.in_zero_point:
        v = bb.emit(op.astype(bb.emit(op.subtract(bb.emit(op.astype(v, "int64")),
                                                  relax.const(io.in_zero_point, "int64"))), "int32"))
    v = ib.emit_shift_scale(bb, v, shift)
    if clip is not None:
        v = bb.emit(op.minimum(bb.emit(op.maximum(v, relax.const(-clip, "int32"))), relax.const(clip, "int32")))
    return v


# ============================================================================================
# plans
# ============================================================================================

@dataclass(frozen=True)
class SoftmaxPlan:
    io: _IO
    shift: int                 # prescale: x << shift (negative: RRS)
    consts: ib.SoftmaxConsts   # at scale in_scale * 2**-shift
    requant: float | None      # float32 multiplier 1/127 -> s_out, None when not needed
    #: ``softmax_clamp`` before the unit: only when ``(max - x)·qln2_inv`` could leave int32
    #: (i-exp's z would be garbage); otherwise silicon's saturating shift already gives 0
    #: for every element too far below the row max, and the clamp would change nothing
    clamp: bool = True

    def reference(self, x) -> np.ndarray:
        v = _prepare_np(x, self.io, self.shift, None)
        if self.clamp:
            v = ib.softmax_clamp(v, self.consts)
        y = ib.softmax_unit(v, self.consts, 1.0)
        if self.requant is not None:
            y = ib.acc_scale(y.astype(np.int32), self.requant, self.io.out_zero_point, self.io.out_dtype)
        return y

    def emit(self, bb, x):
        v = _prepare_emit(bb, x, self.io, self.shift, None)
        if self.clamp:
            v = ib.emit_softmax_clamp(bb, v, self.consts)
        c = self.consts
        y = emit_unit_call(bb, "softmax_unit", v, dict(qb=c.qb, qc=c.qc, qln2=c.qln2, qln2_inv=c.qln2_inv, scale=1.0),
                           lambda b, xv: ib.emit_softmax_unit(b, xv, c, 1.0))
        if self.requant is not None:
            from tvm import relax

            y = ib.emit_acc_scale(bb, bb.emit(relax.op.astype(y, "int32")), self.requant,
                                  self.io.out_zero_point, self.io.out_dtype)
        return y


@dataclass(frozen=True)
class GeluPlan:
    io: _IO
    shift: int
    clip: int | None
    consts: ib.GeluConsts      # at scale in_scale * 2**-shift
    readout_scale: float       # float32 acc_scale: consts.out_scale / s_out

    def reference(self, x) -> np.ndarray:
        v = _prepare_np(x, self.io, self.shift, self.clip)
        return ib.acc_scale(ib.igelu(v, self.consts), self.readout_scale,
                            self.io.out_zero_point, self.io.out_dtype)

    def emit(self, bb, x):
        c, ro = self.consts, self.readout_scale
        unit_readout = self.io.out_zero_point == 0 and self.io.out_dtype == "int8"
        if unit_readout and self.io.in_dtype == "int8" and self.io.in_zero_point == 0 and self.shift == 0:
            # the unit's mvin sign-extends the int8 input itself: the widening is part of it
            from tvm import relax

            return emit_unit_call(bb, "igelu_unit", x, dict(qb=c.qb, qc=c.qc, scale=ro),
                                  lambda b, xv: ib.emit_igelu_unit(b, b.emit(relax.op.astype(xv, "int32")), c, ro))
        v = _prepare_emit(bb, x, self.io, self.shift, self.clip)
        if unit_readout:
            # exactly the unit's IGELU read-out: one normalization-unit composite
            return emit_unit_call(bb, "igelu_unit", v, dict(qb=c.qb, qc=c.qc, scale=ro),
                                  lambda b, xv: ib.emit_igelu_unit(b, xv, c, ro))
        return ib.emit_acc_scale(bb, ib.emit_igelu(bb, v, self.consts), self.readout_scale,
                                 self.io.out_zero_point, self.io.out_dtype)


@dataclass(frozen=True)
class LayerNormPlan:
    io: _IO
    shift: int
    clip: int | None
    readout_scale: np.ndarray  # float32 (N,): LAYERNORM acc_scale per channel
    affine: ib.LNAffine
    #: int64 statistics on the CPU (ib.layernorm_wide) instead of the unit's int32 ones
    wide: bool = False
    #: with ``wide``: gamma / beta inside the read-out (ib.layernorm_wide_affine) instead of
    #: ``affine`` on int16 normalized values (IntegerOnlyOptions.ln_wide_affine)
    wide_affine: ib.WideAffine | None = None

    def reference(self, x) -> np.ndarray:
        v = _prepare_np(x, self.io, self.shift, self.clip)
        if self.wide_affine is not None:
            return ib.layernorm_wide_affine(v, self.wide_affine, self.io.out_zero_point, self.io.out_dtype)
        n = (ib.layernorm_wide if self.wide else ib.layernorm_unit)(v, self.readout_scale)
        return ib.ln_affine(n, self.affine, self.io.out_zero_point, self.io.out_dtype)

    def emit(self, bb, x):
        v = _prepare_emit(bb, x, self.io, self.shift, self.clip)
        scale = self.readout_scale
        if self.wide_affine is not None:
            return ib.emit_layernorm_wide_affine(bb, v, self.wide_affine, self.io.out_zero_point, self.io.out_dtype)
        if self.wide:
            n = ib.emit_layernorm_wide(bb, v, scale)
            return ib.emit_ln_affine(bb, n, self.affine, self.io.out_zero_point, self.io.out_dtype)
        n = emit_unit_call(bb, "layernorm_unit", v, dict(col_scale=[float(f) for f in np.ravel(scale)]),
                           lambda b, xv: ib.emit_layernorm_unit(b, xv, scale))
        return ib.emit_ln_affine(bb, n, self.affine, self.io.out_zero_point, self.io.out_dtype)


def static_row_span(expr, lookup) -> int | None:
    """An upper bound on ``max - min`` within any row of the integer ``expr``, read from its
    definition (``lookup`` maps a var to its bound value): an int8 · int8 matmul (inner length
    K: ``K · INT8_PRODUCT_SPAN``), an int8 cast, a ``where`` between two constants, and sums
    of these (the attention mask on Q·Kᵀ).  None when the definition is anything else."""
    from tvm import relax

    from l2g.passes._relax_util import const_scalar, op_name
    from l2g.passes.quantize import INT8_PRODUCT_SPAN

    value = lookup(expr) if isinstance(expr, relax.Var) else expr
    if value is None:
        return None
    name = op_name(value)
    if name == "relax.matmul":
        a, b = value.args
        if str(a.ty.dtype) == "int8" and str(b.ty.dtype) == "int8":
            return INT8_PRODUCT_SPAN * int(a.ty.shape[-1])
        return None
    if name == "relax.astype" and str(value.args[0].ty.dtype) == "int8":
        return 255
    if name == "relax.where":
        hi, lo = const_scalar(value.args[1]), const_scalar(value.args[2])
        return None if hi is None or lo is None else int(abs(hi - lo))
    if name == "relax.add":
        spans = [static_row_span(a, lookup) for a in value.args]
        return None if None in spans else sum(spans)
    return None


def plan_softmax(io: _IO, n: int, opts: IntegerOnlyOptions, in_span: int | None = None) -> SoftmaxPlan:
    """Pick the prescale: the finest scale ``s_in·2^k`` (k >= 0, RRS) at which the row sum of
    i-exp, ``n·iexp(0)``, stays below 2^30.  ``in_span`` bounds ``max - min`` within an input
    row (:func:`static_row_span`); it can spare the clamp pass."""
    if opts.softmax_shift is not None:
        shift = opts.softmax_shift
        consts = ib.softmax_consts(io.in_scale * 2.0 ** (-shift))
    else:
        for k in range(0, 31):
            try:
                consts = ib.softmax_consts(io.in_scale * 2.0 ** k)
            except ValueError:
                if k == 30:
                    raise
                continue
            if n * consts.exp_max < (1 << 30):
                shift = -k
                break
        else:  # pragma: no cover - s_in absurdly fine
            raise ValueError(f"integer_only: no softmax prescale keeps the i-exp sum in int32 (s_in={io.in_scale})")
    if n * consts.exp_max >= (1 << 31):
        raise ValueError(f"integer_only: softmax row of {n} at scale {consts.scale} overflows the int32 sum")
    unit = np.float32(1.0 / 127.0)
    same = (io.out_dtype == "int8" and io.out_zero_point == 0
            and abs(float(np.float32(io.out_scale)) / float(unit) - 1.0) < 1e-6)
    requant = None if same else float(np.float32((1.0 / 127.0) / io.out_scale))
    span = 2 * _shifted_bound(_in_bound(io, opts.int32_bound), shift)  # |x - rowmax| bound
    if in_span is not None:
        span = min(span, _shifted_bound(in_span, shift))
    clamp = span * consts.qln2_inv >= (1 << 31)
    return SoftmaxPlan(io=io, shift=shift, consts=consts, requant=requant, clamp=clamp)


def plan_gelu(io: _IO, opts: IntegerOnlyOptions, calib: InputCalibration | None = None) -> GeluPlan:
    """Pick the prescale: the largest shift (<= gelu_max_shift) with ``|igelu| < 2^30`` for
    every input within the bound (calibrated when ``calib`` is given, see
    ``IntegerOnlyOptions.gelu_range_margin``)."""
    qmax = _in_bound(io, opts.int32_bound)
    if (calib is not None and io.in_dtype == "int32" and opts.gelu_range_margin is not None
            and math.isfinite(calib.abs_max)):
        qmax = min(qmax, max(1, math.ceil(calib.abs_max * opts.gelu_range_margin)))
    cands = [opts.gelu_shift] if opts.gelu_shift is not None else list(range(opts.gelu_max_shift, -32, -1))
    for k in cands:
        try:
            c = ib.gelu_consts(io.in_scale * 2.0 ** (-k))
        except ValueError:
            continue
        qk = _shifted_bound(qmax, k)
        if qk < (1 << 30) and c.max_abs_result(qk) < (1 << 30):
            clip = qk if io.in_dtype == "int32" else None
            ro = float(np.float32(c.out_scale / io.out_scale))
            return GeluPlan(io=io, shift=k, clip=clip, consts=c, readout_scale=ro)
    raise ValueError(f"integer_only: no GELU prescale avoids int32 overflow (s_in={io.in_scale}, |x|<={qmax})")


@dataclass(frozen=True)
class InputCalibration:
    """What calibration measured on one integer input of a bracket (in input units)."""

    row_sumsq: float        # largest row Σ(x - mean)²
    typical_abs_dev: float  # median |x - mean| over all rows and channels
    abs_max: float = math.inf  # largest |x|


def _use_wide_stats(io: _IO, opts: IntegerOnlyOptions, shift: int, calib: InputCalibration | None) -> bool:
    if opts.ln_stats not in ("auto", "unit", "wide"):
        raise ValueError(f"integer_only: ln_stats must be auto, unit or wide, not {opts.ln_stats!r}")
    if opts.ln_stats != "auto":
        return opts.ln_stats == "wide"
    if calib is None or io.in_dtype != "int32" or shift >= 0:
        return False
    # int64 sums of squares must not overflow either (8x headroom, as for the unit)
    if calib.row_sumsq * opts.ln_var_margin >= 2.0 ** 62:
        return False
    return calib.typical_abs_dev * 2.0 ** shift < 2.0 ** opts.ln_min_unit_bits


def plan_layernorm(io: _IO, gamma: np.ndarray, beta: np.ndarray, opts: IntegerOnlyOptions,
                   calib: InputCalibration | float | None = None) -> LayerNormPlan:
    """Pick the statistics (unit or wide), the prescale and the read-out scales.  Without
    calibration the shift is the largest with ``N·(2·|x|max)² < 2^30`` (no overflow
    possible); with it (``calib.row_sumsq``: the largest calibrated ``Σ(x-mean)²`` of a row,
    in input units) it is the largest with ``row_sumsq·4^k·ln_var_margin < 2^31``.  Wide
    statistics need no prescale (shift 0)."""
    if isinstance(calib, (int, float)):
        calib = InputCalibration(row_sumsq=float(calib), typical_abs_dev=math.inf)
    row_sumsq = calib.row_sumsq if calib is not None else None
    n = gamma.size
    qmax = _in_bound(io, opts.ln_int32_bound if io.in_dtype == "int32" else opts.int32_bound)
    if opts.ln_shift is not None:
        shift = opts.ln_shift
    elif row_sumsq is not None:
        shift = None
        for k in range(8, -32, -1):
            if (row_sumsq * 4.0 ** k * opts.ln_var_margin < 2.0 ** 31
                    and _shifted_bound(qmax, k) < (1 << 30)):
                shift = k
                break
        if shift is None:  # pragma: no cover
            raise ValueError("integer_only: no LayerNorm prescale fits the calibrated variance")
    else:
        shift = None
        for k in range(8, -32, -1):
            qk = _shifted_bound(qmax, k)
            if qk < (1 << 30) and n * (2 * qk) ** 2 < (1 << 30):
                shift = k
                break
        if shift is None:  # pragma: no cover
            raise ValueError("integer_only: no LayerNorm prescale avoids int32 overflow")
    wide = _use_wide_stats(io, opts, shift, calib)
    if wide:
        shift = 0
    if row_sumsq is not None or opts.ln_shift is not None or wide:
        # the shift came from data (or the user): saturate only where a left shift could
        # overflow int32; a right shift cannot, and clipping at an assumed bound would cut
        # real values (MiniLM's embedding sum exceeds 2**20 at its calibrated scale)
        clip = None if shift <= 0 else (ib.INT32_MAX >> shift)
    else:
        # worst-case mode: the no-overflow guarantee rests on |x| <= qmax, so enforce it
        clip = _shifted_bound(qmax, shift) if io.in_dtype == "int32" else None
    # read-out scale per channel: cover the normalized range the int8 output can use
    cap = opts.ln_norm_range if opts.ln_norm_range is not None else math.sqrt(n)
    g = np.abs(gamma.astype(np.float64))
    lo, hi = _qrange(io.out_dtype)
    yr = max(hi - io.out_zero_point, io.out_zero_point - lo) * io.out_scale
    with np.errstate(divide="ignore"):
        need = np.where(g > 0, (yr + np.abs(beta.astype(np.float64))) / g, np.inf)
    need = np.minimum(need, cap)
    grp = opts.ln_scale_group if opts.ln_scale_group > 0 else n
    for s in range(0, n, grp):
        need[s:s + grp] = need[s:s + grp].max()
    need = np.maximum(need, 1e-3)
    levels = 32767.0 if wide else 127.0  # int16 (wide, CPU) or int8 (unit) normalized values
    readout = (levels / need).astype(np.float32)
    norm_scale = 1.0 / readout.astype(np.float64)
    aff = ib.ln_affine_consts(gamma, beta, norm_scale, io.out_scale, wide=wide)
    fold = wide and opts.ln_wide_affine
    return LayerNormPlan(io=io, shift=shift, clip=clip, readout_scale=readout, affine=aff, wide=wide,
                         wide_affine=ib.WideAffine.of(gamma, beta, io.out_scale) if fold else None)


@dataclass
class IntegerOnlyReport:
    """What :func:`integer_only` did: one ``(kind, plan)`` per rewritten bracket, in order."""

    plans: list[tuple[str, object]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: integer input var name (LayerNorm, GELU, ...) -> what calibration measured on it
    calibration: dict[str, InputCalibration] = field(default_factory=dict)

    @property
    def ln_row_sumsq(self) -> dict[str, float]:
        return {k: c.row_sumsq for k, c in self.calibration.items()}

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.plans if k == kind)


# ============================================================================================
# the pass
# ============================================================================================

_ELEMENTWISE = {
    "relax.add": lambda a, b: a + b,
    "relax.subtract": lambda a, b: a - b,
    "relax.multiply": lambda a, b: a * b,
    "relax.divide": lambda a, b: a / b,
    "relax.power": lambda a, b: np.power(a, b),
    "relax.negative": lambda a: -a,
    "relax.sqrt": np.sqrt,
    "relax.exp": np.exp,
    "relax.tanh": np.tanh,
    "relax.erf": lambda a: _erf(a),
    "relax.nn.gelu": lambda a: 0.5 * a * (1.0 + _erf(a / math.sqrt(2.0))),
    "relax.nn.gelu_tanh": lambda a: 0.5 * a * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (a + 0.044715 * a ** 3))),
}
_GELU_MARKERS = {"relax.erf", "relax.tanh", "relax.nn.gelu", "relax.nn.gelu_tanh"}


def _erf(a):
    return np.vectorize(math.erf, otypes=[np.float64])(a)


class _NoMatch(Exception):
    pass


def _calibrate_int_inputs(mod, samples) -> dict[str, InputCalibration]:
    """Largest row ``Σ(x - mean)²``, median ``|x - mean|`` and largest ``|x|`` of every
    LayerNorm bracket's integer input and of every other int32 tensor that is dequantized
    (GELU inputs among them), on the calibration samples, keyed by the var's name.  Builds
    one probe module."""
    from tvm import relax

    from l2g.passes._relax_util import op_name
    from l2g.passes.host import build_host

    if "main" not in [gv.name_hint for gv in mod.get_global_vars()]:
        return {}
    nd = relax.transform.ToNonDataflow()(mod)
    func = nd["main"]
    bindings = {b.var.name: b.value for blk in func.body.blocks for b in blk.bindings}
    byname = {p.name: p for p in func.params}
    byname.update({b.var.name: b.var for blk in func.body.blocks for b in blk.bindings})
    probes = []
    for v in bindings.values():
        if op_name(v) != "relax.nn.layer_norm" or not isinstance(v.args[0], relax.Var):
            continue
        dq = bindings.get(v.args[0].name)
        if op_name(dq) != "relax.dequantize" or not isinstance(dq.args[0], relax.Var):
            continue
        x = byname.get(dq.args[0].name)
        if x is not None and x.name not in [p.name for p in probes]:
            probes.append(x)
    for v in bindings.values():
        if op_name(v) != "relax.dequantize" or not isinstance(v.args[0], relax.Var):
            continue
        x = byname.get(v.args[0].name)
        if (x is not None and str(getattr(x.ty, "dtype", "")) == "int32"
                and x.name not in [p.name for p in probes]):
            probes.append(x)
    if not probes:
        return {}
    fields = [func.body.body] + probes
    body = relax.SeqExpr(func.body.blocks, relax.Tuple(fields))
    new = relax.Function(func.params, body, relax.TupleType([f.ty for f in fields]), func.is_pure, func.attrs)
    probe_mod = nd.clone() if hasattr(nd, "clone") else nd
    probe_mod["main"] = new
    runner = build_host(relax.transform.Normalize()(probe_mod))
    sumsq = {p.name: 0.0 for p in probes}
    amax = {p.name: 0.0 for p in probes}
    devs: dict[str, list[np.ndarray]] = {p.name: [] for p in probes}
    for smp in samples:
        vals = runner(smp)[1:]
        for p, a in zip(probes, vals):
            a = np.asarray(a).astype(np.int64)
            a = a.reshape(-1, a.shape[-1])
            s = a.sum(axis=-1, keepdims=True)
            mean = np.where(s < 0, -(np.abs(s) // a.shape[-1]), s // a.shape[-1])
            d = (a - mean).astype(np.float64)
            sumsq[p.name] = max(sumsq[p.name], float((d * d).sum(axis=-1).max()))
            amax[p.name] = max(amax[p.name], float(np.abs(a).max()))
            devs[p.name].append(np.abs(d).ravel())
    return {k: InputCalibration(row_sumsq=sumsq[k], typical_abs_dev=float(np.median(np.concatenate(devs[k]))),
                                abs_max=amax[k])
            for k in sumsq}


def integer_only(mod, ctx, *, options: IntegerOnlyOptions | None = None,
                 report: IntegerOnlyReport | None = None):
    """Rewrite every softmax / GELU / LayerNorm bracket of every Relax function in ``mod``
    into I-BERT integer kernels (see the module docstring).  Returns a new module.

    ``ctx`` (a ``CompileContext`` or None) is a required positional parameter so that the
    pipeline passes it: its ``calib_inputs`` drive the LayerNorm prescale."""
    from tvm import relax

    from l2g.passes._relax_util import const_array, const_scalar, op_name

    opts = options or getattr(ctx, "integer_options", None) or IntegerOnlyOptions()
    rep = report if report is not None else IntegerOnlyReport()
    samples = list(getattr(ctx, "calib_inputs", None) or [])[: opts.ln_calib_samples]
    wants = ("layernorm" in opts.ops and opts.ln_calibrate) or ("gelu" in opts.ops and opts.gelu_range_margin)
    calib = _calibrate_int_inputs(mod, samples) if (samples and wants) else {}
    rep.calibration = dict(calib)
    ln_calib = calib if opts.ln_calibrate else {}

    @relax.expr_functor.mutator
    class _Rewriter(relax.PyExprMutator):
        def __init__(self, m):
            super().__init__(m)
            self.m = m

        # ---- matching ---------------------------------------------------------------------
        def _binding(self, e):
            if isinstance(e, relax.Var):
                return self.lookup_binding(e)
            return None

        def _dequant(self, e):
            """(x, _IO partial) if ``e`` is a var bound to a scalar dequantize."""
            b = self._binding(e)
            if b is None or op_name(b) != "relax.dequantize":
                return None
            x, s, zp = b.args[0], b.args[1], b.args[2]
            sv, zv = const_scalar(s), const_scalar(zp)
            if sv is None or zv is None or not sv > 0:
                return None
            return x, float(np.float32(sv)), int(zv)

        def _eval(self, e, probe, st, depth):
            if depth > 16:
                raise _NoMatch
            if isinstance(e, relax.Var):
                dq = self._dequant(e)
                if dq is not None:
                    if st["leaf"] is None:
                        st["leaf"] = (e, dq)
                    elif not st["leaf"][0].same_as(e):
                        raise _NoMatch
                    return probe
                b = self._binding(e)
                if b is None:
                    raise _NoMatch
                return self._eval(b, probe, st, depth + 1)
            a = const_array(e)
            if a is not None:
                if a.size != 1:
                    raise _NoMatch
                return float(a.reshape(()))
            name = op_name(e) if isinstance(e, relax.Call) else None
            if name == "relax.astype" and str(e.attrs.dtype) in ("float32", "float64", "float16"):
                return self._eval(e.args[0], probe, st, depth + 1)
            if name not in _ELEMENTWISE:
                raise _NoMatch
            st["ops"].add(name)
            args = [self._eval(a, probe, st, depth + 1) for a in e.args]
            return _ELEMENTWISE[name](*args)

        def _match_gelu_chain(self, y):
            probe = np.linspace(-8.0, 8.0, 321)
            st = {"leaf": None, "ops": set()}
            try:
                got = self._eval(y, probe, st, 0)
            except (_NoMatch, TypeError, ValueError):
                return None
            if st["leaf"] is None or not (st["ops"] & _GELU_MARKERS):
                return None
            got = np.broadcast_to(np.asarray(got, np.float64), probe.shape)
            want = 0.5 * probe * (1.0 + _erf(probe / math.sqrt(2.0)))
            if not np.all(np.isfinite(got)) or np.max(np.abs(got - want)) > 5e-3:
                return None
            leaf_var, dq = st["leaf"]
            if [int(v) for v in leaf_var.ty.shape] != [int(v) for v in y.ty.shape]:
                return None
            return dq

        # ---- rewriting --------------------------------------------------------------------
        def visit_call_(self, call):
            call = self.visit_expr_post_order(call)
            if op_name(call) != "relax.quantize":
                return call
            try:
                out = self._rewrite(call)
            except ValueError as exc:
                rep.skipped.append(f"{exc}")
                return call
            return call if out is None else out

        def _io(self, q, dq):
            x, s_in, zp_in = dq
            s_out, zp_out = const_scalar(q.args[1]), const_scalar(q.args[2])
            if s_out is None or zp_out is None:
                return None
            return _IO(in_dtype=str(x.ty.dtype), in_zero_point=zp_in, in_scale=s_in,
                       out_scale=float(np.float32(s_out)), out_zero_point=int(zp_out),
                       out_dtype=str(q.attrs.out_dtype))

        def _rewrite(self, q):
            y = q.args[0]
            fb = self._binding(y)
            if not isinstance(fb, relax.Call):
                return None
            name = op_name(fb)
            bb = self.builder_
            if name == "relax.nn.softmax" and "softmax" in opts.ops:
                dq = self._dequant(fb.args[0])
                nd = len(fb.args[0].ty.shape)
                if dq is None or int(fb.attrs.axis) not in (-1, nd - 1):
                    rep.skipped.append("softmax: not over the last axis or no dequantize input")
                    return None
                io = self._io(q, dq)
                if io is None:
                    return None
                plan = plan_softmax(io, int(dq[0].ty.shape[-1]), opts, static_row_span(dq[0], self._binding))
                rep.plans.append(("softmax", plan))
                return plan.emit(bb, dq[0])
            if name == "relax.nn.layer_norm" and "layernorm" in opts.ops:
                dq = self._dequant(fb.args[0])
                nd = len(fb.args[0].ty.shape)
                axes = [int(a) for a in fb.attrs.axes]
                gamma, beta = const_array(fb.args[1]), const_array(fb.args[2])
                if (dq is None or axes not in ([-1], [nd - 1]) or gamma is None or beta is None
                        or not bool(fb.attrs.center) or not bool(fb.attrs.scale)):
                    rep.skipped.append("layer_norm: not over the last axis, no dequantize input, or non-constant gamma/beta")
                    return None
                io = self._io(q, dq)
                if io is None:
                    return None
                n = int(dq[0].ty.shape[-1])
                plan = plan_layernorm(io, np.broadcast_to(gamma, (n,)).astype(np.float64),
                                      np.broadcast_to(beta, (n,)).astype(np.float64), opts,
                                      ln_calib.get(dq[0].name) if isinstance(dq[0], relax.Var) else None)
                rep.plans.append(("layernorm", plan))
                return plan.emit(bb, dq[0])
            dq = self._match_gelu_chain(y) if "gelu" in opts.ops else None
            if dq is None:
                return None
            io = self._io(q, dq)
            if io is None:
                return None
            plan = plan_gelu(io, opts, calib.get(dq[0].name) if isinstance(dq[0], relax.Var) else None)
            rep.plans.append(("gelu", plan))
            return plan.emit(bb, dq[0])

        def transform(self):
            items = self.m.functions_items() if hasattr(self.m, "functions_items") else self.m.functions.items()
            for gv, func in items:
                if isinstance(func, relax.Function):
                    f = self.visit_expr(func)
                    f = relax.analysis.remove_all_unused(f)
                    self.builder_.update_func(gv, f)
            return self.builder_.get()

    return _Rewriter(mod).transform()
