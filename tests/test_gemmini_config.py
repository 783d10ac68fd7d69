"""The extension reads exactly the config l2g.hwconfig writes; unknown keys are fatal; the
built-in default equals the Python default; L2G_GEMMINI_DUMP dumps the final state."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from l2g.hwconfig import DEFAULT, TimingParams, get_config
from l2g.paths import REPO_ROOT
from l2g.runtime import sim_c

PROGRAMS = Path(__file__).parent / "gemmini_programs"


def test_every_timing_param_is_parsed_by_the_extension():
    src = (REPO_ROOT / "csrc" / "gemmini" / "config.cc").read_text()
    hdr = (REPO_ROOT / "csrc" / "gemmini" / "config.h").read_text()
    for f in dataclasses.fields(TimingParams):
        assert f'"timing.{f.name}"' in src, f.name
        # same default on both sides
        m = re.search(rf"\b{f.name} = ([0-9.]+);", hdr)
        assert m, f.name
        assert float(m.group(1)) == float(getattr(TimingParams(), f.name)), f.name
    for f in dataclasses.fields(DEFAULT):
        if f.name != "timing":
            assert f'"{f.name}"' in src, f.name


def test_builtin_default_equals_python_default():
    a = sim_c([PROGRAMS / "smoke_ws.c"], config=DEFAULT).gemmini_stats
    b = sim_c([PROGRAMS / "smoke_ws.c"], config=DEFAULT, extra_env={"L2G_GEMMINI_CONFIG": ""}).gemmini_stats
    assert a == b


def test_unknown_key_is_fatal(tmp_path):
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(DEFAULT.extension_config() + "timing.warp_factor = 9\n")
    res = sim_c([PROGRAMS / "smoke_ws.c"], extra_env={"L2G_GEMMINI_CONFIG": str(cfg)}, check=False)
    assert res.exit_code == 2
    assert "unknown key 'timing.warp_factor'" in res.stderr


def test_bad_value_is_fatal(tmp_path):
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(DEFAULT.extension_config().replace("dim = 16", "dim = 12"))
    res = sim_c([PROGRAMS / "smoke_ws.c"], extra_env={"L2G_GEMMINI_CONFIG": str(cfg)}, check=False)
    assert res.exit_code == 2 and "dim=12" in res.stderr


def test_state_dump(tmp_path):
    dump = tmp_path / "state.bin"
    cfg = get_config("default")
    res = sim_c([PROGRAMS / "smoke_ws.c"], config=cfg, extra_env={"L2G_GEMMINI_DUMP": str(dump)})
    raw = dump.read_bytes()
    sp_bytes = cfg.sp_rows * cfg.dim
    assert len(raw) == sp_bytes + cfg.acc_rows * cfg.dim * 4
    spad = np.frombuffer(raw[:sp_bytes], dtype=np.int8).reshape(cfg.sp_rows, cfg.dim)
    acc = np.frombuffer(raw[sp_bytes:], dtype="<i4").reshape(cfg.acc_rows, cfg.dim)
    # smoke_ws: A at rows 0..15, B at 16..31, C = A·B in acc rows 0..15
    i, j = np.indices((16, 16))
    A = ((i * 3 + j) % 7 - 3).astype(np.int64)
    B = ((i + 2 * j) % 5 - 2).astype(np.int64)
    assert (spad[:16] == A).all() and (spad[16:32] == B).all()
    assert (acc[:16] == A @ B).all()
    assert "PASS" in res.stdout
