"""Fused integer graphs on Spike + Gemmini, bit-exact against the TVM LLVM host reference."""

from pathlib import Path

import numpy as np
import pytest
import tvm
from tvm import relax

from l2g.codegen.gemmini.offload import gemmini_offload
from l2g.codegen.gemmini.program import CFLAGS, emit_program
from l2g.hwconfig import get_config
from l2g.passes.fuse import composite_kind, fuse
from l2g.runtime import build_elf, prepare_config, run_elf

op = relax.op


def _requant(bb, x, s):
    f = bb.emit(op.astype(x, "float32"))
    f = bb.emit(op.multiply(f, relax.const(np.asarray(s, dtype=np.float32))))
    r = bb.emit(op.clip(bb.emit(op.round(f)), -128.0, 127.0))
    return bb.emit(op.astype(r, "int8"))


def quantized_block(seq=20, hidden=40, ffn=24, per_channel=False):
    """A miniature quantized encoder slice: FFN matmuls, a residual add, an attention matmul."""
    rng = np.random.default_rng(0)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, seq, hidden), "int8"))
    w1 = relax.const(rng.integers(-128, 128, (hidden, ffn)).astype(np.int8))
    b1 = relax.const(rng.integers(-5000, 5000, ffn).astype(np.int32))
    w2 = relax.const(rng.integers(-128, 128, (ffn, hidden)).astype(np.int8))
    s1 = rng.uniform(1 / 600, 1 / 200, ffn) if per_channel else 1 / 300
    with bb.function("main", [x]):
        with bb.dataflow():
            h = _requant(bb, bb.emit(op.add(bb.emit(op.matmul(x, w1, out_dtype="int32")), b1)), s1)
            h2 = _requant(bb, bb.emit(op.matmul(h, w2, out_dtype="int32")), 1 / 200)
            xa = _requant(bb, x, 0.5)
            s = bb.emit(op.add(bb.emit(op.astype(xa, "int32")), bb.emit(op.astype(h2, "int32"))))
            o = _requant(bb, s, 0.75)
            qk = bb.emit(op.matmul(o, bb.emit(op.permute_dims(o, [0, 2, 1])), out_dtype="int32"))
            out = bb.emit_output((o, qk, h))
        bb.emit_func_output(out)
    return bb.get()


def _reference(mod, x):
    ex = tvm.compile(mod, target=tvm.target.Target({"kind": "llvm"}))
    out = relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x))
    return [o.numpy() for o in out]


def compile_and_run(mod, cfg_name, tmp_path: Path, inputs):
    cfg = get_config(cfg_name)
    fused = fuse(mod)
    prog = emit_program(relax.transform.LegalizeOps()(fused), tmp_path, offload=[gemmini_offload(cfg, fused)], clock="gemmini")
    elf = build_elf(prog.sources, include_dirs=[prepare_config(cfg).include_dir], extra_cflags=CFLAGS)
    return fused, prog, run_elf(elf, config=prepare_config(cfg), inputs=inputs)


@pytest.mark.parametrize("cfg_name", ["default", "ibert"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_fused_block_bit_exact_on_gemmini(tmp_path, cfg_name, per_channel):
    mod = quantized_block(per_channel=per_channel)
    x = np.random.default_rng(1).integers(-128, 128, (1, 20, 40), dtype=np.int8)
    fused, prog, res = compile_and_run(mod, cfg_name, tmp_path, {"x": x})
    kinds = sorted(k for f in fused.functions.values() if (k := composite_kind(f)))
    assert kinds == ["matmul", "matmul_requant", "matmul_requant", "resadd"]
    gemmini_ops = [o for o in prog.ops if o.kind == "gemmini"]
    assert len(gemmini_ops) == 4
    for i, ref in enumerate(_reference(mod, x)):
        np.testing.assert_array_equal(res.outputs[f"output{i}"], ref, err_msg=f"output{i}")
    stats = res.gemmini_stats
    assert stats["macs"] >= sum(o.macs for o in gemmini_ops)
    # per-op times come from the cycle model's clock: every op took time, a Gemmini matmul at
    # least its MACs / DIM^2, and together they fit in the model's total
    cycles = res.outputs["__op_cycles"]
    assert (cycles > 0).all()
    dim = get_config(cfg_name).dim
    for rec, cyc in zip(prog.ops, cycles):
        assert cyc * dim * dim >= rec.macs, rec
    assert cycles.sum() <= stats["total_cycles"]


def test_fusion_leaves_float_and_layout_ops_on_cpu():
    fused = fuse(quantized_block())
    text = fused["main"].script()
    assert "R.permute_dims" in text  # layout op stays a plain CPU operator


@pytest.mark.parametrize("bias_shape", [(1, 1, 20, 24), (1, 1, 1, 24), (1, 3, 20, 24), (20, 24)])
def test_tensor_bias_starts_the_accumulator(tmp_path, bias_shape):
    """An int32 tensor added to a matmul result (the attention mask under Q·Kᵀ, a residual)
    joins the matmul composite and is mvin'd into the accumulator as its D matrix: one matrix
    for all heads, one row for all rows, or one matrix per head; bit-exact with the host."""
    from l2g.passes.fuse import tensor_bias_layout

    rng = np.random.default_rng(5)
    bb = relax.BlockBuilder()
    q = relax.Var("q", relax.TensorType((1, 3, 20, 16), "int8"))
    k = relax.Var("k", relax.TensorType((1, 3, 16, 24), "int8"))
    bias = relax.Var("bias", relax.TensorType(bias_shape, "int32"))
    with bb.function("main", [q, k, bias]):
        with bb.dataflow():
            s = bb.emit(op.add(bb.emit(op.matmul(q, k, out_dtype="int32")), bias))
            out = bb.emit_output(bb.emit(op.right_shift(s, relax.const(1, "int32"))))
        bb.emit_func_output(out)
    mod = bb.get()
    inputs = {"q": rng.integers(-128, 128, (1, 3, 20, 16), dtype=np.int8),
              "k": rng.integers(-128, 128, (1, 3, 16, 24), dtype=np.int8),
              "bias": np.where(rng.random(bias_shape) < 0.3, -(2**24), rng.integers(-999, 999, bias_shape)).astype(np.int32)}
    fused, prog, res = compile_and_run(mod, "default", tmp_path, inputs)
    kinds = [k for f in fused.functions.values() if (k := composite_kind(f))]
    assert kinds == ["matmul"]
    assert [o.kind for o in prog.ops].count("gemmini") == 1
    stride, step = tensor_bias_layout(bias_shape, (1, 3, 20, 16), (1, 3, 16, 24))
    assert (stride, step) == {(1, 1, 20, 24): (24, 0), (1, 1, 1, 24): (0, 0), (1, 3, 20, 24): (24, 480),
                              (20, 24): (24, 0)}[bias_shape]
    np.testing.assert_array_equal(res.outputs["output0"], _reference_args(mod, inputs))


def _reference_args(mod, inputs):
    ex = tvm.compile(mod, target=tvm.target.Target({"kind": "llvm"}))
    out = relax.VirtualMachine(ex, tvm.cpu())["main"](*[tvm.runtime.tensor(v) for v in inputs.values()])
    return out.numpy()


def test_tensor_bias_layouts_the_kernel_cannot_take():
    from l2g.passes.fuse import tensor_bias_layout

    # a 2-D weight is one call over 2 x 20 rows: a bias that repeats per batch element has no
    # single stride
    assert tensor_bias_layout((1, 20, 24), (2, 20, 16), (16, 24)) is None
    # per-call bias whose batch count matches neither 1 nor the calls
    assert tensor_bias_layout((2, 20, 24), (4, 20, 16), (4, 16, 24)) is None
    # wrong column count
    assert tensor_bias_layout((1, 20, 23), (1, 20, 16), (16, 24)) is None
    assert tensor_bias_layout((2, 20, 24), (2, 20, 16), (16, 24)) == (24, 0)


def attention_heads(seq=20, heads=3, head_dim=16, leak=False):
    """Multi-head attention's matmuls as BERT exports them: head split (reshape, then
    permute_dims; Kᵀ as a second permutation), Q·Kᵀ, P·V, head merge (permute_dims, then
    reshape).  ``leak``: the split K is also returned, so its view must be materialized."""
    hidden = heads * head_dim
    bb = relax.BlockBuilder()
    q, k, v = (relax.Var(n, relax.TensorType((1, seq, hidden), "int8")) for n in "qkv")
    with bb.function("main", [q, k, v]):
        with bb.dataflow():
            def split(x, axes):
                return bb.emit(op.permute_dims(bb.emit(op.reshape(x, (1, seq, heads, head_dim))), axes))

            k_split = bb.emit(op.reshape(k, (1, seq, heads, head_dim)))
            kt = bb.emit(op.permute_dims(k_split, [0, 2, 3, 1]))
            s = bb.emit(op.matmul(split(q, [0, 2, 1, 3]), kt, out_dtype="int32"))
            p = _requant(bb, bb.emit(op.right_shift(s, relax.const(2, "int32"))), 1 / 128)  # a stand-in softmax
            ctx = _requant(bb, bb.emit(op.matmul(p, split(v, [0, 2, 1, 3]), out_dtype="int32")), 1 / 128)
            merged = bb.emit(op.reshape(bb.emit(op.permute_dims(ctx, [0, 2, 1, 3])), (1, seq, hidden)))
            out = bb.emit_output((merged, s, k_split) if leak else (merged, s))
        bb.emit_func_output(out)
    return bb.get()


@pytest.mark.parametrize("leak", [False, True])
def test_head_split_and_merge_are_strided_operands(tmp_path, leak):
    """Q, Kᵀ and V are read in place from the (seq, hidden) matrices (Kᵀ through the array's B
    transpose) and the merged context is written in place: no transpose runs on the CPU,
    bit-exact with the host.  A view whose intermediate is used elsewhere stays a CPU op."""
    rng = np.random.default_rng(7)
    mod = attention_heads(leak=leak)
    inputs = {n: rng.integers(-128, 128, (1, 20, 48), dtype=np.int8) for n in "qkv"}
    fused, prog, res = compile_and_run(mod, "default", tmp_path, inputs)
    main = fused["main"].script()
    assert sorted(k for f in fused.functions.values() if (k := composite_kind(f))) == ["matmul", "matmul_requant"]
    assert ("R.permute_dims" in main) == leak and ("R.reshape" in main) == leak
    c = prog.c_path.read_text()
    assert (", 48, true, " in c) != leak  # Kᵀ: stored (seq, hidden), transposed by the array
    ex = tvm.compile(mod, target=tvm.target.Target({"kind": "llvm"}))
    ref = relax.VirtualMachine(ex, tvm.cpu())["main"](*[tvm.runtime.tensor(v) for v in inputs.values()])
    for i, r in enumerate(ref):
        np.testing.assert_array_equal(res.outputs[f"output{i}"], r.numpy(), err_msg=f"output{i}")


def test_matrix_layouts_of_head_views():
    from l2g.passes.fuse import MatrixLayout, _layout

    # one head of Q: (1, heads=12, 128, 64) read from (1, 128, 768)
    assert _layout((1, 12, 128, 64), (98304, 64, 768, 1)) == MatrixLayout(64, 768, 1)
    # Kᵀ of one head: rows contiguous in neither order but columns of stored K: transposed
    assert _layout((1, 12, 64, 128), (98304, 64, 1, 768)) == MatrixLayout(64, 1, 768)
    # two batch dims that do not collapse into one step
    assert _layout((2, 3, 4, 5), (100, 7, 5, 1)) is None
    # neither rows nor columns contiguous
    assert _layout((1, 4, 5), (20, 10, 2)) is None
