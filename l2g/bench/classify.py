"""Sort a compiled model's ops into the survey's breakdown classes.

The manifest names each op ``VAR:FUNC`` with ``kind`` ``gemmini`` or ``cpu``.  Gemmini ops
carry their composite's name (``matmul``, ``matmul_requant``, ``resadd``, ``softmax_unit``,
``layernorm_unit``, ``igelu_unit``); CPU ops carry the name TVM's FuseOps gives a fused
function: ``fused_`` plus the primitive ops it holds (``fused_layer_norm_quantize2``,
``fused_cast_multiply_tir_round_tir_clip3_..._add4_dequantize``).  So the primitives an op
contains say what it computes, and that is what :func:`classify_ops` reads, in three steps:

1. **Named ops**: matmul, softmax, (i-)GELU/erf, LayerNorm, residual add (a sum of two
   requantized int8 tensors), pure requantize/quantize/dequantize arithmetic, and layout /
   embedding / mask plumbing (``other``).
2. **I-BERT signatures**: in ``integer`` mode on a config without the normalization unit,
   the integer kernels run as fused C whose primitives are generic.  Their distinctive
   primitives identify them: ``floor_divide`` (LayerNorm's integer mean and Newton square
   root), ``tir_negative`` with ``right_shift`` (softmax's i-exp: 2^-z by shifting),
   ``tir_abs`` (i-GELU's clipped polynomial of \\|x\\|).
3. **Segments**: what is still unnamed (a ``max`` or ``sum`` reduction, a ``subtract``) gets
   the class of the one nonlinear op (softmax, GELU or LayerNorm) between the same two
   matmuls, because that is the only computation there it can belong to.  With none or
   several candidates it stays ``other``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from l2g.bench.schema import OP_CLASSES

NONLINEAR = ("softmax", "gelu", "layernorm")

# primitives of FuseOps names, longest first so that "tir_round" is not read as "round"
_PRIMS = sorted(
    """tir_round tir_clip tir_abs tir_negative tir_tanh fast_erf fast_tanh fast_exp fast_softmax
    layer_norm floor_divide right_shift left_shift bitwise_and bitwise_or bitwise_not not_equal
    greater_equal less_equal logical_and logical_or expand_dims te_gather_nd layernorm_unit
    softmax_unit igelu_unit matmul_requant""".split(),
    key=len, reverse=True,
)
_REQUANT = {"quantize", "dequantize", "cast", "multiply", "tir_round", "tir_clip", "clip", "maximum",
            "minimum", "right_shift", "left_shift", "bitwise_and", "bitwise_or", "not_equal", "add", "round"}
_ROUNDING = {"quantize", "dequantize", "tir_round", "right_shift", "tir_clip", "clip"}
_LAYOUT = {"reshape", "transpose", "take", "te_gather_nd", "gather", "expand_dims", "squeeze", "concat",
           "split", "strided_slice", "where", "less", "logical_and", "full", "zeros", "ones", "broadcast_to"}


@dataclass(frozen=True)
class OpLike:
    """The part of a manifest op that classification reads."""

    name: str
    kind: str


def primitives(op_name: str) -> list[str]:
    """The primitive ops named in a manifest op name, in order, without numeric suffixes."""
    func = op_name.split(":", 1)[-1]
    if func.startswith("fused_"):
        func = func[len("fused_"):]
    out: list[str] = []
    rest = func
    while rest:
        for prim in _PRIMS:
            m = re.match(re.escape(prim) + r"\d*(?:_|$)", rest)
            if m:
                out.append(prim)
                rest = rest[m.end():]
                break
        else:
            word, _, rest = rest.partition("_")
            word = re.sub(r"\d+$", "", word)
            if word:
                out.append(word)
    return out


def classify_name(op_name: str, kind: str) -> str | None:
    """Steps 1 and 2: the class an op's own name gives, or None when it does not say."""
    prims = primitives(op_name)
    ps = set(prims)
    if kind == "gemmini":
        if "resadd" in ps:
            return "resadd"
        if ps & {"matmul", "matmul_requant", "conv", "conv2d"}:
            return "matmul"
    if ps & {"softmax", "fast_softmax", "softmax_unit"}:
        return "softmax"
    if ps & {"gelu", "igelu_unit", "fast_erf", "erf"}:
        return "gelu"
    if ps & {"layer_norm", "layernorm_unit"}:
        return "layernorm"
    if kind == "gemmini":
        return "other"
    # a residual add: two int8 tensors requantized to a common scale, then summed
    if prims.count("tir_clip") >= 2 and "add" in ps:
        return "resadd"
    if ps and ps <= _REQUANT and ps & _ROUNDING:
        return "quantize"
    if ps and ps <= _LAYOUT | {"cast", "add"}:
        return "other"  # layout, embedding lookups and the attention mask
    # I-BERT integer kernels lowered to CPU C (no normalization unit on the config)
    if "floor_divide" in ps:
        return "layernorm"
    if "tir_negative" in ps and "right_shift" in ps:
        return "softmax"
    if "tir_abs" in ps:
        return "gelu"
    return None


def classify_ops(ops: Sequence[OpLike]) -> list[str]:
    """The class (one of :data:`OP_CLASSES`) of every op, in order."""
    named = [classify_name(o.name, o.kind) for o in ops]
    out: list[str] = []
    # segments: maximal runs of ops between two matmuls
    start = 0
    while start < len(ops):
        end = start
        while end < len(ops) and named[end] != "matmul":
            end += 1
        anchors = {c for c in named[start:end] if c in NONLINEAR}
        fill = anchors.pop() if len(anchors) == 1 else "other"
        out.extend(c if c is not None else fill for c in named[start:end])
        if end < len(ops):
            out.append("matmul")
        start = end + 1
    assert all(c in OP_CLASSES for c in out)
    return out


def breakdown(classes: Sequence[str], cycles: Sequence[int]) -> dict[str, int]:
    """Cycles per class, every class present (zero when no op has it)."""
    out = {c: 0 for c in OP_CLASSES}
    for c, n in zip(classes, cycles):
        out[c] += int(n)
    return out
