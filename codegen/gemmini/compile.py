"""The compile driver: model -> integer Relax -> Gemmini composites -> C -> ELF.

:func:`compile_module` takes an already quantized Relax module (``int8`` or
``integer_only`` pipeline output), fuses Gemmini composites, emits the C program and builds
the ELF.  :func:`compile_model` runs the whole front half first (export, import, calibrate,
quantize, integer-only).  Both write an output directory that ``l2g run`` consumes:

=====================  ==============================================================
``model.c``            the generated program (kernels, CPU operators, ``main``)
``model_weights.*``    the weights blob and the assembler file that links it
``model.elf``          the cross-compiled program
``reference.so``       the host reference: the integer module built with TVM's LLVM target
``reference_ops.so``   the same, legalized, returning every op's result (localizes mismatches)
``manifest.json``      what ``l2g run`` needs: config, mode, inputs, outputs, op list, plans
``plan.txt``           the human-readable tile plans
``ir/``                the IR after every pass (``--dump-ir``)
=====================  ==============================================================
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import tvm
from tvm import relax

from l2g.codegen.gemmini.offload import gemmini_offload
from l2g.codegen.gemmini.program import CFLAGS, CodegenError, emit_program
from l2g.codegen.gemmini.tir_to_c import power_of_two_divisor
from l2g.errors import L2GError
from l2g.hwconfig import GemminiConfig, get_config
from l2g.passes.fuse import fuse

MODES = ("integer", "baseline")


@dataclass(frozen=True)
class OpInfo:
    name: str
    kind: str  # "cpu" | "gemmini"
    macs: int
    output: str = ""  # C tensor the op writes
    var: str = ""  # Relax variable it binds in legalized.json


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]


@dataclass
class Manifest:
    """Everything ``l2g run`` needs to know about a compiled model (manifest.json)."""

    config: str
    mode: str
    dim: int
    elf: str
    reference: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    ops: list[OpInfo]
    plans: list[dict] = field(default_factory=list)
    model_dir: str | None = None  # Hugging Face dir, for tokenizing --text
    seq_len: int | None = None
    input_names: list[str] = field(default_factory=list)  # graph inputs, in tokenizer terms
    compile_seconds: dict[str, float] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        try:
            raw = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise L2GError(f"{path} not found: is this an `l2g compile` output directory?") from None
        raw["inputs"] = [TensorInfo(t["name"], t["dtype"], tuple(t["shape"])) for t in raw["inputs"]]
        raw["outputs"] = [TensorInfo(t["name"], t["dtype"], tuple(t["shape"])) for t in raw["outputs"]]
        raw["ops"] = [OpInfo(**o) for o in raw["ops"]]
        return cls(**raw)


def prepare_for_gemmini(mod: tvm.IRModule, mode: str) -> tvm.IRModule:
    """The module both the target and the host reference compute: in baseline mode the float
    nonlinear ops use TVM's arithmetic-only exp/erf/tanh, so no libm differs between them."""
    if mode not in MODES:
        raise L2GError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "baseline":
        mod = relax.transform.FastMathTransform()(_decompose_gelu(mod))
    return mod


def _decompose_gelu(mod: tvm.IRModule) -> tvm.IRModule:
    """``gelu(x)`` as ``x * 0.5 * (1 + erf(x / sqrt 2))`` with a Relax ``erf`` op, so that the
    fast-math rewrite reaches it (legalized ``gelu`` would call libm's erf in TIR)."""
    from tvm.relax.dpl import is_op, rewrite_call, wildcard

    x = wildcard()
    pattern = is_op("relax.nn.gelu")(x)

    def rewrite(_expr, matches):
        v = matches[x]
        dt = v.ty.dtype
        half = relax.const(0.5, dt)
        erf = relax.op.erf(relax.op.multiply(v, relax.const(0.7071067811865476, dt)))
        return relax.op.multiply(relax.op.multiply(v, half), relax.op.add(relax.const(1.0, dt), erf))

    out = {}
    for gv, func in mod.functions.items():
        out[gv] = rewrite_call(pattern, rewrite, func) if isinstance(func, relax.Function) else func
    return tvm.IRModule(out, attrs=mod.attrs)


def compile_module(
    mod: tvm.IRModule,
    out_dir: Path,
    *,
    config: str | GemminiConfig = "default",
    mode: str = "integer",
    gemmini: bool = True,
    dump_ir_dir: Path | None = None,
    manifest_extra: dict | None = None,
    debug_reference: bool = True,
) -> Manifest:
    """Compile a quantized Relax module for Spike + Gemmini into ``out_dir``."""
    from l2g.runtime import build_elf, prepare_config

    cfg = get_config(config) if isinstance(config, str) else config
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    secs: dict[str, float] = {}

    ref_mod = prepare_for_gemmini(mod, mode)
    t0 = time.perf_counter()
    placed = _place_norm_units(ref_mod, cfg if gemmini else None)
    fused = fuse(placed) if gemmini else placed
    legal = lower_cpu_ops(fused)
    secs["fuse+legalize"] = time.perf_counter() - t0
    if dump_ir_dir is not None:
        d = Path(dump_ir_dir)
        d.mkdir(parents=True, exist_ok=True)
        (d / "90_fuse.py").write_text(fused.script())
        (d / "91_legalize.py").write_text(legal.script())

    # The host references build (LLVM, in C++) on worker threads while this thread emits C
    # and cross-compiles.  Everything that legalizes runs before they start: TE's op-tag
    # scope is process-global, so two legalizations at once would collide.
    t0 = time.perf_counter()
    host_mods = {"reference.so": _legalize_for_host(ref_mod)}
    if debug_reference:
        # the op-by-op host reference that `l2g run --check` uses to localize a mismatch
        from l2g.runtime.compiled import op_by_op_module

        host_mods["reference_ops.so"] = op_by_op_module(legal)
    secs["host legalize"] = time.perf_counter() - t0
    with ThreadPoolExecutor(max_workers=len(host_mods), thread_name_prefix="l2g-host-ref") as pool:
        host_jobs = [pool.submit(_export_host_library, m, out_dir / name) for name, m in host_mods.items()]

        t0 = time.perf_counter()
        offload = [gemmini_offload(cfg, fused)] if gemmini else []
        try:
            prog = emit_program(legal, out_dir, offload=offload, name="model", clock="gemmini")
        except CodegenError as exc:
            raise L2GError(f"code generation failed: {exc}") from exc
        secs["codegen"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        artifacts = prepare_config(cfg)
        elf = build_elf(prog.sources, include_dirs=[artifacts.include_dir], extra_cflags=CFLAGS)
        shutil.copyfile(elf, out_dir / "model.elf")
        secs["cross-compile"] = time.perf_counter() - t0

        # stages stay additive (wall time): this is the part of the builds not hidden above
        t0 = time.perf_counter()
        for job in host_jobs:
            job.result()
        secs["host references"] = time.perf_counter() - t0

    plans = prog.plans
    (out_dir / "plan.txt").write_text("\n\n".join(p.describe() for p in plans) + ("\n" if plans else ""))
    manifest = Manifest(
        config=cfg.name, mode=mode, dim=cfg.dim, elf="model.elf", reference="reference.so",
        inputs=[TensorInfo(n, d, tuple(s)) for n, d, s in prog.inputs],
        outputs=[TensorInfo(n, d, tuple(s)) for n, d, s in prog.outputs],
        ops=[OpInfo(o.name, o.kind, o.macs, o.output, o.var) for o in prog.ops],
        plans=[_plan_dict(p) for p in plans],
        compile_seconds=secs,
        **(manifest_extra or {}),
    )
    manifest.save(out_dir / "manifest.json")
    return manifest


def lower_cpu_ops(mod: tvm.IRModule) -> tvm.IRModule:
    """Legalize every remaining Relax op to TIR and fuse chains of elementwise / injective /
    reduction ops into single loops (TVM's FuseOps + FuseTIR), so the CPU makes one pass over
    memory per chain instead of one per op.  Gemmini composites are function calls, not TIR,
    and stay as they are."""
    from l2g.passes.fuse import composite_kind

    # FuseTIR would try to turn "Primitive" composites into TIR; they are Gemmini's.
    funcs = {}
    for gv, f in mod.functions.items():
        if isinstance(f, relax.Function) and composite_kind(f) and f.attrs is not None and "Primitive" in f.attrs:
            f = f.without_attr("Primitive")
        funcs[gv] = f
    mod = tvm.IRModule(funcs, attrs=mod.attrs)
    seq = tvm.transform.Sequential([
        relax.transform.LegalizeOps(),
        relax.transform.AnnotateTIROpPattern(),
        relax.transform.FuseOps(),
        relax.transform.FuseTIR(),
    ])
    return inline_elementwise(seq(mod))


def inline_elementwise(mod: tvm.IRModule) -> tvm.IRModule:
    """Inside each fused kernel, compute elementwise producers where they are consumed rather
    than through intermediate arrays (same arithmetic per element, one loop nest)."""
    out = {}
    for gv, f in mod.functions.items():
        if isinstance(f, tvm.tirx.PrimFunc) and not (f.attrs is not None and "tirx.is_scheduled" in f.attrs):
            f = _inline_pointwise(f)
        out[gv] = f
    return tvm.IRModule(out, attrs=mod.attrs)


def _domain(block) -> int:
    n = 1
    for iv in block.iter_vars:
        ext = iv.dom.extent
        if not isinstance(ext, tvm.tirx.IntImm):
            return -1
        n *= int(ext.value)
    return n


#: Largest expression (in lowered TIR nodes, see :func:`_lowered_size`) inlining may build in
#: one block.  A chain whose blocks each read their producer several times (isqrt's Newton
#: steps, rounding shifts) grows exponentially when inlined; GCC would CSE it again, but TVM's
#: analyses on the way there would take minutes.
MAX_INLINED_NODES = 400

#: Largest producer (in nodes) that may be inlined into a consumer reading it more than once.
#: Each extra read copies the producer's tree, and TVM's simplifiers (StmtSimplify,
#: RemoveNoOp) slow down far more than linearly on nested Select / min / max trees with
#: repeated subtrees: inlining a 20-node rounding shift into i-GELU's eight reads cost 35 s
#: of RemoveNoOp per kernel.  Bigger producers are materialized once instead.
MAX_DUPLICATED_NODES = 12

#: LowerIntrin rewrites a floor division / modulo by a non-power-of-two into a Select that
#: mentions the dividend and the divisor about three times each, so nested divisions (the
#: Newton steps of an integer square root) grow by 3**depth after lowering, not before.
_DIVISION_FANOUT = 3

_CHILD_FIELDS = ("a", "b", "value", "condition", "true_value", "false_value", "args", "indices",
                 "seq", "body", "then_case", "else_case")


def _children(node):
    for name in _CHILD_FIELDS:
        child = getattr(node, name, None)
        if child is None or isinstance(child, (int, float, str)):
            continue
        if isinstance(child, tvm.runtime.Object) and not hasattr(child, "__len__"):
            yield child
        elif hasattr(child, "__len__"):
            yield from child


def _fanout(node) -> int:
    """How many copies of each operand the lowered form of ``node`` holds."""
    if type(node).__name__ not in ("FloorDiv", "FloorMod") or power_of_two_divisor(node) is not None:
        return 1  # not a division, or one that lowers to a shift / mask
    return _DIVISION_FANOUT


def _lowered_size(node, is_load=lambda _: False, load_size: int = 1) -> int:
    """Size of ``node``'s expression tree after intrinsic lowering; a load for which
    ``is_load`` holds counts as ``load_size`` nodes (the producer expression inlined there)."""
    if is_load(node):
        return load_size
    k = _fanout(node)
    return 1 + k * sum(_lowered_size(c, is_load, load_size) for c in _children(node))


def _count(node, pred) -> int:
    return int(pred(node)) + sum(_count(c, pred) for c in _children(node))


def _is_load_of(buf):
    def test(node) -> bool:
        if type(node).__name__ not in ("TensorLoad", "BufferLoad"):
            return False
        src = getattr(node, "source", None)
        if src is None:
            src = node.buffer
        return src.same_as(buf)

    return test


def _inline_pointwise(func: tvm.tirx.PrimFunc) -> tvm.tirx.PrimFunc:
    """Inline every block into its consumers unless a consumer runs more instances than the
    block has (a per-row value, e.g. a LayerNorm's isqrt, broadcast over the row would be
    recomputed for every element) or the inlined expression would exceed MAX_INLINED_NODES.
    One sweep from the last block back: a block's consumers are final by the time it is
    visited, so each block costs one inlining attempt (dlight's try_inline retries every
    block after each success, which is quadratic)."""
    sch = tvm.s_tir.Schedule(func)
    try:
        blocks = sch.get_child_blocks(sch.get_sblock("root"))
    except Exception:  # no root block: nothing to schedule
        return func
    for b in reversed(blocks):
        consumers = sch.get_consumers(b)
        if not consumers:
            continue
        block = sch.get(b)
        size = _domain(block)
        if size < 0 or len(block.writes) != 1:
            continue
        cblocks = [sch.get(c) for c in consumers]
        if any(not 0 <= _domain(c) <= size for c in cblocks):
            continue
        nodes = _lowered_size(block.body)
        loads = _is_load_of(block.writes[0].source)
        if any(_lowered_size(c.body, loads, nodes) > MAX_INLINED_NODES for c in cblocks):
            continue
        if nodes > MAX_DUPLICATED_NODES and any(_count(c.body, loads) > 1 for c in cblocks):
            _compute_at_consumer(sch, b, consumers)
            continue
        try:
            sch.compute_inline(b)
        except Exception:  # not inlinable (a reduction, an output, an opaque access)
            continue
    return sch.mod["main"]


def _compute_at_consumer(sch, block, consumers) -> None:
    """Compute ``block`` one element at a time inside its only consumer's innermost loop, so
    its buffer shrinks to a scalar the consumer reads several times (what inlining would give,
    without copying the producer's expression into every read)."""
    if len(consumers) != 1:
        return
    try:
        loops = sch.get_loops(consumers[0])
        if loops:
            sch.compute_at(block, loops[-1], preserve_unit_loops=False)
    except Exception:  # not a pointwise producer of that consumer: keep it a separate loop
        return


def _place_norm_units(mod: tvm.IRModule, cfg: GemminiConfig | None) -> tvm.IRModule:
    """Keep the normalization-unit composites ``cfg``'s unit can run (as public functions the
    offload hook maps onto the unit); inline the others into ``main`` so they run as CPU code."""
    from l2g.codegen.gemmini.offload import norm_unit_offloadable
    from l2g.passes.fuse import composite_kind

    funcs = {}
    for gv, f in mod.functions.items():
        if isinstance(f, relax.Function) and composite_kind(f) and cfg is not None and norm_unit_offloadable(cfg, f):
            f = f.with_attr("global_symbol", gv.name_hint)
        funcs[gv] = f
    return relax.transform.InlinePrivateFunctions()(tvm.IRModule(funcs, attrs=mod.attrs))


#: LLVM optimization level of the exported host references.  On MiniLM (seq 128) level 1
#: builds and writes the library in 10.2 s instead of 15.9 s at the default level 3, and the
#: reference then runs just as fast (1.39 s per inference; level 0: 6.0 s to build, 7.9 s to
#: run).  The level changes no result: the target has no fast-math flags, so every
#: floating-point operation keeps its IEEE semantics at any level.
HOST_REFERENCE_LLVM_OPT = 1


def _legalize_for_host(mod: tvm.IRModule) -> tvm.IRModule:
    """The first passes of ``relax.build``'s default pipeline, in its order, run ahead of it."""
    with _host_target():
        return tvm.transform.Sequential(
            [relax.backend.DispatchSampling(), relax.backend.DispatchSortScan(), relax.transform.LegalizeOps()]
        )(mod)


def _host_target() -> tvm.target.Target:
    return tvm.target.Target({"kind": "llvm", "opt-level": HOST_REFERENCE_LLVM_OPT})


def _export_host_library(mod: tvm.IRModule, path: Path) -> None:
    """Build ``mod`` for the LLVM host and save it as a shared library.

    (TVM 0.27's JSON serializer crashes on Relax modules, so the reference travels as the
    compiled library that TVM's own deployment path loads.)"""
    ex = relax.build(mod, _host_target())
    ex.export_library(str(path))


def _plan_dict(plan) -> dict:
    d = asdict(plan)
    d.update(blocks=list(plan.blocks), loop_ws_calls=plan.loop_ws_calls, macs=plan.macs,
             padded_macs=plan.padded_macs, dram_bytes=plan.dram_bytes)
    return d


#: SmoothQuant strength of the Gemmini build: its weights are per-tensor (see compile_model)
GEMMINI_SMOOTH_ALPHA = 0.5


def gemmini_quantization(mode: str) -> dict:
    """``CompileContext`` fields of the Gemmini build beyond the host path's defaults.

    Weights are per-tensor: Gemmini reads an accumulator out with one scale.  SmoothQuant at
    the host path's α would push more of each outlier channel into those shared weight
    scales; 0.5 measured better.  In ``integer`` mode two more choices let the accelerator
    do what the CPU would otherwise do between units, and both raised MiniLM's integer-only
    cosine (32 SST-2 sentences, seq 64: mean 0.9455 -> 0.9492, min 0.913 -> 0.924):

    * the FFN matmul is read out to int8 at a GELU input scale that makes i-GELU's ``qb``
      exact (``quantize.gelu_int8_input_scale``), and the unit widens that int8 itself
      (no prescale pass over the int32 accumulator on the CPU);
    * softmax outputs are int8 at 1/127, the unit's own output scale (no requantization).

    And a LayerNorm that needs wide statistics (so runs on the CPU anyway) takes gamma / beta
    into its read-out, one pass instead of two (``IntegerOnlyOptions.ln_wide_affine``).
    """
    from l2g.passes.integer_only import IntegerOnlyOptions

    fields: dict = dict(per_channel_weights=False, smooth_alpha=GEMMINI_SMOOTH_ALPHA)
    if mode == "integer":
        fields.update(gelu_input_dtype="int8", softmax_out_scale=1.0 / 127.0,
                      integer_options=IntegerOnlyOptions(gelu_max_shift=0, ln_wide_affine=True))
    return fields


def compile_model(
    model: str | Path,
    out_dir: Path,
    *,
    config: str = "default",
    mode: str = "integer",
    seq_len: int = 128,
    calib_texts: Sequence[str] = (),
    dump_ir: bool = False,
    debug_reference: bool = True,
) -> Manifest:
    """Compile a Hugging Face model dir or an ONNX file end to end.

    ``debug_reference=False`` skips the op-by-op host reference, which only localizes a
    ``--check`` mismatch and can take longer to build than the program (benchmarks)."""
    from l2g.frontend.load import load_onnx
    from l2g.passes.pipeline import CompileContext, Pipeline

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dump = out_dir / "ir" if dump_ir else None
    model = Path(model)
    secs: dict[str, float] = {}
    extra: dict = {"seq_len": seq_len}
    t0 = time.perf_counter()
    if model.is_dir():
        from l2g.frontend.export import export_model, load_hf_model
        from l2g.frontend.tokenize import load_tokenizer, tokenize

        hf, _kind = load_hf_model(model)
        exported = export_model(hf, out_dir / "model.onnx", seq_len=seq_len)
        onnx_path = Path(exported.onnx_path)
        input_names = list(exported.input_names)
        tok = load_tokenizer(model)
        texts = list(calib_texts) or DEFAULT_CALIBRATION_TEXTS
        batch = tokenize(tok, texts, seq_len, "token_type_ids" in input_names)
        samples = [batch.rows(i, i + 1).as_inputs(input_names) for i in range(len(texts))]
        extra.update(model_dir=str(model.resolve()), input_names=input_names)
    elif model.suffix == ".onnx" and model.is_file():
        onnx_path = model
        samples = []
        extra.update(input_names=[])
    else:
        raise L2GError(f"{model}: expected a Hugging Face model directory or an .onnx file")
    secs["export"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    mod = load_onnx(str(onnx_path))
    secs["import"] = time.perf_counter() - t0
    if not samples:
        samples = _random_samples(mod)
        extra["seq_len"] = _sequence_length(mod, seq_len)
    ctx = CompileContext(calib_inputs=samples, ranges_path=out_dir / "ranges.json", **gemmini_quantization(mode))
    preset = "integer_only" if mode == "integer" else "int8"
    t0 = time.perf_counter()
    qmod = Pipeline.preset(preset, dump).run(mod, ctx)
    secs["passes"] = time.perf_counter() - t0
    manifest = compile_module(qmod, out_dir, config=config, mode=mode, dump_ir_dir=dump, manifest_extra=extra,
                              debug_reference=debug_reference)
    manifest.compile_seconds = {**secs, **manifest.compile_seconds}
    manifest.save(out_dir / "manifest.json")
    return manifest


#: Calibration sentences when the caller gives none (short, varied English).
DEFAULT_CALIBRATION_TEXTS = [
    "the movie was a delight from start to finish",
    "a tedious, overlong mess with nothing to say",
    "what is the capital city of australia ?",
    "book a table for two at an italian restaurant tonight",
    "play the latest album by my favourite band",
    "the court held that the contract was void for lack of consideration",
    "how many minutes are in a week ?",
    "it rains in the north while the south stays sunny and warm",
]


def _sequence_length(mod: tvm.IRModule, default: int) -> int:
    """An ONNX file fixes its own shapes: the sequence length is dim 1 of its first input of
    rank 2 or more (``(batch, seq, ...)``), else ``default``."""
    for p in mod["main"].params:
        shape = p.ty.shape
        if len(shape) >= 2:
            return int(shape[1].value)
    return default


def _random_samples(mod: tvm.IRModule, n: int = 4) -> list[dict]:
    """Calibration inputs for a bare ONNX file: token ids 1..999 and an all-ones mask."""
    import numpy as np

    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        sample = {}
        for p in mod["main"].params:
            shape = tuple(int(d.value) for d in p.ty.shape)
            dtype = str(p.ty.dtype)
            if "mask" in p.name:
                sample[p.name] = np.ones(shape, dtype)
            elif dtype.startswith("int"):
                sample[p.name] = rng.integers(1, 1000, shape).astype(dtype)
            else:
                sample[p.name] = rng.standard_normal(shape).astype(dtype)
        out.append(sample)
    return out
