"""The Gemmini Spike extension, instruction by instruction: self-checking bare-metal C
programs (tests/gemmini_programs/) run on Spike and compare against CPU references that
are written from gemmini-isa.md, independently of the extension's C++."""

from __future__ import annotations

from pathlib import Path

import pytest

from l2g.hwconfig import get_config
from l2g.runtime import sim_c

PROGRAMS = Path(__file__).parent / "gemmini_programs"


def run(program: str, config="default", **kw):
    cfg = get_config(config) if isinstance(config, str) else config
    res = sim_c([PROGRAMS / f"{program}.c"], config=cfg, check=False, **kw)
    assert res.exit_code == 0, f"{program} on {cfg.name}:\n{res.stdout[-3000:]}\n{res.stderr[-2000:]}"
    assert "PASS" in res.stdout or "SKIP" in res.stdout, res.stdout
    return res


@pytest.mark.parametrize(
    "program,config",
    [
        ("smoke_ws", "default"),
        ("isa_data", "default"),  # mvin/mvout, scaling, block mvins, pixel repeats, pooling
        ("isa_data", "ibert"),  # same without the pooling unit
        ("isa_matmul", "default"),  # preload/compute, OS and WS, transposes, shifts
        ("loop_ws", "default"),
        ("loop_ws", "ibert"),
        ("loop_conv", "default"),  # includes max pooling
        ("loop_conv", "ibert"),  # pooling forced off, training-conv flags ignored
        ("norm", "ibert"),  # LAYERNORM / SOFTMAX / IGELU
        ("counters", "default"),
    ],
)
def test_program(program, config):
    res = run(program, config)
    stats = res.gemmini_stats
    assert stats is not None and stats["config"] == config
    assert stats["timing_model"] is True


@pytest.mark.parametrize("dim", [8, 32])
@pytest.mark.parametrize("program", ["smoke_ws", "isa_data", "isa_matmul", "loop_ws", "loop_conv"])
def test_other_array_sizes(program, dim):
    cfg = get_config("default", dim=dim)
    stats = run(program, cfg).gemmini_stats
    assert stats["dim"] == dim


def test_norm_program_skips_without_normalizations():
    assert "SKIP" in run("norm", "default").stdout


def test_functional_results_do_not_depend_on_the_timing_model():
    res = run("loop_ws", "default", extra_env={"L2G_GEMMINI_TIMING": "0"})
    assert res.gemmini_stats["timing_model"] is False
    assert res.gemmini_stats["total_cycles"] == 0


def test_loop_instructions_are_counted_and_unrolled():
    stats = run("loop_ws").gemmini_stats
    assert stats["instructions"]["loop_ws"] == 8
    assert stats["unrolled"]["compute_preloaded"] > 0
    assert stats["unrolled"]["mvout"] > 0
    assert "mvin" not in stats["instructions"]  # loop_ws did all the data movement
