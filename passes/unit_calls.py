"""Emit one use of the I-BERT normalization unit as a call of a small composite function.

``integer_only`` computes softmax, LayerNorm and i-GELU with integer Relax ops; this helper
puts the ops of one unit use into a private function marked
``Composite = "l2g.gemmini.<kind>"`` whose attributes carry the unit's constants.  The host
reference runs the function like any other.  The Gemmini code generator maps the call onto
the normalization unit when the hardware config has one (see
``l2g.codegen.gemmini.offload.NORM_UNIT_KINDS`` for the attribute names), and inlines it
into plain CPU code otherwise.
"""

from __future__ import annotations

from typing import Callable

UNIT_KINDS = ("softmax_unit", "layernorm_unit", "igelu_unit")


def emit_unit_call(bb, kind: str, x, attrs: dict, body: Callable):
    """Emit ``body(inner_bb, x)`` as a private composite function and call it on ``x``."""
    from tvm import relax

    if kind not in UNIT_KINDS:
        raise ValueError(f"unknown normalization-unit kind {kind!r}; known: {', '.join(UNIT_KINDS)}")
    inner = relax.BlockBuilder()
    xv = relax.Var("x", x.ty)
    fn_attrs = {"Composite": f"l2g.gemmini.{kind}", **{f"l2g.{k}": v for k, v in attrs.items()}}
    with inner.function(kind, [xv], attrs=fn_attrs, private=True):
        with inner.dataflow():
            out = inner.emit_output(body(inner, xv))
        inner.emit_func_output(out)
    gv = bb.add_func(inner.get()[kind], kind)
    return bb.emit(relax.Call(gv, [x]))
