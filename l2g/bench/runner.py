"""Run sweep points in parallel: local processes by default, Ray on request.

Each point is independent (its own compile, its own Spike process), so points are simply
farmed out.  Local runs use a ``ProcessPoolExecutor`` with the ``spawn`` start method:
workers import TVM and torch themselves rather than inheriting a forked copy of a parent's
threads.  With ``ray_address`` the same tasks run as Ray tasks; Ray is an optional extra
(``pip install -e '.[ray]'``) and is imported only then.

A failing point does not stop the sweep: its error is recorded as a
:class:`~l2g.bench.schema.PointFailure` and the command exits non-zero at the end.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Sequence

from l2g.bench.schema import PointFailure, PointResult
from l2g.errors import L2GError


@dataclass(frozen=True)
class Outcome:
    """What running one task produced: a result or the error text."""

    id: str
    result: PointResult | None
    error: str | None


def _workdir(root: Path, point_id: str) -> Path:
    return root / re.sub(r"[^A-Za-z0-9._@-]+", "_", point_id)


@contextlib.contextmanager
def _output_to(log: Path):
    """Send this process's stdout/stderr (including TVM's and Spike's C-level output) to
    ``log``, so that parallel points do not garble the progress bar."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "w") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def run_one(task, work_root: str, keep: bool) -> Outcome:
    """Run one task in its own work folder (runs inside a worker process or Ray task);
    its output goes to ``WORK_ROOT/logs/POINT.log``."""
    wd = _workdir(Path(work_root), task.id)
    log = Path(work_root) / "logs" / (wd.name + ".log")
    try:
        with _output_to(log):
            if wd.exists():
                shutil.rmtree(wd)
            return Outcome(task.id, task.run(wd), None)
    except Exception as exc:  # noqa: BLE001 - reported per point, the sweep goes on
        detail = str(exc) if isinstance(exc, L2GError) else traceback.format_exc(limit=6)
        return Outcome(task.id, None, f"{type(exc).__name__}: {detail}".strip() + f" (log: {log})")
    finally:
        if not keep and wd.exists():
            shutil.rmtree(wd, ignore_errors=True)


def default_jobs(n_tasks: int) -> int:
    return max(1, min(n_tasks, os.cpu_count() or 1))


def run_tasks(
    tasks: Sequence,
    work_root: Path,
    *,
    jobs: int | None = None,
    ray_address: str | None = None,
    keep: bool = False,
    progress: bool = True,
    desc: str = "bench",
) -> tuple[list[PointResult], list[PointFailure]]:
    """Run every task; results come back in task order, failures separately."""
    from tqdm import tqdm

    ids = [t.id for t in tasks]
    if len(set(ids)) != len(ids):
        raise L2GError("duplicate sweep points: " + ", ".join(sorted({i for i in ids if ids.count(i) > 1})))
    work_root = Path(work_root).resolve()
    work_root.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(tasks), desc=desc, unit="point", disable=not progress, dynamic_ncols=True)
    try:
        if ray_address:
            outcomes = _run_ray(tasks, str(work_root), keep, ray_address, bar)
        else:
            outcomes = _run_local(tasks, str(work_root), keep, jobs or default_jobs(len(tasks)), bar)
    finally:
        bar.close()
    order = {i: n for n, i in enumerate(ids)}
    outcomes.sort(key=lambda o: order[o.id])
    results = [o.result for o in outcomes if o.result is not None]
    failures = [PointFailure(o.id, o.error or "unknown error") for o in outcomes if o.result is None]
    return results, failures


def _tick(bar, outcome: Outcome) -> None:
    bar.set_postfix_str(("FAILED " if outcome.error else "") + outcome.id.split("/", 1)[-1][-48:])
    bar.update(1)


def _run_local(tasks, work_root: str, keep: bool, jobs: int, bar) -> list[Outcome]:
    out: list[Outcome] = []
    if jobs <= 1:
        for t in tasks:
            o = run_one(t, work_root, keep)
            _tick(bar, o)
            out.append(o)
        return out
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_one, t, work_root, keep) for t in tasks]
        for fut in as_completed(futures):
            o = fut.result()
            _tick(bar, o)
            out.append(o)
    return out


def _import_ray():
    try:
        import ray
    except ImportError:
        raise L2GError(
            "--ray needs Ray, an optional dependency: install it with "
            "`.venv/bin/pip install -e '.[ray]'` (or drop --ray to use local processes)"
        ) from None
    return ray


def _run_ray(tasks, work_root: str, keep: bool, address: str, bar) -> list[Outcome]:
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        # "local": a private single-node instance that lives as long as this command
        kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        if address == "local":
            ray.init(**kwargs)
        else:
            ray.init(address=address, **kwargs)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(run_one)
        pending = {remote.remote(t, work_root, keep): t for t in tasks}
        out: list[Outcome] = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                try:
                    o = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a lost worker fails one point only
                    o = Outcome(task.id, None, f"Ray task failed: {exc}")
                _tick(bar, o)
                out.append(o)
        return out
    finally:
        if started_here:
            ray.shutdown()
