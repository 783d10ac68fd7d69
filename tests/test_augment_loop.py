"""The LLM2LLM loop with a fake (mocked) student and the real scripted HTTP teacher:
only seed examples are sources, training restarts from the base each iteration on seed +
all accepted data, rejections are counted by reason, replays from the cache, report."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from l2g.augment import loop as L
from l2g.augment import report
from l2g.augment.student import TrainConfig
from l2g.augment.tasks import Example
from l2g.augment.teacher import TeacherConfig
from l2g.errors import L2GError
from scripted_teacher import Reply, ScriptedTeacher, make_example, task_answer


class FakeStudent:
    """Gets a seed example right once the training data holds an augmented child of it
    (or when its uid ends in 0); records every training call."""

    def __init__(self):
        self.calls: list[tuple[str, list[Example]]] = []

    def train(self, task, base, examples, cfg, desc):
        self.calls.append((base, list(examples)))
        return {e.parent for e in examples if e.parent}

    def evaluate(self, handle, examples, cfg, desc):
        return [e.uid in handle or e.uid.endswith("0") for e in examples]

    def save(self, handle, out_dir: Path):
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text("{}")


def _seed(n=12):
    return [Example(f"train-{i}", f"seed sentence number {i} about a film", "positive" if i % 2 else "negative")
            for i in range(n)]


def _test(n=6):
    return [Example(f"test-{i}", f"test sentence {i}", "positive") for i in range(n)]


def _state(base_url, **kw):
    tc = TeacherConfig(base_url=base_url, model="scripted", timeout_s=5, max_retries=1, backoff_s=0.01,
                       backoff_max_s=0.02, concurrency=3)
    cfg = L.RunConfig(task="sst2", student="/base/model", iterations=kw.pop("iterations", 3), seed_size=12,
                      teacher=tc, train=TrainConfig(epochs=1), **kw)
    return L.RunState(config=cfg)


def _run(tmp_path, srv, **kw):
    seed, test = _seed(), _test()
    fake = FakeStudent()
    state = _state(srv.base_url, **kw)
    L.save_state(tmp_path, state)
    state = L.run_loop(tmp_path, state, seed, test, backend=fake, log=lambda m: None)
    return state, fake, seed


def test_only_wrong_seed_examples_are_sources(tmp_path):
    with ScriptedTeacher() as srv:
        state, fake, seed = _run(tmp_path, srv)
    seed_texts = {e.text for e in seed}
    aug_texts = {e.text for e in state.augmented}
    # every teacher prompt was about a seed example, never an augmented one
    for call in srv.calls:
        assert call.wrong_example()["text"] in seed_texts
        assert not any(t in call.user for t in aug_texts)
    assert all(e.parent in {s.uid for s in seed} and e.source == "teacher" for e in state.augmented)
    its = state.iterations
    assert [s.iteration for s in its] == [0, 1, 2, 3] and state.done
    # iteration 0: uids ending in 0 (train-0, train-10) are right, the other 10 wrong
    assert its[0].n_wrong == 10 and its[0].n_requested == 10 and its[0].n_accepted == 10
    # the fake learns every augmented parent, so nothing is left wrong after one round
    assert its[1].n_wrong == 0 and its[1].n_requested == 0
    assert srv.count == 10
    # each iteration trains from the base weights on seed + everything accepted before it
    assert [base for base, _ in fake.calls] == ["/base/model"] * 4
    assert [len(ex) for _, ex in fake.calls] == [12, 22, 22, 22] == [s.data_size for s in its]
    assert fake.calls[1][1][:12] == seed
    assert (tmp_path / "student" / "config.json").is_file()
    assert len(L.read_examples(tmp_path / "train_data.jsonl")) == 22


def test_augment_all_sends_every_seed_each_iteration(tmp_path):
    with ScriptedTeacher() as srv:
        state, fake, seed = _run(tmp_path, srv, iterations=2, augment_all=True)
    assert [s.n_requested for s in state.iterations[:2]] == [12, 12]
    assert srv.count == 24
    # the request seed differs per iteration, so the scripted teacher writes new text
    assert state.iterations[1].n_accepted == 12 and len(state.augmented) == 24
    assert {c.wrong_example()["text"] for c in srv.calls} == {e.text for e in seed}


def test_per_example_requests_several(tmp_path):
    def script(call):
        w = call.wrong_example()
        return Reply("\n".join(json.dumps(make_example(w, call.seed, k)) for k in range(2)))

    with ScriptedTeacher(script) as srv:
        state, _, _ = _run(tmp_path, srv, iterations=1, per_example=2)
    assert state.iterations[0].n_accepted == 20 and "2 NEW examples" in srv.calls[0].user


def test_rejections_are_counted_by_reason(tmp_path):
    def script(call):
        w = call.wrong_example()
        i = int(w["text"].split()[3])
        if i == 1:
            return Reply("I think this one is positive.")
        if i == 2:
            return Reply(json.dumps({"text": "fine film", "label": "neutral"}))
        if i == 3:
            return Reply(status=500)
        if i == 4:
            return Reply(json.dumps({"text": w["text"], "label": w["label"]}))  # copy of the seed
        if i == 5:
            return Reply(json.dumps({"text": "", "label": w["label"]}))
        if i in (6, 7):  # the same new sentence twice: the second is a duplicate within the batch
            return Reply(json.dumps({"text": "exactly the same new sentence for both", "label": w["label"]}))
        return task_answer(call)

    with ScriptedTeacher(script) as srv:
        state, _, _ = _run(tmp_path, srv, iterations=1)
    s = state.iterations[0]
    assert s.n_requested == 10
    assert s.rejected == {"duplicate": 2, "empty_text": 1, "malformed": 1, "request_failed": 1, "unknown_label": 1}
    assert s.n_accepted == 4 and s.n_rejected == 6
    assert s.n_generated == 8  # objects found in the answers (not the malformed or failed ones)
    lines = [json.loads(x) for x in (tmp_path / "rejected_it0.jsonl").read_text().splitlines()]
    assert sorted(x["reason"] for x in lines) == sorted(["duplicate"] * 2 + ["empty_text", "malformed",
                                                                           "request_failed", "unknown_label"])
    table = report.format_table(state)
    assert "request_failed=1" in table and "#accepted" in table


def test_resume_replays_cached_answers_without_new_calls(tmp_path):
    with ScriptedTeacher() as srv:
        state, _, seed = _run(tmp_path, srv, iterations=1)
        n_calls, accepted = srv.count, [e.to_json() for e in state.augmented]
        # pretend the run died in the middle of iteration 0's augmentation step: the state
        # says "evaluated" and holds a partial list of accepted examples
        saved = L.load_state(tmp_path)
        saved.iterations = saved.iterations[:1]
        saved.iterations[0].phase = L.PHASE_EVALUATED
        saved.augmented = saved.augmented[:3]
        L.save_state(tmp_path, saved)
        again = L.run_loop(tmp_path, L.load_state(tmp_path), seed, _test(), backend=FakeStudent(), log=lambda m: None)
        assert srv.count == n_calls  # every answer came from the cache
    assert [e.to_json() for e in again.augmented] == accepted
    assert again.iterations[0].n_accepted == len(accepted)


def test_seed_only_needs_no_teacher(tmp_path):
    state = L.RunState(config=L.RunConfig(task="sst2", student="/b", iterations=3, seed_size=12, seed_only=True))
    out = L.run_loop(tmp_path, state, _seed(), _test(), backend=FakeStudent(), log=lambda m: None)
    assert len(out.iterations) == 1 and out.done and not out.augmented
    assert not (tmp_path / "teacher_log.jsonl").exists()


def test_missing_teacher_is_a_user_error(tmp_path):
    state = L.RunState(config=L.RunConfig(task="sst2", student="/b", iterations=1, seed_size=12))
    with pytest.raises(L2GError, match="teacher"):
        L.run_loop(tmp_path, state, _seed(), _test(), backend=FakeStudent(), log=lambda m: None)


def test_state_round_trip_and_atomic_files(tmp_path):
    with ScriptedTeacher() as srv:
        state, _, _ = _run(tmp_path, srv, iterations=1)
    loaded = L.load_state(tmp_path)
    assert loaded.to_json() == state.to_json()
    assert replace(loaded.config) == state.config
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind
    report.write_report(tmp_path, state)
    assert (tmp_path / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "report.md").read_text()
    assert "| iter | data | seed acc | test acc |" in md and "accuracy.png" in md
    rows = report.format_table(state).splitlines()
    assert rows[0].split()[:4] == ["iter", "data", "seed", "acc"] and len(rows) == 2 + 2


def test_resume_can_extend_a_finished_run(tmp_path):
    with ScriptedTeacher(lambda c: Reply(json.dumps({"text": f"new text {c.index} {c.seed}", "label": "positive"}))) as srv:
        state, _, seed = _run(tmp_path, srv, iterations=1, augment_all=True)
        L.write_examples(tmp_path / "seed.jsonl", seed)
        L.write_examples(tmp_path / "test.jsonl", _test())
        assert state.done and srv.count == 12
        more, seed2, test2 = L.start_or_resume(tmp_path, None, True, {"iterations": 2})
        assert seed2 == seed and test2 == _test() and not more.done
        more = L.run_loop(tmp_path, more, seed2, test2, backend=FakeStudent(), log=lambda m: None)
    assert more.done and [s.iteration for s in more.iterations] == [0, 1, 2]
    assert more.iterations[1].phase == L.PHASE_AUGMENTED and srv.count == 24
    assert more.iterations[2].data_size == 12 + 24
