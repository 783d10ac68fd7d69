"""Where the toolchain's own files live: the source checkout and the CMake build tree."""

from __future__ import annotations

import os
from pathlib import Path

#: Root of the source checkout (the folder holding pyproject.toml).  The toolchain runs from an
#: editable install, so the C sources it cross-compiles at run time are found relative to it.
REPO_ROOT = Path(__file__).resolve().parent.parent

CSRC_DIR = REPO_ROOT / "csrc"
#: Bare-metal target runtime (start-up code, link script, HTIF console/exit, tensor I/O).
TARGET_RUNTIME_DIR = CSRC_DIR / "target"
#: Headers shared by target programs (Gemmini ISA macros and friends).
TARGET_INCLUDE_DIR = CSRC_DIR / "include"

#: CMake build tree; `make` configures it, L2G_BUILD_DIR overrides it.
BUILD_DIR = Path(os.environ.get("L2G_BUILD_DIR", REPO_ROOT / "build"))

#: Name under which the Spike extension registers itself (REGISTER_EXTENSION).
GEMMINI_EXTENSION_NAME = "gemmini"
GEMMINI_EXTENSION_LIB = "libl2g_gemmini.so"


def gemmini_extension_path() -> Path | None:
    """Path of the built Gemmini Spike extension, or None when it has not been built."""
    override = os.environ.get("L2G_GEMMINI_EXTLIB")
    if override:
        p = Path(override)
        return p if p.is_file() else None
    p = BUILD_DIR / "csrc" / GEMMINI_EXTENSION_LIB
    return p if p.is_file() else None


def cache_dir() -> Path:
    """Per-user cache (built ELFs keyed by content hash).  L2G_CACHE_DIR overrides it."""
    base = os.environ.get("L2G_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "l2g"
    )
    p = Path(base)
    p.mkdir(parents=True, exist_ok=True)
    return p
