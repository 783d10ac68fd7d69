"""``l2g teacher serve``: an OpenAI-compatible server over a tiny random causal LM, queried
with the real ``openai`` client; and the teacher client + loop pieces on top of it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from augment_models import CHAT_TEMPLATE, tiny_gpt2

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    return tiny_gpt2(tmp_path_factory.mktemp("lm") / "gpt2")


def test_cli_server_answers_openai_client(tiny_lm):
    import openai

    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "l2g.augment.cli", "teacher", "serve", "--model", str(tiny_lm), "--port", "0",
         "--name", "tiny"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = ""
        for line in proc.stdout:  # first line announces the address
            if "serving" in line:
                break
        m = re.search(r"http://[\d.]+:\d+/v1", line)
        assert m, line
        client = openai.OpenAI(base_url=m.group(0), api_key="unused", timeout=60, max_retries=0)
        assert [x.id for x in client.models.list().data] == ["tiny"]
        resp = client.chat.completions.create(
            model="tiny", messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
            max_tokens=5, temperature=1.0, seed=3)
        assert resp.object == "chat.completion" and len(resp.choices) == 1
        assert isinstance(resp.choices[0].message.content, str) and resp.choices[0].message.role == "assistant"
        assert resp.usage.completion_tokens <= 5 and resp.usage.prompt_tokens > 0
        # reproducible with a seed; greedy at temperature 0
        again = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hello"}],
                                               max_tokens=5, temperature=1.0, seed=3)
        same = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hello"}],
                                              max_tokens=5, temperature=1.0, seed=3)
        assert again.choices[0].message.content == same.choices[0].message.content
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="tiny", messages=[], max_tokens=5)
        with pytest.raises(openai.NotFoundError):
            client.completions.create(model="tiny", prompt="x", max_tokens=2)
    finally:
        proc.kill()
        proc.wait(30)


def test_in_process_server_chat_template_and_teacher_client(tiny_lm, tmp_path):
    from augment_models import minilm_tokenizer

    from l2g.augment.serve import LocalChatModel, make_server
    from l2g.augment.tasks import Example, get_task
    from l2g.augment.teacher import Teacher, TeacherConfig, TeacherRequest

    backend = LocalChatModel.load(tiny_lm, "tiny")
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    assert backend.render(msgs) == "system: S\nuser: U\nassistant:"  # no template: plain concatenation
    tok = minilm_tokenizer()
    tok.chat_template = CHAT_TEMPLATE
    templated = LocalChatModel(backend.model, tok, "tiny", threading.Lock())
    assert templated.render(msgs) == "<|system|> S\n<|user|> U\n<|assistant|>"

    srv = make_server(templated, "127.0.0.1", 0)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
        t = Teacher(TeacherConfig(base_url=url, model="tiny", max_tokens=8, timeout_s=60, concurrency=2), tmp_path)
        task = get_task("sst2")
        seeds = [Example(f"s{i}", f"sentence {i}", "positive") for i in range(3)]
        res = t.complete_all([TeacherRequest.from_messages(task.build_prompt(s), f"it0:{s.uid}") for s in seeds])
        assert all(r.error is None and isinstance(r.content, str) for r in res)
        # a random model writes no valid JSON: the parser rejects it with a reason
        parsed = task.parse_response(res[0].content, seeds[0], 0, 1, "p")
        assert not parsed.examples and parsed.rejections
    finally:
        srv.shutdown()
        srv.server_close()
