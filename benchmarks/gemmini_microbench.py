"""Microbenchmarks of the Gemmini extension's cycle model; prints the markdown tables used
in docs/gemmini-extension.md.

Usage:  .venv/bin/python benchmarks/gemmini_microbench.py
Every number is simulated cycles from the analytical model (not RTL).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from l2g.hwconfig import get_config
from l2g.runtime import sim_c

PROGRAMS = Path(__file__).resolve().parent.parent / "tests" / "gemmini_programs"


def run(program, cfg, defines):
    r = sim_c([PROGRAMS / f"{program}.c"], config=cfg, defines=defines, check=False)
    if r.exit_code != 0 or "PASS" not in r.stdout:
        raise RuntimeError(f"{program} {defines}: {r.stdout}\n{r.stderr}")
    m = re.search(r"cycles=(\d+)", r.stdout)
    return (int(m.group(1)) if m else None), r.gemmini_stats


def mvin_table():
    print("| DMA bytes/cycle | latency | row pitch | cycles (256 DIMxDIM mvins) | bytes/cycle achieved |")
    print("|---|---|---|---|---|")
    for bw, lat, pitch in [(16, 80, 16), (16, 80, 1024), (8, 80, 16), (32, 80, 16), (16, 400, 16)]:
        cfg = get_config("default", timing={"dma_bytes_per_cycle": bw, "dma_latency_cycles": lat})
        c, _ = run("bench_mvin", cfg, {"NTILES": 256, "PITCH": pitch})
        print(f"| {bw} | {lat} | {pitch} | {c} | {256 * 256 / c:.2f} |")


def compute_table():
    print("| weight reuse (computes per preload) | cycles (1024 computes) | MACs/cycle | % of DIM^2 |")
    print("|---|---|---|---|")
    for reuse in (1, 4, 16):
        c, _ = run("bench_compute", get_config("default"), {"NSTEPS": 1024, "REUSE": reuse})
        mpc = 1024 * 16**3 / c
        print(f"| {reuse} | {c} | {mpc:.1f} | {100 * mpc / 256:.1f} |")


def gemm_size_table():
    print("| M=N=K | loop_ws tiles (I,J,K) | Gemmini span cycles | span utilization | whole-program utilization |")
    print("|---|---|---|---|---|")
    for n in (64, 128, 256, 512):
        c, s = run("gemm_loop_ws", get_config("default"), {"M": n})
        print(f"| {n} | (4,8,32) | {s['gemmini_span_cycles']} | {100 * s['gemmini_span_utilization']:.1f} % | "
              f"{100 * s['utilization']:.1f} % |")


def gemm_memory_table():
    print("| scratchpad | accumulator | tiles (I,J,K) | span cycles, 16 B/cycle | utilization | span cycles, 2 B/cycle | utilization |")
    print("|---|---|---|---|---|---|---|")
    cases = [
        # (sp_bank_rows, acc_rows, tiles): tiles fill half of each memory (loop_ws double buffering)
        (4096, 1024, (4, 8, 16)),   # default: 256 KiB spad, 64 KiB acc
        (4096, 512, (4, 4, 16)),    # 32 KiB acc
        (4096, 2048, (8, 8, 16)),   # I-BERT acc: 128 KiB
        (1024, 4096, (8, 16, 4)),   # rebalanced: 64 KiB spad, 256 KiB acc
        (1024, 1024, (4, 8, 8)),    # 64 KiB spad, 64 KiB acc
    ]
    for bank_rows, acc_rows, (ti, tj, tk) in cases:
        row = []
        for bw in (16, 2):
            cfg = get_config("default", sp_bank_rows=bank_rows, acc_rows=acc_rows, timing={"dma_bytes_per_cycle": bw})
            _, s = run("gemm_loop_ws", cfg, {"M": 256, "TILE_I": ti, "TILE_J": tj, "TILE_K": tk})
            row.append(f"{s['gemmini_span_cycles']} | {100 * s['gemmini_span_utilization']:.1f} %")
        print(f"| {cfg.sp_bytes // 1024} KiB | {cfg.acc_bytes // 1024} KiB | ({ti},{tj},{tk}) | " + " | ".join(row) + " |")


def main() -> int:
    for title, fn in [("mvin bandwidth", mvin_table), ("compute throughput", compute_table),
                      ("GEMM vs size", gemm_size_table), ("GEMM vs memory sizes", gemm_memory_table)]:
        print(f"\n### {title}\n")
        fn()
    return 0


if __name__ == "__main__":
    sys.exit(main())
