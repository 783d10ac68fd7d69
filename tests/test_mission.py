"""``l2g pipeline`` end to end in subprocesses: the real scripted HTTP teacher on 127.0.0.1,
a tiny random BERT student (character vocabulary) on the shared SST-2 data, the real TVM build, real Spike; then the
resume contract (a rerun skips every finished stage and redoes only the missing ones)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripted_teacher import ScriptedTeacher

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def _env():
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


def _pipeline(run: Path, student: Path, base_url: str, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "l2g.cli", "pipeline", "--task", "sst2", "--seed-size", "16", "--iterations", "1",
           "--teacher-base-url", base_url, "--teacher-model", "scripted", "--teacher-backoff", "0.05",
           "--teacher-timeout", "10", "--data-dir", str(SHARED), "--test-size", "12", "--student", str(student),
           "--epochs", "1", "--batch-size", "8", "--max-len", "16", "--threads", "1", "--seq-len", "16",
           "--calib-samples", "4", "--host-samples", "12", "--spike-samples", "2", "-o", str(run), *extra]
    return subprocess.run(cmd, env=_env(), cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_pipeline_end_to_end_and_resume(tmp_path):
    if not (SHARED / "sst2" / "train.jsonl").is_file():
        pytest.fail(f"the shared task data is missing: {SHARED}/sst2")
    from l2g.frontend.synthetic import BertShape, make_bert_model

    # a character-level vocabulary keeps the embedding table (and the compile) small
    student = make_bert_model(tmp_path / "student", BertShape(hidden=32, heads=2, intermediate=64, layers=2,
                                                               max_positions=64))
    run = tmp_path / "run"
    with ScriptedTeacher() as srv:
        res = _pipeline(run, student, srv.base_url)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
        first_calls = srv.count

        rep = json.loads((run / "report.json").read_text())
        its = rep["augment"]["iterations"]
        assert [i["iteration"] for i in its] == [0, 1]
        assert its[1]["n_augmented"] == first_calls > 0  # the scripted teacher's examples are all valid
        assert all(0.0 <= i["test_acc"] <= 1.0 for i in its)
        assert (run / "augment" / "student" / "config.json").is_file()
        comp = rep["compile"]
        assert comp["mode"] == "integer" and comp["config"] == "ibert" and comp["n_gemmini_ops"] > 0
        h, s = rep["host_eval"], rep["spike_eval"]
        assert h["n"] == 12 and s["n"] == 2
        assert s["n_bit_exact"] == 2 and s["cycles_per_inference"] > 0
        for smp in s["samples"]:
            assert smp["check"] == "bit-exact"
            assert smp["spike"] == smp["host"]  # bit-exact logits give the same label
            assert smp["gold"] in ("negative", "positive")
        assert s["spike_acc"] == s["host_acc"]
        md = (run / "report.md").read_text()
        assert "Accuracy per LLM2LLM iteration" in md and "cycles per inference" in md
        assert f"{s['cycles_per_inference']:,.0f}" in md

        # a rerun after the augmentation, compile and host evaluation: only Spike and the report run
        state = json.loads((run / "pipeline.json").read_text())
        del state["results"]["spike_eval"]
        (run / "pipeline.json").write_text(json.dumps(state))
        elf = run / "compiled" / "model.elf"
        elf_mtime = elf.stat().st_mtime_ns
        aug_state = (run / "augment" / "state.json").read_text()
        res2 = _pipeline(run, student, srv.base_url)
        assert res2.returncode == 0, res2.stdout[-3000:] + res2.stderr[-5000:]
        assert srv.count == first_calls  # the teacher was not asked again
        for stage in ("LLM2LLM augmentation", "ONNX export", "test accuracy on the host"):
            assert f"{stage}" in res2.stderr and "already done, skipped" in res2.stderr
        assert res2.stderr.count("already done, skipped") == 3
        assert "test sentences on Spike" in res2.stderr
        assert elf.stat().st_mtime_ns == elf_mtime and (run / "augment" / "state.json").read_text() == aug_state
        assert json.loads((run / "report.json").read_text())["spike_eval"] == s

        # and a third run has nothing left to do but the report
        res3 = _pipeline(run, student, srv.base_url)
        assert res3.returncode == 0 and res3.stderr.count("already done, skipped") == 4, res3.stderr[-3000:]


def test_pipeline_refuses_a_task_it_cannot_compile(tmp_path, capsys):
    from l2g.cli import main

    with ScriptedTeacher() as srv:
        rc = main(["pipeline", "--task", "gsm8k", "--seed-size", "4", "--teacher-base-url", srv.base_url,
                   "--teacher-model", "x", "-o", str(tmp_path / "run")])
    assert rc == 1 and not (tmp_path / "run").exists()
    assert "task 'gsm8k' is generation. Choose one of: sst2, trec, snips" in capsys.readouterr().err
