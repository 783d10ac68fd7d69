"""`l2g pipeline`: the whole mission in one resumable command.

Stages, in order, each recorded in ``RUN_DIR/pipeline.json`` (written atomically) when it
finishes, so that running the same command again skips what is done:

1. ``augment``: the LLM2LLM loop (``augment/loop.py``) in ``RUN_DIR/augment``; it resumes
   inside the loop as ``l2g augment --resume`` does, and saves the merged final student.
2. ``compile``: the student, exported to ONNX and compiled integer-only for Gemmini
   (``compile_model``) into ``RUN_DIR/compiled``, calibrated on training sentences.
3. ``host_eval``: test accuracy of the FP32 student (PyTorch) and of the integer-only module
   on the host (the compile's ``reference.so``, the very module Spike must match).
4. ``spike_eval``: the first ``--spike-samples`` of those test sentences on Spike
   (``run_compiled``), each checked bit for bit against the host, with cycles per inference.
5. ``report``: ``RUN_DIR/report.json`` (a :class:`MissionReport`) and ``RUN_DIR/report.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from l2g.errors import L2GError
from l2g.progress import Stages, ticking

STATE_FILE = "pipeline.json"
STATE_VERSION = 1
STAGES = ("augment", "compile", "host_eval", "spike_eval", "report")


@dataclass
class IterationAccuracy:
    iteration: int
    data_size: int
    n_augmented: int
    seed_acc: float
    test_acc: float


@dataclass
class AugmentResult:
    student_dir: str
    n_seed: int
    n_test: int
    iterations: list[IterationAccuracy]


@dataclass
class CompileResult:
    out_dir: str
    config: str
    mode: str
    seq_len: int
    n_ops: int
    n_gemmini_ops: int
    macs: int
    seconds: float
    output: str  # the program's name for the logits tensor


@dataclass
class HostEvalResult:
    n: int
    fp32_acc: float
    integer_acc: float
    agreement: float  # fraction of sentences where FP32 and integer-only predict the same label


@dataclass
class SpikeSample:
    text: str
    gold: str
    fp32: str
    host: str
    spike: str
    check: str  # "bit-exact" | "MISMATCH"
    cycles: int


@dataclass
class SpikeEvalResult:
    n: int
    fp32_acc: float  # on the same sentences, for comparison
    host_acc: float
    spike_acc: float
    n_bit_exact: int
    cycles_per_inference: float
    samples: list[SpikeSample]


@dataclass
class MissionReport:
    task: str
    run_dir: str
    augment: AugmentResult
    compile: CompileResult
    host_eval: HostEvalResult
    spike_eval: SpikeEvalResult
    stage_seconds: dict[str, float] = field(default_factory=dict)


RESULT_TYPES = {"augment": AugmentResult, "compile": CompileResult, "host_eval": HostEvalResult,
                "spike_eval": SpikeEvalResult}


def _from_json(kind: type, d: dict):
    """Rebuild a result dataclass (and its nested lists of dataclasses) from its JSON."""
    if kind is AugmentResult:
        return AugmentResult(**{**d, "iterations": [IterationAccuracy(**i) for i in d["iterations"]]})
    if kind is SpikeEvalResult:
        return SpikeEvalResult(**{**d, "samples": [SpikeSample(**s) for s in d["samples"]]})
    return kind(**d)


@dataclass
class MissionState:
    """What ``pipeline.json`` holds: the task, the finished stages' results and their times."""

    task: str
    results: dict[str, object] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    version: int = STATE_VERSION

    def done(self, stage: str) -> bool:
        return stage in self.results

    def to_json(self) -> dict:
        return {"version": self.version, "task": self.task, "seconds": self.seconds,
                "results": {k: asdict(v) for k, v in self.results.items()}}

    @classmethod
    def load(cls, run_dir: Path) -> "MissionState | None":
        p = run_dir / STATE_FILE
        if not p.is_file():
            return None
        try:
            d = json.loads(p.read_text())
            if d.get("version") != STATE_VERSION:
                raise L2GError(f"{p} has version {d.get('version')}, expected {STATE_VERSION}; use another -o")
            results = {k: _from_json(RESULT_TYPES[k], v) for k, v in d["results"].items() if k in RESULT_TYPES}
            return cls(d["task"], results, d.get("seconds", {}))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise L2GError(f"{p} is damaged ({exc}); start again in another directory") from None

    def record(self, run_dir: Path, stage: str, result, seconds: float) -> None:
        from l2g.files import atomic_write_text

        self.results[stage] = result
        self.seconds[stage] = round(seconds, 2)
        atomic_write_text(run_dir / STATE_FILE, json.dumps(self.to_json(), indent=1) + "\n")


@dataclass(frozen=True)
class EvalOptions:
    config: str = "ibert"
    seq_len: int = 128
    calib_samples: int = 16
    host_samples: int = 200
    spike_samples: int = 4
    spike_timeout: float = 600.0


# ---- stages ---------------------------------------------------------------------------------


def stage_augment(args: argparse.Namespace, run_dir: Path) -> AugmentResult:
    from l2g.augment import loop, report
    from l2g.augment.cli import new_run_config, teacher_config

    aug_dir = run_dir / "augment"
    if (aug_dir / "state.json").is_file():
        overrides: dict = {}
        tcfg = teacher_config(args, required=False)
        if tcfg is not None:
            overrides["teacher"] = tcfg  # the endpoint may have moved since the first attempt
        state, seed, test = loop.start_or_resume(aug_dir, None, True, overrides)
        if loop.needs_teacher(state):
            loop.check_teacher(state.config.teacher, aug_dir)
        print(f"      resuming the LLM2LLM run in {aug_dir}: {len(state.iterations)} iteration(s) recorded",
              file=sys.stderr)
    else:
        cfg = new_run_config(args, aug_dir)
        state, seed, test = loop.start_or_resume(aug_dir, cfg, False)
        print(f"      task {cfg.task}: {len(seed)} seed and {len(test)} test examples", file=sys.stderr)
    state = loop.run_loop(aug_dir, state, seed, test, on_iteration=lambda st: report.write_report(aug_dir, st),
                          log=lambda m: print(f"      {m}", file=sys.stderr))
    report.write_report(aug_dir, state)
    its = [IterationAccuracy(s.iteration, s.data_size, s.n_augmented, s.seed_acc, s.test_acc) for s in state.iterations]
    return AugmentResult(str(aug_dir / "student"), len(seed), len(test), its)


def _train_texts(run_dir: Path, n: int) -> list[str]:
    from l2g.augment.loop import read_examples

    return [e.text for e in read_examples(run_dir / "augment" / "train_data.jsonl")[:n]]


def _test_examples(run_dir: Path, n: int):
    from l2g.augment.loop import read_examples

    return read_examples(run_dir / "augment" / "test.jsonl")[:n]


def stage_compile(run_dir: Path, aug: AugmentResult, opts: EvalOptions) -> CompileResult:
    import time

    from l2g.codegen.gemmini.compile import compile_model
    from l2g.frontend.export import ExportedModel

    out = run_dir / "compiled"
    if out.exists():
        shutil.rmtree(out)  # an interrupted compile leaves a partial directory behind
    t0 = time.perf_counter()
    with ticking(f"      compiling (integer, {opts.config}, seq {opts.seq_len})"):
        # no op-by-op reference: it only localizes a mismatch, and costs minutes on MiniLM
        m = compile_model(aug.student_dir, out, config=opts.config, mode="integer", seq_len=opts.seq_len,
                          calib_texts=_train_texts(run_dir, opts.calib_samples), debug_reference=False)
    exported = ExportedModel.load(out / "model.onnx")
    if exported.kind != "classifier" or len(m.outputs) != 1:
        raise L2GError(f"{aug.student_dir} did not compile to a classifier ({exported.kind}, "
                       f"outputs {[o.name for o in m.outputs]})")
    return CompileResult(str(out), m.config, m.mode, opts.seq_len, len(m.ops),
                         sum(o.kind == "gemmini" for o in m.ops), sum(o.macs for o in m.ops),
                         round(time.perf_counter() - t0, 2), m.outputs[0].name)


class _Predictor:
    """FP32 (PyTorch) and integer-only host predictions of the compiled student, one sentence
    at a time (the compiled module has batch 1)."""

    def __init__(self, comp: CompileResult, student_dir: str):
        from l2g.codegen.gemmini.compile import Manifest
        from l2g.frontend.export import load_hf_model, torch_module_for_export
        from l2g.runtime.compiled import load_host_library

        self.out = Path(comp.out_dir)
        self.manifest = Manifest.load(self.out / "manifest.json")
        model, kind = load_hf_model(student_dir)
        self.labels = [str(model.config.id2label[i]) for i in range(model.config.num_labels)]
        self.torch_module, _kind, self.use_tt = torch_module_for_export(model, kind)
        self.host = load_host_library(self.out / self.manifest.reference, [t.name for t in self.manifest.inputs])

    def inputs(self, text: str):
        from l2g.runtime.compiled import tokenize_texts

        return tokenize_texts(self.manifest, [text])

    def label(self, logits) -> str:
        import numpy as np

        return self.labels[int(np.asarray(logits).reshape(-1).argmax())]

    def fp32(self, feed) -> str:
        import torch

        names = ["input_ids", "attention_mask"] + (["token_type_ids"] if self.use_tt else [])
        with torch.no_grad():
            return self.label(self.torch_module(*[torch.from_numpy(feed[n]) for n in names]))

    def integer(self, feed) -> str:
        return self.label(self.host(feed))


def _acc(pred: list[str], gold: list[str]) -> float:
    return sum(p == g for p, g in zip(pred, gold)) / max(len(gold), 1)


def stage_host_eval(run_dir: Path, aug: AugmentResult, comp: CompileResult, opts: EvalOptions) -> HostEvalResult:
    from tqdm import tqdm

    pred = _Predictor(comp, aug.student_dir)
    examples = _test_examples(run_dir, opts.host_samples)
    fp32, integer = [], []
    for e in tqdm(examples, desc="      host (FP32 + integer-only)", unit="sentence", file=sys.stderr):
        feed = pred.inputs(e.text)
        fp32.append(pred.fp32(feed))
        integer.append(pred.integer(feed))
    gold = [e.label for e in examples]
    return HostEvalResult(len(examples), _acc(fp32, gold), _acc(integer, gold), _acc(fp32, integer))


def stage_spike_eval(run_dir: Path, aug: AugmentResult, comp: CompileResult, opts: EvalOptions) -> SpikeEvalResult:
    from tqdm import tqdm

    from l2g.runtime.compiled import run_compiled

    pred = _Predictor(comp, aug.student_dir)
    samples = []
    for e in tqdm(_test_examples(run_dir, opts.spike_samples), desc="      Spike", unit="sentence", file=sys.stderr):
        feed = pred.inputs(e.text)
        rep = run_compiled(comp.out_dir, feed, check=True, timeout=opts.spike_timeout)
        samples.append(SpikeSample(e.text, e.label, pred.fp32(feed), pred.integer(feed),
                                   pred.label(rep.outputs[comp.output]), rep.check, rep.total_cycles))
    gold = [s.gold for s in samples]
    return SpikeEvalResult(
        n=len(samples),
        fp32_acc=_acc([s.fp32 for s in samples], gold),
        host_acc=_acc([s.host for s in samples], gold),
        spike_acc=_acc([s.spike for s in samples], gold),
        n_bit_exact=sum(s.check == "bit-exact" for s in samples),
        cycles_per_inference=sum(s.cycles for s in samples) / max(len(samples), 1),
        samples=samples,
    )


# ---- the report -----------------------------------------------------------------------------


def report_markdown(r: MissionReport) -> str:
    a, c, h, s = r.augment, r.compile, r.host_eval, r.spike_eval
    lines = [
        f"# l2g pipeline: {r.task}",
        "",
        f"LLM2LLM augmentation ({a.n_seed} seed examples, {len(a.iterations) - 1} iteration(s)), the merged "
        f"student compiled integer-only for Gemmini (`{c.config}` config, seq {c.seq_len}: {c.n_ops} ops, "
        f"{c.n_gemmini_ops} on Gemmini, {c.macs:,} MACs) and run on Spike.",
        "",
        "## Accuracy per LLM2LLM iteration (student in PyTorch FP32)",
        "",
        "| iteration | training examples | of which augmented | seed accuracy | test accuracy |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {i.iteration} | {i.data_size} | {i.n_augmented} | {i.seed_acc:.4f} | {i.test_acc:.4f} |"
              for i in a.iterations]
    lines += [
        "",
        "## Final student: FP32 vs integer-only vs Spike",
        "",
        "| sentences | FP32 (PyTorch) | integer-only (host) | integer-only (Spike) |",
        "|---|---:|---:|---:|",
        f"| {h.n} test sentences (host) | {h.fp32_acc:.4f} | {h.integer_acc:.4f} | |",
        f"| first {s.n} of them (Spike) | {s.fp32_acc:.4f} | {s.host_acc:.4f} | {s.spike_acc:.4f} |",
        "",
        f"- FP32 and integer-only agree on {100 * h.agreement:.1f} % of the {h.n} host sentences.",
        f"- Spike is bit-exact with the host reference on {s.n_bit_exact} of {s.n} sentences.",
        f"- **{s.cycles_per_inference:,.0f} cycles per inference** (Gemmini cycle model, `{c.config}` config).",
        "",
        "## Stage times (host wall seconds)",
        "",
        "| stage | seconds |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:.1f} |" for k, v in r.stage_seconds.items()]
    return "\n".join(lines) + "\n"


def write_report(run_dir: Path, r: MissionReport) -> None:
    from l2g.files import atomic_write_text

    atomic_write_text(run_dir / "report.json", json.dumps(asdict(r), indent=1) + "\n")
    atomic_write_text(run_dir / "report.md", report_markdown(r))


# ---- driver ---------------------------------------------------------------------------------


def run_pipeline(args: argparse.Namespace, opts: EvalOptions) -> MissionReport:
    import time

    from l2g.augment.tasks import TASKS, get_task

    run_dir = Path(args.output)
    state = MissionState.load(run_dir)
    if state is None:
        if not args.task:
            raise L2GError("--task is required for a new pipeline run")
        if get_task(args.task).kind != "classification":
            classification = ", ".join(n for n, t in TASKS.items() if t.kind == "classification")
            raise L2GError(f"l2g pipeline compiles sequence classifiers; task {args.task!r} is "
                           f"{get_task(args.task).kind.replace('_', ' ')}. Choose one of: {classification} "
                           f"(`l2g augment` runs every task)")
        run_dir.mkdir(parents=True, exist_ok=True)
        state = MissionState(args.task)
    elif args.task and args.task != state.task:
        raise L2GError(f"{run_dir} holds a pipeline run of task {state.task!r}, not {args.task!r}; choose another -o")

    st = Stages(len(STAGES))
    steps = {
        "augment": ("LLM2LLM augmentation and the merged student", lambda: stage_augment(args, run_dir)),
        "compile": ("ONNX export and integer-only compilation for Gemmini",
                    lambda: stage_compile(run_dir, state.results["augment"], opts)),
        "host_eval": ("test accuracy on the host: FP32 (PyTorch) and integer-only (TVM)",
                      lambda: stage_host_eval(run_dir, state.results["augment"], state.results["compile"], opts)),
        "spike_eval": (f"{opts.spike_samples} test sentences on Spike, checked bit for bit, with cycles",
                       lambda: stage_spike_eval(run_dir, state.results["augment"], state.results["compile"], opts)),
    }
    for name, (what, fn) in steps.items():
        if state.done(name):
            st.skip(name, what)
            continue
        t0 = time.perf_counter()
        with st.start(name, what):
            result = fn()
        state.record(run_dir, name, result, time.perf_counter() - t0)
    with st.start("report", "report"):
        report = MissionReport(state.task, str(run_dir), state.results["augment"], state.results["compile"],
                               state.results["host_eval"], state.results["spike_eval"], dict(state.seconds))
        write_report(run_dir, report)
    return report


def register(subparsers: argparse._SubParsersAction) -> None:
    from l2g.augment.cli import add_run_arguments

    p = subparsers.add_parser(
        "pipeline",
        help="the whole mission: LLM2LLM augmentation -> integer-only Gemmini build -> Spike, one report",
        description="Augment a task's seed data with a teacher (LLM2LLM) and fine-tune the student, "
        "merge it, export it to ONNX, compile it integer-only for Gemmini, measure FP32 and integer-only "
        "accuracy on the host and run test sentences on Spike (bit-exact check, cycles), then write "
        "RUN_DIR/report.json and report.md. Every finished stage is recorded in RUN_DIR/pipeline.json; "
        "running the same command again skips the finished stages (and resumes the augmentation).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_run_arguments(p)
    p.add_argument("-o", "--output", required=True, type=Path, metavar="RUN_DIR", help="run directory")
    c = p.add_argument_group("compile and evaluation")
    c.add_argument("--config", default="ibert", help="hardware config of the Gemmini build")
    c.add_argument("--seq-len", type=int, default=128, help="static sequence length of the compiled model")
    c.add_argument("--calib-samples", type=int, default=16, help="training sentences used for calibration")
    c.add_argument("--host-samples", type=int, default=200, help="test sentences evaluated on the host")
    c.add_argument("--spike-samples", type=int, default=4, help="test sentences run on Spike")
    c.add_argument("--spike-timeout", type=float, default=600.0, help="seconds per Spike run")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    from l2g.hwconfig import get_config

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    get_config(args.config)  # a misspelt config fails now, not after the augmentation
    for flag in ("calib_samples", "host_samples", "spike_samples"):
        if getattr(args, flag) < 1:
            raise L2GError(f"--{flag.replace('_', '-')} must be at least 1")
    opts = EvalOptions(args.config, args.seq_len, args.calib_samples, args.host_samples, args.spike_samples,
                       args.spike_timeout)
    r = run_pipeline(args, opts)
    print(report_markdown(r))
    print(f"report: {Path(args.output) / 'report.md'} (JSON: {Path(args.output) / 'report.json'})")
    s = r.spike_eval
    return 0 if s.n_bit_exact == s.n else 1
