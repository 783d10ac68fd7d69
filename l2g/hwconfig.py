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

from l2g.errors import L2GError


@dataclass(frozen=True)
class TimingParams:
    """Parameters of the Spike extension's analytical cycle model (not RTL).

    Units are in each name.  The C++ side (csrc/gemmini/config.h) mirrors these names and
    defaults; docs/gemmini-extension.md says what each one models and how to calibrate it.
    """

    #: CPU cycles per retired non-Gemmini instruction (in-order Rocket-class core running
    #: mostly loop/address code; 1.0 treats it as a perfectly pipelined single-issue core).
    cpu_cpi: float = 1.0
    #: DMA payload bytes moved per cycle per direction: a 128-bit TileLink system bus.
    dma_bytes_per_cycle: int = 16
    #: Cycles from a DMA request to its first data beat: L2/DRAM round trip on a Rocket SoC
    #: (the DMA keeps many requests in flight, so this is paid once per command, not per row).
    dma_latency_cycles: int = 80
    #: Cycles for one command to enter Gemmini's reservation station (RoCC command handoff;
    #: also the loop unroller's issue rate of one primitive command per cycle).
    cmd_issue_cycles: int = 1
    #: Reservation-station entries for load commands (Gemmini default config: 8).
    rs_entries_ld: int = 8
    #: Reservation-station entries for execute commands (Gemmini default config: 16).
    rs_entries_ex: int = 16
    #: Reservation-station entries for store commands (Gemmini default config: 4).
    rs_entries_st: int = 4
    #: Execute pipeline cycles beyond the 2*DIM systolic fill/drain skew: operand read,
    #: transposer/PE input registers and the accumulator write port.
    mesh_latency_cycles: int = 4
    #: Accumulator read + float32 scale + saturate pipeline depth on the mvout path.
    acc_read_latency_cycles: int = 6
    #: Normalization-unit cycles for the divide / square root that ends a MEAN, INV_STDDEV
    #: or INV_SUM_EXP statistics pass (iterative dividers in Normalizer.scala).
    norm_latency_cycles: int = 20


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
        if self.dim not in (8, 16, 32):
            # the extension's systolic-array kernels are built for these widths
            raise ValueError(f"config {self.name!r}: dim must be 8, 16 or 32, got {self.dim}")
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
    # keeps mtimes (and so build caches) stable when nothing changed; writes through a
    # temporary + rename so a concurrent build (pytest -n, bench -j) never reads half a file
    if not path.exists() or path.read_text() != text:
        from l2g.files import atomic_write_text

        atomic_write_text(path, text)


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


class UnknownConfigError(L2GError, KeyError):
    """A config name that is not in :data:`CONFIGS`.  An L2GError, so that the CLI prints it as
    one line; a KeyError, as a failed lookup is to Python callers."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def get_config(name: str, **overrides: object) -> GemminiConfig:
    """Look up a named config, optionally with field overrides (``timing`` takes a dict)."""
    try:
        cfg = CONFIGS[name]
    except KeyError:
        raise UnknownConfigError(f"unknown Gemmini config {name!r}; known configs: {', '.join(sorted(CONFIGS))}") from None
    if overrides:
        timing = overrides.pop("timing", None)
        if isinstance(timing, dict):
            overrides["timing"] = replace(cfg.timing, **timing)
        cfg = replace(cfg, **overrides)
    cfg.validate()
    return cfg


__all__ = ["GemminiConfig", "TimingParams", "CONFIGS", "DEFAULT", "IBERT", "get_config", "dataclasses"]
