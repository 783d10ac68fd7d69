"""Export a Hugging Face encoder to ONNX with fixed batch size and sequence length.

Two model kinds are first-class:

``classifier``
    An ``...ForSequenceClassification`` model.  Graph inputs ``input_ids``, ``attention_mask``
    (and ``token_type_ids`` when the model's ``forward`` takes them); output ``logits``
    ``(batch, num_labels)``.

``embedding``
    A plain encoder used as a sentence-embedding model (e.g. all-MiniLM-L6-v2).  The graph
    contains the sentence-transformers mean pooling: ``sum(h * mask) / max(sum(mask), 1e-9)``
    over the sequence, output ``embedding`` ``(batch, hidden)``.  **Decision:** the output
    is the mean-pooled embedding *without* the final L2 normalization.  Normalization is a
    per-row positive scale: it changes neither cosine similarity nor ranking, and leaving it
    out keeps a float sqrt/divide out of the integer graph.  :func:`l2_normalize` applies it
    on the host when unit vectors are wanted (sentence-transformers' ``Normalize`` module).

The export uses the dynamo ``torch.onnx`` exporter (the legacy one trips a ``ConstantOfShape``
bug in TVM's importer) with eager attention, so attention appears as plain
``MatMul → scale → Add(mask) → Softmax → MatMul`` in the graph.  A JSON sidecar
(``<model>.onnx.json``, :class:`ExportedModel`) records shapes, input names, kind and labels.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from l2g.errors import L2GError

ModelKind = Literal["classifier", "embedding"]


@dataclass(frozen=True)
class ExportedModel:
    """What :func:`export_model` wrote; persisted as ``<onnx>.json`` next to the ONNX file."""

    onnx_path: str
    kind: ModelKind
    batch: int
    seq_len: int
    input_names: tuple[str, ...]
    output_name: str
    labels: tuple[str, ...]  # id2label of a classifier, () for an embedding model
    model_dir: str | None = None  # where the tokenizer lives (None for in-memory models)

    @property
    def sidecar(self) -> Path:
        return Path(self.onnx_path + ".json")

    def save(self) -> Path:
        d = dataclasses.asdict(self)
        self.sidecar.write_text(json.dumps(d, indent=2) + "\n")
        return self.sidecar

    @classmethod
    def load(cls, onnx_path: str | Path) -> "ExportedModel":
        p = Path(str(onnx_path) + ".json")
        if not p.is_file():
            raise L2GError(f"{p} not found: export the model with `l2g export` (frontend.export) first")
        d = json.loads(p.read_text())
        d["input_names"] = tuple(d["input_names"])
        d["labels"] = tuple(d["labels"])
        return cls(**d)


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise L2 normalization (sentence-transformers ``Normalize``)."""
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, eps)


def _wrappers():
    import torch

    class Classifier(torch.nn.Module):
        def __init__(self, model, use_tt: bool):
            super().__init__()
            self.model, self.use_tt = model, use_tt

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kw = {"token_type_ids": token_type_ids} if self.use_tt else {}
            return self.model(input_ids=input_ids, attention_mask=attention_mask, **kw).logits

    class MeanPooled(torch.nn.Module):
        def __init__(self, model, use_tt: bool):
            super().__init__()
            self.model, self.use_tt = model, use_tt

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kw = {"token_type_ids": token_type_ids} if self.use_tt else {}
            h = self.model(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            return (h * m).sum(dim=1) / torch.clamp(m.sum(dim=1), min=1e-9)

    return Classifier, MeanPooled


#: Hugging Face ``model_type`` values the frontend, the passes and the code generator have been
#: validated on.  Extend it only together with a test that compiles such a model end to end.
SUPPORTED_MODEL_TYPES = ("bert",)


def check_supported(cfg, model_dir: str | Path) -> None:
    """Refuse, in words, a model dir whose architecture l2g cannot compile (before exporting it)."""
    model_type = getattr(cfg, "model_type", None)
    if model_type in SUPPORTED_MODEL_TYPES:
        return
    archs = ", ".join(cfg.architectures or []) or "no architecture listed"
    raise L2GError(
        f"{model_dir} holds a {model_type!r} model ({archs}), which l2g cannot compile. Supported: "
        f"BERT-style encoders (model_type {', '.join(map(repr, SUPPORTED_MODEL_TYPES))}), either plain "
        "(sentence embedding, e.g. all-MiniLM-L6-v2) or with a sequence-classification head "
        "(BertForSequenceClassification, as `l2g augment` saves its students)"
    )


def load_hf_model(model_dir: str | Path, kind: ModelKind | None = None):
    """Load ``model_dir`` offline with eager attention; returns ``(model, kind)``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise L2GError(f"{model_dir} is not a Hugging Face model dir (no config.json)")
    cfg = AutoConfig.from_pretrained(str(model_dir))
    check_supported(cfg, model_dir)
    if kind is None:
        archs = cfg.architectures or []
        kind = "classifier" if any(a.endswith("ForSequenceClassification") for a in archs) else "embedding"
    cls = AutoModelForSequenceClassification if kind == "classifier" else AutoModel
    model = cls.from_pretrained(str(model_dir), attn_implementation="eager")
    return model.eval(), kind


def torch_module_for_export(model, kind: ModelKind | None = None):
    """Wrap a transformers model into the exported signature; returns ``(module, kind, use_tt)``."""
    if kind is None:
        kind = "classifier" if type(model).__name__.endswith("ForSequenceClassification") else "embedding"
    use_eager_attention(model)
    use_tt = "token_type_ids" in inspect.signature(model.forward).parameters and (
        getattr(model.config, "type_vocab_size", 0) or 0
    ) > 0
    Classifier, MeanPooled = _wrappers()
    wrapper = Classifier(model, use_tt) if kind == "classifier" else MeanPooled(model, use_tt)
    return wrapper.eval(), kind, use_tt


def use_eager_attention(model) -> None:
    """Select eager attention: it gives the plain matmul/softmax pattern the passes expect."""
    try:
        model.set_attn_implementation("eager")
    except Exception:  # older transformers: the private attribute is what selects it
        model.config._attn_implementation = "eager"


def export_onnx(module, args: tuple, out_path: Path, *, input_names: list[str], output_names: list[str],
                opset: int = 18, what: str = "the model") -> None:
    """``torch.onnx.export`` (dynamo) of ``module`` called on ``args``, weights inside the file."""
    import torch

    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with torch.no_grad():
            torch.onnx.export(
                module,
                args,
                str(out_path),
                input_names=input_names,
                output_names=output_names,
                dynamo=True,
                optimize=True,
                opset_version=opset,
                external_data=False,
                verbose=False,
            )
    except Exception as exc:  # the exporter raises many types; keep the cause visible
        raise L2GError(
            f"torch.onnx (dynamo) could not export {what}: {type(exc).__name__}: {exc}. "
            "Check that onnxscript is installed and the model runs in PyTorch with these inputs."
        ) from exc


def export_model(
    model,
    out_path: str | Path,
    *,
    seq_len: int = 128,
    batch: int = 1,
    kind: ModelKind | None = None,
    opset: int = 18,
    model_dir: str | Path | None = None,
) -> ExportedModel:
    """Export ``model`` (a model dir or an in-memory transformers model) to ``out_path``.

    Shapes are fixed at ``(batch, seq_len)``.  Returns the :class:`ExportedModel` record,
    also saved as ``<out_path>.json``.  ``model_dir`` records where the tokenizer of an
    in-memory ``model`` lives.
    """
    import torch

    model_dir = str(Path(model_dir).resolve()) if model_dir is not None else None
    if isinstance(model, (str, Path)):
        model_dir = str(Path(model).resolve())
        model, kind = load_hf_model(model, kind)
    module, kind, use_tt = torch_module_for_export(model, kind)
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if use_tt else [])
    vocab = int(getattr(model.config, "vocab_size", 1000))
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, vocab, (batch, seq_len), generator=g)
    mask = torch.ones(batch, seq_len, dtype=torch.long)
    mask[:, seq_len // 2 :] = 0  # a padded example, so the mask path is traced as data, not constant
    args = (ids, mask) + ((torch.zeros(batch, seq_len, dtype=torch.long),) if use_tt else ())
    out_name = "logits" if kind == "classifier" else "embedding"
    out_path = Path(out_path)
    export_onnx(module, args, out_path, input_names=names, output_names=[out_name], opset=opset,
                what=f"the {kind} model")
    labels: tuple[str, ...] = ()
    if kind == "classifier":
        id2label = getattr(model.config, "id2label", None) or {}
        labels = tuple(str(id2label.get(i, i)) for i in range(int(model.config.num_labels)))
    rec = ExportedModel(
        onnx_path=str(out_path),
        kind=kind,
        batch=batch,
        seq_len=seq_len,
        input_names=tuple(names),
        output_name=out_name,
        labels=labels,
        model_dir=model_dir,
    )
    rec.save()
    return rec
