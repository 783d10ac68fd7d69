"""Properties of the extension's analytical cycle model (not RTL): bounds every schedule
must respect, and monotonicity in the resources it models."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from l2g.hwconfig import get_config
from l2g.runtime import sim_c

PROGRAMS = Path(__file__).parent / "gemmini_programs"


def stats_of(program, config="default", defines=None, **overrides):
    cfg = get_config(config, **overrides) if overrides or isinstance(config, str) else config
    res = sim_c([PROGRAMS / f"{program}.c"], config=cfg, defines=defines, check=False)
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "PASS" in res.stdout, res.stdout
    return res.gemmini_stats, res.stdout


def region_cycles(stdout: str) -> int:
    return int(re.search(r"cycles=(\d+)", stdout).group(1))


GEMMS = [(64, 64, 64), (128, 96, 160), (40, 56, 72)]


@pytest.mark.parametrize("m,n,k", GEMMS)
def test_gemm_cycle_bounds(m, n, k):
    s, out = stats_of("gemm_loop_ws", defines={"M": m, "N": n, "K": k, "FULL_CHECK": 1})
    dim = s["dim"]
    assert s["macs"] == m * n * k
    # the array does at most DIM^2 MACs per cycle
    assert s["total_cycles"] >= s["macs"] / dim**2
    assert s["gemmini_span_cycles"] >= s["macs"] / dim**2
    assert 0 < s["utilization"] <= 1.0
    assert 0 < s["gemmini_span_utilization"] <= 1.0
    assert s["busy_cycles"]["execute"] >= s["macs"] / dim**2
    # the program's own region counter agrees with the model clock it ran under
    assert 0 < region_cycles(out) <= s["total_cycles"]


@pytest.mark.parametrize("program,defines", [("gemm_loop_ws", {"M": 96, "N": 96, "K": 96}), ("bench_mvin", None),
                                             ("loop_conv", None)])
def test_more_dma_bandwidth_never_costs_cycles(program, defines):
    cycles = []
    for bw in (4, 8, 16, 32, 64):
        s, _ = stats_of(program, defines=defines, timing={"dma_bytes_per_cycle": bw})
        cycles.append(s["total_cycles"])
    assert cycles == sorted(cycles, reverse=True), cycles
    assert cycles[0] > cycles[-1]  # the load path is actually bandwidth-bound at 4 B/cycle


def test_lower_memory_latency_never_costs_cycles():
    cycles = [stats_of("bench_mvin", timing={"dma_latency_cycles": lat})[0]["total_cycles"] for lat in (400, 80, 10)]
    assert cycles == sorted(cycles, reverse=True), cycles


def test_mvin_bandwidth_matches_the_bus():
    s, out = stats_of("bench_mvin", defines={"NTILES": 256})
    bytes_per_cycle = 256 * 16 * 16 / region_cycles(out)
    assert 0.8 * 16 <= bytes_per_cycle <= 16  # one 16 B beat per cycle, latency amortized


def test_compute_throughput_near_one_tile_row_per_cycle():
    s, out = stats_of("bench_compute", defines={"NSTEPS": 1024})
    macs_per_cycle = 1024 * 16**3 / region_cycles(out)
    assert 0.8 * 256 <= macs_per_cycle <= 256


def test_cpu_cpi_scales_cpu_time():
    a, _ = stats_of("smoke_ws", timing={"cpu_cpi": 1.0})
    b, _ = stats_of("smoke_ws", timing={"cpu_cpi": 2.0})
    assert b["total_cycles"] > a["total_cycles"]


def test_fence_waits_for_gemmini():
    s, _ = stats_of("smoke_ws")
    assert s["fence_stall_cycles"] > 0  # the CPU reached the fence before the mvouts finished


@pytest.mark.slow  # `make test` deselects it; `make test SLOW=1` (CI) runs it
def test_gemm_512_utilization():
    s, out = stats_of("gemm_loop_ws", defines={"M": 512})
    assert s["macs"] == 512**3
    assert 0.5 < s["gemmini_span_utilization"] <= 1.0
