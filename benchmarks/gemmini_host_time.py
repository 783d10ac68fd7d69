"""Host time of the Gemmini Spike extension on a 512x512x512 int8 GEMM through loop_ws.

Measures host wall time and host CPU time (user + sys of the Spike process, which is far
less sensitive to other load on the machine), each as the median of --repeat runs of the
same ELF:
  base     the same program with the GEMM compiled out (Spike start-up + data init + checks)
  func     the GEMM with the cycle model off (L2G_GEMMINI_TIMING=0)
  timed    the GEMM with the cycle model on (the default)
and prints the timing model's overhead both on the whole run and on the extension's own
share (timed - base) / (func - base) - 1.

Usage:  .venv/bin/python benchmarks/gemmini_host_time.py [--size 512] [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from l2g.hwconfig import get_config
from l2g.runtime import build_elf, prepare_config, run_elf

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "tests" / "gemmini_programs" / "gemm_loop_ws.c"


def measure(size: int, repeat: int, config: str = "default") -> dict:
    cfg = get_config(config)
    art = prepare_config(cfg)
    inc = [art.include_dir]
    elf = build_elf([PROGRAM], include_dirs=inc, defines={"M": size})
    elf_base = build_elf([PROGRAM], include_dirs=inc, defines={"M": size, "SKIP_GEMMINI": 1})

    def run(e, env):
        # One run through l2g.runtime (for the stats and its exact command line), then the
        # same command directly so the child's CPU time can be read from rusage.
        r = run_elf(e, config=art, extra_env=env)
        stats = r.gemmini_stats
        full_env = dict(os.environ, L2G_GEMMINI_CONFIG=str(art.config_file), **env)
        full_env.pop("L2G_GEMMINI_STATS", None)
        walls, cpus = [], []
        for _ in range(repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(r.command, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=False, cwd=str(ROOT))
            walls.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        return (statistics.median(walls), statistics.median(cpus)), stats

    (base, base_cpu), _ = run(elf_base, {})
    (func, func_cpu), _ = run(elf, {"L2G_GEMMINI_TIMING": "0"})
    (timed, timed_cpu), stats = run(elf, {})
    return {
        "size": size,
        "config": config,
        "host_seconds": {"base": base, "functional": func, "timed": timed},
        "host_cpu_seconds": {"base": base_cpu, "functional": func_cpu, "timed": timed_cpu},
        "timing_overhead_whole_run": timed / func - 1,
        "timing_overhead_whole_run_cpu": timed_cpu / func_cpu - 1,
        "timing_overhead_extension_share_cpu": (timed_cpu - base_cpu) / max(func_cpu - base_cpu, 1e-9) - 1,
        "simulated_total_cycles": stats["total_cycles"],
        "gemmini_span_cycles": stats["gemmini_span_cycles"],
        "gemmini_span_utilization": stats["gemmini_span_utilization"],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--config", default="default")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    res = measure(a.size, a.repeat, a.config)
    h, c = res["host_seconds"], res["host_cpu_seconds"]
    print(f"{a.size}^3 int8 GEMM via loop_ws, config {a.config}, median of {a.repeat} runs (wall / CPU)")
    print(f"  Spike + program without the GEMM : {h['base']:.3f} s / {c['base']:.3f} s")
    print(f"  functional only (TIMING=0)       : {h['functional']:.3f} s / {c['functional']:.3f} s")
    print(f"  with the cycle model             : {h['timed']:.3f} s / {c['timed']:.3f} s")
    print(f"  timing overhead, whole run       : {100 * res['timing_overhead_whole_run']:.1f} % wall, "
          f"{100 * res['timing_overhead_whole_run_cpu']:.1f} % CPU")
    print(f"  timing overhead, extension share : {100 * res['timing_overhead_extension_share_cpu']:.1f} % CPU")
    print(f"  simulated: {res['simulated_total_cycles']} cycles total, {res['gemmini_span_cycles']} Gemmini span, "
          f"utilization {100 * res['gemmini_span_utilization']:.1f} %")
    if a.json:
        a.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
