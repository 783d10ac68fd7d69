"""Gemmini hardware configurations: the single source of truth.

A :class:`GemminiConfig` names every architectural and timing parameter of one Gemmini
build.  From it the toolchain derives

* the C parameter header (``gemmini_params.h``) that target programs compile against
  (:func:`GemminiConfig.c_header`), and
* the plain ``key = value`` file that the Spike extension reads at start-up
  (:func:`GemminiConfig.extension_config`), pointed to by ``L2G_GEMMINI_CONFIG``.

Both are generated from the same object, so the simulator and the code can never disagree.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields, replace
from pathlib import Path


@dataclass(frozen=True)
class TimingParams:
    """Parameters of the analytical cycle model (not RTL).  Units are in each name."""

    #: CPU cycles per retired non-Gemmini instruction (in-order Rocket-class core).
    cpu_cpi: float = 1.0
    #: DMA payload bytes moved per cycle (a 128-bit system bus).
    dma_bytes_per_cycle: int = 16
    #: Cycles from a DMA request to its first beat (DRAM + interconnect round trip).
    dma_latency_cycles: int = 80


@dataclass(frozen=True)
class GemminiConfig:
    """One Gemmini build.  Sizes are in rows of ``dim`` elements unless the name says bytes."""

    name: str
    dim: int = 16
    sp_banks: int = 4
    sp_bank_rows: int = 4096
    acc_banks: int = 2
    acc_rows: int = 1024
    has_normalizations: bool = False
    norm_stat_ids: int = 2
    has_max_pool: bool = True
    has_training_convs: bool = True
    timing: TimingParams = field(default_factory=TimingParams)

    # ---- derived sizes -------------------------------------------------------------------
    @property
    def sp_rows(self) -> int:
        return self.sp_banks * self.sp_bank_rows

    @property
    def sp_bytes(self) -> int:
        return self.sp_rows * self.dim  # int8 elements

    @property
    def acc_bytes(self) -> int:
        return self.acc_rows * self.dim * 4  # int32 elements

    def validate(self) -> None:
        if self.dim not in (4, 8, 16, 32, 64):
            raise ValueError(f"config {self.name!r}: dim must be a power of two in 4..64, got {self.dim}")
        for name in ("sp_banks", "sp_bank_rows", "acc_banks", "acc_rows"):
            v = getattr(self, name)
            if v <= 0 or v & (v - 1):
                raise ValueError(f"config {self.name!r}: {name} must be a positive power of two, got {v}")
        if self.sp_rows > (1 << 14) and self.dim >= 16:
            # local addresses carry 14 row bits (gemmini-isa.md §1.3)
            raise ValueError(f"config {self.name!r}: scratchpad has {self.sp_rows} rows; at most 16384 are addressable")
        if self.acc_rows % self.acc_banks:
            raise ValueError(f"config {self.name!r}: acc_rows must be a multiple of acc_banks")

    # ---- generated artefacts ---------------------------------------------------------------
    def extension_config(self) -> str:
        """``key = value`` lines for the Spike extension (flat; timing keys prefixed ``timing.``)."""
        lines = [f"# generated from l2g.hwconfig config {self.name!r}; do not edit"]
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "timing":
                for tf in fields(v):
                    lines.append(f"timing.{tf.name} = {_fmt(getattr(v, tf.name))}")
            else:
                lines.append(f"{f.name} = {_fmt(v)}")
        return "\n".join(lines) + "\n"

    def c_header(self) -> str:
        """Contents of ``gemmini_params.h`` for this config."""
        from l2g.hwconfig_header import render_params_header

        return render_params_header(self)

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        """Write ``gemmini_params.h`` and ``gemmini.cfg`` into ``out_dir``; return both paths."""
        out_dir.mkdir(parents=True, exist_ok=True)
        hdr = out_dir / "gemmini_params.h"
        cfg = out_dir / "gemmini.cfg"
        _write_if_changed(hdr, self.c_header())
        _write_if_changed(cfg, self.extension_config())
        return hdr, cfg


def _fmt(v: object) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


def _write_if_changed(path: Path, text: str) -> None:
    # keeps mtimes (and so build caches) stable when nothing changed
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


DEFAULT = GemminiConfig(name="default")
IBERT = GemminiConfig(
    name="ibert",
    acc_banks=2,
    acc_rows=2048,
    has_normalizations=True,
    norm_stat_ids=2,
    has_max_pool=False,
    has_training_convs=False,
)

CONFIGS: dict[str, GemminiConfig] = {c.name: c for c in (DEFAULT, IBERT)}


def get_config(name: str, **overrides: object) -> GemminiConfig:
    """Look up a named config, optionally with field overrides (``timing`` takes a dict)."""
    try:
        cfg = CONFIGS[name]
    except KeyError:
        raise KeyError(f"unknown Gemmini config {name!r}; known configs: {', '.join(sorted(CONFIGS))}") from None
    if overrides:
        timing = overrides.pop("timing", None)
        if isinstance(timing, dict):
            overrides["timing"] = replace(cfg.timing, **timing)
        cfg = replace(cfg, **overrides)
    cfg.validate()
    return cfg


__all__ = ["GemminiConfig", "TimingParams", "CONFIGS", "DEFAULT", "IBERT", "get_config", "dataclasses"]
