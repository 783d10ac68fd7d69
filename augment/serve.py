"""``l2g teacher serve``: an OpenAI-compatible ``/v1/chat/completions`` and ``/v1/models``
server backed by a local transformers causal LM, on the standard library's
``ThreadingHTTPServer``.  Requests are answered one generation at a time (a lock around the
model); HTTP handling itself is threaded.  Streaming is not supported (400)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from l2g.errors import L2GError


@dataclass
class LocalChatModel:
    model: Any
    tokenizer: Any
    name: str
    lock: threading.Lock

    @classmethod
    def load(cls, model_dir: str | Path, name: str | None = None, device: str = "cpu") -> "LocalChatModel":
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        p = Path(model_dir)
        if not (p / "config.json").is_file():
            raise L2GError(f"{p} is not a Hugging Face model directory (no config.json)")
        try:
            tok = AutoTokenizer.from_pretrained(str(p))
            model = AutoModelForCausalLM.from_pretrained(str(p)).to(device)
        except (OSError, ValueError) as exc:
            raise L2GError(f"cannot load causal LM from {p}: {exc}") from None
        model.eval()
        if tok.pad_token is None and tok.eos_token is not None:
            tok.pad_token = tok.eos_token
        return cls(model, tok, name or p.name, threading.Lock())

    def render(self, messages: list[dict]) -> str:
        """The prompt text: the tokenizer's chat template when it has one, else
        ``role: content`` lines followed by ``assistant:``."""
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        lines = [f"{m.get('role', 'user')}: {m.get('content', '')}" for m in messages]
        return "\n".join(lines) + "\nassistant:"

    def chat(self, messages: list[dict], max_tokens: int, temperature: float, top_p: float,
             n: int, seed: int | None, stop: list[str]) -> tuple[list[tuple[str, str]], int, int]:
        """(text, finish_reason) for each of ``n`` samples, prompt tokens, completion tokens."""
        import torch

        prompt = self.render(messages)
        tok = self.tokenizer
        has_template = bool(getattr(tok, "chat_template", None))
        enc = tok(prompt, return_tensors="pt", add_special_tokens=not has_template).to(self.model.device)
        plen = enc["input_ids"].shape[1]
        outs: list[tuple[str, str]] = []
        ctoks = 0
        with self.lock, torch.no_grad():
            if seed is not None:
                torch.manual_seed(seed)
            for _ in range(n):
                kw: dict[str, Any] = dict(max_new_tokens=max_tokens, pad_token_id=tok.pad_token_id)
                if tok.eos_token_id is not None:
                    kw["eos_token_id"] = tok.eos_token_id
                if temperature and temperature > 0:
                    kw.update(do_sample=True, temperature=float(temperature), top_p=float(top_p))
                else:
                    kw.update(do_sample=False)
                out = self.model.generate(**enc, **kw)
                new = out[0, plen:]
                ctoks += int(new.shape[0])
                text = tok.decode(new, skip_special_tokens=True)
                finish = "length" if new.shape[0] >= max_tokens else "stop"
                for s in stop:
                    if s and s in text:
                        text, finish = text.split(s, 1)[0], "stop"
                outs.append((text, finish))
        return outs, plen, ctoks


def make_handler(backend: LocalChatModel, default_max_tokens: int = 512):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quieter than the default stderr line per request
            pass

        def _send(self, code: int, obj: dict) -> None:
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, code: int, msg: str, typ: str = "invalid_request_error") -> None:
            self._send(code, {"error": {"message": msg, "type": typ, "code": code}})

        def do_GET(self):
            path = self.path.split("?")[0].rstrip("/")
            if path in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [
                    {"id": backend.name, "object": "model", "created": int(time.time()), "owned_by": "local"}]})
            elif path in ("/health", "/v1/health"):
                self._send(200, {"status": "ok"})
            else:
                self._error(404, f"no route {self.path}")

        def do_POST(self):
            path = self.path.split("?")[0].rstrip("/")
            if path not in ("/v1/chat/completions", "/chat/completions"):
                self._error(404, f"no route {self.path}")
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                req = json.loads(self.rfile.read(length) or b"{}")
            except (ValueError, json.JSONDecodeError):
                self._error(400, "body is not valid JSON")
                return
            msgs = req.get("messages")
            if not isinstance(msgs, list) or not msgs or not all(isinstance(m, dict) for m in msgs):
                self._error(400, "'messages' must be a non-empty list of {role, content} objects")
                return
            if req.get("stream"):
                self._error(400, "streaming is not supported by l2g teacher serve")
                return
            try:
                max_tokens = int(req.get("max_tokens") or req.get("max_completion_tokens") or default_max_tokens)
                temperature = float(req.get("temperature", 1.0))
                top_p = float(req.get("top_p", 1.0))
                n = int(req.get("n", 1))
                seed = req.get("seed")
                seed = int(seed) if seed is not None else None
                stop = req.get("stop") or []
                stop = [stop] if isinstance(stop, str) else list(stop)
            except (TypeError, ValueError) as exc:
                self._error(400, f"bad parameter: {exc}")
                return
            if not 1 <= n <= 16 or max_tokens < 1:
                self._error(400, "need 1 <= n <= 16 and max_tokens >= 1")
                return
            try:
                outs, ptoks, ctoks = backend.chat(msgs, max_tokens, temperature, top_p, n, seed, stop)
            except Exception as exc:  # noqa: BLE001 - report as a server error, keep serving
                self._error(500, f"generation failed: {type(exc).__name__}: {exc}", "server_error")
                return
            self._send(200, {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": req.get("model") or backend.name,
                "choices": [
                    {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": fin}
                    for i, (text, fin) in enumerate(outs)
                ],
                "usage": {"prompt_tokens": ptoks, "completion_tokens": ctoks, "total_tokens": ptoks + ctoks},
            })

    return Handler


def make_server(backend: LocalChatModel, host: str = "127.0.0.1", port: int = 8000,
                default_max_tokens: int = 512) -> ThreadingHTTPServer:
    try:
        srv = ThreadingHTTPServer((host, port), make_handler(backend, default_max_tokens))
    except OSError as exc:
        raise L2GError(f"cannot listen on {host}:{port}: {exc}") from None
    srv.daemon_threads = True
    return srv
