"""Loaders (shared JSONL folder, local JSONL/CSV with a field mapping, Hugging Face ids) and
seed selection."""

from __future__ import annotations

import csv
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from l2g.augment.tasks import Example, Task
from l2g.errors import L2GError


@dataclass(frozen=True)
class FieldMap:
    """Which source fields hold the text, the label and (multiple choice) the choices.

    ``choices`` is either one field holding a list (or a JSON list string) or several fields
    joined by ``|`` (``holding_0|holding_1|...``).  Empty values mean the task's defaults."""

    text: str = ""
    label: str = ""
    choices: str = ""

    @classmethod
    def parse(cls, spec: str | None) -> "FieldMap":
        """``"text=sentence,label=label"`` → FieldMap."""
        if not spec:
            return cls()
        kw: dict[str, str] = {}
        for part in spec.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise L2GError(f"bad field mapping {part!r}: use NAME=FIELD, e.g. text=sentence,label=label")
            k, v = (s.strip() for s in part.split("=", 1))
            if k not in ("text", "label", "choices"):
                raise L2GError(f"bad field mapping key {k!r}: use text, label or choices")
            kw[k] = v
        return cls(**kw)

    def resolved(self, task: Task) -> "FieldMap":
        return FieldMap(
            text=self.text or task.text_field,
            label=self.label or task.label_field,
            choices=self.choices or task.choices_field,
        )


@dataclass(frozen=True)
class DataSource:
    """Where one split comes from: a file path or ``hf:DATASET_ID@SPLIT``."""

    spec: str
    fields: FieldMap = field(default_factory=FieldMap)
    hf_config: str | None = None


def default_data_dir() -> Path | None:
    """``$L2G_DATA_DIR``, else ``../shared/data`` next to the checkout, when it exists."""
    env = os.environ.get("L2G_DATA_DIR")
    if env:
        return Path(env)
    from l2g.paths import REPO_ROOT

    p = REPO_ROOT.parent / "shared" / "data"
    return p if p.is_dir() else None


def split_path(task: Task, data_dir: Path | str, split: str) -> Path:
    return Path(data_dir) / task.name / f"{split}.jsonl"


def record_to_example(task: Task, rec: dict, fm: FieldMap, uid: str, where: str) -> Example:
    fm = fm.resolved(task)
    if fm.text not in rec:
        raise L2GError(f"{where}: no field {fm.text!r} (fields: {sorted(rec)}); map it with --fields text=NAME")
    if fm.label not in rec:
        raise L2GError(f"{where}: no field {fm.label!r} (fields: {sorted(rec)}); map it with --fields label=NAME")
    text = str(rec[fm.text]).strip()
    raw_label = rec[fm.label]
    if isinstance(raw_label, str) and raw_label.strip().lstrip("-").isdigit() and task.kind != "generation":
        raw_label = int(raw_label)
    label = task.normalise_label(raw_label)
    if label is None:
        raise L2GError(f"{where}: label {raw_label!r} is not valid for task {task.name}")
    choices: tuple[str, ...] = ()
    if task.kind == "multiple_choice":
        if "|" in fm.choices:
            choices = tuple(str(rec[c]) for c in fm.choices.split("|"))
        else:
            val = rec.get(fm.choices)
            if isinstance(val, str):
                try:
                    val = json.loads(val)
                except json.JSONDecodeError:
                    val = None
            if not isinstance(val, list):
                raise L2GError(f"{where}: field {fm.choices!r} is not a list of choices; map it with --fields choices=A|B|C|D|E")
            choices = tuple(str(c) for c in val)
        if len(choices) != task.n_choices:
            raise L2GError(f"{where}: {len(choices)} choices, task {task.name} needs {task.n_choices}")
    return Example(uid=uid, text=text, label=label, choices=choices)


def _read_records(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".ndjson"):
            recs = []
            with path.open(encoding="utf-8") as f:
                for ln, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            recs.append(json.loads(line))
                        except json.JSONDecodeError as exc:
                            raise L2GError(f"{path}:{ln}: not valid JSON ({exc.msg})") from None
            return recs
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and "data" in data:
                data = data["data"]
            if not isinstance(data, list):
                raise L2GError(f"{path}: expected a JSON list of objects")
            return data
        if suffix in (".csv", ".tsv"):
            with path.open(encoding="utf-8", newline="") as f:
                return list(csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ","))
    except OSError as exc:
        raise L2GError(f"cannot read {path}: {exc}") from None
    raise L2GError(f"{path}: unknown file type {suffix!r}; use .jsonl, .json, .csv or .tsv")


def _load_hf(spec: str, config: str | None) -> list[dict]:
    body = spec[len("hf:"):]
    name, _, split = body.partition("@")
    split = split or "train"
    try:
        import datasets  # heavy, optional
    except ImportError:
        raise L2GError("loading Hugging Face datasets needs the `datasets` package (pip install 'l2g[hub]')") from None
    try:
        ds = datasets.load_dataset(name, config, split=split)
    except Exception as exc:  # datasets raises many kinds (ConnectionError, DatasetNotFoundError, ...)
        offline = os.environ.get("HF_DATASETS_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = (
            " HF_DATASETS_OFFLINE/HF_HUB_OFFLINE is set and the dataset is not in the local cache;"
            " unset it or pass a local JSONL/CSV file instead."
            if offline
            else " Check the id, the split and the network, or pass a local JSONL/CSV file instead."
        )
        raise L2GError(
            f"cannot load Hugging Face dataset {name!r} (config {config!r}, split {split!r}): "
            f"{type(exc).__name__}: {str(exc)[:300]}.{hint}"
        ) from None
    return [dict(r) for r in ds]


def load_examples(task: Task, source: DataSource, uid_prefix: str) -> list[Example]:
    """All examples of one split.  ``uid`` is ``<uid_prefix><row index>``."""
    if source.spec.startswith("hf:"):
        recs = _load_hf(source.spec, source.hf_config)
        where = source.spec
    else:
        path = Path(source.spec)
        if not path.is_file():
            raise L2GError(f"data file {path} does not exist")
        recs = _read_records(path)
        where = str(path)
    out = []
    for i, rec in enumerate(recs):
        if not isinstance(rec, dict):
            raise L2GError(f"{where}: row {i} is not an object")
        out.append(record_to_example(task, rec, source.fields, f"{uid_prefix}{i}", f"{where} row {i}"))
    if not out:
        raise L2GError(f"{where}: no examples")
    return out


def select_seed(
    pool: list[Example], size: int | None = None, fraction: float | None = None, seed: int = 0
) -> list[Example]:
    """A reproducible random subset: ``size`` examples or ``fraction`` of the pool (at least
    one), chosen with ``random.Random(seed)`` and returned in pool order."""
    if (size is None) == (fraction is None):
        raise L2GError("give exactly one of a seed size or a seed fraction")
    if fraction is not None:
        if not 0.0 < fraction <= 1.0:
            raise L2GError(f"seed fraction must be in (0, 1], got {fraction}")
        size = max(1, round(len(pool) * fraction))
    assert size is not None
    if size < 1:
        raise L2GError(f"seed size must be positive, got {size}")
    if size > len(pool):
        raise L2GError(f"seed size {size} is larger than the training pool ({len(pool)} examples)")
    idx = sorted(random.Random(seed).sample(range(len(pool)), size))
    return [pool[i] for i in idx]


def _same_source(a: DataSource, b: DataSource) -> bool:
    if a.spec.startswith("hf:") or b.spec.startswith("hf:"):
        return a.spec == b.spec and a.hf_config == b.hf_config
    return Path(a.spec).resolve() == Path(b.spec).resolve()


@dataclass(frozen=True)
class SplitPlan:
    """The seed examples and the test examples of a run, and a note on how they were made."""

    seed: list[Example]
    test: list[Example]
    note: str = ""


def plan_splits(
    task: Task,
    *,
    data_dir: Path | None,
    train: DataSource | None,
    test: DataSource | None,
    seed_size: int | None,
    seed_fraction: float | None,
    seed: int,
    test_size: int | None,
) -> SplitPlan:
    """Resolve the training pool and the test set, then select the seed.

    When the pool and the test set come from the same file (CaseHOLD in the shared data has
    only a test sample), the seed is drawn from it and the test set is the rest, so they
    never overlap."""
    note = ""
    if train is None:
        if data_dir is None:
            raise L2GError("no training data: pass --train-file, or --data-dir (the shared JSONL folder)")
        p = split_path(task, data_dir, task.train_split)
        if p.is_file():
            train = DataSource(str(p))
        else:
            alt = split_path(task, data_dir, task.test_split)
            if not alt.is_file():
                raise L2GError(f"no {p} (nor {alt}); pass --train-file")
            train = DataSource(str(alt))
            note = f"{p.name} is missing; the seed is drawn from {alt} and the test set is the rest of that file"
    if test is None and data_dir is not None:
        p = split_path(task, data_dir, task.test_split)
        if p.is_file():
            test = DataSource(str(p))
    pool = load_examples(task, train, "train-")
    chosen = select_seed(pool, seed_size, seed_fraction, seed)
    if test is None:
        raise L2GError("no test data: pass --test-file, or --data-dir with <task>/test.jsonl")
    if _same_source(train, test):
        ids = {e.uid for e in chosen}
        tests = [e for e in pool if e.uid not in ids]
        tests = [Example(uid="test-" + e.uid.split("-", 1)[1], text=e.text, label=e.label, choices=e.choices) for e in tests]
        if not note:
            note = "train and test come from the same source; the test set is everything not in the seed"
    else:
        tests = load_examples(task, test, "test-")
    if test_size is not None and test_size < len(tests):
        tests = select_seed(tests, size=test_size, seed=seed + 1)
    if not tests:
        raise L2GError("the test set is empty")
    return SplitPlan(seed=chosen, test=tests, note=note)
