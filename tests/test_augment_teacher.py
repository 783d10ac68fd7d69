"""The teacher client against a real scripted OpenAI-compatible HTTP server: well-formed and
malformed answers, HTTP 500s, 429s, slow responses past the timeout, concurrency limit,
request/response log and the response cache."""

from __future__ import annotations

import json

import pytest

from l2g.augment.tasks import Example, get_task
from l2g.augment.teacher import Teacher, TeacherConfig, TeacherRequest
from scripted_teacher import Reply, ScriptedTeacher, task_answer
from test_augment_tasks import SEEDS


def _cfg(base_url: str, **kw) -> TeacherConfig:
    kw.setdefault("timeout_s", 5.0)
    kw.setdefault("max_retries", 3)
    kw.setdefault("backoff_s", 0.01)
    kw.setdefault("backoff_max_s", 0.05)
    return TeacherConfig(base_url=base_url, model="scripted", **kw)


def _req(name="sst2", salt="it0:s1") -> TeacherRequest:
    return TeacherRequest.from_messages(get_task(name).build_prompt(SEEDS[name]), salt)


def _log(tmp_path):
    return [json.loads(x) for x in (tmp_path / "teacher_log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", ["sst2", "trec", "snips", "casehold", "gsm8k"])
def test_well_formed_answer_round_trip(tmp_path, name):
    task = get_task(name)
    with ScriptedTeacher() as srv:
        t = Teacher(_cfg(srv.base_url), tmp_path)
        res = t.complete(_req(name))
    assert res.error is None and not res.cached and res.attempts == 1
    parsed = task.parse_response(res.content, SEEDS[name], 0, 1, "p")
    assert len(parsed.examples) == 1 and not parsed.rejections
    body = srv.calls[0].body
    assert body["temperature"] == 1.0 and body["model"] == "scripted" and isinstance(body["seed"], int)
    events = [e["event"] for e in _log(tmp_path)]
    assert events == ["request", "response"]


def test_http_500_is_retried_then_succeeds(tmp_path):
    def script(call):
        return Reply(status=500) if call.index < 2 else task_answer(call)

    with ScriptedTeacher(script) as srv:
        t = Teacher(_cfg(srv.base_url), tmp_path)
        res = t.complete(_req())
    assert res.content and res.attempts == 3 and srv.count == 3
    log = _log(tmp_path)
    assert [e["event"] for e in log] == ["request", "error", "request", "error", "request", "response"]
    assert log[1]["status"] == 500


def test_429_is_retried(tmp_path):
    def script(call):
        return Reply(status=429, headers={"Retry-After": "0"}) if call.index == 0 else task_answer(call)

    with ScriptedTeacher(script) as srv:
        res = Teacher(_cfg(srv.base_url), tmp_path).complete(_req())
    assert res.content and res.attempts == 2 and srv.count == 2
    assert _log(tmp_path)[1]["error"] == "RateLimitError"


def test_persistent_500_fails_after_retries_and_is_not_cached(tmp_path):
    with ScriptedTeacher(lambda c: Reply(status=503)) as srv:
        t = Teacher(_cfg(srv.base_url, max_retries=2), tmp_path)
        res = t.complete(_req())
        assert res.content is None and "InternalServerError" in res.error and srv.count == 3
        assert t.counters.failed == 1 and len(t.cache) == 0
        # a later call tries again rather than replaying a failure
        t.complete(_req())
        assert srv.count == 6


def test_client_error_is_not_retried(tmp_path):
    with ScriptedTeacher(lambda c: Reply(status=400)) as srv:
        res = Teacher(_cfg(srv.base_url), tmp_path).complete(_req())
    assert res.content is None and "BadRequestError" in res.error and srv.count == 1


def test_slow_response_trips_timeout_then_retry_succeeds(tmp_path):
    def script(call):
        return Reply(delay=3.0) if call.index == 0 else task_answer(call)

    with ScriptedTeacher(script) as srv:
        res = Teacher(_cfg(srv.base_url, timeout_s=0.5), tmp_path).complete(_req())
    assert res.content and res.attempts == 2
    assert _log(tmp_path)[1]["error"] == "APITimeoutError"


def test_malformed_answer_is_returned_for_the_parser_to_reject(tmp_path):
    with ScriptedTeacher(lambda c: Reply("Sure! Positive sentences are nice.")) as srv:
        res = Teacher(_cfg(srv.base_url), tmp_path).complete(_req())
    parsed = get_task("sst2").parse_response(res.content, SEEDS["sst2"], 0, 1, "p")
    assert not parsed.examples and parsed.rejections[0].reason == "malformed"


def test_cache_avoids_paying_twice_and_survives_a_new_client(tmp_path):
    with ScriptedTeacher() as srv:
        t = Teacher(_cfg(srv.base_url), tmp_path)
        a = t.complete(_req())
        b = t.complete(_req())
        assert srv.count == 1 and b.cached and a.content == b.content
        # a torn last line (a kill mid-write) is ignored
        with (tmp_path / "teacher_cache.jsonl").open("a") as f:
            f.write('{"key": "abc", "cont')
        t2 = Teacher(_cfg(srv.base_url), tmp_path)
        assert t2.complete(_req()).cached and srv.count == 1
        # another iteration (salt) is a different request
        t2.complete(_req(salt="it1:s1"))
        assert srv.count == 2


def test_concurrency_is_limited_and_order_is_kept(tmp_path):
    def script(call):
        return Reply(json.dumps({"text": f"answer {call.wrong_example()['text']}", "label": "negative"}), delay=0.2)

    task = get_task("sst2")
    seeds = [Example(f"s{i}", f"sentence number {i}", "negative") for i in range(8)]
    reqs = [TeacherRequest.from_messages(task.build_prompt(s), f"it0:{s.uid}") for s in seeds]
    with ScriptedTeacher(script) as srv:
        results = Teacher(_cfg(srv.base_url, concurrency=3), tmp_path).complete_all(reqs)
    assert srv.count == 8 and 2 <= srv.peak_concurrency <= 3
    assert [json.loads(r.content)["text"] for r in results] == [f"answer sentence number {i}" for i in range(8)]


def test_api_key_from_env(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setenv("MY_TEACHER_KEY", "sk-test-123")
    with ScriptedTeacher() as srv:
        t = Teacher(_cfg(srv.base_url, api_key_env="MY_TEACHER_KEY"), tmp_path)
        seen["key"] = t._client.api_key
        t.complete(_req())
    assert seen["key"] == "sk-test-123"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert Teacher(_cfg("http://127.0.0.1:9/v1"), tmp_path)._client.api_key  # dummy default
