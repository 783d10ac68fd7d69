"""passes/integer_only.py on small synthetic graphs that follow the bracket convention of
passes/quantize.py: structure after the pass, agreement with the float graph, and
bit-exactness of the rewritten host module against the plans' numpy reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tvm
from tvm import relax  # noqa: E402

from l2g.passes import ibert as ib  # noqa: E402
from l2g.passes._relax_util import op_name  # noqa: E402
from l2g.passes.host import build_host  # noqa: E402
from l2g.passes.integer_only import IntegerOnlyOptions, IntegerOnlyReport, integer_only  # noqa: E402

op = relax.op
F32 = "float32"


def _c(v, dt):
    return relax.const(np.asarray(v, dtype=dt), dt)


def _deq(bb, x, s):
    dt = str(x.ty.dtype)
    return bb.emit(op.dequantize(x, _c(s, F32), _c(0, dt), axis=-1, out_dtype=F32))


def _q(bb, yf, s):
    return bb.emit(op.quantize(yf, _c(s, F32), _c(0, "int8"), axis=-1, out_dtype="int8"))


def _bracket(shape, dtype, s_in, body, s_out):
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(shape, dtype))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = _q(bb, body(bb, _deq(bb, x, s_in)), s_out)
            gv = bb.emit_output(y)
        bb.emit_func_output(gv)
    return bb.get()


def _gelu_erf_importer(bb, xf):
    # the ONNX importer's order: Div, Erf, Add, Mul(x, .), Mul(., 0.5)
    d = bb.emit(op.divide(xf, _c(1.4142135381698608, F32)))
    e = bb.emit(op.erf(d))
    a = bb.emit(op.add(e, _c(1.0, F32)))
    m = bb.emit(op.multiply(xf, a))
    return bb.emit(op.multiply(m, _c(0.5, F32)))


def _gelu_erf_alt(bb, xf):
    # x * (0.5 * (1 + erf(x * 0.70710677)))
    d = bb.emit(op.multiply(xf, _c(0.70710677, F32)))
    a = bb.emit(op.add(_c(1.0, F32), bb.emit(op.erf(d))))
    h = bb.emit(op.multiply(_c(0.5, F32), a))
    return bb.emit(op.multiply(xf, h))


RNG = np.random.default_rng(11)
GAMMA = RNG.normal(1.0, 0.4, 64).astype(np.float32)
BETA = RNG.normal(0.0, 0.2, 64).astype(np.float32)


def _ln(bb, xf):
    return bb.emit(op.nn.layer_norm(xf, _c(GAMMA, F32), _c(BETA, F32), axes=[-1], epsilon=1e-12))


FORBIDDEN = {"relax.nn.softmax", "relax.nn.gelu", "relax.nn.gelu_tanh", "relax.nn.layer_norm", "relax.erf",
             "relax.tanh", "relax.exp", "relax.sqrt", "relax.power", "relax.quantize", "relax.dequantize"}
FLOAT_OK = {"relax.astype", "relax.multiply", "relax.divide", "relax.round", "relax.maximum", "relax.minimum"}


def _calls(mod):
    out = []

    @relax.expr_functor.visitor
    class V(relax.PyExprVisitor):
        def visit_call_(self, call):
            out.append(call)
            for a in call.args:
                self.visit_expr(a)

    for _, f in mod.functions_items():
        if isinstance(f, relax.Function):
            V().visit_expr(f)
    return out


def _assert_integer_only(mod):
    names = [op_name(c) for c in _calls(mod)]
    assert not (set(names) & FORBIDDEN), set(names) & FORBIDDEN
    for c in _calls(mod):
        dt = str(getattr(c.ty, "dtype", ""))
        if dt.startswith("float"):
            assert op_name(c) in FLOAT_OK, (op_name(c), dt)
            assert dt == "float32", dt   # no float64 anywhere


def _run(mod, x):
    return build_host(mod)(x)


def _logits(shape, s_in, rng, mask=True):
    """int32 Q·Kᵀ-like accumulator: real logits N(0, 3), masked tail = MASK_BIAS."""
    real = rng.normal(0.0, 3.0, shape)
    x = np.rint(real / s_in).astype(np.int64)
    if mask:
        x[..., -5:] += -(1 << 24)
    return np.clip(x, -(1 << 31), (1 << 31) - 1).astype(np.int32)


CASES = {
    # name: (shape, dtype, s_in, body, s_out, input generator)
    "softmax": ((2, 3, 8, 32), "int32", 4.4e-4, lambda bb, xf: bb.emit(op.nn.softmax(xf, axis=-1)), 1 / 127,
                lambda rng: _logits((2, 3, 8, 32), 4.4e-4, rng)),
    "softmax_s255": ((4, 40), "int32", 2e-3, lambda bb, xf: bb.emit(op.nn.softmax(xf, axis=-1)), 1 / 255,
                     lambda rng: _logits((4, 40), 2e-3, rng, mask=False)),
    "gelu": ((8, 64), "int8", 0.05, lambda bb, xf: bb.emit(op.nn.gelu(xf)), 6.35 / 127,
             lambda rng: rng.integers(-128, 128, (8, 64)).astype(np.int8)),
    "gelu_tanh": ((8, 64), "int8", 0.04, lambda bb, xf: bb.emit(op.nn.gelu_tanh(xf)), 5.1 / 127,
                  lambda rng: rng.integers(-128, 128, (8, 64)).astype(np.int8)),
    "gelu_erf_importer": ((8, 64), "int8", 0.05, _gelu_erf_importer, 6.35 / 127,
                          lambda rng: rng.integers(-128, 128, (8, 64)).astype(np.int8)),
    "gelu_erf_alt": ((8, 64), "int8", 0.03, _gelu_erf_alt, 3.9 / 127,
                     lambda rng: rng.integers(-128, 128, (8, 64)).astype(np.int8)),
    "layernorm_int8": ((6, 64), "int8", 0.05, _ln, 4.0 / 127,
                       lambda rng: rng.integers(-128, 128, (6, 64)).astype(np.int8)),
    "layernorm_int32": ((6, 64), "int32", 30.0 / 2**20, _ln, 4.0 / 127,
                        lambda rng: np.rint(np.concatenate([rng.normal(0, 2.0, (6, 62)), rng.normal(0, 25.0, (6, 2))], -1)
                                            / (30.0 / 2**20)).clip(-2**20, 2**20).astype(np.int32)),
}


def _float_real(name, x):
    """The float graph's function on the dequantized input, in float64."""
    shape, dtype, s_in, body, s_out, _ = CASES[name]
    xf = x.astype(np.float64) * np.float32(s_in)
    if name.startswith("softmax"):
        e = np.exp(xf - xf.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    if name.startswith("gelu"):
        return 0.5 * xf * (1 + np.vectorize(math.erf)(xf / math.sqrt(2)))
    m = xf.mean(-1, keepdims=True)
    v = ((xf - m) ** 2).mean(-1, keepdims=True)
    return (xf - m) / np.sqrt(v + 1e-12) * GAMMA + BETA


# tolerance in output LSBs of |int - float graph| (both int8 at s_out); see docs/ibert.md
TOL_LSB = {"softmax": 2, "softmax_s255": 3, "gelu": 1, "gelu_tanh": 1, "gelu_erf_importer": 1, "gelu_erf_alt": 1,
           "layernorm_int8": 3, "layernorm_int32": 3}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    name = request.param
    shape, dtype, s_in, body, s_out, gen = CASES[name]
    mod = _bracket(shape, dtype, s_in, body, s_out)
    rep = IntegerOnlyReport()
    new = integer_only(mod, None, report=rep)
    return name, mod, new, rep


def test_structure(case):
    name, mod, new, rep = case
    assert len(rep.plans) == 1, rep
    kind = rep.plans[0][0]
    assert kind == name.split("_")[0]
    assert not rep.skipped
    _assert_integer_only(new)
    assert str(new["main"].body.body.ty.dtype) == "int8"
    # the original module is untouched
    assert any(op_name(c) == "relax.quantize" for c in _calls(mod))


def test_numerics_and_bit_exact(case):
    name, mod, new, rep = case
    shape, dtype, s_in, body, s_out, gen = CASES[name]
    rng = np.random.default_rng(5)
    fmod = build_host(mod)
    imod = build_host(new)
    plan = rep.plans[0][1]
    worst = 0
    for _ in range(3):
        x = gen(rng)
        got = imod(x)
        # bit-exact against the plan's numpy reference (== ibert.py == the Spike unit)
        want = plan.reference(x)
        assert got.dtype == want.dtype and np.array_equal(got, want), name
        # agreement with the float graph (which itself quantizes its output to s_out)
        yf = fmod(x).astype(np.int32)
        worst = max(worst, int(np.max(np.abs(got.astype(np.int32) - yf))))
        real = np.clip(_float_real(name, x), -128 * s_out, 127 * s_out)   # int8 output saturates
        err = np.max(np.abs(got.astype(np.float64) * s_out - real))
        assert err <= (TOL_LSB[name] + 0.5) * s_out + 1e-9, (name, err)
        if name == "softmax":
            assert np.all(got[..., -5:] == 0), "masked positions must be exactly 0"
    print(f"\n{name}: max |int - float graph| = {worst} LSB (s_out = {s_out:.5g})")
    assert worst <= TOL_LSB[name]


def test_combined_graph_and_untouched_tanh():
    """LN -> GELU -> softmax chained, plus a tanh bracket that must stay float."""
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((4, 64), "int32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y1 = _q(bb, _ln(bb, _deq(bb, x, 30.0 / 2**20)), 4.0 / 127)
            y2 = _q(bb, _gelu_erf_importer(bb, _deq(bb, y1, 4.0 / 127)), 4.0 / 127)
            acc = bb.emit(op.astype(y2, "int32"))
            y3 = _q(bb, bb.emit(op.nn.softmax(_deq(bb, acc, 0.02), axis=-1)), 1 / 127)
            y4 = _q(bb, bb.emit(op.tanh(_deq(bb, y3, 1 / 127))), 1 / 127)
            gv = bb.emit_output(relax.Tuple([y3, y4]))
        bb.emit_func_output(gv)
    mod = bb.get()
    rep = IntegerOnlyReport()
    new = integer_only(mod, None, report=rep)
    assert [k for k, _ in rep.plans] == ["layernorm", "gelu", "softmax"]
    names = [op_name(c) for c in _calls(new)]
    assert names.count("relax.tanh") == 1 and names.count("relax.quantize") == 1
    for bad in ("relax.nn.softmax", "relax.nn.layer_norm", "relax.erf"):
        assert bad not in names
    rng = np.random.default_rng(3)
    xin = np.rint(rng.normal(0, 2.0, (4, 64)) / (30.0 / 2**20)).astype(np.int32)
    got3, got4 = build_host(new)(xin)
    p_ln, p_g, p_s = (p for _, p in rep.plans)
    want3 = p_s.reference(p_g.reference(p_ln.reference(xin)).astype(np.int32))
    assert np.array_equal(got3, want3)
    f3, _ = build_host(mod)(xin)
    assert np.max(np.abs(got3.astype(int) - f3.astype(int))) <= 3


def test_options_and_pipeline_signature():
    """ctx is a required positional parameter (so Pipeline passes it); forced shifts are honoured."""
    import inspect

    params = [p for p in inspect.signature(integer_only).parameters.values() if p.default is inspect.Parameter.empty]
    assert [p.name for p in params] == ["mod", "ctx"]
    shape, dtype, s_in, body, s_out, gen = CASES["gelu"]
    mod = _bracket(shape, dtype, s_in, body, s_out)
    rep = IntegerOnlyReport()
    integer_only(mod, None, options=IntegerOnlyOptions(gelu_shift=0), report=rep)
    plan = rep.plans[0][1]
    assert plan.shift == 0 and plan.consts == ib.gelu_consts(0.05)


@pytest.mark.parametrize("dot_len", [16, 32, 64])
def test_mask_bias_spares_the_softmax_clamp_and_still_zeroes_masked_entries(dot_len):
    """With the attention mask's "-inf" at ``quantize.mask_bias`` (not MASK_BIAS = -2**24),
    the static row span of ``Q·Kᵀ + mask`` keeps ``(max - x)·qln2_inv`` inside int32 at every
    accumulator scale BERT-like models produce, so no clamp pass is planned, and the masked
    entries of the worst rows (unmasked scores at both ends of the int8 · int8 range, a masked
    score at the top) still come out exactly 0."""
    from l2g.passes.integer_only import _IO, IntegerOnlyOptions, plan_softmax
    from l2g.passes.quantize import INT8_PRODUCT_SPAN, MASK_BIAS, mask_bias

    n = 40
    hi, lo = 16384 * dot_len, -16256 * dot_len
    for s_acc in np.geomspace(1e-6, 3e-3, 12):
        m = mask_bias(float(s_acc), dot_len)
        assert MASK_BIAS <= m < 0
        io = _IO("int32", 0, float(np.float32(s_acc)), 1 / 127, 0, "int8")
        generic = plan_softmax(io, n, IntegerOnlyOptions())
        plan = plan_softmax(io, n, IntegerOnlyOptions(), INT8_PRODUCT_SPAN * dot_len - m)
        assert plan.shift == generic.shift and not plan.clamp
        rows = np.zeros((3, n), np.int64)
        rows[:, :10] = hi
        rows[:, 10:20] = lo
        rows[:, 20:] = np.array([[hi], [lo], [0]]) + m  # masked
        x = ib.shift_scale(rows.astype(np.int32), plan.shift).astype(np.int64)
        q = x - x.max(axis=-1, keepdims=True)
        assert np.all(q * plan.consts.qln2_inv > -(2**31))  # why no clamp is needed
        assert np.all(ib.iexp(q[:, 20:], plan.consts) == 0), s_acc  # nothing masked in the row sum
        out = plan.reference(rows.astype(np.int32))
        assert np.all(out[:, 20:] == 0) and np.all(out[:, :10] > 0), s_acc
    assert mask_bias(1e-6, None) == MASK_BIAS


def test_static_row_span_reads_qk_plus_mask():
    """The span bound follows an int8 · int8 matmul plus a two-constant where; anything else
    (a float input, an int32 matmul operand) gives None, so the generic bound stays."""
    from l2g.passes.integer_only import static_row_span
    from l2g.passes.quantize import INT8_PRODUCT_SPAN

    bb = relax.BlockBuilder()
    q = relax.Var("q", relax.TensorType((1, 2, 8, 16), "int8"))
    k = relax.Var("k", relax.TensorType((1, 2, 16, 8), "int8"))
    c = relax.Var("c", relax.TensorType((1, 1, 1, 8), "bool"))
    w = relax.Var("w", relax.TensorType((1, 2, 16, 8), "int32"))
    with bb.function("main", [q, k, c, w]):
        with bb.dataflow():
            s = bb.emit(op.matmul(q, k, out_dtype="int32"))
            m = bb.emit(op.where(c, relax.const(0, "int32"), relax.const(-5000, "int32")))
            x = bb.emit(op.add(s, m))
            y = bb.emit(op.matmul(q, w, out_dtype="int32"))  # int8 x int32: no static range
            z = bb.emit(op.add(y, m))
            out = bb.emit_output((x, z))
        bb.emit_func_output(out)
    bindings = {b.var: b.value for blk in bb.get()["main"].body.blocks for b in blk.bindings}
    assert static_row_span(x, bindings.get) == INT8_PRODUCT_SPAN * 16 + 5000
    assert static_row_span(z, bindings.get) is None


def test_on_quantize_output_of_bert_blocks():
    """Integration: calibrate + quantize (the colleague's passes) then integer_only on a BERT
    FFN sub-layer (LN, GELU, LN on the int32 residual) and an attention block (masked
    softmax on the int32 Q·Kᵀ accumulator)."""
    from relax_graphs import attention_block, mlp_block, op_names

    from l2g.passes.pipeline import CompileContext, Pipeline

    rng = np.random.default_rng(0)
    mask = np.array([[[1] * 6 + [0] * 2]], dtype=np.int64)
    cases = [
        (mlp_block(), [{"x": rng.normal(0, 1, (1, 8, 16)).astype("float32")} for _ in range(4)],
         ["layernorm", "gelu", "layernorm"]),
        (attention_block(), [{"x": rng.normal(0, 1, (1, 8, 16)).astype("float32"), "mask": mask} for _ in range(4)],
         ["softmax"]),
    ]
    for mod, samples, kinds in cases:
        ctx = CompileContext(calib_inputs=samples)
        q = Pipeline(["calibrate", "quantize"]).run(mod, ctx)
        rep = IntegerOnlyReport()
        new = integer_only(q, ctx, report=rep)
        assert [k for k, _ in rep.plans] == kinds and not rep.skipped
        names = op_names(new)
        for bad in ("relax.nn.softmax", "relax.nn.gelu", "relax.nn.layer_norm", "relax.erf", "relax.exp"):
            assert bad not in names
        assert names.count("relax.quantize") <= 1   # only the model input's
        args = [samples[0][p.name] for p in mod["main"].params]
        f = build_host(mod)(*args)
        e_q = np.max(np.abs(build_host(q)(*args) - f))
        e_i = np.max(np.abs(build_host(new)(*args) - f))
        print(f"\n{kinds}: |float - int8 brackets| = {e_q:.4f}, |float - integer_only| = {e_i:.4f}, "
              f"|float|max = {np.max(np.abs(f)):.3f}")
        assert e_i <= 2 * e_q + 0.02


def test_layernorm_calibrated_prescale():
    """With calibration samples in ctx, the LayerNorm prescale follows the measured row
    variance (finer input than the worst-case bound), and stays bit-exact."""
    from l2g.passes.pipeline import CompileContext

    shape, dtype, s_in, body, s_out, gen = CASES["layernorm_int32"]
    mod = _bracket(shape, dtype, s_in, body, s_out)
    rng = np.random.default_rng(8)
    ctx = CompileContext(calib_inputs=[{"x": gen(rng)} for _ in range(2)])
    rep0, rep1 = IntegerOnlyReport(), IntegerOnlyReport()
    integer_only(mod, None, report=rep0)
    new = integer_only(mod, ctx, report=rep1)
    (_, p0), (_, p1) = rep0.plans[0], rep1.plans[0]
    assert rep1.ln_row_sumsq and p1.shift > p0.shift
    # the pipeline hands ctx over, so it takes the calibrated path too
    from l2g.passes.pipeline import Pipeline

    via = Pipeline(["integer_only"]).run(mod, ctx)
    tvm.ir.assert_structural_equal(via, new)
    x = gen(rng)
    got = build_host(new)(x)
    assert np.array_equal(got, p1.reference(x))
    real = np.clip(_float_real("layernorm_int32", x), -128 * s_out, 127 * s_out)
    e0 = np.max(np.abs(p0.reference(x) * s_out - real))
    e1 = np.max(np.abs(got * s_out - real))
    print(f"\nLN int32: worst-case shift {p0.shift}: err {e0:.4f}; calibrated shift {p1.shift}: err {e1:.4f}")
    assert e1 <= e0 + 1e-9


def test_layernorm_wide_stats_for_outlier_rows():
    """Rows whose ordinary channels would keep too few bits after the unit's prescale (two
    outlier channels ~250x the rest, as in MiniLM) get int64 statistics on the CPU: no
    prescale, bit-exact with the plan's numpy reference, and no worse than the unit."""
    from l2g.passes.integer_only import IntegerOnlyOptions
    from l2g.passes.pipeline import CompileContext

    shape, dtype, s_in, body, s_out, _ = CASES["layernorm_int32"]
    mod = _bracket(shape, dtype, s_in, body, s_out)

    def gen(rng):
        real = np.concatenate([rng.normal(0, 0.1, (6, 62)), rng.normal(0, 25.0, (6, 2))], -1)
        return np.rint(real / s_in).clip(-2**20, 2**20).astype(np.int32)

    rng = np.random.default_rng(9)
    ctx = CompileContext(calib_inputs=[{"x": gen(rng)} for _ in range(2)])
    rep_w, rep_u = IntegerOnlyReport(), IntegerOnlyReport()
    wide = integer_only(mod, ctx, report=rep_w)
    integer_only(mod, ctx, options=IntegerOnlyOptions(ln_stats="unit"), report=rep_u)
    (_, pw), (_, pu) = rep_w.plans[0], rep_u.plans[0]
    assert pw.wide and pw.shift == 0 and not pu.wide and pu.shift < 0
    assert "layernorm_unit" not in str(wide)  # plain CPU code, no unit call
    x = gen(rng)
    got = build_host(wide)(x)
    assert np.array_equal(got, pw.reference(x))
    real = np.clip(_float_real("layernorm_int32", x), -128 * s_out, 127 * s_out)
    e_w = np.max(np.abs(got * s_out - real))
    e_u = np.max(np.abs(pu.reference(x) * s_out - real))
    assert e_w <= e_u + 1e-9, (e_w, e_u)
    # the Gemmini build's fold: gamma / beta in the read-out, one rounding, one CPU pass
    rep_f = IntegerOnlyReport()
    folded = integer_only(mod, ctx, options=IntegerOnlyOptions(ln_wide_affine=True), report=rep_f)
    (_, pf), = rep_f.plans
    assert pf.wide and pf.wide_affine is not None and pw.wide_affine is None
    got_f = build_host(folded)(x)
    assert np.array_equal(got_f, pf.reference(x))
    e_f = np.max(np.abs(got_f * s_out - real))
    assert e_f <= e_w + 1e-9, (e_f, e_w)
    # on the CPU: no int64 copy of the rows is written (the widening and the centering are
    # fused into the two reductions and the read-out that use them)
    from l2g.codegen.gemmini.compile import lower_cpu_ops

    for m in (wide, folded):
        lowered = lower_cpu_ops(m)
        values = [b.var for blk in lowered["main"].body.blocks for b in blk.bindings]
        rows = [str(v) for v in values if isinstance(v.ty, relax.TensorType) and v.ty.dtype == "int64"
                and [int(d) for d in v.ty.shape] == list(shape)]
        assert not rows, rows


def test_gelu_calibrated_input_bound():
    """With ``gelu_range_margin``, an int32 GELU input (an FFN accumulator) is bounded by its
    calibrated |x| max, not the worst-case 2**24: the prescale gets finer, stays bit-exact,
    and the error does not grow."""
    import math

    from l2g.passes.integer_only import IntegerOnlyOptions
    from l2g.passes.pipeline import CompileContext

    s_in, s_out, shape = 2.35e-5, 8.0 / 127, (8, 64)
    mod = _bracket(shape, "int32", s_in, lambda bb, xf: bb.emit(op.nn.gelu(xf)), s_out)

    def gen(rng):
        return np.rint(rng.normal(0, 2.0, shape) / s_in).astype(np.int32)

    rng = np.random.default_rng(10)
    ctx = CompileContext(calib_inputs=[{"x": gen(rng)} for _ in range(2)])
    rep0, rep1 = IntegerOnlyReport(), IntegerOnlyReport()
    integer_only(mod, None, report=rep0)
    new = integer_only(mod, ctx, options=IntegerOnlyOptions(gelu_range_margin=2.0), report=rep1)
    (_, p0), (_, p1) = rep0.plans[0], rep1.plans[0]
    assert p1.shift > p0.shift
    x = gen(rng)
    got = build_host(new)(x)
    assert np.array_equal(got, p1.reference(x))
    xf = x.astype(np.float64) * np.float32(s_in)
    real = np.clip(0.5 * xf * (1 + np.vectorize(math.erf)(xf / math.sqrt(2))), -128 * s_out, 127 * s_out)
    e0 = np.max(np.abs(p0.reference(x) * s_out - real))
    e1 = np.max(np.abs(got * s_out - real))
    print(f"\nGELU int32: worst-case shift {p0.shift}: err {e0:.4f}; calibrated shift {p1.shift}: err {e1:.4f}")
    assert e1 <= e0 + 1e-9


def test_gemmini_quantization_choices_leave_no_cpu_glue_around_the_units():
    """The Gemmini build's integer-mode fields (``compile.gemmini_quantization``): the GELU
    reads an int8 read-out at a scale that makes i-GELU's qb exact, and the igelu_unit
    composite takes that int8 itself; softmax outputs are at the unit's 1/127 (no requant).
    The host path's defaults keep the int32 GELU input and the calibrated softmax scale."""
    from relax_graphs import attention_block, mlp_block

    from l2g.codegen.gemmini.compile import gemmini_quantization
    from l2g.passes import ibert as ib
    from l2g.passes.pipeline import CompileContext, Pipeline
    from l2g.passes.unit_calls import UNIT_KINDS

    rng = np.random.default_rng(3)
    mask = np.array([[[1] * 6 + [0] * 2]], dtype=np.int64)
    mlp = [{"x": rng.normal(0, 1, (1, 8, 16)).astype("float32")} for _ in range(4)]
    att = [{"x": rng.normal(0, 1, (1, 8, 16)).astype("float32"), "mask": mask} for _ in range(4)]

    def unit_params(mod):
        return {f.attrs["Composite"].split(".")[-1]: str(f.params[0].ty.dtype)
                for gv, f in mod.functions.items() if f.attrs is not None and "Composite" in f.attrs
                and str(f.attrs["Composite"]).split(".")[-1] in UNIT_KINDS}

    for fields, gelu_in in ((gemmini_quantization("integer"), "int8"), ({}, "int32")):
        ctx = CompileContext(calib_inputs=mlp, **fields)
        rep = IntegerOnlyReport()
        q = Pipeline(["calibrate", "quantize"]).run(mlp_block(), ctx)
        new = integer_only(q, ctx, report=rep)
        (gelu,) = [p for k, p in rep.plans if k == "gelu"]
        assert unit_params(new)["igelu_unit"] == gelu_in
        if gelu_in == "int8":
            assert gelu.shift == 0 and gelu.io.in_dtype == "int8"
            # qb is b·√2/S exactly (up to the 1e-4 margin that keeps truncation on the integer)
            assert abs(gelu.consts.qb - ib.GELU_B * np.sqrt(2) / gelu.io.in_scale) < 1e-3
        args = [mlp[0][p.name] for p in mlp_block()["main"].params]
        np.testing.assert_allclose(build_host(new)(*args), build_host(mlp_block())(*args), atol=0.3)

        ctx = CompileContext(calib_inputs=att, **fields)
        rep = IntegerOnlyReport()
        new = integer_only(Pipeline(["calibrate", "quantize"]).run(attention_block(), ctx), ctx, report=rep)
        (sm,) = [p for k, p in rep.plans if k == "softmax"]
        assert (sm.requant is None) == (gelu_in == "int8")
