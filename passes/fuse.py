"""Group integer operator chains into Gemmini composites.

Entry point: :func:`fuse` (``mod -> mod``).  It runs Relax's ``FuseOpsByPattern`` with the
patterns below; each match becomes a function carrying ``Composite = "l2g.gemmini.<kind>"``
that the Gemmini code generator maps onto one kernel.  Everything that no pattern claims
stays a plain Relax operator and runs on the CPU as C.

Patterns, in priority order (the requantization chain is the one ``passes/quantize.py``
emits, ``astype(clip(round(astype(acc, f32) * S), -128, 127), int8)``, which is exactly
Gemmini's accumulator read-out ``ACC_SCALE``):

``l2g.gemmini.matmul_requant``
    ``int8 @ int8 -> int32`` (+ int32 bias constant) then requantize to int8: one tiled
    ``loop_ws`` matmul whose mvout applies the scale.
``l2g.gemmini.resadd``
    ``requant?(a) + requant?(b)`` in int32, then requantize: Gemmini's residual add (mvin
    scales for the optional input requantizations, ACC_SCALE for the output).
``l2g.gemmini.matmul``
    ``int8 @ int8 -> int32`` (+ int32 bias constant) with the raw int32 result kept (for
    example Q·Kᵀ feeding softmax): a ``loop_ws`` matmul with full-width output.

In both matmul patterns the bias may also be an int32 *tensor* (the attention mask added to
Q·Kᵀ, a residual at the accumulator's scale) when :func:`accumulator_bias_ok` accepts its
shape: it then starts the accumulator as the ``loop_ws`` D matrix instead of costing a CPU
pass over the result.

Normalization-unit composites (LayerNorm, softmax and GELU on the I-BERT unit) are not formed
yet; those ops run on the CPU in integer arithmetic.
"""

from __future__ import annotations

import math

import tvm
from tvm import relax
from tvm.relax.dpl import is_const, is_op, wildcard

from l2g.passes._relax_util import is_const as is_const_expr

COMPOSITE_PREFIX = "l2g.gemmini."


def _requant(x):
    f = is_op("relax.astype")(x)
    m = is_op("relax.multiply")(f, is_const())
    r = is_op("relax.round")(m)
    c = is_op("relax.clip")(r, wildcard(), wildcard())
    return is_op("relax.astype")(c)


def _matmul_acc():
    mm = is_op("relax.matmul")(wildcard(), wildcard())
    return mm | is_op("relax.add")(mm, is_const()) | is_op("relax.add")(mm, wildcard())


def _dtype(expr) -> str:
    return str(getattr(expr.ty, "dtype", ""))


def _is_int8_matmul(ctx: relax.transform.PatternCheckContext) -> bool:
    calls = [e for e in ctx.matched_bindings.values() if isinstance(e, relax.Call)]
    mms = [c for c in calls if getattr(c.op, "name", "") == "relax.matmul"]
    if len(mms) != 1:
        return False
    a, b = mms[0].args
    if not (_dtype(a) == "int8" and _dtype(b) == "int8" and _dtype(mms[0]) == "int32"):
        return False
    adds = [c for c in calls if getattr(c.op, "name", "") == "relax.add"]
    return all(accumulator_bias_ok(mms[0], add.args[1]) for add in adds)


def _dims(expr) -> list[int] | None:
    shape = getattr(expr.ty, "shape", None)
    try:
        return [int(d.value) for d in shape]
    except (TypeError, AttributeError):
        return None


def accumulator_bias_ok(mm, bias) -> bool:
    """Whether ``bias`` can start the accumulator under ``mm``'s result: an int32 constant,
    or an int32 tensor (an attention mask, a residual) that :func:`tensor_bias_layout` can
    lay out as the D matrix."""
    if is_const_expr(bias):
        return True
    a, b, d = _dims(mm.args[0]), _dims(mm.args[1]), _dims(bias)
    if _dtype(bias) != "int32" or a is None or b is None or d is None:
        return False
    return tensor_bias_layout(d, a, b) is not None


def matmul_calls(a_shape, b_shape) -> tuple[int, int] | None:
    """How ``a @ b`` runs as ``l2g_matmul_ws`` calls: (calls, rows per call).  A 2-D weight
    is one call over all rows of ``a``; a batched ``b`` is one call per batch element and
    needs ``a``'s batch dims to be the same (no broadcasting).  None when neither holds."""
    if len(a_shape) < 2 or len(b_shape) < 2 or b_shape[-2] != a_shape[-1]:
        return None
    b_batch = math.prod(b_shape[:-2])
    if b_batch == 1:
        return 1, math.prod(a_shape[:-1])
    if tuple(a_shape[:-2]) != tuple(b_shape[:-2]):
        return None
    return b_batch, a_shape[-2]


def tensor_bias_layout(bias_shape, a_shape, b_shape) -> tuple[int, int] | None:
    """(row stride, per-call step) in elements of an int32 bias tensor added to ``a @ b``
    over the kernel calls of :func:`matmul_calls`: one row for all rows (stride 0) or one per
    row (stride n), the same for every call or one matrix per call.  None when the kernel
    can't read it that way."""
    calls_rows = matmul_calls(a_shape, b_shape)
    if calls_rows is None:
        return None
    calls, m = calls_rows
    n = b_shape[-1]
    out_shape = [*a_shape[:-1], n]
    if len(bias_shape) > len(out_shape):
        return None
    bias = [1] * (len(out_shape) - len(bias_shape)) + list(bias_shape)
    if bias[-1] != n:
        return None
    lead, rows = math.prod(bias[:-2]), bias[-2]
    stride = 0 if rows == 1 else n
    if calls > 1:  # one call per batch element, m = out_shape[-2]
        if rows not in (1, m) or lead not in (1, calls):
            return None
        return stride, (0 if lead == 1 else rows * n)
    # one call over all rows
    if rows == 1 and lead == 1:
        return 0, 0
    if rows == out_shape[-2] and lead == math.prod(out_shape[:-2]) and lead * rows == m:
        return n, 0
    return None


def _requant_is_int8(ctx: relax.transform.PatternCheckContext) -> bool:
    calls = [e for e in ctx.matched_bindings.values() if isinstance(e, relax.Call)]
    casts = [c for c in calls if getattr(c.op, "name", "") == "relax.astype"]
    return any(_dtype(c) == "int8" for c in casts)


def _check_matmul_requant(ctx) -> bool:
    return _is_int8_matmul(ctx) and _requant_is_int8(ctx)


def _check_resadd(ctx) -> bool:
    calls = [e for e in ctx.matched_bindings.values() if isinstance(e, relax.Call)]
    adds = [c for c in calls if getattr(c.op, "name", "") == "relax.add"]
    return len(adds) == 1 and _dtype(adds[0]) == "int32" and _requant_is_int8(ctx)


def patterns() -> list[relax.transform.FusionPattern]:
    a_in, b_in = wildcard(), wildcard()
    a = is_op("relax.astype")(_requant(a_in) | a_in)
    b = is_op("relax.astype")(_requant(b_in) | b_in)
    resadd = _requant(is_op("relax.add")(a, b))
    return [
        relax.transform.FusionPattern(COMPOSITE_PREFIX + "matmul_requant", _requant(_matmul_acc()), {}, _check_matmul_requant),
        relax.transform.FusionPattern(COMPOSITE_PREFIX + "resadd", resadd, {}, _check_resadd),
        relax.transform.FusionPattern(COMPOSITE_PREFIX + "matmul", _matmul_acc(), {}, _is_int8_matmul),
    ]


def fuse(mod: tvm.IRModule) -> tvm.IRModule:
    """Group Gemmini-mappable chains of ``mod`` into composite functions (constants bound inside)."""
    return relax.transform.FuseOpsByPattern(
        patterns(), bind_constants=True, annotate_codegen=False, entry_functions=["main"]
    )(mod)


def composite_kind(func) -> str | None:
    """``matmul_requant`` / ``resadd`` / ``matmul`` for a fused function, else None."""
    attrs = getattr(func, "attrs", None)
    if attrs is None or "Composite" not in attrs:
        return None
    name = str(attrs["Composite"])
    return name[len(COMPOSITE_PREFIX):] if name.startswith(COMPOSITE_PREFIX) else None
