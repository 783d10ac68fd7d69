"""Static int8 quantization of a float Relax module (calibrated ranges in, int8 module out).

CONVENTION (agreed interface with ``passes/integer_only.py``; do not change one side only)
==========================================================================================

After this pass every nonlinear op (softmax, GELU in tanh or erf form, LayerNorm) is still
computed in float32, but it is *bracketed* by an explicit dequantize / quantize pair and
nothing else::

    xf = R.dequantize(x, R.const(s_in, "float32"), R.const(0, x.dtype), axis=-1, out_dtype="float32")
    yf = R.nn.softmax(xf, axis=-1)            # or R.nn.gelu(xf) / R.nn.gelu_tanh(xf)
                                              # or the erf form x*0.5*(1+erf(x/sqrt2)) as the
                                              #    importer emits it, or R.nn.layer_norm(xf, gamma, beta, ...)
    y  = R.quantize(yf, R.const(s_out, "float32"), R.const(0, "int8"), axis=-1, out_dtype="int8")

- ``x`` is int8 or **int32**; each of the ops may see either, the integer kernels must accept
  both.  What this pass emits for BERT: GELU ← int32 (the FFN matmul accumulator, brought
  to one scalar scale of 2**20 steps over its calibrated range when the weights are
  per-channel); softmax ←
  int32 (the raw Q·Kᵀ accumulator, with the attention mask already added in int32 as a large
  negative bias, :func:`mask_bias` below, and the 1/sqrt(d) factor folded into ``s_in``);
  LayerNorm ← int32 (the residual-add accumulator, see "Residual adds" below).  Integer
  kernels must tolerate int32 inputs of magnitude up to 2**24 (masked softmax positions
  must come out as probability 0).
- Scales are scalar (shape ``()``) float32 ``relax.Constant``s; zero points are scalar
  constants equal to 0 (symmetric quantization everywhere).  ``s_in`` is the scale of
  ``x``: real value = ``x * s_in``.  ``s_out`` is the scale of the int8 output.
- LayerNorm gamma / beta stay float32 constants inside ``R.nn.layer_norm``.
- ``s_out`` of a LayerNorm is the scale of the *smoothed* output: this pass divides gamma /
  beta by per-channel SmoothQuant factors ``m`` (α = ``CompileContext.smooth_alpha``) and
  multiplies the rows of the consuming weights by ``m``; ``s_out`` of a GELU comes from an
  MSE-optimal clip of its calibrated output (``TensorRange.clip_absmax``).
- Every other value in the quantized module is int8 (activations, weights), int16
  (embedding tables) or int32 (accumulators, biases, residual stream); float appears inside
  these brackets, in the float32 multiply of each read-out, and where ``QuantizeReport.float_ops``
  says (an embedding model's mean pooling; the pooler's ``tanh`` is bracketed too but is not an
  I-BERT op).  The model output is dequantized to float32.

Residual adds and embeddings: a residual add ``a + b`` is computed in int32 at a fine scalar
scale ``s_acc = absmax(a + b) / 2**20`` (calibrated): each operand is brought to that scale
with ``RNE(fl32(x) · fl32(s_x / s_acc))`` (exactly, when the ratio is 1) and the two are added
as int32, the way Gemmini accumulates a residual onto a matmul result in its accumulator
(mvin with accumulate) before the normalization unit reads it out.  When one operand is a
matmul accumulator with a scalar scale, its own scale is ``s_acc`` if the sum fits (8x
headroom) and the other operand is much coarser: the accumulator then enters the add as it
is, and on Gemmini the other operand is the matmul's D matrix (``residual_scale``).  A constant operand
(position embeddings) is an int32 bias at ``s_acc``.  Keeping the residual stream at int32
up to the LayerNorm is what keeps BERT's outlier channels (|x| ~ 200 next to |x| ~ 1) from
being rounded away.  Embedding tables are stored as **int16** (per-tensor scale) and gathered
with ``R.take``; the gathered rows enter the same int32 add chain.

Requantization int32 → int8 is exactly Gemmini's accumulator read-out ``ACC_SCALE``
(gemmini-isa.md §3.2 / §3.6): ``sat8(RNE(fl32(acc) * S))`` with a float32 scale ``S``,
written in Relax as ``astype(clip(round(astype(acc, f32) * S), -128, 127), int8)``.
``R.round`` lowers to ``llvm.nearbyint`` on the host (round-half-to-even; checked by a
test), unlike ``R.quantize``, which divides by the scale.

Pass entry points (see ``docs/adding-a-pass.md``): ``<name>(mod: tvm.IRModule, ctx:
l2g.passes.pipeline.CompileContext) -> tvm.IRModule``; a one-argument ``<name>(mod)`` is accepted
too.  The pipeline registry (``passes/pipeline.py``) names ``integer_only`` as
``l2g.passes.integer_only:integer_only``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from l2g.errors import L2GError

#: int32 value that the attention mask's "-inf" becomes in the Q·Kᵀ accumulator at most
#: (see :func:`mask_bias`).
MASK_BIAS = -(2**24)
#: max - min of one int8 · int8 product: 16384 (-128·-128) down to -16256 (127·-128)
INT8_PRODUCT_SPAN = 16384 + 16256
#: a "-inf" mask entry lies this far (in real units, times ln 2) below every unmasked score:
#: i-exp's shift reaches 32, where the unit's exponential is exactly 0, at 32·ln 2
MASK_GAP_LN2 = 64
#: residual adds keep |sum| ≤ calibrated absmax at 2**20 steps (2**11 headroom in int32)
RESADD_BITS_SCALE = float(2**20)
#: a residual add at a matmul accumulator's scale (_Quantizer.residual_scale) keeps
#: calibrated absmax · RESADD_HEADROOM below 2**31, and the other operand's step is at least
#: RESADD_MIN_COARSER times the accumulator's
RESADD_HEADROOM = 8.0
RESADD_MIN_COARSER = 16.0

_LAYOUT_OPS = {
    "relax.reshape",
    "relax.permute_dims",
    "relax.expand_dims",
    "relax.squeeze",
    "relax.strided_slice",
    "relax.flatten",
    "relax.take",
}
_BRACKETED = {"relax.nn.softmax", "relax.nn.gelu", "relax.nn.gelu_tanh", "relax.nn.layer_norm", "relax.tanh"}


@dataclass
class QuantizeReport:
    """What the pass did; ``float_ops`` counts float ops left outside the nonlinear brackets."""

    int8_matmuls: int = 0
    resadds: int = 0
    brackets: dict[str, int] = field(default_factory=dict)
    float_ops: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class QTensor:
    """An integer tensor standing for a float one: real = expr · scale (zero point 0).

    ``scale`` is float64 for exact bookkeeping, shape ``()`` or ``(N,)`` along the last axis
    (int32 accumulators of a per-channel matmul); it is rounded to float32 where emitted.
    """

    expr: object
    scale: np.ndarray
    dtype: str  # "int8" or "int32"

    @property
    def scalar(self) -> bool:
        return self.scale.ndim == 0


def mask_bias(scale: float, dot_len: int | None) -> int:
    """The int32 value of a "-inf" attention-mask entry on an int8 · int8 accumulator of
    inner length ``dot_len`` at ``scale``.

    It only has to sit ``MASK_GAP_LN2 · ln 2`` (real units) below the lowest score a row can
    hold next to its highest, ``INT8_PRODUCT_SPAN · dot_len`` steps: then i-exp gives the
    masked entry exactly 0 at any softmax prescale.  Keeping it that small (rather than
    ``MASK_BIAS``) keeps the softmax's ``(max - x) · qln2_inv`` inside int32, so no clamp pass
    runs before the unit (``integer_only.plan_softmax`` proves that from the same bounds).
    Without a known ``dot_len`` it is ``MASK_BIAS``."""
    if dot_len is None:
        return MASK_BIAS
    gap = INT8_PRODUCT_SPAN * dot_len + math.ceil(MASK_GAP_LN2 * math.log(2.0) / float(scale))
    return max(MASK_BIAS, -gap)


def quantize_weight(w: np.ndarray, per_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 weights in [-127, 127]; per output channel (last axis) or per tensor."""
    w = w.astype(np.float64)
    if per_channel and w.ndim == 2:
        amax = np.abs(w).max(axis=0)
    else:
        amax = np.array(np.abs(w).max())
    scale = np.where(amax > 0, amax / 127.0, 1.0)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale


def gelu_int8_input_scale(calibrated: float) -> float:
    """The int8 scale of a GELU input read out of an accumulator: the calibrated scale made
    just coarse enough that i-GELU's constant ``qb = b·√2/S`` (I-BERT, b = -1.769; truncated
    to an integer, gemmini-isa.md §4.6) is an exact integer.  At int8 resolution ``|qb|`` is
    only about 30, so its truncation would otherwise shift the erf polynomial by up to 3 %;
    the input range grows by at most as much."""
    from l2g.passes.ibert import GELU_B

    reach = abs(GELU_B) * math.sqrt(2.0)
    n = max(1, math.floor(reach / calibrated))
    return reach / (n + 1e-4)


def acc_scale_reference(acc: np.ndarray, scale) -> np.ndarray:
    """Numpy reference of Gemmini ACC_SCALE: sat8(RNE(fl32(acc) · fl32(scale)))."""
    prod = acc.astype(np.float32) * np.asarray(scale, dtype=np.float32)
    return np.clip(np.rint(prod), -128, 127).astype(np.int8)


class _Quantizer:
    def __init__(self, ranges, per_channel: bool, smooth_alpha: float | None = 0.5,
                 gelu_input_dtype: str = "int32", softmax_out_scale: float | None = None):
        from tvm import relax

        if gelu_input_dtype not in ("int32", "int8"):
            raise L2GError(f"quantize: gelu_input_dtype must be int32 or int8, not {gelu_input_dtype!r}")

        self.relax = relax
        self.ranges = ranges
        self.per_channel = per_channel
        self.smooth_alpha = smooth_alpha
        self.gelu_input_dtype = gelu_input_dtype
        self.softmax_out_scale = softmax_out_scale
        self.users: dict[str, list] = {}  # name → calls that use it
        self.var_of: dict[str, object] = {}
        self.bb = relax.BlockBuilder()
        self.env: dict[str, object] = {}  # name → new expr in the original dtype/domain
        self.qenv: dict[str, QTensor] = {}  # name → integer stand-in
        self.matmul_accs: set[str] = set()  # int32 stand-ins that are a matmul accumulator (+ bias)
        self.acc_bias: dict[str, tuple] = {}  # name of ``matmul + bias`` → (matmul expr, int32 bias)
        self.dot_len: dict[str, int] = {}  # emitted int8 · int8 matmul binding → inner length
        self.q8cache: dict[str, QTensor] = {}
        self.bindings: dict[str, object] = {}  # name → original bound value
        self.report = QuantizeReport()
        self.cur = "q"  # name of the binding being rewritten (prefix for helper bindings)
        self.float_fallback: list[tuple[str, str]] = []  # (binding, op) computed in float

    # ---- emit helpers -------------------------------------------------------------------
    def c(self, value, dtype):
        return self.relax.const(np.asarray(value).astype(dtype), dtype)

    def emit(self, expr, name=""):
        return self.bb.emit(expr, name or f"{self.cur}_t")

    def requant(self, expr, s: np.ndarray, name=""):
        """int32 (or int8) → int8 exactly like Gemmini ACC_SCALE (float32 multiply, RNE, sat8)."""
        op = self.relax.op
        f = self.emit(op.astype(expr, "float32"))
        f = self.emit(op.multiply(f, self.c(s, "float32")))
        r = self.emit(op.round(f))  # llvm.nearbyint: round half to even
        r = self.emit(op.clip(r, -128.0, 127.0))
        return self.emit(op.astype(r, "int8"), name)

    def dequantize(self, q: QTensor):
        op = self.relax.op
        if q.scalar:
            return self.emit(op.dequantize(q.expr, self.c(q.scale, "float32"), self.c(0, q.dtype), axis=-1, out_dtype="float32"))
        f = self.emit(op.astype(q.expr, "float32"))
        return self.emit(op.multiply(f, self.c(q.scale, "float32")))

    # ---- value lookups ------------------------------------------------------------------
    def scale_of(self, name: str) -> np.ndarray:
        return np.array(self.ranges[name].scale, dtype=np.float64)

    def remap(self, arg):
        relax = self.relax
        if isinstance(arg, relax.Var):
            return self.float_of(arg.name)
        if isinstance(arg, relax.Tuple):
            return relax.Tuple([self.remap(f) for f in arg.fields])
        return arg

    def float_of(self, name: str):
        if name in self.env:
            return self.env[name]
        if name in self.qenv:
            self.env[name] = self.dequantize(self.qenv[name])
            return self.env[name]
        raise L2GError(f"quantize: internal error, {name!r} used before definition")

    def q8_of(self, name: str) -> QTensor:
        """An int8, per-tensor stand-in for ``name`` (requantizing or quantizing as needed)."""
        if name in self.q8cache:
            return self.q8cache[name]
        q = self.qenv.get(name)
        if q is not None and q.dtype == "int8" and q.scalar:
            out = q
        elif q is not None:  # int32 accumulator → ACC_SCALE read-out
            s = self.scale_of(name)
            out = QTensor(self.requant(q.expr, q.scale / s, name + "_i8"), s, "int8")
        else:
            s = self.scale_of(name)
            x = self.float_of(name)
            e = self.emit(self.relax.op.quantize(x, self.c(s, "float32"), self.c(0, "int8"), axis=-1, out_dtype="int8"), name + "_i8")
            out = QTensor(e, s, "int8")
        self.q8cache[name] = out
        return out

    def is_activation(self, arg) -> bool:
        return isinstance(arg, self.relax.Var) and arg.name in self.qenv

    def is_f32(self, arg) -> bool:
        ty = getattr(arg, "ty", None)
        return isinstance(ty, self.relax.TensorType) and str(ty.dtype) == "float32"

    # ---- rules --------------------------------------------------------------------------
    def visit(self, var, value):
        from l2g.passes._relax_util import is_const, op_name

        relax = self.relax
        name = var.name
        self.cur = name
        self.bindings[name] = value
        if isinstance(value, relax.Var):
            if value.name in self.qenv:
                self.qenv[name] = self.qenv[value.name]
            if value.name in self.env:
                self.env[name] = self.env[value.name]
            return
        if is_const(value):
            self.env[name] = value
            return
        if isinstance(value, relax.Call):
            opn = op_name(value)
            handler = {
                "relax.matmul": self.on_matmul,
                "relax.add": self.on_add,
                "relax.multiply": self.on_scale,
                "relax.divide": self.on_scale,
            }.get(opn)
            if handler is not None and handler(name, value):
                return
            if opn in _LAYOUT_OPS and self.on_layout(name, value):
                return
            if opn in _BRACKETED and self.on_bracket(name, value, opn):
                return
            new = relax.Call(value.op, [self.remap(a) for a in value.args], value.attrs, value.ty_args)
            if self.is_f32(var):
                self.float_fallback.append((name, opn or "call_tir"))
            self.env[name] = self.emit(new, name)
            return
        if isinstance(value, (relax.Tuple, relax.TupleGetItem)):
            if isinstance(value, relax.Tuple):
                self.env[name] = self.emit(self.remap(value), name)
            else:
                self.env[name] = self.emit(relax.TupleGetItem(self.remap(value.tuple_value), value.index), name)
            return
        raise L2GError(f"quantize: cannot handle binding {name} = {type(value).__name__}")

    def on_matmul(self, name, call) -> bool:
        from l2g.passes._relax_util import const_array

        a, b = call.args
        if not (self.is_f32(a) and self.is_f32(b)) or not isinstance(a, self.relax.Var):
            return False
        op = self.relax.op
        w = const_array(b)
        qv = self.qenv.get(a.name)
        smoothed = qv is not None and qv.dtype == "int8" and not qv.scalar
        qa = None if (smoothed and w is not None and w.ndim == 2) else self.q8_of(a.name)
        if qa is None:
            # smoothed input: per-channel activation scale folded into the weight rows
            qv = self.qenv[a.name]
            wq, sw = quantize_weight(w.astype(np.float64) * qv.scale[:, None], self.per_channel)
            acc = self.emit(op.matmul(qv.expr, self.relax.const(wq, "int8"), out_dtype="int32"), name)
            self.qenv[name] = QTensor(acc, sw, "int32")
        elif w is not None:
            wq, sw = quantize_weight(w, self.per_channel)
            acc = self.emit(op.matmul(qa.expr, self.relax.const(wq, "int8"), out_dtype="int32"), name)
            self.qenv[name] = QTensor(acc, qa.scale * sw, "int32")
        elif isinstance(b, self.relax.Var):
            qb = self.q8_of(b.name)
            acc = self.emit(op.matmul(qa.expr, qb.expr, out_dtype="int32"), name)
            self.qenv[name] = QTensor(acc, qa.scale * qb.scale, "int32")
        else:
            return False
        self.matmul_accs.add(name)
        self.dot_len[name] = int(a.ty.shape[-1])
        self.report.int8_matmuls += 1
        return True

    def on_scale(self, name, call) -> bool:
        """x·c or x/c with c > 0 a scalar constant: the same integers, another scale."""
        from l2g.passes._relax_util import const_scalar

        x, y = call.args
        is_div = call.op.name == "relax.divide"
        if not self.is_activation(x) and not is_div and self.is_activation(y):
            x, y = y, x
        cval = const_scalar(y)
        if not self.is_activation(x) or cval is None or not cval > 0:
            return False
        q = self.qenv[x.name]
        factor = 1.0 / cval if is_div else cval
        self.qenv[name] = QTensor(q.expr, q.scale * np.float64(factor), q.dtype)
        return True

    def on_add(self, name, call) -> bool:
        from l2g.passes._relax_util import const_array, is_const

        relax, op = self.relax, self.relax.op
        x, y = call.args
        if not (self.is_f32(x) and self.is_f32(y)):
            return False
        if not self.is_activation(x) and self.is_activation(y):
            x, y = y, x
        if not self.is_activation(x):
            return False
        qx = self.qenv[x.name]
        # (1) bias of an int32 accumulator: int32 bias at the accumulator's scale
        if qx.dtype == "int32" and is_const(y):
            bias = const_array(y).astype(np.float64)
            try:
                shape = np.broadcast_shapes(bias.shape, qx.scale.shape)
            except ValueError:
                shape = None
            if shape is not None and len(shape) <= max(bias.ndim, 1):
                b32 = np.clip(np.rint(bias / qx.scale), -(2**31), 2**31 - 1).astype(np.int32)
                acc = self.emit(op.add(qx.expr, relax.const(b32, "int32")), name)
                self.qenv[name] = QTensor(acc, qx.scale, "int32")
                if x.name in self.matmul_accs:
                    self.matmul_accs.add(name)
                    self.acc_bias[name] = (qx.expr, relax.const(b32, "int32"))
                return True
        # (2) additive attention mask on the scalar-scale Q·Kᵀ accumulator
        if qx.dtype == "int32" and qx.scalar and isinstance(y, relax.Var) and y.name not in self.qenv:
            m = self.int_mask(y, qx.scale, self.dot_len.get(getattr(qx.expr, "name", None)))
            acc = self.emit(op.add(qx.expr, m), name)
            self.qenv[name] = QTensor(acc, qx.scale, "int32")
            return True
        # (3) residual add: int32 at a fine scalar scale (accumulate-on-mvin in the accumulator)
        if not isinstance(y, relax.Var):
            return False
        qy = self.qenv.get(y.name) or self.q8_of(y.name)
        s_acc, acc_name = self.residual_scale(name, (x.name, qx), (y.name, qy))
        if acc_name in self.acc_bias:
            # (matmul + bias) + r as matmul + (r + bias): int32 adds wrap, so the order
            # changes no bit, and the whole second term can be the matmul's D matrix
            mm, bias = self.acc_bias[acc_name]
            rest = self.rescale32(qy if acc_name == x.name else qx, s_acc)
            acc = self.emit(op.add(mm, self.emit(op.add(rest, bias))), name)
        else:
            parts = [self.rescale32(q, s_acc) for q in (qx, qy)]
            acc = self.emit(op.add(parts[0], parts[1]), name)
        self.qenv[name] = QTensor(acc, s_acc, "int32")
        self.report.resadds += 1
        return True

    def residual_scale(self, name: str, *operands: tuple[str, QTensor]) -> tuple[np.float64, str | None]:
        """The int32 scale of residual add ``name``: the scalar scale of an operand that is a
        matmul accumulator, so that it enters the add unchanged and Gemmini adds the other
        operand as the matmul's D matrix (``fuse.accumulator_bias_ok``), no CPU pass over
        the sum.  Only when the sum keeps 8x int32 headroom at that scale and the other
        operand's own step is at least 16x as coarse (rounding it adds under 1/32 of its
        LSB); otherwise :meth:`fine_scale`.  Returns the scale and the accumulator operand's
        name (None for the fine scale)."""
        absmax = max(self.ranges[name].absmax, 1e-8)
        for (a_name, a), (_, b) in (operands, operands[::-1]):
            if a_name not in self.matmul_accs or a.dtype != "int32" or not a.scalar:
                continue
            s = float(a.scale)
            if absmax / s * RESADD_HEADROOM < 2.0**31 and float(np.min(b.scale)) >= RESADD_MIN_COARSER * s:
                return np.float64(a.scale), a_name
        return self.fine_scale(name), None

    def fine_scale(self, name: str) -> np.float64:
        """Scalar int32 scale with 2**20 steps over the calibrated range of ``name``."""
        return np.float64(max(self.ranges[name].absmax, 1e-8) / RESADD_BITS_SCALE)

    def rescale32(self, q: QTensor, s_new: np.float64):
        """``q`` as int32 at scale ``s_new``: RNE(fl32(x) · fl32(s_q / s_new)), exact when equal."""
        op = self.relax.op
        ratio = q.scale / s_new
        if np.all(np.float32(ratio) == 1.0):
            return q.expr if q.dtype == "int32" else self.emit(op.astype(q.expr, "int32"))
        f = self.emit(op.astype(q.expr, "float32"))
        f = self.emit(op.round(op.multiply(f, self.c(ratio, "float32"))))
        f = self.emit(op.clip(f, -2147483520.0, 2147483520.0))
        return self.emit(op.astype(f, "int32"))

    def int_mask(self, y, s: np.ndarray, dot_len: int | None = None):
        """The float mask ``y`` as an int32 bias at accumulator scale ``s`` (≤ 0, ≥ MASK_BIAS).

        A two-valued mask (``where(cond, a, b)`` with constants) maps a value beyond
        :func:`mask_bias` (its "-inf") to that bias."""
        from l2g.passes._relax_util import const_scalar, op_name

        relax, op = self.relax, self.relax.op
        inv = 1.0 / float(s)
        low = mask_bias(float(s), dot_len)

        def conv(v):
            return int(np.clip(np.rint(v * inv), low, -MASK_BIAS)) if np.isfinite(v * inv) else (low if v < 0 else -MASK_BIAS)

        src = self.bindings.get(y.name)
        if op_name(src) == "relax.where":
            cond, a, b = src.args
            av, bv = const_scalar(a), const_scalar(b)
            if av is not None and bv is not None:
                return self.emit(op.where(self.remap(cond), relax.const(conv(av), "int32"), relax.const(conv(bv), "int32")), y.name + "_i32")
        f = self.emit(op.multiply(self.float_of(y.name), self.c(inv, "float32")))
        f = self.emit(op.clip(f, float(MASK_BIAS), float(-MASK_BIAS)))
        return self.emit(op.astype(op.round(f), "int32"), y.name + "_i32")

    def on_layout(self, name, call) -> bool:
        from l2g.passes._relax_util import const_array

        relax, op = self.relax, self.relax.op
        x = call.args[0]
        if call.op.name == "relax.take":
            table = const_array(x)
            if table is not None and table.dtype == np.float32 and int(call.attrs.axis) == 0:
                amax = float(np.abs(table).max()) or 1.0
                ts = np.float64(amax / 32767.0)
                tq = np.clip(np.rint(table / ts), -32767, 32767).astype(np.int16)
                args = [relax.const(tq, "int16")] + [self.remap(a) for a in call.args[1:]]
                e = self.emit(relax.Call(call.op, args, call.attrs, call.ty_args), name)
                self.qenv[name] = QTensor(e, ts, "int16")
                return True
        if not self.is_activation(x):
            return False
        q = self.q8_of(x.name)
        args = [q.expr] + [self.remap(a) for a in call.args[1:]]
        e = self.emit(relax.Call(call.op, args, call.attrs, call.ty_args), name)
        self.qenv[name] = QTensor(e, q.scale, "int8")
        return True

    def on_bracket(self, name, call, opn) -> bool:
        relax, op = self.relax, self.relax.op
        x = call.args[0]
        if not (isinstance(x, relax.Var) and self.is_f32(x)):
            return False
        qx = self.qenv.get(x.name)
        int8_gelu = self.gelu_input_dtype == "int8" and opn in ("relax.nn.gelu", "relax.nn.gelu_tanh")
        if qx is not None and qx.dtype == "int32" and opn != "relax.tanh" and not int8_gelu:
            # the nonlinear op reads the accumulator (as Gemmini's normalization unit does);
            # a per-channel accumulator is first brought to one fine scalar scale
            xin = qx if qx.scalar else QTensor(self.rescale32(qx, self.fine_scale(x.name)), self.fine_scale(x.name), "int32")
        elif int8_gelu and qx is not None and qx.dtype == "int32":
            s_in = gelu_int8_input_scale(float(self.scale_of(x.name)))
            xin = QTensor(self.requant(qx.expr, qx.scale / s_in, x.name + "_i8"), np.float64(s_in), "int8")
        else:
            xin = self.q8_of(x.name)
        xf = self.emit(op.dequantize(xin.expr, self.c(xin.scale, "float32"), self.c(0, xin.dtype), axis=-1, out_dtype="float32"))
        args = list(call.args[1:])
        m = self.smoothing(name, call) if opn == "relax.nn.layer_norm" else None
        if m is not None:  # y / m = LN with gamma / m, beta / m
            from l2g.passes._relax_util import const_array

            args = [relax.const((const_array(a).astype(np.float64) / m).astype(np.float32)) for a in args]
            amax = np.asarray(self.ranges[name].channel_absmax, dtype=np.float64) / m
            s = np.float64(max(float(amax.max()), 1e-8) / 127.0)
        elif opn == "relax.nn.softmax" and self.softmax_out_scale is not None:
            s = np.float64(self.softmax_out_scale)
        elif self.ranges[name].clip_absmax is not None:  # GELU: MSE-optimal clipped range
            s = np.float64(max(self.ranges[name].clip_absmax, 1e-8) / 127.0)
        else:
            s = self.scale_of(name)
        yf = self.emit(relax.Call(call.op, [xf] + args, call.attrs, call.ty_args))
        y = self.emit(op.quantize(yf, self.c(s, "float32"), self.c(0, "int8"), axis=-1, out_dtype="int8"), name)
        self.qenv[name] = QTensor(y, s * m if m is not None else s, "int8")
        short = opn.split(".")[-1]
        self.report.brackets[short] = self.report.brackets.get(short, 0) + 1
        return True

    def smoothing(self, name, call):
        """Per-channel factors m (SmoothQuant, α = self.smooth_alpha) for a LayerNorm output.

        Only when every consumer is a matmul with a constant 2-D weight (which absorbs m in
        its rows) or an add (which takes the per-channel scale in its int32 rescale).
        """
        from l2g.passes._relax_util import const_array, is_const, op_name

        if self.smooth_alpha is None or len(call.args) != 3 or not all(is_const(a) for a in call.args[1:]):
            return None
        rng = self.ranges[name]
        if rng.channel_absmax is None:
            return None
        weights = []
        for user in self.users.get(name, []):
            uop = op_name(user)
            if uop == "relax.matmul" and user.args[0].same_as(self.var_of[name]):
                w = const_array(user.args[1])
                if w is None or w.ndim != 2:
                    return None
                weights.append(np.abs(w).max(axis=1))
            elif uop != "relax.add":
                return None
        if not weights:
            return None
        a = np.maximum(np.asarray(rng.channel_absmax, dtype=np.float64), 1e-5)
        wmax = np.maximum(np.max(weights, axis=0), 1e-5)
        m = a**self.smooth_alpha / wmax ** (1.0 - self.smooth_alpha)
        return m / np.exp(np.mean(np.log(m)))  # geometric mean 1: keeps magnitudes familiar

    # ---- driver -------------------------------------------------------------------------
    def run(self, mod):
        relax = self.relax
        func = mod["main"]
        params = [relax.Var(p.name, p.ty) for p in func.params]
        for p in params:
            self.env[p.name] = p
        attrs = dict(func.attrs) if func.attrs is not None else None
        for block in func.body.blocks:
            for b in block.bindings:
                self.var_of[b.var.name] = b.var
                if isinstance(b.value, relax.Call):
                    for arg in b.value.args:
                        if isinstance(arg, relax.Var):
                            self.users.setdefault(arg.name, []).append(b.value)
        with self.bb.function("main", params, attrs=attrs):
            with self.bb.dataflow():
                for block in func.body.blocks:
                    for b in block.bindings:
                        if not isinstance(b, relax.VarBinding):
                            raise L2GError(f"quantize: unsupported binding kind {type(b).__name__} for {b.var.name}")
                        self.visit(b.var, b.value)
                ret = func.body.body
                out = self.remap(ret)
                gv = self.bb.emit_output(out)
            self.bb.emit_func_output(gv)
        new = self.bb.get()
        for gvar, f in mod.functions.items():
            if gvar.name_hint != "main":
                new[gvar] = f
        new = relax.transform.DeadCodeElimination(["main"])(new)
        alive = {b.var.name for blk in new["main"].body.blocks for b in blk.bindings}
        for name, opn in self.float_fallback:
            if name in alive:
                self.report.float_ops[opn] = self.report.float_ops.get(opn, 0) + 1
        return new


def quantize(mod, ctx):
    """Static int8 quantization of ``main`` using ``ctx.ranges`` (from the calibrate pass)."""
    from l2g.passes.calibrate import module_fingerprint

    if ctx.ranges is None:
        raise L2GError("quantize needs calibrated ranges: run the 'calibrate' pass before 'quantize'")
    if ctx.ranges.module_fingerprint != module_fingerprint(mod):
        raise L2GError(
            "the calibration ranges were measured on a different module (fingerprint "
            f"{ctx.ranges.module_fingerprint} vs {module_fingerprint(mod)}); delete the ranges "
            "file or re-run calibrate right before quantize"
        )
    q = _Quantizer(ctx.ranges, ctx.per_channel_weights, ctx.smooth_alpha,
                   gelu_input_dtype=ctx.gelu_input_dtype, softmax_out_scale=ctx.softmax_out_scale)
    out = q.run(mod)
    ctx.quant_report = q.report
    return out
