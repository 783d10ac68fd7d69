"""Numbered stage lines on stderr (``[2/5] compiling ...`` / ``done in 41.3 s``), for the
long multi-stage commands (`l2g demo`, `l2g pipeline`), with the seconds of every stage."""

from __future__ import annotations

import sys
import time


class Stages:
    def __init__(self, total: int):
        self.total, self.n = total, 0
        self.seconds: dict[str, float] = {}
        self._t0 = time.perf_counter()

    def start(self, key: str, what: str) -> "Stages":
        self.n += 1
        self._key, self._start = key, time.perf_counter()
        print(f"[{self.n}/{self.total}] {what}", file=sys.stderr, flush=True)
        return self

    def announce(self, what: str) -> None:
        """A stage that starts now and runs in the background (no time of its own here)."""
        self.n += 1
        print(f"[{self.n}/{self.total}] {what}", file=sys.stderr, flush=True)

    def skip(self, key: str, what: str) -> None:
        self.n += 1
        print(f"[{self.n}/{self.total}] {what}: already done, skipped", file=sys.stderr, flush=True)

    def __enter__(self) -> "Stages":
        return self

    def __exit__(self, *exc) -> None:
        secs = time.perf_counter() - self._start
        self.seconds[self._key] = round(secs, 2)
        if exc[0] is None:
            print(f"      done in {secs:.1f} s (total {time.perf_counter() - self._t0:.0f} s)", file=sys.stderr, flush=True)


class ticking:
    """A one-step tqdm line whose elapsed time keeps counting while a long call (a compile)
    runs without reporting progress of its own."""

    def __init__(self, desc: str, interval: float = 1.0):
        self.desc, self.interval = desc, interval

    def __enter__(self):
        import threading

        from tqdm import tqdm

        self._bar = tqdm(total=1, desc=self.desc, bar_format="{desc}: {elapsed}", file=sys.stderr)
        self._stop = threading.Event()

        def tick():
            while not self._stop.wait(self.interval):
                self._bar.refresh()

        self._thread = threading.Thread(target=tick, daemon=True)
        self._thread.start()
        return self._bar

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if exc[0] is None:
            self._bar.update(1)
        self._bar.close()
