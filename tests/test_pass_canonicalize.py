"""canonicalize: erf-GELU forms become R.nn.gelu; constants fold; numerics unchanged."""

import math

import numpy as np
import pytest

from relax_graphs import build, const, op_names

import tvm  # noqa: F401


def _erf_gelu(variant):
    from tvm import relax

    op = relax.op

    def body(bb, x):
        if variant == "div":
            t = bb.emit(op.divide(x, const(math.sqrt(2.0))))
        else:
            t = bb.emit(op.multiply(x, const(1.0 / math.sqrt(2.0))))
        u = bb.emit(op.add(bb.emit(op.erf(t)), const(1.0)))
        if variant == "div":
            return bb.emit(op.multiply(x, bb.emit(op.multiply(const(0.5), u))))
        return bb.emit(op.multiply(bb.emit(op.multiply(x, const(0.5))), u))

    return build({"x": ((2, 8), "float32")}, body)


@pytest.mark.parametrize("variant", ["div", "mul"])
def test_erf_gelu_becomes_gelu(variant):
    from l2g.passes.canonicalize import canonicalize
    from l2g.passes.host import run_on_host

    mod = _erf_gelu(variant)
    out = canonicalize(mod)
    assert op_names(out) == ["relax.nn.gelu"]
    x = np.linspace(-4, 4, 16, dtype="float32").reshape(2, 8)
    np.testing.assert_allclose(run_on_host(out, [x]), run_on_host(mod, [x]), atol=1e-6)


def test_wrong_constant_is_left_alone():
    from tvm import relax

    from l2g.passes.canonicalize import canonicalize

    op = relax.op

    def body(bb, x):
        t = bb.emit(op.divide(x, const(2.0)))  # not √2: not GELU
        u = bb.emit(op.add(bb.emit(op.erf(t)), const(1.0)))
        return bb.emit(op.multiply(x, bb.emit(op.multiply(const(0.5), u))))

    out = canonicalize(build({"x": ((4,), "float32")}, body))
    assert "relax.nn.gelu" not in op_names(out) and "relax.erf" in op_names(out)


def test_constant_weight_transpose_is_folded():
    from tvm import relax

    from l2g.passes.canonicalize import canonicalize

    w = np.arange(12, dtype="float32").reshape(3, 4)

    def body(bb, x):
        wt = bb.emit(relax.op.permute_dims(const(w), [1, 0]))
        return bb.emit(relax.op.matmul(x, wt))

    out = canonicalize(build({"x": ((2, 4), "float32")}, body))
    assert op_names(out) == ["relax.matmul"]
