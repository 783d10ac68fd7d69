"""Finding the external tools: the RISC-V cross compiler, Spike and dtc.

Every lookup failure raises :class:`~l2g.errors.ToolchainError` naming the package that
provides the tool and the setup command that installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from l2g.errors import ToolchainError

SETUP_HINT = "run `make setup` in the l2g checkout (it installs everything the README lists)"

RISCV_GCC = "riscv64-unknown-elf-gcc"
PICOLIBC_SPECS = Path("/usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs")


@dataclass(frozen=True)
class Tool:
    name: str
    path: Path
    version: str


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


@lru_cache(maxsize=None)
def riscv_gcc() -> Tool:
    path = shutil.which(os.environ.get("L2G_RISCV_GCC", RISCV_GCC))
    if not path:
        raise ToolchainError(
            f"{RISCV_GCC} not found. Install the Debian package gcc-riscv64-unknown-elf "
            f"(apt-get install gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf), or {SETUP_HINT}."
        )
    if not PICOLIBC_SPECS.is_file():
        raise ToolchainError(
            f"picolibc for RISC-V not found ({PICOLIBC_SPECS}). Install the Debian package "
            f"picolibc-riscv64-unknown-elf, or {SETUP_HINT}."
        )
    return Tool("riscv64-unknown-elf-gcc", Path(path), _first_line([path, "--version"]))


@lru_cache(maxsize=None)
def spike() -> Tool:
    """The spike binary shipped inside the pinned `spike` Python package.

    The package's console script is a Python wrapper that preloads its own plugins; the
    toolchain runs the real binary underneath it instead, which starts faster and takes our
    extension library unchanged.
    """
    override = os.environ.get("L2G_SPIKE")
    if override:
        p = Path(override)
        if not p.is_file():
            raise ToolchainError(f"L2G_SPIKE={override} does not exist; unset L2G_SPIKE to use the pinned spike "
                                 f"package's binary, or {SETUP_HINT}")
        return Tool("spike", p, _first_line([str(p), "--help"]))
    try:
        import riscv  # the pip package `spike` installs the module `riscv`
    except ImportError:
        raise ToolchainError(
            f"Spike not found: the Python package spike==0.0.5.dev20 is not installed. {SETUP_HINT}."
        ) from None
    p = Path(riscv.__file__).parent / "data" / "bin" / "spike"
    if not p.is_file():
        raise ToolchainError(f"the spike package is installed but has no binary at {p}; reinstall it ({SETUP_HINT})")
    if not shutil.which("dtc"):
        raise ToolchainError(
            f"dtc not found: Spike needs the device-tree compiler. Install the Debian package "
            f"device-tree-compiler, or {SETUP_HINT}."
        )
    return Tool("spike", p, _first_line([str(p), "--help"]))


@lru_cache(maxsize=None)
def dtc() -> Tool:
    path = shutil.which("dtc")
    if not path:
        raise ToolchainError(f"dtc not found. Install the Debian package device-tree-compiler, or {SETUP_HINT}.")
    return Tool("dtc", Path(path), _first_line([path, "--version"]))
