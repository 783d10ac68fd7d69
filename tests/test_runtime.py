"""The bare-metal target runtime and l2g.runtime on real Spike + the real RISC-V GCC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from l2g.errors import ToolchainError
from l2g.runtime import (
    SimulationFailed,
    SimulationTimeout,
    SimulationTrap,
    build_elf,
    run_elf,
    sim_c,
    toolchain,
)
from l2g.runtime import tensorio

PROGRAMS = Path(__file__).parent / "programs"
L2G = [sys.executable, "-m", "l2g.cli"]


def test_hello_world_on_spike():
    res = sim_c([PROGRAMS / "hello.c"], gemmini=False, defines={"EXIT_CODE": 0})
    assert res.exit_code == 0 and res.trap is None
    assert res.stdout == "hello from spike\ncounters advance: 1\n"


def test_exit_code_is_reported():
    res = sim_c([PROGRAMS / "hello.c"], gemmini=False, defines={"EXIT_CODE": 7}, check=False)
    assert res.exit_code == 7
    with pytest.raises(SimulationFailed, match="exited with code 7"):
        sim_c([PROGRAMS / "hello.c"], gemmini=False, defines={"EXIT_CODE": 7})


def _symbol_range(elf: Path, name: str) -> tuple[int, int]:
    nm = Path(toolchain.riscv_gcc().path).with_name("riscv64-unknown-elf-nm")
    out = subprocess.run([str(nm), "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] == name:
            start = int(parts[0], 16)
            return start, start + int(parts[1], 16)
    raise AssertionError(f"{name} not in {elf}")


def test_trap_becomes_clear_error():
    elf = build_elf([PROGRAMS / "trap.c"])
    with pytest.raises(SimulationTrap) as info:
        run_elf(elf, gemmini=False)
    trap = info.value.result.trap
    assert trap.mcause == 5 and trap.mtval == 0x10
    lo, hi = _symbol_range(elf, "fault_here")
    assert lo <= trap.mepc < hi, "the reported pc must be inside the faulting function"
    msg = str(info.value)
    assert "load access fault" in msg and f"pc={trap.mepc:#x}" in msg
    # the program's own output before the fault is kept, the trap line is not mixed into it
    assert info.value.result.stdout == "about to fault\n"


def test_timeout_is_reported_and_spike_reaped():
    elf = build_elf([PROGRAMS / "spin.c"])
    t0 = time.monotonic()
    with pytest.raises(SimulationTimeout, match="timed out after 1.5 s"):
        run_elf(elf, gemmini=False, timeout=1.5)
    assert time.monotonic() - t0 < 10
    leftover = subprocess.run(["pgrep", "-f", str(elf)], capture_output=True, text=True).stdout.strip()
    assert leftover == "", f"spike still running: {leftover}"


def test_megabyte_tensors_round_trip_bit_exact():
    rng = np.random.default_rng(1234)
    a = rng.integers(-128, 128, size=(1536, 2048), dtype=np.int8)  # 3 MiB
    f = rng.standard_normal(300_000).astype(np.float32)  # 1.2 MiB
    defines = {"A_ROWS": a.shape[0], "A_COLS": a.shape[1], "F_LEN": f.size, "G_LEN": 262_144}
    res = sim_c([PROGRAMS / "tensor_echo.c"], gemmini=False, defines=defines, inputs={"a": a, "f": f})
    assert res.stdout == "sent 3 tensors\n"
    assert set(res.outputs) == {"a_echo", "f_affine", "xorshift"}
    np.testing.assert_array_equal(res.outputs["a_echo"], a)
    assert res.outputs["f_affine"].dtype == np.float32
    np.testing.assert_array_equal(res.outputs["f_affine"], f * np.float32(2) + np.float32(1))
    x = np.uint64(0x9E3779B97F4A7C15)
    expected = np.empty(defines["G_LEN"], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(expected.size):
            x ^= x << np.uint64(13)
            x ^= x >> np.uint64(7)
            x ^= x << np.uint64(17)
            expected[i] = x
    np.testing.assert_array_equal(res.outputs["xorshift"].view(np.uint64), expected)


def test_missing_input_tensor_is_named():
    res = sim_c(
        [PROGRAMS / "tensor_echo.c"], gemmini=False, check=False,
        defines={"A_ROWS": 2, "A_COLS": 2, "F_LEN": 2, "G_LEN": 2}, inputs={"a": np.zeros((2, 2), np.int8)},
    )
    assert res.exit_code == 2
    assert "input tensor not found in l2g_inputs.bin: f" in res.stdout


def test_build_cache_is_content_keyed(tmp_path):
    src = tmp_path / "p.c"
    src.write_text("int main(void) { return 0; }\n")
    elf1 = build_elf([src])
    mtime = elf1.stat().st_mtime_ns
    assert build_elf([src]) == elf1 and elf1.stat().st_mtime_ns == mtime
    src.write_text("int main(void) { return 1; }\n")
    elf2 = build_elf([src])
    assert elf2 != elf1
    assert run_elf(elf2, gemmini=False, check=False).exit_code == 1


def test_build_error_shows_compiler_message(tmp_path):
    from l2g.runtime import BuildError

    src = tmp_path / "bad.c"
    src.write_text("int main(void) { return undefined_name; }\n")
    with pytest.raises(BuildError, match="undefined_name"):
        build_elf([src])


def test_missing_toolchain_names_the_package(monkeypatch):
    monkeypatch.setenv("L2G_RISCV_GCC", "riscv64-does-not-exist-gcc")
    toolchain.riscv_gcc.cache_clear()
    try:
        with pytest.raises(ToolchainError, match="gcc-riscv64-unknown-elf"):
            toolchain.riscv_gcc()
    finally:
        monkeypatch.delenv("L2G_RISCV_GCC")
        toolchain.riscv_gcc.cache_clear()


def test_tensorio_encode_decode_all_dtypes():
    tensors = {
        f"t{i}": (np.arange(24).reshape(2, 3, 4) * (i + 1)).astype(dt)
        for i, dt in enumerate(tensorio.DTYPES)
    }
    tensors["scalar"] = np.array(3.5, dtype=np.float64)
    back = tensorio.decode(tensorio.encode(tensors))
    assert list(back) == list(tensors)
    for k in tensors:
        assert back[k].dtype == tensors[k].dtype
        np.testing.assert_array_equal(back[k], tensors[k])
    with pytest.raises(tensorio.TensorFileError, match="truncated"):
        tensorio.decode(tensorio.encode({"x": np.zeros(10, np.int32)})[:-3])


def test_cli_sim_prints_output_and_exit_code(tmp_path):
    proc = subprocess.run(
        [*L2G, "sim", "--no-gemmini", "-D", "EXIT_CODE=5", str(PROGRAMS / "hello.c")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 5
    assert proc.stdout == "hello from spike\ncounters advance: 1\n"


def test_cli_sim_reports_trap(tmp_path):
    proc = subprocess.run([*L2G, "sim", "--no-gemmini", str(PROGRAMS / "trap.c")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 111
    assert "program trapped: load access fault (mcause=5) at pc=0x" in proc.stderr
    assert proc.stdout == "about to fault\n"


def test_doctor_json_reports_tools_and_extension():
    proc = subprocess.run([*L2G, "doctor", "--json"], capture_output=True, text=True, timeout=120)
    report = json.loads(proc.stdout)
    names = {c["name"]: c for c in report["checks"]}
    for tool in ("spike", "riscv64-unknown-elf-gcc", "dtc", "apache-tvm", "torch", "gemmini-extension"):
        assert tool in names
    assert names["spike"]["ok"] and Path(names["spike"]["path"]).is_file()
    assert report["gemmini_extension"] and Path(report["gemmini_extension"]).is_file()
    assert proc.returncode == (0 if report["ok"] else 1)
    assert report["ok"], report["missing"]


def test_doctor_names_what_is_missing(monkeypatch):
    env = dict(os.environ, L2G_GEMMINI_EXTLIB="/nonexistent/libl2g_gemmini.so")
    proc = subprocess.run([*L2G, "doctor"], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 1
    assert "MISSING gemmini-extension" in proc.stdout and "make setup" in proc.stdout


def test_cli_sim_runs_gemmini_code_and_writes_stats(tmp_path):
    stats = tmp_path / "stats.json"
    prog = Path(__file__).parent / "gemmini_programs" / "smoke_ws.c"
    proc = subprocess.run([*L2G, "sim", "--config", "ibert", "--stats", str(stats), str(prog)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(stats.read_text())
    assert report["config"] == "ibert" and report["dim"] == 16
    assert report["macs"] > 0 and report["total_cycles"] * 16 * 16 >= report["macs"]
