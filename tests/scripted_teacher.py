"""A real OpenAI-compatible HTTP teacher for tests, scripted per test.

``ScriptedTeacher(script)`` listens on 127.0.0.1 (ephemeral port) in a background thread and
answers ``POST /v1/chat/completions`` with whatever ``script(call)`` returns: a ``Reply`` with
an HTTP status, the assistant text and an optional delay.  It records every request, counts
them per prompt, tracks the peak number of concurrent requests, and sets ``reached`` once
``signal_after`` requests have arrived (used to SIGKILL a run mid-iteration).

``task_answer(call)`` writes a valid example for the task of the prompt it receives: it reads
the wrong example from the prompt's last JSON line and returns a new example with the same
gold label, different text (derived from the request's ``seed``, so it is reproducible and
differs between iterations).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

WORDS = (
    "river lantern quiet marble orbit velvet harbor crimson meadow pixel thunder saffron "
    "glacier whisper copper tundra falcon ember willow cobalt prairie zephyr canyon jasmine "
    "beacon sparrow quartz lagoon mosaic nimbus orchard pepper summit tangerine vortex walnut"
).split()


@dataclass
class Call:
    """One request as the script sees it."""

    index: int  # 0-based arrival order
    body: dict
    user: str  # content of the last user message
    seed: int | None
    prompt_count: int  # how many times this exact (prompt, seed) has been seen, including this one

    def wrong_example(self) -> dict | None:
        for line in reversed(self.user.strip().splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except json.JSONDecodeError:
                    continue
        return None


@dataclass
class Reply:
    content: str | None = None
    status: int = 200
    delay: float = 0.0
    headers: dict | None = None


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def make_example(wrong: dict, seed: int | None, k: int = 0) -> dict:
    """A new, valid example of the same task and gold label as ``wrong``."""
    rng = random.Random(f"{seed}-{k}-{json.dumps(wrong, sort_keys=True)}")
    if "choices" in wrong:  # casehold
        label = rng.randrange(len(wrong["choices"]))
        return {
            "prompt": f"{_words(rng, 12)} <HOLDING> {_words(rng, 4)}",
            "choices": [f"holding that {_words(rng, 6)} {i}" for i in range(len(wrong["choices"]))],
            "label": label,
        }
    if "question" in wrong:  # gsm8k
        a, b = rng.randrange(2, 50), rng.randrange(2, 50)
        return {
            "question": f"{_words(rng, 6)} has {a} apples and buys {b} more. How many apples now?",
            "answer": f"{a} + {b} = <<{a}+{b}={a + b}>>{a + b}\n#### {a + b}",
        }
    return {"text": f"{_words(rng, 8)} {' '.join(str(wrong['text']).split()[:3])}", "label": wrong["label"]}


def task_answer(call: Call) -> Reply:
    wrong = call.wrong_example()
    if wrong is None:
        return Reply("I could not find the example.")
    return Reply(json.dumps(make_example(wrong, call.seed)))


class ScriptedTeacher:
    def __init__(self, script: Callable[[Call], Reply] = task_answer, signal_after: int | None = None):
        self.script = script
        self.signal_after = signal_after
        self.reached = threading.Event()
        self.calls: list[Call] = []
        self.prompt_counts: Counter = Counter()
        self.peak_concurrency = 0
        self._active = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "ScriptedTeacher":
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "ScriptedTeacher":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.calls)

    def repeated_prompts(self) -> int:
        """Requests whose (prompt, seed) had been seen before."""
        with self._lock:
            return sum(c - 1 for c in self.prompt_counts.values() if c > 1)

    # -- HTTP ---------------------------------------------------------------------------------
    def _handler(self):
        teacher = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, code: int, obj: dict, headers: dict | None = None) -> None:
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self):
                self._send(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                msgs = body.get("messages") or []
                user = next((m["content"] for m in reversed(msgs) if m.get("role") == "user"), "")
                with teacher._lock:
                    key = (user, body.get("seed"))
                    teacher.prompt_counts[key] += 1
                    call = Call(len(teacher.calls), body, user, body.get("seed"), teacher.prompt_counts[key])
                    teacher.calls.append(call)
                    teacher._active += 1
                    teacher.peak_concurrency = max(teacher.peak_concurrency, teacher._active)
                    if teacher.signal_after is not None and len(teacher.calls) >= teacher.signal_after:
                        teacher.reached.set()
                try:
                    reply = teacher.script(call)
                    if reply.delay:
                        time.sleep(reply.delay)
                    if reply.status != 200:
                        self._send(reply.status, {"error": {"message": f"scripted {reply.status}",
                                                            "type": "server_error", "code": reply.status}},
                                   reply.headers)
                        return
                    self._send(200, {
                        "id": f"chatcmpl-{call.index}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "scripted"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": reply.content}}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    }, reply.headers)
                finally:
                    with teacher._lock:
                        teacher._active -= 1

        return Handler


if __name__ == "__main__":  # a stand-alone scripted teacher, e.g. for timing runs
    import argparse

    ap = argparse.ArgumentParser(description="scripted OpenAI-compatible teacher (valid examples)")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    srv = ScriptedTeacher()
    srv._server = ThreadingHTTPServer(("127.0.0.1", a.port), srv._handler())
    print(f"scripted teacher on http://127.0.0.1:{srv._server.server_address[1]}/v1", flush=True)
    try:
        srv._server.serve_forever()
    except KeyboardInterrupt:
        pass
