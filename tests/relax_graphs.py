"""Small synthetic Relax graphs shared by the pass tests (built with BlockBuilder, no models)."""

from __future__ import annotations

import numpy as np


def tensor(shape, dtype="float32"):
    from tvm import relax

    return relax.TensorType(shape, dtype)


def build(params: dict, body):
    """A module whose ``main`` takes ``params`` (name → (shape, dtype)) and returns ``body(bb, vars)``."""
    from tvm import relax

    bb = relax.BlockBuilder()
    vars_ = [relax.Var(n, tensor(s, d)) for n, (s, d) in params.items()]
    with bb.function("main", vars_):
        with bb.dataflow():
            out = body(bb, *vars_)
            gv = bb.emit_output(out)
        bb.emit_func_output(gv)
    return bb.get()


def const(a, dtype="float32"):
    from tvm import relax

    return relax.const(np.asarray(a, dtype=dtype), dtype)


def op_names(mod) -> list[str]:
    """Op names of main's bindings, in order."""
    import tvm

    out = []
    for blk in mod["main"].body.blocks:
        for b in blk.bindings:
            op = getattr(b.value, "op", None)
            if isinstance(op, tvm.ir.Op):
                out.append(op.name)
    return out


def mlp_block(hidden=16, ffn=32, seed=0):
    """x → LN → matmul+bias → gelu → matmul+bias → +x → LN (a BERT FFN sub-layer)."""
    from tvm import relax

    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.3, (hidden, ffn)).astype("float32")
    b1 = rng.normal(0, 0.1, (ffn,)).astype("float32")
    w2 = rng.normal(0, 0.3, (ffn, hidden)).astype("float32")
    b2 = rng.normal(0, 0.1, (hidden,)).astype("float32")
    g = np.ones(hidden, "float32")
    be = np.zeros(hidden, "float32")
    op = relax.op

    def body(bb, x):
        h = bb.emit(op.nn.layer_norm(x, const(g), const(be), axes=[-1]))
        a = bb.emit(op.add(bb.emit(op.matmul(h, const(w1))), const(b1)))
        a = bb.emit(op.nn.gelu(a))
        o = bb.emit(op.add(bb.emit(op.matmul(a, const(w2))), const(b2)))
        r = bb.emit(op.add(o, h))
        return bb.emit(op.nn.layer_norm(r, const(g), const(be), axes=[-1]))

    return build({"x": ((1, 8, hidden), "float32")}, body)


def attention_block(seq=8, d=16, seed=1):
    """q·kᵀ · (1/√d) + mask → softmax → ·v, q/k/v from one input through weight matmuls."""
    from tvm import relax

    rng = np.random.default_rng(seed)
    ws = [rng.normal(0, 0.4, (d, d)).astype("float32") for _ in range(3)]
    op = relax.op

    def body(bb, x, mask):
        q, k, v = (bb.emit(op.matmul(x, const(w))) for w in ws)
        kt = bb.emit(op.permute_dims(k, [0, 2, 1]))
        s = bb.emit(op.matmul(q, kt))
        s = bb.emit(op.multiply(s, const(1.0 / np.sqrt(d))))
        m = bb.emit(op.where(bb.emit(op.astype(mask, "bool")), const(0.0), const(np.finfo(np.float32).min)))
        s = bb.emit(op.add(s, m))
        p = bb.emit(op.nn.softmax(s, axis=-1))
        return bb.emit(op.matmul(p, v))

    return build({"x": ((1, seq, d), "float32"), "mask": ((1, 1, seq), "int64")}, body)
