"""Cross-compiling bare-metal programs for Spike, with a content-addressed ELF cache.

A build's cache key covers the compiler's identity, every flag, every source file, every
header in the include directories, and the target runtime, so a hit is always safe and a
second build of the same program costs one hash.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from l2g.errors import L2GError
from l2g.paths import TARGET_INCLUDE_DIR, TARGET_RUNTIME_DIR, cache_dir
from l2g.runtime import toolchain

#: ISA/ABI flags from the verified toolchain facts (docs/design.md): RV64GC, medany code model
#: so code and data can sit anywhere in the 1 GiB RAM window, picolibc without its crt0.
ARCH_FLAGS = ("-march=rv64gc", "-mabi=lp64d", "-mcmodel=medany")
BASE_FLAGS = (
    "-specs=picolibc.specs",
    "-nostartfiles",
    "-ffreestanding",
    "-fno-common",
    "-Wall",
    "-Wl,--no-warn-rwx-segments",
)
RUNTIME_SOURCES = ("crt0.S", "l2g_rt.c")
HEADER_SUFFIXES = (".h", ".hpp", ".inc")


class BuildError(L2GError):
    """The cross compiler rejected a program; carries the compiler's diagnostics."""


@dataclass(frozen=True)
class BuildSpec:
    """Everything that determines an ELF."""

    sources: tuple[Path, ...]
    include_dirs: tuple[Path, ...] = ()
    defines: tuple[tuple[str, str], ...] = ()
    opt: str = "-O2"
    extra_cflags: tuple[str, ...] = ()
    link_script: Path = field(default=TARGET_RUNTIME_DIR / "link.ld")

    def all_include_dirs(self) -> tuple[Path, ...]:
        return (*self.include_dirs, TARGET_INCLUDE_DIR, TARGET_RUNTIME_DIR)

    def command(self, output: Path) -> list[str]:
        gcc = toolchain.riscv_gcc()
        cmd = [str(gcc.path), *ARCH_FLAGS, *BASE_FLAGS, self.opt, "-T", str(self.link_script)]
        cmd += [f"-I{d}" for d in self.all_include_dirs()]
        cmd += [f"-D{k}={v}" if v != "" else f"-D{k}" for k, v in self.defines]
        cmd += list(self.extra_cflags)
        cmd += [str(TARGET_RUNTIME_DIR / s) for s in RUNTIME_SOURCES]
        cmd += [str(s) for s in self.sources]
        cmd += ["-o", str(output)]
        return cmd

    def cache_key(self) -> str:
        h = hashlib.sha256()
        gcc = toolchain.riscv_gcc()
        h.update(f"{gcc.path}|{gcc.version}".encode())
        h.update(repr((self.opt, self.extra_cflags, self.defines, [str(d) for d in self.all_include_dirs()])).encode())
        files = [self.link_script, *(TARGET_RUNTIME_DIR / s for s in RUNTIME_SOURCES), *self.sources]
        for d in self.all_include_dirs():
            if d.is_dir():
                files += sorted(p for p in d.rglob("*") if p.suffix in HEADER_SUFFIXES)
        for f in files:
            h.update(str(f).encode())
            h.update(b"\0")
            h.update(_file_digest(f))
        return h.hexdigest()[:32]


def _file_digest(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").digest()
    except FileNotFoundError:
        raise BuildError(f"source file not found: {path}") from None


def build_elf(
    sources: Sequence[os.PathLike | str],
    *,
    include_dirs: Iterable[os.PathLike | str] = (),
    defines: Mapping[str, object] | None = None,
    opt: str = "-O2",
    extra_cflags: Sequence[str] = (),
    output: os.PathLike | str | None = None,
    use_cache: bool = True,
) -> Path:
    """Compile C/assembly sources plus the target runtime into a bare-metal ELF.

    Returns the ELF path: ``output`` when given, else the cached ELF.  Raises
    :class:`BuildError` with the compiler's messages when compilation fails.
    """
    if not sources:
        raise BuildError("no source files given")
    spec = BuildSpec(
        sources=tuple(Path(s).resolve() for s in sources),
        include_dirs=tuple(Path(d).resolve() for d in include_dirs),
        defines=tuple(sorted((str(k), "" if v is None else str(v)) for k, v in (defines or {}).items())),
        opt=opt,
        extra_cflags=tuple(extra_cflags),
    )
    key = spec.cache_key()
    cached = cache_dir() / "elf" / key / "prog.elf"
    if not (use_cache and cached.is_file()):
        cached.parent.mkdir(parents=True, exist_ok=True)
        # compile to a temporary name and rename, so an interrupted build never leaves a
        # half-written ELF that a later run would take for a cache hit
        fd, tmp = tempfile.mkstemp(dir=cached.parent, suffix=".elf.tmp")
        os.close(fd)
        try:
            proc = subprocess.run(spec.command(Path(tmp)), capture_output=True, text=True)
            if proc.returncode != 0:
                names = ", ".join(Path(s).name for s in spec.sources)
                raise BuildError(f"cross-compilation of {names} failed:\n{proc.stderr.strip()}")
            os.replace(tmp, cached)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    if output is None:
        return cached
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(cached.read_bytes())
    return out
