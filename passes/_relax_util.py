"""Small helpers over the TVM 0.27 Relax API shared by the passes (not a pass itself)."""

from __future__ import annotations

import numpy as np


def is_const(expr) -> bool:
    import tvm

    return isinstance(expr, tvm.ir.GenericConst)


def const_array(expr) -> np.ndarray | None:
    """The numpy value of a Relax constant, or None when ``expr`` is not a tensor constant."""
    if not is_const(expr):
        return None
    v = expr.value
    return v.numpy() if hasattr(v, "numpy") else np.asarray(v)


def const_scalar(expr) -> float | None:
    a = const_array(expr)
    return float(a.reshape(())) if a is not None and a.size == 1 else None


def tensor_dtype(expr) -> str | None:
    ty = getattr(expr, "ty", None)
    return str(getattr(ty, "dtype", "")) or None if ty is not None else None


def op_name(call) -> str | None:
    """``"relax.matmul"`` for a call to an op, else None."""
    import tvm

    op = getattr(call, "op", None)
    return op.name if isinstance(op, tvm.ir.Op) else None
