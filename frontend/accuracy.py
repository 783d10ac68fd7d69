"""FP32 (PyTorch) vs FP32 (TVM) vs int8 vs integer-only, all on the host.

:func:`compile_variants` exports the model, imports it, and runs the pass pipelines
(``float``, ``int8``, ``integer_only`` presets of ``passes/pipeline.py``), calibrating on
sentences of the task's train split.  :func:`evaluate` runs every variant on the evaluation
sentences and returns an :class:`AccuracyReport`: accuracies for a classifier, mean cosine
similarity to the PyTorch FP32 embedding for a sentence-embedding model.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from l2g.errors import L2GError

TASKS = ("sst2", "trec", "snips")


@dataclass(frozen=True)
class Example:
    text: str
    label: int | str


def load_examples(path: str | Path, limit: int | None = None) -> list[Example]:
    """``{"text", "label"}`` JSONL records (the task files of ../shared/data)."""
    p = Path(path)
    if not p.is_file():
        raise L2GError(f"data file {p} not found")
    out = []
    with p.open() as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                out.append(Example(str(d["text"]), d["label"]))
            except (ValueError, KeyError) as exc:
                raise L2GError(f"{p}:{i}: not a {{\"text\", \"label\"}} JSON record ({exc})") from exc
            if limit is not None and len(out) >= limit:
                break
    return out


def default_calibration_file(data: str | Path) -> Path:
    """The ``train.jsonl`` next to ``data`` when it exists (no evaluation data in calibration)."""
    train = Path(data).with_name("train.jsonl")
    return train if train.is_file() and train.resolve() != Path(data).resolve() else Path(data)


@dataclass
class Variant:
    name: str
    run: object | None  # HostModule, or None when unavailable
    note: str = ""


@dataclass
class Compiled:
    exported: object  # ExportedModel
    torch_module: object
    tokenizer: object
    variants: list[Variant]
    compile_seconds: dict[str, float] = field(default_factory=dict)
    quant_report: object | None = None


@dataclass
class AccuracyReport:
    kind: str
    task: str
    num_examples: int
    seq_len: int
    #: classifier: accuracy in [0, 1] per variant; embedding: mean cosine vs PyTorch FP32
    scores: dict[str, float | None]
    notes: dict[str, str] = field(default_factory=dict)
    min_cosine: dict[str, float] = field(default_factory=dict)

    def to_json(self, compile_seconds: dict[str, float] | None = None) -> dict:
        d = dataclasses.asdict(self)
        d["metric"] = "accuracy" if self.kind == "classifier" else "mean_cosine_vs_fp32_pytorch"
        if compile_seconds:
            d["compile_seconds"] = {k: round(v, 2) for k, v in compile_seconds.items()}
        return d

    def format(self) -> str:
        metric = "accuracy" if self.kind == "classifier" else "mean cosine vs FP32 (PyTorch)"
        lines = [f"{self.task}: {self.num_examples} examples, seq_len {self.seq_len}, {metric}"]
        for name, v in self.scores.items():
            if v is None:
                lines.append(f"  {name:<22} n/a  ({self.notes.get(name, '')})")
            elif self.kind == "classifier":
                lines.append(f"  {name:<22} {100 * v:6.2f} %")
            else:
                extra = f"  (min {self.min_cosine[name]:.4f})" if name in self.min_cosine else ""
                lines.append(f"  {name:<22} {v:.5f}{extra}")
        return "\n".join(lines)


def compile_variants(
    model_dir: str | Path,
    out_dir: str | Path,
    calib_texts: Sequence[str],
    *,
    seq_len: int = 128,
    calib_method: str = "minmax",
    dump_ir_dir: str | Path | None = None,
    variants: Sequence[str] = ("fp32-tvm", "int8", "integer-only"),
) -> Compiled:
    """Export + import + run the pipelines; every variant is built for the LLVM host."""
    from l2g.frontend.export import ExportedModel, export_model, load_hf_model
    from l2g.frontend.load import load_onnx
    from l2g.frontend.tokenize import load_tokenizer, tokenize
    from l2g.passes.host import build_host
    from l2g.passes.pipeline import CompileContext, Pipeline

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    secs: dict[str, float] = {}
    t0 = time.perf_counter()
    model, kind = load_hf_model(model_dir)
    onnx_path = out_dir / f"model-s{seq_len}.onnx"
    if onnx_path.is_file() and Path(str(onnx_path) + ".json").is_file():
        exported = ExportedModel.load(onnx_path)
    else:
        exported = export_model(model, onnx_path, seq_len=seq_len, kind=kind, model_dir=model_dir)
    secs["export"] = time.perf_counter() - t0
    tok = load_tokenizer(model_dir)
    use_tt = "token_type_ids" in exported.input_names
    calib = tokenize(tok, list(calib_texts), seq_len, use_tt)
    samples = [calib.rows(i, i + 1).as_inputs(exported.input_names) for i in range(len(calib_texts))]
    t0 = time.perf_counter()
    mod = load_onnx(exported.onnx_path)
    secs["import"] = time.perf_counter() - t0
    ctx = CompileContext(
        calib_inputs=samples, ranges_path=Path(exported.onnx_path + ".ranges.json"), calib_method=calib_method
    )
    dump = Path(dump_ir_dir) if dump_ir_dir else None
    fmod = Pipeline(["canonicalize"], dump / "float" if dump else None).run(mod, ctx)
    out: list[Variant] = []
    if "fp32-tvm" in variants:
        out.append(Variant("FP32 (TVM)", build_host(fmod)))
    qmod = None
    if "int8" in variants or "integer-only" in variants:
        t0 = time.perf_counter()
        qmod = Pipeline(["calibrate", "quantize"], dump / "int8" if dump else None).run(fmod, ctx)
        secs["calibrate+quantize"] = time.perf_counter() - t0
    if "int8" in variants:
        out.append(Variant("int8", build_host(qmod)))
    if "integer-only" in variants:
        try:
            t0 = time.perf_counter()
            imod = Pipeline(["integer_only"], dump / "integer_only" if dump else None).run(qmod, ctx)
            secs["integer_only"] = time.perf_counter() - t0
            out.append(Variant("integer-only", build_host(imod)))
        except L2GError as exc:
            out.append(Variant("integer-only", None, str(exc)))
    return Compiled(exported, model, tok, out, secs, ctx.quant_report)


def _torch_forward(model, kind: str, batch) -> np.ndarray:
    import torch

    kw = {"input_ids": torch.from_numpy(batch.input_ids), "attention_mask": torch.from_numpy(batch.attention_mask)}
    if batch.token_type_ids is not None:
        kw["token_type_ids"] = torch.from_numpy(batch.token_type_ids)
    with torch.no_grad():
        out = model(**kw)
        if kind == "classifier":
            return out.logits.numpy()
        h = out.last_hidden_state
        m = kw["attention_mask"].unsqueeze(-1).to(h.dtype)
        return ((h * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)).numpy()


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30))


def _label_index(labels: tuple[str, ...], examples: list[Example]) -> list[int]:
    if all(isinstance(e.label, int) for e in examples):
        return [int(e.label) for e in examples]
    table = {name: i for i, name in enumerate(labels)}
    missing = sorted({str(e.label) for e in examples} - set(table))
    if missing:
        raise L2GError(
            f"the classifier's labels {list(labels)} do not cover the data's labels {missing}; "
            "fine-tune the model with id2label set to the task's label names"
        )
    return [table[str(e.label)] for e in examples]


def evaluate(compiled: Compiled, examples: list[Example], task: str, *, progress: bool = True) -> AccuracyReport:
    """Run every variant on ``examples`` one sentence at a time (the exported batch is 1)."""
    from l2g.frontend.tokenize import tokenize

    ex = compiled.exported
    use_tt = "token_type_ids" in ex.input_names
    enc = tokenize(compiled.tokenizer, [e.text for e in examples], ex.seq_len, use_tt)
    names = ["FP32 (PyTorch)"] + [v.name for v in compiled.variants]
    outs: dict[str, list[np.ndarray]] = {n: [] for n in names}
    from tqdm import tqdm

    for i in tqdm(range(len(examples)), desc=f"evaluate {len(names)} variants", unit="ex", disable=not progress):
        row = enc.rows(i, i + 1)
        outs["FP32 (PyTorch)"].append(_torch_forward(compiled.torch_module, ex.kind, row))
        for v in compiled.variants:
            if v.run is not None:
                outs[v.name].append(np.asarray(v.run(row.as_inputs(ex.input_names))))
    scores: dict[str, float | None] = {}
    notes = {v.name: v.note for v in compiled.variants if v.run is None}
    mins: dict[str, float] = {}
    if ex.kind == "classifier":
        gold = np.array(_label_index(ex.labels, examples))
        for n in names:
            if not outs[n]:
                scores[n] = None
                continue
            pred = np.concatenate(outs[n]).argmax(-1)
            scores[n] = float((pred == gold).mean())
    else:
        ref = outs["FP32 (PyTorch)"]
        for n in names:
            if not outs[n]:
                scores[n] = None
                continue
            cs = [_cos(a, b) for a, b in zip(ref, outs[n])]
            scores[n] = float(np.mean(cs))
            mins[n] = float(np.min(cs))
    return AccuracyReport(ex.kind, task, len(examples), ex.seq_len, scores, notes, mins)
