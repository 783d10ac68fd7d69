"""quantize: int8 matmuls, exact Gemmini ACC_SCALE requantization, resadd, brackets, masks."""

import numpy as np
import pytest

from relax_graphs import attention_block, build, const, mlp_block, op_names

import tvm  # noqa: F401


def _quantized(mod, samples, per_channel=True):
    from l2g.passes.pipeline import CompileContext, Pipeline

    ctx = CompileContext(calib_inputs=samples, per_channel_weights=per_channel)
    return Pipeline(["calibrate", "quantize"]).run(mod, ctx), ctx


def test_round_is_half_to_even_on_host():
    """R.round lowers to nearbyint: the RNE that ACC_SCALE needs (gemmini-isa.md §3.2)."""
    from tvm import relax

    from l2g.passes.host import run_on_host

    mod = build({"x": ((10,), "float32")}, lambda bb, x: bb.emit(relax.op.round(x)))
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, 127.5, -127.5, 3.4999998], "float32")
    np.testing.assert_array_equal(run_on_host(mod, [x]), np.rint(x))


def test_requant_is_bit_exact_acc_scale():
    """The emitted int32 → int8 read-out equals sat8(RNE(fl32(x)·S)) bit for bit (§3.6)."""
    from tvm import relax

    from l2g.passes.host import run_on_host
    from l2g.passes.quantize import _Quantizer, acc_scale_reference

    rng = np.random.default_rng(3)
    n = 4096
    acc = np.concatenate([
        rng.integers(-(2**20), 2**20, n),
        rng.integers(-(2**31), 2**31 - 1, 256),   # |x| > 2^24: fl32 rounds first
        np.arange(-300, 300),                       # exact ties with S = 0.5
    ]).astype(np.int32)
    for S in (np.float32(0.5), np.float32(0.0123456), rng.uniform(1e-4, 2, acc.size).astype(np.float32)):
        q = _Quantizer(ranges=None, per_channel=True)
        x = relax.Var("acc", relax.TensorType((acc.size,), "int32"))
        with q.bb.function("main", [x]):
            with q.bb.dataflow():
                gv = q.bb.emit_output(q.requant(x, np.asarray(S, dtype=np.float64)))
            q.bb.emit_func_output(gv)
        got = run_on_host(q.bb.get(), [acc])
        assert got.dtype == np.int8
        np.testing.assert_array_equal(got, acc_scale_reference(acc, S))


def test_linear_block_against_numpy_reference():
    """Whole int path of y = ACC_SCALE(x_q @ W_q + b_q) checked against numpy."""
    from tvm import relax

    from l2g.passes.host import run_on_host
    from l2g.passes.quantize import acc_scale_reference, quantize_weight

    rng = np.random.default_rng(4)
    w = rng.normal(0, 0.5, (16, 8)).astype("float32")
    b = rng.normal(0, 0.5, (8,)).astype("float32")
    op = relax.op

    def body(bb, x):
        h = bb.emit(op.nn.layer_norm(x, const(np.ones(16)), const(np.zeros(16)), axes=[-1]))
        y = bb.emit(op.add(bb.emit(op.matmul(h, const(w))), const(b)))
        return bb.emit(op.nn.gelu(y))

    mod = build({"x": ((4, 16), "float32")}, body)
    samples = [{"x": rng.normal(0, 1, (4, 16)).astype("float32")} for _ in range(4)]
    qmod, ctx = _quantized(mod, samples)
    r = ctx.ranges
    h_name, mm_name, y_name, g_name = [bd.var.name for bd in mod["main"].body.blocks[0].bindings][:4]
    x = samples[1]["x"]
    h = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    s_h = np.float64(r[h_name].scale)
    hq = np.clip(np.rint(h.astype("float32") / np.float32(s_h)), -128, 127).astype(np.int8)
    wq, sw = quantize_weight(w, per_channel=True)
    acc = hq.astype(np.int32) @ wq.astype(np.int32)
    acc = acc + np.rint(b / (s_h * sw)).astype(np.int32)
    yq = acc_scale_reference(acc, (s_h * sw / r[y_name].scale).astype(np.float32))
    out = run_on_host(qmod, [x])
    import math

    yf = yq.astype(np.float32) * np.float32(r[y_name].scale)
    gelu = 0.5 * yf * (1 + np.vectorize(math.erf)(yf / math.sqrt(2)))
    gq = np.clip(np.rint(gelu / np.float32(r[g_name].scale)), -128, 127)
    expect = gq.astype(np.float32) * np.float32(r[g_name].scale)
    # the LN output quantization may differ by one step where h/s sits on a rounding edge
    np.testing.assert_allclose(out, expect, atol=2 * r[g_name].scale + 1e-6)
    assert ctx.quant_report.brackets == {"layer_norm": 1, "gelu": 1}


def test_resadd_follows_gemmini_semantics():
    """a + b → sat8(RNE(fl32(a' + b') · si/so)), a' = MVIN_SCALE(a, sa/si) (gemmini-isa.md §5.2)."""
    from tvm import relax

    from l2g.passes.host import run_on_host
    from l2g.passes.quantize import acc_scale_reference

    op = relax.op
    g1, g2 = np.ones(8), np.full(8, 3.0)

    def body(bb, x, y):
        a = bb.emit(op.nn.layer_norm(x, const(g1), const(np.zeros(8)), axes=[-1]))
        b = bb.emit(op.nn.layer_norm(y, const(g2), const(np.zeros(8)), axes=[-1]))
        s = bb.emit(op.add(a, b))
        return bb.emit(op.nn.softmax(s, axis=-1))

    mod = build({"x": ((2, 8), "float32"), "y": ((2, 8), "float32")}, body)
    rng = np.random.default_rng(5)
    samples = [{"x": rng.normal(size=(2, 8)).astype("float32"), "y": rng.normal(size=(2, 8)).astype("float32")} for _ in range(3)]
    qmod, ctx = _quantized(mod, samples)
    assert ctx.quant_report.resadds == 1
    # take the module apart: return the int8 sum instead of the softmax
    names = [bd.var.name for bd in mod["main"].body.blocks[0].bindings]
    r = ctx.ranges
    sa, sb, so = (np.float64(r[n].scale) for n in names[:3])
    si = max(sa, sb)

    def ln(v, gam):
        return ((v - v.mean(-1, keepdims=True)) / np.sqrt(v.var(-1, keepdims=True) + 1e-5)) * gam

    x, y = samples[0]["x"], samples[0]["y"]
    aq = np.clip(np.rint(ln(x, g1).astype("float32") / np.float32(sa)), -128, 127)
    bq = np.clip(np.rint(ln(y, g2).astype("float32") / np.float32(sb)), -128, 127)
    a2 = aq if sa == si else acc_scale_reference(aq.astype(np.int32), np.float32(sa / si))
    b2 = bq if sb == si else acc_scale_reference(bq.astype(np.int32), np.float32(sb / si))
    sq = acc_scale_reference(a2.astype(np.int32) + b2.astype(np.int32), np.float32(si / so))
    p = np.exp(sq * so - (sq * so).max(-1, keepdims=True))
    p = p / p.sum(-1, keepdims=True)
    out = run_on_host(qmod, [x, y])
    s_p = r[names[3]].scale
    np.testing.assert_allclose(out, np.clip(np.rint(p / s_p), -128, 127) * s_p, atol=1.01 * s_p)


def test_attention_softmax_takes_int32_with_mask_bias():
    """Q·Kᵀ stays int32; the mask's "-inf" becomes the int32 ``mask_bias`` of the accumulator's
    scale and inner length; 1/√d is folded into the scale."""
    from l2g.passes.host import build_host
    from l2g.passes._relax_util import const_scalar
    from l2g.passes.quantize import MASK_BIAS, mask_bias

    mod = attention_block()
    rng = np.random.default_rng(6)

    def sample(n_valid):
        m = np.zeros((1, 1, 8), "int64")
        m[..., :n_valid] = 1
        return {"x": rng.normal(size=(1, 8, 16)).astype("float32"), "mask": m}

    samples = [sample(k) for k in (3, 5, 8, 6)]
    qmod, ctx = _quantized(mod, samples)
    bound = {b.var: b.value for blk in qmod["main"].body.blocks for b in blk.bindings}

    def name(v):
        return getattr(getattr(v, "op", None), "name", "")

    (sm,) = [v for v in bound.values() if name(v) == "relax.nn.softmax"]
    sm_in = bound[sm.args[0]]
    assert name(sm_in) == "relax.dequantize" and str(sm_in.args[0].ty.dtype) == "int32"
    add = bound[sm_in.args[0]]  # Q·Kᵀ + mask
    qk = bound[add.args[0]]
    assert name(add) == "relax.add" and name(qk) == "relax.matmul" and str(qk.args[1].ty.dtype) == "int8"
    bias = mask_bias(const_scalar(sm_in.args[1]), int(qk.args[0].ty.shape[-1]))
    assert MASK_BIAS < bias < 0
    assert f"R.const({bias}, \"int32\")" in qmod["main"].script()
    f, q = build_host(mod), build_host(qmod)
    for s in samples[:2] + [sample(2)]:
        a, b = f(s), q(s)
        cos = (a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b)
        assert cos > 0.98, cos


def test_per_tensor_weights_option():
    qmod, ctx = _quantized(mlp_block(), [{"x": np.random.default_rng(0).normal(size=(1, 8, 16)).astype("float32")}], per_channel=False)
    assert ctx.quant_report.int8_matmuls == 2


def test_mlp_block_close_to_float():
    from l2g.passes.host import build_host

    rng = np.random.default_rng(7)
    samples = [{"x": rng.normal(size=(1, 8, 16)).astype("float32")} for _ in range(4)]
    mod = mlp_block()
    qmod, ctx = _quantized(mod, samples)
    assert ctx.quant_report.float_ops == {}
    a, b = build_host(mod)(samples[0]), build_host(qmod)(samples[0])
    assert np.abs(a - b).max() < 0.15


@pytest.mark.parametrize("calibrated", [0.3, 0.0807, 0.05, 0.013, 0.002])
def test_gelu_int8_input_scale_makes_qb_exact(calibrated):
    """The snapped scale is at most 1/|qb| coarser than calibrated, and i-GELU's truncated qb
    then equals b·√2/S (to the 1e-4 margin)."""
    from l2g.passes import ibert as ib
    from l2g.passes.quantize import gelu_int8_input_scale

    s = gelu_int8_input_scale(calibrated)
    c = ib.gelu_consts(s)
    exact = ib.GELU_B * np.sqrt(2) / s
    assert abs(c.qb - exact) < 1e-3
    assert calibrated * (1 - 1e-5) <= s <= calibrated * (1 + 1 / abs(c.qb) + 1e-5)


@pytest.mark.parametrize("per_channel", [False, True])
def test_residual_add_at_the_matmul_accumulator_scale(per_channel):
    """``(x @ W + b) + r``: with a scalar accumulator scale the sum is taken at that scale, as
    ``x @ W + (r' + b)``, so that Gemmini can start the accumulator with ``r' + b`` (the D
    matrix) instead of a CPU pass rescaling both sides; a per-channel accumulator keeps the
    fine common scale.  Either way the result stays close to float."""
    from tvm import relax

    from l2g.passes._relax_util import is_const
    from l2g.passes.host import build_host

    op = relax.op
    rng = np.random.default_rng(11)
    w = rng.normal(0, 0.2, (16, 16))
    b = rng.normal(0, 0.5, 16)

    def body(bb, x):
        h = bb.emit(op.nn.layer_norm(x, const(np.ones(16)), const(np.zeros(16)), axes=[-1]))
        m = bb.emit(op.add(bb.emit(op.matmul(h, const(w))), const(b)))
        return bb.emit(op.nn.layer_norm(bb.emit(op.add(m, h)), const(np.ones(16)), const(np.zeros(16)), axes=[-1]))

    mod = build({"x": ((1, 8, 16), "float32")}, body)
    samples = [{"x": rng.normal(size=(1, 8, 16)).astype("float32")} for _ in range(4)]
    qmod, ctx = _quantized(mod, samples, per_channel=per_channel)
    assert ctx.quant_report.resadds == 1
    bindings = {bd.var.name: bd.value for bd in qmod["main"].body.blocks[0].bindings}
    onto_matmul = [v for v in bindings.values()
                   if getattr(v, "op", None) is not None and getattr(v.op, "name", "") == "relax.add"
                   and isinstance(v.args[0], relax.Var) and v.args[0].name in bindings
                   and getattr(bindings[v.args[0].name].op, "name", "") == "relax.matmul"
                   and not is_const(v.args[1])]
    assert len(onto_matmul) == (0 if per_channel else 1)
    a, q = build_host(mod)(samples[0]), build_host(qmod)(samples[0])
    assert np.abs(a - q).max() < 0.1, np.abs(a - q).max()
