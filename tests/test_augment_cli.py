"""``l2g augment`` end to end, in subprocesses, against the real scripted HTTP teacher:
resume after a SIGKILL in the middle of an iteration, a full 2-iteration SST-2 run with the
MiniLM student, the seed-only baseline, and user errors."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from augment_models import tiny_bert
from l2g.augment import loop as L
from l2g.augment.tasks import get_task
from scripted_teacher import ScriptedTeacher, task_answer

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
WORDS = ("good bad film plot actor dull bright funny slow moving story score warm cold clever flat "
         "charming tedious sharp lazy").split()


def _env():
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    return env


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "l2g.augment.cli", "augment", *args]


def _write_sst2(data_dir: Path, n_train=60, n_test=12) -> Path:
    rng = random.Random(0)
    d = data_dir / "sst2"
    d.mkdir(parents=True)
    for split, n in (("train", n_train), ("test", n_test)):
        with (d / f"{split}.jsonl").open("w") as f:
            for i in range(n):
                text = " ".join(rng.choice(WORDS) for _ in range(6)) + f" {split} {i}"
                f.write(json.dumps({"text": text, "label": i % 2}) + "\n")
    return data_dir


@pytest.fixture(scope="module")
def tiny_student(tmp_path_factory):
    return tiny_bert(tmp_path_factory.mktemp("student") / "bert")


def _teacher_args(srv: ScriptedTeacher, *extra: str) -> list[str]:
    return ["--teacher-base-url", srv.base_url, "--teacher-model", "scripted", "--teacher-timeout", "10",
            "--teacher-backoff", "0.05", *extra]


def test_resume_after_sigkill_mid_iteration(tmp_path, tiny_student):
    data = _write_sst2(tmp_path / "data")
    run = tmp_path / "run"
    common = ["--task", "sst2", "--seed-size", "24", "--iterations", "2", "--data-dir", str(data),
              "--student", str(tiny_student), "--epochs", "1", "--max-len", "16", "--threads", "1", "-o", str(run)]

    def slow_answer(call):
        r = task_answer(call)
        r.delay = 0.25
        return r

    with ScriptedTeacher(slow_answer, signal_after=4) as srv:
        t_args = _teacher_args(srv, "--teacher-concurrency", "1")
        proc = subprocess.Popen(_cmd(*common, *t_args), env=_env(), cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            assert srv.reached.wait(180), "the run never reached the teacher"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == -signal.SIGKILL
        calls_before = srv.count
        # killed in the middle of iteration 0's teacher step
        killed = L.load_state(run)
        assert len(killed.iterations) == 1 and killed.iterations[0].phase == L.PHASE_EVALUATED
        assert killed.augmented == [] and not (run / "student").exists()
        cached = [json.loads(x) for x in (run / "teacher_cache.jsonl").read_text().splitlines() if x.strip()]
        assert len(cached) >= 3
        n_wrong0 = killed.iterations[0].n_wrong
        assert n_wrong0 > calls_before  # there was work left to do

        res = subprocess.run(_cmd("-o", str(run), "--resume", *t_args), env=_env(), cwd=REPO,
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]

    state = L.load_state(run)
    assert state.done and len(state.iterations) == 3
    # no repeated teacher calls: only the one request in flight at the kill may have been re-sent
    assert srv.repeated_prompts() <= 1
    requested = sum(s.n_requested for s in state.iterations[:2])
    assert srv.count == requested + srv.repeated_prompts()
    keys = [json.loads(x)["key"] for x in (run / "teacher_cache.jsonl").read_text().splitlines()]
    assert len(keys) == len(set(keys)) == requested
    # no lost or duplicated examples
    aug = state.augmented
    assert len({e.uid for e in aug}) == len(aug) == sum(s.n_accepted for s in state.iterations[:2])
    assert len({e.text for e in aug}) == len(aug)
    for s in state.iterations[:2]:
        assert s.n_accepted == s.n_requested == s.n_wrong  # the scripted teacher's answers are all valid
        assert sorted(e.parent for e in aug if e.iteration == s.iteration) == sorted(s.wrong_uids)
    # every answer cached before the kill ended up in the training data
    task = get_task("sst2")
    texts = {e.text for e in aug}
    for c in cached:
        assert task.parse_response(c["content"], L.read_examples(run / "seed.jsonl")[0], 0, 1, "x").examples[0].text in texts
    train = L.read_examples(run / "train_data.jsonl")
    assert len(train) == 24 + len(aug) == state.iterations[2].data_size
    assert "iter" in res.stdout and (run / "accuracy.png").is_file() and (run / "student" / "config.json").is_file()


def test_seed_only_baseline(tmp_path, tiny_student):
    data = _write_sst2(tmp_path / "data")
    run = tmp_path / "base"
    res = subprocess.run(
        _cmd("--task", "sst2", "--seed-size", "10", "--seed-only", "--data-dir", str(data), "--student",
             str(tiny_student), "--epochs", "1", "--max-len", "16", "--threads", "1", "-o", str(run)),
        env=_env(), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    state = L.load_state(run)
    assert len(state.iterations) == 1 and state.augmented == [] and state.config.seed_only
    assert not (run / "teacher_log.jsonl").exists() and (run / "student" / "model.safetensors").is_file()


@pytest.mark.parametrize("args,msg", [
    (["--seed-only", "-o", "{run}"], "already holds a run"),
    (["-o", "{tmp}/nothing", "--resume"], "no state.json"),
    (["-o", "{tmp}/x"], "--teacher-base-url"),
    (["--seed-size", "1000", "--seed-only", "-o", "{tmp}/y"], "larger than"),
    (["--task", "gsm8k", "--seed-only", "-o", "{tmp}/z"], "causal LM"),
    (["--fields", "text", "--train-file", "{data}/sst2/train.jsonl", "--seed-only", "-o", "{tmp}/w"], "bad field mapping"),
])
def test_user_errors(tmp_path, capsys, args, msg):
    """Errors a user can act on: exit code 1, one line, no traceback (in-process CLI)."""
    from l2g.augment.cli import main

    data = _write_sst2(tmp_path / "data")
    run = tmp_path / "run"
    run.mkdir()
    (run / "state.json").write_text("{}")
    args = [a.format(run=run, tmp=tmp_path, data=data) for a in args]
    base = ["--task", "sst2", "--seed-size", "10", "--data-dir", str(data)]
    if "--resume" in args:
        base = []
    elif "--task" in args:
        base = ["--seed-size", "4", "--data-dir", str(data)]
    elif "--seed-size" in args:
        base = ["--task", "sst2", "--data-dir", str(data)]
    assert main(["augment", *base, *args]) == 1
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err, err


def test_cli_is_registered():
    from l2g import cli

    assert "l2g.augment.cli" in cli.COMMAND_MODULES
    help_text = subprocess.run([sys.executable, "-m", "l2g.augment.cli", "--help"], env=_env(), cwd=REPO,
                               capture_output=True, text=True, timeout=120).stdout
    assert "augment" in help_text and "teacher" in help_text


@pytest.mark.skipif(not (SHARED / "sst2" / "train.jsonl").is_file(), reason="../shared/data is not present")
def test_two_iterations_sst2_minilm(tmp_path):
    """The default student (all-MiniLM-L6-v2) on 16 SST-2 seed examples, 2 iterations."""
    run = tmp_path / "run"
    with ScriptedTeacher() as srv:
        t0 = time.time()
        res = subprocess.run(
            _cmd("--task", "sst2", "--seed-size", "16", "--iterations", "2", "--data-dir", str(SHARED),
                 "--test-size", "48", "--epochs", "1", "--max-len", "32", "--threads", "1", "-o", str(run),
                 *_teacher_args(srv)),
            env=_env(), cwd=REPO, capture_output=True, text=True, timeout=600)
        elapsed = time.time() - t0
    assert res.returncode == 0, res.stderr[-3000:]
    state = L.load_state(run)
    its = state.iterations
    assert [s.iteration for s in its] == [0, 1, 2]
    sizes = [s.data_size for s in its]
    assert sizes[0] == 16 and its[0].n_wrong > 0
    assert sizes[1] == 16 + its[0].n_accepted > sizes[0] and sizes[2] == sizes[1] + its[1].n_accepted
    assert srv.count == its[0].n_wrong + its[1].n_wrong
    # the per-iteration table on stdout and in report.md
    lines = res.stdout.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("iter"))
    assert "seed acc" in lines[header] and "test acc" in lines[header] and "#accepted" in lines[header]
    rows = [ln.split() for ln in lines[header + 2: header + 5]]
    assert [r[0] for r in rows] == ["0", "1", "2"] and [int(r[1]) for r in rows] == sizes
    assert (run / "accuracy.png").stat().st_size > 1000 and "| 2 |" in (run / "report.md").read_text()
    # the merged student is a plain HF classifier
    from transformers import AutoModelForSequenceClassification

    m = AutoModelForSequenceClassification.from_pretrained(str(run / "student"))
    assert m.config.num_labels == 2 and m.config.hidden_size == 384
    print(f"2-iteration MiniLM run: {elapsed:.1f}s")


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
@pytest.mark.parametrize("task", ["sst2", "trec", "snips", "casehold", "gsm8k"])
def test_every_task_end_to_end_in_process(task, tmp_path, tiny_student, capsys):
    """One augmentation round per task through the CLI (in-process, tiny random students)."""
    from augment_models import tiny_gpt2
    from l2g.augment.cli import main

    student = tiny_student if task != "gsm8k" else tiny_gpt2(tmp_path / "gpt2")
    run = tmp_path / "run"
    with ScriptedTeacher() as srv:
        rc = main(["augment", "--task", task, "--seed-size", "6", "--iterations", "1", "--data-dir", str(SHARED),
                   "--test-size", "6", "--student", str(student), "--epochs", "1", "--max-len", "32",
                   "--gen-max-new-tokens", "4", "--threads", "1", "-o", str(run), *_teacher_args(srv)])
    out = capsys.readouterr()
    assert rc == 0, out.err[-3000:]
    state = L.load_state(run)
    s0 = state.iterations[0]
    assert state.done and s0.n_requested == s0.n_wrong == srv.count
    assert s0.n_accepted + s0.n_rejected >= s0.n_requested and s0.rejected.get("request_failed", 0) == 0
    assert state.iterations[1].data_size == 6 + s0.n_accepted
    assert all(e.parent in s0.wrong_uids for e in state.augmented)
    assert (run / "student" / "config.json").is_file() and (run / "report.md").is_file()
