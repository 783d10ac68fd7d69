"""The host build's matmul schedule (passes/host.py): faster, and bit-identical to the plain build.

The host module is the bit-exact oracle for Gemmini and the FP32 (TVM) accuracy baseline, so
``build_host(schedule=True)`` must give the very same bits as ``schedule=False``; float sums
catch any change of the per-element summation order over ``k``.
"""

import numpy as np
import tvm
from relax_graphs import build, const
from tvm import relax

from l2g.passes.host import _schedule_matmul, build_host, schedule_host


def _graph():
    """int8 matmul + requantize (multiply, rounding shift, clip), float matmul, batched float matmul."""
    rng = np.random.default_rng(0)
    wq = rng.integers(-128, 128, (32, 48)).astype("int8")
    wf = rng.normal(0, 1, (32, 48)).astype("float32")
    op = relax.op

    def body(bb, xq, xf, k):
        acc = bb.emit(op.matmul(xq, const(wq, "int8"), out_dtype="int32"))
        acc = bb.emit(op.right_shift(op.add(op.multiply(acc, const(1234, "int32")), const(1 << 15, "int32")),
                                     const(16, "int32")))
        q = bb.emit(op.astype(op.clip(acc, -128, 127), "int8"))
        f = bb.emit(op.matmul(xf, const(wf)))  # (1, 8, 48)
        s = bb.emit(op.matmul(op.reshape(f, (1, 2, 8, 24)), k))  # batched: (1, 2, 8, 16)
        return bb.emit(relax.Tuple([q, f, s]))

    return build({"xq": ((1, 8, 32), "int8"), "xf": ((1, 8, 32), "float32"), "k": ((1, 2, 24, 16), "float32")}, body)


def test_scheduled_matmuls_are_bit_identical():
    mod = _graph()
    scheduled = schedule_host(mod)
    names = sorted(gv.name_hint for gv, f in scheduled.functions.items()
                   if isinstance(f, tvm.tirx.PrimFunc) and f.attrs and "l2g.host_scheduled" in f.attrs)
    assert len(names) == 3, names  # the three matmuls; fails if the schedule silently never applies
    assert all(n.startswith("matmul") for n in names)

    plain, fast = build_host(mod, schedule=False), build_host(mod)
    rng = np.random.default_rng(1)
    for _ in range(3):
        args = (rng.integers(-128, 128, (1, 8, 32)).astype("int8"),
                rng.normal(0, 10, (1, 8, 32)).astype("float32"),
                rng.normal(0, 10, (1, 2, 24, 16)).astype("float32"))
        want, got = plain(*args), fast(*args)
        assert len(want) == len(got) == 3
        for w, g in zip(want, got):
            assert w.dtype == g.dtype and np.array_equal(w, g)


def test_non_matmul_functions_are_left_alone():
    mod = relax.transform.LegalizeOps()(_graph())
    for gv, f in mod.functions.items():
        if isinstance(f, tvm.tirx.PrimFunc) and not gv.name_hint.startswith("matmul"):
            assert _schedule_matmul(f) is None, gv.name_hint
