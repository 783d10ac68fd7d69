"""Host side of the target runtime: cross-compile bare-metal programs and run them on Spike.

Typical use::

    from l2g.runtime import sim_c
    res = sim_c(["prog.c"], config="ibert")
    print(res.stdout, res.exit_code, res.outputs["logits"], res.gemmini_stats["total_cycles"])
"""

from __future__ import annotations

import os
from typing import Iterable, Mapping, Sequence

import numpy as np

from l2g.hwconfig import GemminiConfig, get_config
from l2g.runtime.build import BuildError, build_elf
from l2g.runtime.spike import (
    ConfigArtifacts,
    SimResult,
    SimulationError,
    SimulationFailed,
    SimulationTimeout,
    SimulationTrap,
    TrapInfo,
    prepare_config,
    raise_for_status,
    run_elf,
)


def sim_c(
    sources: Sequence[os.PathLike | str],
    *,
    config: str | GemminiConfig = "default",
    gemmini: bool | os.PathLike | str = True,
    inputs: Mapping[str, np.ndarray] | None = None,
    defines: Mapping[str, object] | None = None,
    include_dirs: Iterable[os.PathLike | str] = (),
    opt: str = "-O2",
    timeout: float = 120.0,
    stats_path: os.PathLike | str | None = None,
    extra_env: Mapping[str, str] | None = None,
    check: bool = True,
) -> SimResult:
    """Build C sources against the config's ``gemmini_params.h`` and run them on Spike."""
    cfg = get_config(config) if isinstance(config, str) else config
    artifacts = prepare_config(cfg)
    elf = build_elf(sources, include_dirs=[artifacts.include_dir, *include_dirs], defines=defines, opt=opt)
    return run_elf(
        elf, gemmini=gemmini, config=artifacts, inputs=inputs, timeout=timeout,
        stats_path=stats_path, extra_env=extra_env, check=check,
    )


__all__ = [
    "BuildError", "ConfigArtifacts", "SimResult", "SimulationError", "SimulationFailed",
    "SimulationTimeout", "SimulationTrap", "TrapInfo", "build_elf", "prepare_config",
    "raise_for_status", "run_elf", "sim_c",
]
