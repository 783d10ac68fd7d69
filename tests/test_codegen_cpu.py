"""CPU code generation: Relax (legalized) -> plain C on Spike, bit-exact with TVM's LLVM build."""

import re
from pathlib import Path

import numpy as np
import pytest
import tvm
from tvm import relax

from l2g.codegen.gemmini.program import CFLAGS, CodegenError, emit_program
from l2g.runtime import build_elf, run_elf


def _host_reference(mod, *args):
    ex = tvm.compile(mod, target=tvm.target.Target({"kind": "llvm"}))
    vm = relax.VirtualMachine(ex, tvm.cpu())
    out = vm["main"](*(tvm.runtime.tensor(a) for a in args))
    return [o.numpy() for o in out] if hasattr(out, "__len__") else [out.numpy()]


def _run_on_spike(mod, tmp_path: Path, inputs: dict):
    prog = emit_program(relax.transform.LegalizeOps()(mod), tmp_path)
    elf = build_elf(prog.sources, extra_cflags=CFLAGS)
    res = run_elf(elf, gemmini=False, inputs=inputs)
    return prog, res


def _integer_graph():
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((4, 8), "int32"))
    w = relax.Var("w", relax.TensorType((8, 6), "int8"))
    ids = relax.Var("ids", relax.TensorType((5,), "int32"))
    table = relax.const((np.arange(10 * 6, dtype=np.int8).reshape(10, 6) * 3 - 80).astype(np.int8))
    w2 = relax.const(np.arange(48, dtype=np.int8).reshape(8, 6) - 20)
    with bb.function("main", [x, w, ids]):
        with bb.dataflow():
            y = bb.emit(relax.op.right_shift(x, relax.const(2, "int32")))
            yf = relax.op.multiply(relax.op.astype(y, "float32"), relax.const(0.37, "float32"))
            z = bb.emit(relax.op.astype(relax.op.clip(relax.op.round(yf), -128, 127), "int8"))
            mm = bb.emit(relax.op.matmul(z, w, out_dtype="int32"))
            mm2 = bb.emit(relax.op.matmul(z, w2, out_dtype="int32"))
            t = bb.emit(relax.op.permute_dims(relax.op.add(mm, mm2), [1, 0]))
            s = bb.emit(relax.op.max(t, axis=1))
            d = bb.emit(relax.op.floor_divide(t, relax.const(-7, "int32")))
            m = bb.emit(relax.op.floor_mod(t, relax.const(5, "int32")))
            # powers of two print as >> and & (floor semantics on negative values too)
            d8 = bb.emit(relax.op.floor_divide(t, relax.const(8, "int32")))
            m16 = bb.emit(relax.op.floor_mod(relax.op.astype(t, "int64"), relax.const(16, "int64")))
            emb = bb.emit(relax.op.take(table, ids, axis=0))
            sel = bb.emit(relax.op.where(relax.op.greater(d, relax.const(0, "int32")), d, m))
            tot = bb.emit(relax.op.sum(relax.op.astype(emb, "int32"), axis=1))
            o = bb.emit_output((s, sel, z, emb, tot, d8, m16))
        bb.emit_func_output(o)
    return bb.get()


def test_integer_graph_matches_host_reference_bit_for_bit(tmp_path):
    mod = _integer_graph()
    rng = np.random.default_rng(0)
    inputs = {
        "x": rng.integers(-(2**24), 2**24, (4, 8), dtype=np.int32),
        "w": rng.integers(-128, 128, (8, 6), dtype=np.int8),
        "ids": np.array([0, 9, 3, 3, 7], dtype=np.int32),
    }
    prog, res = _run_on_spike(mod, tmp_path, inputs)
    ref = _host_reference(mod, inputs["x"], inputs["w"], inputs["ids"])
    assert [o[0] for o in prog.outputs] == [f"output{i}" for i in range(len(ref))]
    for i, r in enumerate(ref):
        got = res.outputs[f"output{i}"]
        assert got.dtype == r.dtype and got.shape == r.shape
        np.testing.assert_array_equal(got, r, err_msg=f"output{i}")
    # per-op cycle report: one entry per operator, all positive
    cycles = res.outputs["__op_cycles"]
    assert cycles.shape == (len(prog.ops),) and (cycles > 0).all()
    assert prog.weights_path is not None and prog.weights_path.stat().st_size >= 60 + 48


def test_float_graph_is_close_to_host(tmp_path):
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((3, 16), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            sm = bb.emit(relax.op.nn.softmax(x, axis=-1))
            g = bb.emit(relax.op.nn.gelu(x))
            ln = bb.emit(relax.op.nn.layer_norm(x, relax.const(np.ones(16, np.float32)),
                                                relax.const(np.zeros(16, np.float32)), axes=[-1]))
            o = bb.emit_output((sm, g, ln))
        bb.emit_func_output(o)
    mod = bb.get()
    xs = np.random.default_rng(1).standard_normal((3, 16)).astype(np.float32)
    _, res = _run_on_spike(mod, tmp_path, {"x": xs})
    for i, r in enumerate(_host_reference(mod, xs)):
        np.testing.assert_allclose(res.outputs[f"output{i}"], r, rtol=1e-5, atol=1e-6)


def test_dynamic_shapes_are_rejected(tmp_path):
    bb = relax.BlockBuilder()
    n = tvm.tirx.Var("n", "int64")
    x = relax.Var("x", relax.TensorType((n, 4), "int32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            o = bb.emit_output(relax.op.add(x, x))
        bb.emit_func_output(o)
    with pytest.raises(CodegenError, match="static shapes"):
        emit_program(relax.transform.LegalizeOps()(bb.get()), tmp_path)


def test_memory_plan_never_overlaps_live_tensors():
    from l2g.codegen.gemmini.program import ProgramBuilder

    b = ProgramBuilder(relax.transform.LegalizeOps()(_integer_graph()))
    b.build()
    offsets, arena = b.plan_memory()
    temps = [c for c, t in b.tensors.items() if t.kind == "temp"]
    assert set(offsets) == set(temps)
    assert arena < sum(b.tensors[c].nbytes for c in temps) + 64 * len(temps)
    # recompute live ranges independently and check pairwise disjointness in time or space
    import re

    live = {}
    for i, stmts in enumerate(b.op_statements):
        for name in set(re.findall(r"\w+", " ".join(stmts))) & set(temps):
            lo, hi = live.get(name, (i, i))
            live[name] = (min(lo, i), max(hi, i))
    for t in b.results:
        if t.cname in live:
            live[t.cname] = (live[t.cname][0], len(b.op_statements))
    names = list(live)
    for i, x in enumerate(names):
        for y in names[i + 1:]:
            if live[x][1] < live[y][0] or live[y][1] < live[x][0]:
                continue
            xs, ys = offsets[x], offsets[y]
            assert xs + b.tensors[x].nbytes <= ys or ys + b.tensors[y].nbytes <= xs, (x, y)


def test_round_ties_follow_the_host_reference(tmp_path):
    """R.quantize rounds with tirx.round, which TVM's LLVM backend lowers to nearbyint."""
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((8,), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            q = bb.emit_output(relax.op.quantize(x, relax.const(0.5, "float32"), relax.const(0, "int8"), axis=-1))
        bb.emit_func_output(q)
    mod = bb.get()
    xs = np.array([-9.25, -1.25, -0.75, -0.25, 0.25, 0.75, 1.25, 9.25], np.float32)  # x / 0.5 = k + 0.5
    _, res = _run_on_spike(mod, tmp_path, {"x": xs})
    (ref,) = _host_reference(mod, xs)
    np.testing.assert_array_equal(res.outputs["output0"], ref)


def test_operator_reading_one_tensor_twice(tmp_path):
    # x * x legalizes to a PrimFunc whose two parameters carry the same name
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((3, 5), "int64"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit_output(relax.op.subtract(relax.op.multiply(x, x), x))
        bb.emit_func_output(y)
    mod = bb.get()
    xs = np.arange(-7, 8, dtype=np.int64).reshape(3, 5) * 1000003
    _, res = _run_on_spike(mod, tmp_path, {"x": xs})
    np.testing.assert_array_equal(res.outputs["output0"], _host_reference(mod, xs)[0])


def test_float_rounding_edge_cases_bit_exact(tmp_path):
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((16,), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            r = bb.emit_output(relax.op.round(x))
        bb.emit_func_output(r)
    mod = bb.get()
    xs = np.array([-0.5, -0.3, -0.0, 0.0, 0.5, 1.5, 2.5, -2.5, 8388607.5, -8388609.0, 3e9, -1e20,
                   np.inf, -np.inf, np.nan, 0.49999997], np.float32)
    _, res = _run_on_spike(mod, tmp_path, {"x": xs})
    (ref,) = _host_reference(mod, xs)
    np.testing.assert_array_equal(res.outputs["output0"].view(np.uint32), ref.view(np.uint32))


def test_requantize_round_clamp_matches_host_on_edge_values(tmp_path):
    """cast(int, clip(round(x))) and cast(int, round(clip(x))) are printed as one fmax/fmin/fcvt
    helper (l2g_round_clamp_f32): ties, values beyond the bounds and int32, infinities, NaN and
    -0.0 must still give TVM's LLVM results, for both clamp orders (NaN goes to a different
    bound in each)."""
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((32,), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            # one round per chain: a shared round would be its own kernel, outside the pattern
            a = bb.emit(relax.op.astype(relax.op.clip(relax.op.round(x), -128, 127), "int8"))  # max(min(r, hi), lo)
            lo, hi = relax.const(-128.0, "float32"), relax.const(127.0, "float32")
            b = bb.emit(relax.op.astype(relax.op.minimum(relax.op.maximum(relax.op.round(x), lo), hi), "int8"))
            c = bb.emit(relax.op.astype(relax.op.clip(relax.op.round(x), -2147483520, 2147483520), "int32"))
            # rounding after the clip (the quantize pass's fine residual scale) is the same integer
            d = bb.emit(relax.op.astype(relax.op.round(relax.op.clip(x, -128, 127)), "int8"))
            e = bb.emit(relax.op.astype(relax.op.round(relax.op.minimum(relax.op.maximum(x, lo), hi)), "int8"))
            f = bb.emit(relax.op.astype(relax.op.round(relax.op.clip(x, -16777216, 16777216)), "int32"))
            o = bb.emit_output((a, b, c, d, e, f))
        bb.emit_func_output(o)
    mod = bb.get()
    vals = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, -0.0, 126.5, 127.5, -128.5, -129.5, 1e10, -1e10, 3e9, -3e9,
            2147483520.0, 2147483648.0, -2147483648.0, np.inf, -np.inf, np.nan, 8388607.5, 0.49999997,
            -0.49999997, 5.5, -5.5, 100.25, -100.75, 16777217.0, 1.0e-30, -1.0e-30, 42.0]
    inputs = {"x": np.array(vals, dtype=np.float32)}
    from l2g.codegen.gemmini.compile import lower_cpu_ops

    prog = emit_program(lower_cpu_ops(mod), tmp_path)  # fused and inlined, as `l2g compile` does
    assert prog.c_path.read_text().count("l2g_round_clamp_f32(") >= 7  # definition + six uses
    res = run_elf(build_elf(prog.sources, extra_cflags=CFLAGS), gemmini=False, inputs=inputs)
    ref = _host_reference(mod, inputs["x"])
    for i, r in enumerate(ref):
        np.testing.assert_array_equal(res.outputs[f"output{i}"], r, err_msg=f"output{i}")


def test_producer_read_several_times_is_computed_per_element_not_copied():
    """A rounding shift read three times by its consumer is not inlined three times (TVM's
    simplifiers slow down exponentially on the copies) but computed at the consumer's loop,
    where it shrinks to a one-element local; a small cast read once is still inlined."""
    from tvm import te, tirx

    from l2g.codegen.gemmini.compile import MAX_DUPLICATED_NODES, _inline_pointwise, _lowered_size
    from l2g.codegen.gemmini.tir_to_c import lower_prim_funcs

    a = te.placeholder((4, 8), "int32", name="A")
    wide = te.compute((4, 8), lambda i, j: a[i, j].astype("int64"), name="wide")
    rrs = te.compute((4, 8), lambda i, j: ((wide[i, j] >> 3) + ((wide[i, j] >> 2) & 1)
                                           & ((wide[i, j] & 3) != 0) | ((wide[i, j] >> 3) & 1)), name="rrs")
    use = te.compute((4, 8), lambda i, j: tirx.Select(rrs[i, j] > 0, rrs[i, j] * rrs[i, j], rrs[i, j] - 1), name="use")
    f = _inline_pointwise(te.create_prim_func([a, use]))
    sch = tvm.s_tir.Schedule(f)
    with pytest.raises(Exception):
        sch.get_sblock("wide")  # inlined: read once, two nodes
    rrs_block = sch.get(sch.get_sblock("rrs"))
    assert _lowered_size(rrs_block.body) > MAX_DUPLICATED_NODES
    inner = [sch.get(sch.get_loops(sch.get_sblock(b))[-1]) for b in ("rrs", "use")]
    assert inner[0].same_as(inner[1])  # computed inside the consumer's loop
    lowered = lower_prim_funcs(tvm.IRModule({"main": f}))["main"].script()
    assert re.findall(r"alloc_buffer\(\(([^)]*)\)", lowered) == ["1,"], lowered
