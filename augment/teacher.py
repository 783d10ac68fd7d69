"""Teacher client: an OpenAI-compatible chat endpoint called concurrently, with timeouts,
retries with exponential backoff on 429/5xx/timeouts (tenacity), a JSONL log of every
request and response, and a response cache keyed by request hash so that a resumed run never
pays for the same call twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from l2g.errors import L2GError

DEFAULT_API_KEY = "sk-local-dummy"  # local servers ignore the key; the client insists on one


class TeacherUnreachable(L2GError):
    """No teacher answers at the configured URL."""

    def __init__(self, base_url: str, last_error: str):
        super().__init__(
            f"the teacher at {base_url} is unreachable (last error: {last_error}). Start an "
            "OpenAI-compatible server there (for example `l2g teacher serve --model DIR --port 8000`) "
            "or fix --teacher-base-url"
        )
        self.base_url = base_url
        self.last_error = last_error


def _cause(exc: BaseException) -> str:
    """The message plus its innermost cause's: the openai client says only "Connection error."."""
    inner = exc
    while inner.__cause__ is not None or inner.__context__ is not None:
        inner = inner.__cause__ or inner.__context__
    detail = str(inner)[:200]
    return f"{exc} ({detail})" if inner is not exc and detail and detail not in str(exc) else str(exc)


@dataclass(frozen=True)
class TeacherConfig:
    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = 1.0
    max_tokens: int = 1024
    timeout_s: float = 60.0
    max_retries: int = 4  # retries after the first attempt
    backoff_s: float = 1.0  # first backoff; doubles each retry (capped at backoff_max_s)
    backoff_max_s: float = 30.0
    concurrency: int = 4


@dataclass(frozen=True)
class TeacherRequest:
    """One chat call.  ``salt`` (iteration and seed uid) keeps identical prompts of different
    iterations apart in the cache; ``seed`` is passed to the API so a server may vary its
    sample per (iteration, example) yet stay reproducible."""

    messages: tuple[tuple[str, str], ...]
    salt: str
    seed: int | None = None

    @classmethod
    def from_messages(cls, messages: list[dict[str, str]], salt: str) -> "TeacherRequest":
        seed = int(hashlib.sha256(salt.encode()).hexdigest()[:8], 16)
        return cls(tuple((m["role"], m["content"]) for m in messages), salt, seed)

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages]

    def key(self, cfg: TeacherConfig) -> str:
        blob = json.dumps(
            {
                "model": cfg.model,
                "messages": self.messages,
                "temperature": cfg.temperature,
                "max_tokens": cfg.max_tokens,
                "seed": self.seed,
                "salt": self.salt,
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class TeacherResult:
    key: str
    content: str | None  # None when the call failed
    error: str | None = None
    cached: bool = False
    attempts: int = 0


@dataclass
class TeacherCounters:
    sent: int = 0  # HTTP attempts made in this process (including retries)
    cached: int = 0
    failed: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)


def _append_jsonl(path: Path, obj: dict, lock: threading.Lock) -> None:
    line = json.dumps(obj, ensure_ascii=False) + "\n"
    with lock:
        with path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


class ResponseCache:
    """Append-only JSONL of ``{"key", "content"}``; each response is fsynced as it arrives.
    A torn last line (a kill mid-write) is ignored on load."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, str] = {}
        if path.is_file():
            with path.open(encoding="utf-8") as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                        self._data[rec["key"]] = rec["content"]
                    except (json.JSONDecodeError, KeyError, TypeError):
                        continue

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> str | None:
        return self._data.get(key)

    def put(self, key: str, content: str) -> None:
        _append_jsonl(self.path, {"key": key, "content": content, "time": time.time()}, self._lock)
        with self._lock:
            self._data[key] = content


class Teacher:
    """Calls the teacher for many requests at once (``concurrency`` threads)."""

    def __init__(self, cfg: TeacherConfig, run_dir: Path):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.cache = ResponseCache(self.run_dir / "teacher_cache.jsonl")
        self.log_path = self.run_dir / "teacher_log.jsonl"
        self._log_lock = threading.Lock()
        self.counters = TeacherCounters()
        self._counter_lock = threading.Lock()
        try:
            import openai
        except ImportError:  # pragma: no cover
            raise L2GError("the teacher needs the `openai` package") from None
        api_key = os.environ.get(cfg.api_key_env) or DEFAULT_API_KEY
        # Retries are tenacity's job (one policy, logged per attempt), so the client's are off.
        self._client = openai.OpenAI(
            base_url=cfg.base_url, api_key=api_key, timeout=cfg.timeout_s, max_retries=0
        )
        self._openai = openai

    def check_reachable(self, timeout_s: float = 10.0) -> None:
        """Fail fast, before minutes of student training, when nothing answers at the URL.

        Only a connection failure or a timeout counts: a server that answers ``GET /models``
        with an error status is up, and some OpenAI-compatible servers do not serve that route."""
        o = self._openai
        try:
            self._client.with_options(timeout=min(timeout_s, self.cfg.timeout_s), max_retries=0).models.list()
        except (o.APIConnectionError, o.APITimeoutError) as exc:
            raise TeacherUnreachable(self.cfg.base_url, f"{type(exc).__name__}: {_cause(exc)}") from None
        except o.APIError:
            pass

    # -- logging ----------------------------------------------------------------------------
    def _log(self, **rec) -> None:
        rec.setdefault("time", time.time())
        _append_jsonl(self.log_path, rec, self._log_lock)

    def _count(self, attr: str, error: str | None = None) -> None:
        with self._counter_lock:
            setattr(self.counters, attr, getattr(self.counters, attr) + 1)
            if error:
                self.counters.errors[error] = self.counters.errors.get(error, 0) + 1

    # -- one call ---------------------------------------------------------------------------
    def _retryable(self, exc: BaseException) -> bool:
        o = self._openai
        if isinstance(exc, (o.RateLimitError, o.InternalServerError, o.APITimeoutError, o.APIConnectionError)):
            return True
        return isinstance(exc, o.APIStatusError) and exc.status_code >= 500

    def _call_once(self, req: TeacherRequest, key: str) -> str:
        self._count("sent")
        t0 = time.time()
        self._log(event="request", key=key, salt=req.salt, model=self.cfg.model, messages=req.message_dicts(),
                  temperature=self.cfg.temperature, max_tokens=self.cfg.max_tokens, seed=req.seed)
        try:
            resp = self._client.chat.completions.create(
                model=self.cfg.model,
                messages=req.message_dicts(),
                temperature=self.cfg.temperature,
                max_tokens=self.cfg.max_tokens,
                seed=req.seed,
            )
        except Exception as exc:
            status = getattr(exc, "status_code", None)
            self._log(event="error", key=key, error=type(exc).__name__, status=status,
                      message=str(exc)[:500], latency_s=round(time.time() - t0, 3))
            raise
        content = resp.choices[0].message.content if resp.choices else None
        self._log(event="response", key=key, content=content, latency_s=round(time.time() - t0, 3),
                  finish_reason=resp.choices[0].finish_reason if resp.choices else None,
                  usage=resp.usage.model_dump() if getattr(resp, "usage", None) else None)
        return content or ""

    def complete(self, req: TeacherRequest) -> TeacherResult:
        """The teacher's answer to one request: from the cache, or called with retries."""
        from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

        key = req.key(self.cfg)
        hit = self.cache.get(key)
        if hit is not None:
            self._count("cached")
            return TeacherResult(key, hit, cached=True)
        attempts = 0
        try:
            for attempt in Retrying(
                retry=retry_if_exception(self._retryable),
                stop=stop_after_attempt(self.cfg.max_retries + 1),
                wait=wait_exponential(multiplier=self.cfg.backoff_s, max=self.cfg.backoff_max_s),
                reraise=True,
            ):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    content = self._call_once(req, key)
        except (RetryError, Exception) as exc:  # noqa: BLE001 - every failure becomes a counted reject
            err = f"{type(exc).__name__}: {str(exc)[:200]}"
            self._count("failed", type(exc).__name__)
            return TeacherResult(key, None, error=err, attempts=attempts)
        self.cache.put(key, content)  # written (fsynced) before anything else uses it
        self._count("ok")
        return TeacherResult(key, content, attempts=attempts)

    def complete_all(self, reqs: list[TeacherRequest], progress_desc: str = "teacher") -> list[TeacherResult]:
        """Results in the order of ``reqs`` (so downstream parsing is deterministic)."""
        from tqdm import tqdm

        results: list[TeacherResult | None] = [None] * len(reqs)
        with ThreadPoolExecutor(max_workers=max(1, self.cfg.concurrency)) as pool:
            futs = {pool.submit(self.complete, r): i for i, r in enumerate(reqs)}
            with tqdm(total=len(reqs), desc=progress_desc, unit="req", leave=False) as bar:
                for fut in as_completed(futs):
                    results[futs[fut]] = fut.result()
                    bar.update(1)
        return [r for r in results if r is not None]
