"""Canonicalize the imported float module: fold constants, one GELU form, no dead code.

- ``FoldConstant``: weights that the importer wraps in ``permute_dims`` (ONNX ``Gemm``) and
  shape arithmetic on constants become plain constants, so later passes see
  ``matmul(x, W)`` with ``W`` a ``relax.Constant``.
- The erf form of GELU, ``x * (0.5 * (erf(x / √2) + 1))`` in any of its association orders
  (and ``x * 0.7071…`` for the division), becomes ``R.nn.gelu(x)``, so that quantization
  brackets one op and the integer pass sees one pattern.
- ``DeadCodeElimination`` removes what the rewrite left unused.
"""

from __future__ import annotations

import math


def _const_value(expr):
    from l2g.passes._relax_util import const_scalar

    return const_scalar(expr)


def _close(v, target, tol=1e-4):
    return v is not None and abs(v - target) <= tol * max(1.0, abs(target))


def _gelu_patterns():
    from tvm.relax.dpl import is_const, is_op, wildcard

    x = wildcard()
    c = is_const()
    one = is_const()
    half = is_const()
    div = is_op("relax.divide")(x, c)
    mul = is_op("relax.multiply")(x, c) | is_op("relax.multiply")(c, x)
    out = []
    for t, want in ((div, math.sqrt(2.0)), (mul, 1.0 / math.sqrt(2.0))):
        e = is_op("relax.erf")(t)
        u = is_op("relax.add")(e, one) | is_op("relax.add")(one, e)
        h = is_op("relax.multiply")(half, u) | is_op("relax.multiply")(u, half)
        p1 = is_op("relax.multiply")(x, h) | is_op("relax.multiply")(h, x)
        xh = is_op("relax.multiply")(x, half) | is_op("relax.multiply")(half, x)
        p2 = is_op("relax.multiply")(xh, u) | is_op("relax.multiply")(u, xh)
        out.append((p1 | p2, x, c, one, half, want))
    return out


def canonicalize(mod):
    """Fold constants, rewrite erf-GELU to ``R.nn.gelu``, drop dead bindings."""
    from tvm import relax
    from tvm.relax.dpl import rewrite_call

    mod = relax.transform.FoldConstant()(mod)
    func = mod["main"]
    for pattern, x, c, one, half, want in _gelu_patterns():

        def rewriter(expr, m, x=x, c=c, one=one, half=half, want=want):
            if not (_close(_const_value(m[c]), want) and _close(_const_value(m[one]), 1.0) and _close(_const_value(m[half]), 0.5)):
                return expr
            if m[x].ty.dtype != "float32":
                return expr
            return relax.op.nn.gelu(m[x])

        func = rewrite_call(pattern, rewriter, func)
    mod = mod.clone() if hasattr(mod, "clone") else mod
    mod["main"] = func
    mod = relax.transform.DeadCodeElimination(["main"])(mod)
    return mod
