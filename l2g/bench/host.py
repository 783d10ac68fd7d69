"""The ``host`` suite: host-side speed, measured by the pytest-benchmark files in benchmarks/.

pytest-benchmark does the timing (rounds, medians); this module runs it in a subprocess
(its plugin owns the pytest session) and turns its JSON into
:class:`~l2g.bench.schema.HostMetric` records: each benchmark's median seconds, plus a rate
where the benchmark recorded its work in ``extra_info`` (``work``, ``work_unit``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from l2g.bench.schema import HostMetric
from l2g.errors import L2GError

#: the benchmark files the suite runs, relative to the checkout
HOST_BENCHMARKS = ("benchmarks/test_bench_host.py", "benchmarks/test_bench_gemmini.py")


def metrics_from_pytest_benchmark(raw: dict) -> list[HostMetric]:
    out = []
    for b in raw.get("benchmarks", []):
        name = b.get("fullname") or b["name"]
        name = name.split("::", 1)[-1]
        median = float(b["stats"]["median"])
        rounds = int(b["stats"].get("rounds", 0))
        info = b.get("extra_info") or {}
        stages = info.get("stages") or {}
        detail = f"{rounds} rounds" + ("; " + ", ".join(f"{k} {v:g} s" for k, v in stages.items()) if stages else "")
        out.append(HostMetric(f"{name} median", median, "s", detail))
        work, unit = info.get("work"), info.get("work_unit")
        if work and unit and median > 0:
            out.append(HostMetric(f"{name} rate", float(work) / median, f"{unit}/s",
                                  f"{work:,} {unit} in {median:.3g} s"))
    return out


def run_host_suite(out_dir: Path, quiet: bool = False) -> list[HostMetric]:
    from l2g.paths import REPO_ROOT

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    bench_json = out_dir / "pytest-benchmark.json"
    cmd = [sys.executable, "-m", "pytest", *HOST_BENCHMARKS, "--benchmark-only", f"--benchmark-json={bench_json}",
           "-p", "no:cacheprovider", "-q" if quiet else "-v"]
    proc = subprocess.run(cmd, cwd=REPO_ROOT)
    if proc.returncode != 0 or not bench_json.is_file():
        raise L2GError(f"the host benchmarks failed (exit {proc.returncode}): {' '.join(cmd)}")
    return metrics_from_pytest_benchmark(json.loads(bench_json.read_text()))
