"""The pass framework: a named, ordered list of passes run over a Relax IRModule.

A pass is one file ``passes/<name>.py`` with one entry point, the function ``<name>``::

    def <name>(mod: tvm.IRModule, ctx: CompileContext) -> tvm.IRModule

(a one-argument ``<name>(mod)`` is accepted too).  :data:`PASS_REGISTRY` maps pass names to
``module:function``; the module is imported only when the pass runs, so the registry is cheap.
:class:`Pipeline` runs passes in order and, with ``dump_ir_dir``, writes the IR after every
pass as ``NN_<pass>.py`` (``mod.script()``), ``00_input.py`` being the module it started from.
See ``docs/adding-a-pass.md``.
"""

from __future__ import annotations

import importlib
import inspect
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from l2g.errors import L2GError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from l2g.passes.calibrate import CalibrationRanges
    from l2g.passes.integer_only import IntegerOnlyOptions

#: pass name → "module:function".  Order of a pipeline is given by the Pipeline, not here.
PASS_REGISTRY: dict[str, str] = {
    "canonicalize": "l2g.passes.canonicalize:canonicalize",
    "calibrate": "l2g.passes.calibrate:calibrate",
    "quantize": "l2g.passes.quantize:quantize",
    "integer_only": "l2g.passes.integer_only:integer_only",
}

#: Named pipelines used by the CLI and tests.
PRESETS: dict[str, tuple[str, ...]] = {
    "float": ("canonicalize",),
    "int8": ("canonicalize", "calibrate", "quantize"),
    "integer_only": ("canonicalize", "calibrate", "quantize", "integer_only"),
}


@dataclass
class CompileContext:
    """Typed state shared by the passes of one pipeline run (never global).

    ``calib_inputs``: sample inputs (one dict of graph-input name → numpy array per run) for
    ``calibrate``.  ``ranges_path``: where ``calibrate`` persists / reuses its JSON.
    ``ranges``: filled by ``calibrate``, read by ``quantize``.
    """

    calib_inputs: list[dict[str, "np.ndarray"]] = field(default_factory=list)
    ranges_path: Path | None = None
    ranges: "CalibrationRanges | None" = None
    calib_method: str = "minmax"  # or "percentile"
    calib_percentile: float = 99.99
    per_channel_weights: bool = True
    # SmoothQuant migration strength for LayerNorm outputs (None: off).  0.85 measured best on
    # MiniLM with per-channel weights (integer-only cosine on 32 SST-2 sentences: 0.5 → 0.9836,
    # 0.7 → 0.9895, 0.85 → 0.9903); the Gemmini build, whose weights are per-tensor, passes 0.5.
    smooth_alpha: float | None = 0.85
    # What the GELU reads: "int32", the FFN matmul's accumulator (finest), or "int8", that
    # accumulator read out through one ACC_SCALE, as a Gemmini matmul writes it.
    gelu_input_dtype: str = "int32"
    # Fixed int8 scale of every softmax output (None: calibrated).  1/127 is the softmax
    # unit's own output scale, so no requantization follows the unit.
    softmax_out_scale: float | None = None
    # integer_only's knobs (None: IntegerOnlyOptions()).
    integer_options: "IntegerOnlyOptions | None" = None
    quant_report: object | None = None  # QuantizeReport, set by quantize
    timings: dict[str, float] = field(default_factory=dict)


def get_pass(name: str) -> Callable:
    """The entry-point function of pass ``name`` (imports its module)."""
    if name not in PASS_REGISTRY:
        raise L2GError(f"unknown pass {name!r}; known passes: {', '.join(sorted(PASS_REGISTRY))}")
    mod_name, fn_name = PASS_REGISTRY[name].split(":")
    try:
        module = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        if exc.name == mod_name:
            raise L2GError(f"pass {name!r} is registered as {mod_name} but that module does not exist yet") from exc
        raise
    fn = getattr(module, fn_name, None)
    if fn is None:
        raise L2GError(f"pass {name!r}: {mod_name} has no entry point {fn_name}()")
    return fn


def _call(fn: Callable, mod, ctx: CompileContext):
    params = [p for p in inspect.signature(fn).parameters.values() if p.default is inspect.Parameter.empty]
    return fn(mod) if len(params) == 1 else fn(mod, ctx)


@dataclass
class Pipeline:
    """Passes by name, run in order; optionally dump the IR after each one."""

    passes: list[str]
    dump_ir_dir: Path | None = None

    def __post_init__(self):
        for name in self.passes:
            if name not in PASS_REGISTRY:
                raise L2GError(f"unknown pass {name!r}; known passes: {', '.join(sorted(PASS_REGISTRY))}")
        if self.dump_ir_dir is not None:
            self.dump_ir_dir = Path(self.dump_ir_dir)

    @classmethod
    def preset(cls, name: str, dump_ir_dir: Path | None = None) -> "Pipeline":
        if name not in PRESETS:
            raise L2GError(f"unknown pipeline {name!r}; known: {', '.join(PRESETS)}")
        return cls(list(PRESETS[name]), dump_ir_dir)

    def _dump(self, index: int, name: str, mod) -> None:
        self.dump_ir_dir.mkdir(parents=True, exist_ok=True)
        (self.dump_ir_dir / f"{index:02d}_{name}.py").write_text(mod.script())

    def run(self, mod, ctx: CompileContext | None = None):
        ctx = ctx if ctx is not None else CompileContext()
        if self.dump_ir_dir is not None:
            self._dump(0, "input", mod)
        for i, name in enumerate(self.passes, start=1):
            fn = get_pass(name)
            t0 = time.perf_counter()
            out = _call(fn, mod, ctx)
            ctx.timings[name] = time.perf_counter() - t0
            if out is None:
                raise L2GError(f"pass {name!r} returned None instead of an IRModule")
            mod = out
            if self.dump_ir_dir is not None:
                self._dump(i, name, mod)
        return mod
