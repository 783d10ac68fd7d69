"""Misuse of the accelerator ends the simulation with one clear line on stderr
(`gemmini: error: <mnemonic> at pc=0x..: <field and value>`) and exit status 3; an unknown
funct raises an illegal-instruction trap instead."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from l2g.hwconfig import get_config
from l2g.runtime import sim_c
from l2g.runtime.spike import EXIT_GEMMINI_MISUSE, EXIT_TRAP

PROGRAM = Path(__file__).parent / "gemmini_programs" / "misuse.c"
LINE = re.compile(r"^gemmini: error: (\w+) at pc=0x[0-9a-f]+: (.+)$", re.M)

CASES = [
    (1, "mvin", r"rows=17 exceeds DIM=16"),
    (3, "config_norm", r"needs the normalization unit; config 'default' has has_normalizations=0"),
    (4, "mvin", r"local rows 16380\.\.16395 exceed the scratchpad \(16384 rows\)"),
    (5, "config_ex", r"dataflow=OS with b_transpose=1 and a_transpose=0 is not supported"),
    (6, "compute_preloaded", r"no preload precedes this compute"),
    (7, "mvout", r"source is GARBAGE_ADDR"),
    (8, "loop_ws", r"I\*J\*DIM = 4096 accumulator rows exceed half the accumulator \(512 rows\)"),
    (9, "mvout", r"local rows 1020\.\.1035 exceed the accumulator \(1024 rows\)"),
    (10, "config_ld", r"state_id=3 is invalid"),
    (11, "loop_ws", r"unrolled mvin: pixel_repeats=2 x cols=16 exceeds DIM=16"),
    (12, "config_st", r"act=2 \(LAYERNORM\) needs the normalization unit"),
    (13, "mvin", r"cols=65 exceeds 64"),
]


@pytest.mark.parametrize("case,mnemonic,message", CASES)
def test_misuse_is_reported(case, mnemonic, message, tmp_path):
    stats = tmp_path / "stats.json"
    res = sim_c([PROGRAM], config=get_config("default"), defines={"CASE": case}, check=False, stats_path=stats)
    assert res.exit_code == EXIT_GEMMINI_MISUSE, res.stderr
    assert "before misuse" in res.stdout and "should not be reached" not in res.stdout
    m = LINE.search(res.stderr)
    assert m, res.stderr
    assert m.group(1) == mnemonic
    assert re.search(message, m.group(2)), m.group(2)
    assert len(LINE.findall(res.stderr)) == 1
    assert "Segmentation" not in res.stderr
    assert stats.is_file()  # the stats file is still written on the error path


def test_unknown_funct_traps():
    res = sim_c([PROGRAM], defines={"CASE": 2}, check=False)
    assert res.exit_code == EXIT_TRAP
    assert res.trap is not None and res.trap.mcause == 2  # illegal instruction
    assert re.search(r"gemmini: error: unknown funct=50 at pc=0x[0-9a-f]+", res.stderr)


def test_ibert_accepts_config_norm():
    res = sim_c([PROGRAM], config=get_config("ibert"), defines={"CASE": 3}, check=False)
    assert res.exit_code == 0, res.stderr
