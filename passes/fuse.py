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

Attention's head split and merge join the matmuls too.  An operand
``permute_dims(reshape(x))`` (one head of the hidden-state matrix, or Kᵀ) is read in place
with a row stride, Kᵀ through the array's B transpose, and a result followed by
``reshape(permute_dims(·))`` is written with a row stride into the merged matrix
(:func:`operand_layout`, :func:`result_layout`).  Gemmini's DMA takes any row stride, so
these transposes cost no CPU pass.

Normalization-unit composites (LayerNorm, softmax and GELU on the I-BERT unit) are not formed
yet; those ops run on the CPU in integer arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import tvm
from tvm import relax
from tvm.relax.backend.utils import has_leaking_intermediate_variables
from tvm.relax.dpl import is_const, is_op, wildcard

from l2g.passes._relax_util import is_const as is_const_expr
from l2g.passes._relax_util import const_array, op_name

COMPOSITE_PREFIX = "l2g.gemmini."


def _requant(x):
    f = is_op("relax.astype")(x)
    m = is_op("relax.multiply")(f, is_const())
    r = is_op("relax.round")(m)
    c = is_op("relax.clip")(r, wildcard(), wildcard())
    return is_op("relax.astype")(c)


def _split_view(x):
    """``permute_dims(reshape(x))``: a head split (or Kᵀ) read in place by the kernel."""
    return is_op("relax.permute_dims")(is_op("relax.reshape")(x, wildcard()))


def _merge_view(x):
    """``reshape(permute_dims(x))``: a head merge the kernel writes in place."""
    return is_op("relax.reshape")(is_op("relax.permute_dims")(x), wildcard())


def _matmul_acc(views: bool = False):
    if views:
        mm = is_op("relax.matmul")(_split_view(wildcard()) | wildcard(), _split_view(wildcard()) | wildcard())
    else:
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
    if not all(accumulator_bias_ok(mms[0], add.args[1]) for add in adds):
        return False
    views = [c for c in calls if op_name(c) in ("relax.permute_dims", "relax.reshape")]
    if not views:
        return True
    # a view's intermediate is never materialized, so nothing else may read it
    if has_leaking_intermediate_variables(ctx):
        return False
    value_of = binding_lookup(ctx.matched_bindings)
    a, b = (operand_layout(x, value_of) for x in mms[0].args)
    calls_rows = matmul_calls(_dims(mms[0].args[0]), _dims(mms[0].args[1]))
    if a is None or b is None or calls_rows is None or a[1].col != 1:
        return False
    if calls_rows[0] == 1 and (a[1] != _contiguous_layout(_dims(mms[0].args[0])) or b[1].col != 1):
        return False  # one call over all rows: its rows must be one contiguous run
    out = result_layout(ctx.matched_expr, value_of)
    return out is not None and out[1].col == 1


def binding_lookup(bindings) -> Callable:
    """``var -> bound value`` over a binding map (the expression itself when unbound)."""
    def value_of(expr):
        for var, val in bindings.items():
            if var.same_as(expr):
                return val
        return expr
    return value_of


@dataclass(frozen=True)
class MatrixLayout:
    """Where a kernel call finds its matrix in a flat buffer, in elements: the matrix of call
    ``bt`` starts at ``bt * step``, and its element (r, c) is at ``r * row + c * col``.  Rows
    of int8 A and C must be contiguous (``col == 1``); a B with ``row == 1`` is stored
    transposed (n × k, row stride ``col``) and the array transposes it."""

    step: int
    row: int
    col: int


def _contiguous_strides(shape) -> list[int]:
    strides, acc = [], 1
    for d in reversed(list(shape)):
        strides.append(acc)
        acc *= d
    return strides[::-1]


def _layout(shape, strides) -> MatrixLayout | None:
    """The kernel's layout of a strided (batched) matrix view; None when its batch dims do
    not collapse to one step or neither its rows nor its columns are contiguous."""
    batch = [(d, st) for d, st in zip(shape[:-2], strides[:-2]) if d != 1]
    step = batch[-1][1] if batch else math.prod(shape[-2:])
    for (d_out, st_out), (d_in, st_in) in zip(batch, batch[1:]):
        if st_out != st_in * d_in:
            return None
    row, col = strides[-2], strides[-1]
    if col != 1 and row != 1:
        return None
    return MatrixLayout(step, row, col)


def _contiguous_layout(shape) -> MatrixLayout:
    return _layout(shape, _contiguous_strides(shape))


def _axes(permute, rank: int) -> list[int]:
    axes = permute.attrs.axes
    return list(range(rank))[::-1] if axes is None else [int(a) for a in axes]


def operand_layout(expr, value_of: Callable) -> tuple[object, MatrixLayout] | None:
    """(buffer expression, layout) of a matmul operand: the source of a head-split view
    ``permute_dims(reshape(src))``, or the operand itself, contiguous."""
    view = value_of(expr)
    if op_name(view) != "relax.permute_dims":
        return expr, _contiguous_layout(_dims(expr))
    reshaped = value_of(view.args[0])
    if op_name(reshaped) != "relax.reshape":
        return None
    r_shape = _dims(reshaped)
    st = _contiguous_strides(r_shape)
    layout = _layout(_dims(view), [st[a] for a in _axes(view, len(r_shape))])
    return (reshaped.args[0], layout) if layout is not None else None


def result_layout(expr, value_of: Callable) -> tuple[object, MatrixLayout] | None:
    """(matmul-side result expression, its layout in ``expr``'s buffer) for a composite's
    result ``expr``: in place when ``expr`` is a head merge ``reshape(permute_dims(r))``,
    else ``expr`` itself, contiguous."""
    merged = value_of(expr)
    if op_name(merged) != "relax.reshape" or op_name(value_of(merged.args[0])) != "relax.permute_dims":
        return expr, _contiguous_layout(_dims(expr))
    permute = value_of(merged.args[0])
    inner = permute.args[0]
    shape = _dims(inner)
    axes = _axes(permute, len(shape))
    st_p = _contiguous_strides([shape[a] for a in axes])
    st = [0] * len(shape)
    for d, a in enumerate(axes):
        st[a] = st_p[d]
    layout = _layout(shape, st)
    return (inner, layout) if layout is not None else None


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
    if not (_is_int8_matmul(ctx) and _requant_is_int8(ctx)):
        return False
    if op_name(ctx.matched_expr) != "relax.reshape":
        return True
    # a merged result is written in place by the mvout, which takes one scalar scale only
    mults = [e for e in ctx.matched_bindings.values() if op_name(e) == "relax.multiply"]
    return all(const_array(m.args[1]) is not None and const_array(m.args[1]).size == 1 for m in mults)


def _check_resadd(ctx) -> bool:
    calls = [e for e in ctx.matched_bindings.values() if isinstance(e, relax.Call)]
    adds = [c for c in calls if getattr(c.op, "name", "") == "relax.add"]
    return len(adds) == 1 and _dtype(adds[0]) == "int32" and _requant_is_int8(ctx)


def patterns() -> list[relax.transform.FusionPattern]:
    a_in, b_in = wildcard(), wildcard()
    a = is_op("relax.astype")(_requant(a_in) | a_in)
    b = is_op("relax.astype")(_requant(b_in) | b_in)
    resadd = _requant(is_op("relax.add")(a, b))
    mm_requant = _requant(_matmul_acc(views=True))
    # FuseOpsByPattern partitions with each pattern in turn: a head merge is claimed together
    # with its matmul before the matmul alone, and a matmul whose views are rejected (an
    # intermediate used elsewhere) is still claimed without them by the plain pattern after
    return [
        relax.transform.FusionPattern(COMPOSITE_PREFIX + "matmul_requant", _merge_view(mm_requant), {}, _check_matmul_requant),
        relax.transform.FusionPattern(COMPOSITE_PREFIX + "matmul_requant", mm_requant, {}, _check_matmul_requant),
        relax.transform.FusionPattern(COMPOSITE_PREFIX + "matmul_requant", _requant(_matmul_acc()), {}, _check_matmul_requant),
        relax.transform.FusionPattern(COMPOSITE_PREFIX + "resadd", resadd, {}, _check_resadd),
        relax.transform.FusionPattern(COMPOSITE_PREFIX + "matmul", _matmul_acc(views=True), {}, _is_int8_matmul),
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
