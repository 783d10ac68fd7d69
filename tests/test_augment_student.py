"""Student training with transformers + peft LoRA on tiny random-weight models, merging into
a plain Hugging Face model dir, and reloading it without peft."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import torch

from augment_models import tiny_bert, tiny_gpt2  # noqa: E402
from l2g.augment import student as S  # noqa: E402
from l2g.augment.tasks import Example, get_task  # noqa: E402

CFG = S.TrainConfig(epochs=2, batch_size=4, max_len=32, gen_max_new_tokens=6, eval_batch_size=8)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    return {"bert": tiny_bert(d / "bert"), "gpt2": tiny_gpt2(d / "gpt2")}


def _digest(p: Path) -> str:
    return hashlib.sha256((p / "model.safetensors").read_bytes()).hexdigest()


def _cls_data():
    pos = ["a wonderful , moving film", "great fun and warm", "brilliant acting", "a joy to watch"]
    neg = ["a dull , lifeless mess", "boring and far too long", "awful script", "a tedious bore"]
    return [Example(f"p{i}", t, "positive") for i, t in enumerate(pos)] + [
        Example(f"n{i}", t, "negative") for i, t in enumerate(neg)]


def test_default_student_is_bundled_minilm():
    p = S.default_student_path()
    cfg = json.loads((p / "config.json").read_text())
    assert cfg["model_type"] == "bert" and cfg["hidden_size"] == 384 and cfg["num_hidden_layers"] == 6


def test_classification_train_merge_reload(models, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    task, data = get_task("sst2"), _cls_data()
    before = _digest(models["bert"])
    st = S.train_student(task, models["bert"], data, CFG)
    preds = S.predict(st, data, CFG)
    assert set(preds) <= set(task.labels)
    assert S.evaluate(st, data, CFG) == [p == e.label for p, e in zip(preds, data)]
    out = S.save_merged(st, tmp_path / "merged")
    assert _digest(models["bert"]) == before  # base weights untouched
    assert not (out / "adapter_config.json").exists()
    m = AutoModelForSequenceClassification.from_pretrained(str(out)).eval()
    tok = AutoTokenizer.from_pretrained(str(out))
    assert m.config.id2label == {0: "negative", 1: "positive"}
    assert not any("lora" in k for k in m.state_dict())
    with torch.no_grad():
        logits = m(**tok([e.text for e in data], padding=True, return_tensors="pt")).logits
    assert [task.labels[i] for i in logits.argmax(-1).tolist()] == preds


def test_training_is_from_base_and_deterministic(models):
    task, data = get_task("sst2"), _cls_data()
    a = S.predict(S.train_student(task, models["bert"], data, CFG), data, CFG)
    b = S.predict(S.train_student(task, models["bert"], data, CFG), data, CFG)
    assert a == b


def test_multiple_choice_train_merge_reload(models, tmp_path):
    from transformers import AutoModelForMultipleChoice

    task = get_task("casehold")
    data = [Example(f"c{i}", f"context {i} " * 30 + "<HOLDING>", str(i % 5),
                    tuple(f"holding that option {j} " * 10 for j in range(5))) for i in range(6)]
    st = S.train_student(task, models["bert"], data, CFG)
    preds = S.predict(st, data, CFG)
    assert all(p in {"0", "1", "2", "3", "4"} for p in preds)
    out = S.save_merged(st, tmp_path / "mc")
    m = AutoModelForMultipleChoice.from_pretrained(str(out))
    assert m.classifier.out_features == 1


def test_causal_lm_train_generate_merge(models, tmp_path):
    from transformers import AutoModelForCausalLM

    task = get_task("gsm8k")
    data = [Example(f"g{i}", f"What is {i} plus 1?", f"{i} + 1 = {i + 1}\n#### {i + 1}") for i in range(4)]
    st = S.train_student(task, models["gpt2"], data, CFG)
    preds = S.predict(st, data, CFG)
    assert len(preds) == 4 and all(isinstance(p, str) for p in preds)
    flags = S.evaluate(st, data, CFG)
    assert flags == [task.is_correct(e, p) for e, p in zip(data, preds)]
    out = S.save_merged(st, tmp_path / "lm")
    m = AutoModelForCausalLM.from_pretrained(str(out))
    assert not any("lora" in k for k in m.state_dict())
    assert (out / "tokenizer.json").is_file()
