"""Running bare-metal ELFs on Spike, with the project's Gemmini extension.

:func:`run_elf` starts Spike in its own process group inside a scratch directory, enforces a
wall-clock timeout, always reaps the process (also on Ctrl-C), and returns a
:class:`SimResult` with the console output, the exit code, the tensors the program sent
back (``l2g_output_tensor``), the trap the program took, if any, and the Gemmini extension's
statistics.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from l2g.errors import L2GError, ToolchainError
from l2g.hwconfig import GemminiConfig
from l2g.paths import GEMMINI_EXTENSION_NAME, cache_dir, gemmini_extension_path
from l2g.runtime import tensorio, toolchain

#: Exit code of the target runtime's trap handler (csrc/target/l2g_rt_asm.h).
EXIT_TRAP = 111
#: Exit code the Gemmini extension uses after reporting misuse of the accelerator.
EXIT_GEMMINI_MISUSE = 3
#: Guest RAM: 1 GiB at Spike's DRAM base, matching csrc/target/link.ld.
MEMORY_MAP = "0x80000000:0x40000000"

TRAP_CAUSES = {
    0: "instruction address misaligned",
    1: "instruction access fault",
    2: "illegal instruction",
    3: "breakpoint",
    4: "load address misaligned",
    5: "load access fault",
    6: "store/AMO address misaligned",
    7: "store/AMO access fault",
    8: "environment call from U-mode",
    9: "environment call from S-mode",
    11: "environment call from M-mode",
    12: "instruction page fault",
    13: "load page fault",
    15: "store/AMO page fault",
}
_TRAP_RE = re.compile(r"L2G-TRAP mcause=(0x[0-9a-f]+) mepc=(0x[0-9a-f]+) mtval=(0x[0-9a-f]+)")
_TRAP_LINE_RE = re.compile(_TRAP_RE.pattern + r"\n?")


@dataclass(frozen=True)
class TrapInfo:
    mcause: int
    mepc: int
    mtval: int

    @property
    def cause(self) -> str:
        if self.mcause >> 63:
            return f"interrupt {self.mcause & ~(1 << 63)}"
        return TRAP_CAUSES.get(self.mcause, f"exception {self.mcause}")

    def describe(self) -> str:
        return f"{self.cause} (mcause={self.mcause}) at pc={self.mepc:#x}, mtval={self.mtval:#x}"


@dataclass
class SimResult:
    stdout: str
    stderr: str
    exit_code: int
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    trap: TrapInfo | None = None
    gemmini_stats: dict | None = None
    wall_seconds: float = 0.0
    command: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.trap is None


class SimulationError(L2GError):
    def __init__(self, message: str, result: SimResult | None = None):
        super().__init__(message)
        self.result = result


class SimulationTrap(SimulationError):
    """The program took an unexpected trap; the message names the cause and the pc."""

    exit_code = EXIT_TRAP


class SimulationTimeout(SimulationError):
    """Spike did not finish within the wall-clock limit."""

    exit_code = 124


class SimulationFailed(SimulationError):
    """The program exited with a non-zero code (or Spike failed)."""


@dataclass(frozen=True)
class ConfigArtifacts:
    """A hardware config rendered to disk: the C header dir and the extension's config file."""

    config: GemminiConfig
    include_dir: Path
    config_file: Path


def prepare_config(cfg: GemminiConfig) -> ConfigArtifacts:
    """Write ``gemmini_params.h`` and ``gemmini.cfg`` for ``cfg`` (cached by content)."""
    import hashlib

    digest = hashlib.sha256((cfg.extension_config() + cfg.c_header()).encode()).hexdigest()[:16]
    out = cache_dir() / "configs" / f"{cfg.name}-{digest}"
    hdr, cfgfile = cfg.write(out)
    return ConfigArtifacts(cfg, hdr.parent, cfgfile)


def _resolve_extension(gemmini: bool | os.PathLike | str) -> Path | None:
    if gemmini is False:
        return None
    if gemmini is True:
        lib = gemmini_extension_path()
        override = os.environ.get("L2G_GEMMINI_EXTLIB")
        if lib is None and override:
            raise ToolchainError(f"L2G_GEMMINI_EXTLIB={override} does not exist; unset it to use the library "
                                 "that `make setup` builds (build/csrc/libl2g_gemmini.so)")
        if lib is None:
            raise ToolchainError(
                "the Gemmini extension for Spike is not built (build/csrc/libl2g_gemmini.so); "
                "run `make setup` in the l2g checkout"
            )
        return lib
    lib = Path(gemmini)
    if not lib.is_file():
        raise ToolchainError(f"Gemmini extension library not found: {lib}")
    return lib


def run_elf(
    elf: os.PathLike | str,
    *,
    gemmini: bool | os.PathLike | str = True,
    config: ConfigArtifacts | None = None,
    inputs: Mapping[str, np.ndarray] | None = None,
    timeout: float = 120.0,
    max_instructions: int | None = None,
    stats_path: os.PathLike | str | None = None,
    workdir: os.PathLike | str | None = None,
    extra_env: Mapping[str, str] | None = None,
    check: bool = True,
) -> SimResult:
    """Run ``elf`` on Spike and collect what it produced.

    ``gemmini``: True loads the project's extension (built by CMake), False runs plain Spike,
    a path loads that extension library.  ``config`` selects the hardware config the
    extension models (default: the ``default`` config).  ``inputs`` become the guest's
    ``l2g_inputs.bin``.  With ``check`` (the default) a trap raises :class:`SimulationTrap`
    and a non-zero exit raises :class:`SimulationFailed`; a timeout always raises
    :class:`SimulationTimeout`.
    """
    elf = Path(elf).resolve()
    if not elf.is_file():
        raise SimulationFailed(f"ELF not found: {elf}")
    spike = toolchain.spike()
    extlib = _resolve_extension(gemmini)

    cmd = [str(spike.path), f"-m{MEMORY_MAP}"]
    if max_instructions:
        cmd.append(f"--instructions={int(max_instructions)}")
    env = dict(os.environ)
    if extlib is not None:
        cmd += [f"--extlib={extlib}", f"--extension={GEMMINI_EXTENSION_NAME}"]
        if config is None:
            from l2g.hwconfig import get_config

            config = prepare_config(get_config("default"))
        env["L2G_GEMMINI_CONFIG"] = str(config.config_file)
    cmd.append(str(elf))
    env.update(extra_env or {})

    with tempfile.TemporaryDirectory(prefix="l2g-sim-", dir=cache_dir()) as scratch:
        run_dir = Path(workdir) if workdir is not None else Path(scratch)
        run_dir.mkdir(parents=True, exist_ok=True)
        for stale in (tensorio.OUTPUTS_FILE, tensorio.INPUTS_FILE):
            (run_dir / stale).unlink(missing_ok=True)
        if inputs:
            tensorio.write(run_dir / tensorio.INPUTS_FILE, inputs)
        stats_file = Path(stats_path).resolve() if stats_path else run_dir / "gemmini_stats.json"
        stats_file.unlink(missing_ok=True)
        if extlib is not None:
            env["L2G_GEMMINI_STATS"] = str(stats_file)

        stdout, stderr, rc, elapsed = _run_reaped(cmd, run_dir, env, timeout)
        result = SimResult(stdout=stdout, stderr=stderr, exit_code=rc, wall_seconds=elapsed, command=cmd)
        if rc is None:
            result.exit_code = -1
            raise SimulationTimeout(
                f"simulation of {elf.name} timed out after {timeout:g} s of host time "
                f"(raise the limit with --timeout); partial output:\n{_tail(stdout)}",
                result,
            )
        result.outputs = tensorio.read(run_dir / tensorio.OUTPUTS_FILE)
        if stats_file.is_file():
            try:
                result.gemmini_stats = json.loads(stats_file.read_text())
            except json.JSONDecodeError:
                result.gemmini_stats = None
        # Spike's front end forwards the guest's fd 2 to the host's stdout, so the trap
        # report can arrive on either stream; lift it out of the program's own output.
        m = _TRAP_RE.search(stdout) or _TRAP_RE.search(stderr)
        if m and rc == EXIT_TRAP:
            result.trap = TrapInfo(*(int(g, 16) for g in m.groups()))
            result.stdout = _TRAP_LINE_RE.sub("", stdout)

    if check:
        raise_for_status(result, elf.name)
    return result


def raise_for_status(result: SimResult, program: str) -> None:
    if result.trap is not None:
        raise SimulationTrap(f"{program} trapped: {result.trap.describe()}", result)
    if result.exit_code != 0:
        detail = _tail(_strip_spike_noise(result.stderr)) or _tail(result.stdout)
        raise SimulationFailed(f"{program} exited with code {result.exit_code}:\n{detail}", result)


def _strip_spike_noise(text: str) -> str:
    return "\n".join(l for l in text.splitlines() if not l.startswith("*** FAILED ***"))


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _run_reaped(cmd: list[str], cwd: Path, env: dict, timeout: float) -> tuple[str, str, int | None, float]:
    """Run cmd in its own session; returns (stdout, stderr, returncode or None on timeout, secs)."""
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        rc: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        rc = None
    except BaseException:
        _kill_group(proc)
        proc.communicate()
        raise
    elapsed = time.monotonic() - start
    return out.decode(errors="replace"), err.decode(errors="replace"), rc, elapsed


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
