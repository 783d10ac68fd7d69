"""Calibration: run the float module on sample inputs and record per-tensor activation ranges.

Every float32 tensor of ``main``, parameters included (keyed by its binding or parameter
name, e.g. ``lv42``), gets a
:class:`TensorRange`.  Two methods, chosen with ``CompileContext.calib_method``:

``minmax`` (default)
    min / max over all samples; ``absmax = max(|min|, |max|)``.  Nothing saturates on the
    calibration data, which matters for the int32 → int8 requantizations of BERT's residual
    stream, whose few large outliers carry information.
``percentile``
    ``absmax`` = the largest over samples of the per-sample ``calib_percentile``-th percentile
    of ``|x|`` (min / max are still recorded exactly).  Clips rare outliers for finer steps.

Two per-op extras are recorded whatever the method: LayerNorm outputs get per-channel max |x|
(``channel_absmax``, for the SmoothQuant-style migration in ``quantize``), and GELU outputs get
an MSE-optimal clipping bound (``clip_absmax``: the bound on a 37-point grid in [0.1, 1]·absmax
minimizing the int8 round-trip error on a random subsample of the calibration values).  GELU's
output has a long positive tail (absmax ~24 with most values below 1 in MiniLM), and measured on
MiniLM-L6 clipping it this way raises the int8 cosine to FP32 from 0.983 to about 0.99.

Ranges are tied to the module they were measured on by ``module_fingerprint`` (a hash of
``main``'s IR and weights); ``quantize`` refuses ranges of a different module.  They persist as a
small JSON file (:meth:`CalibrationRanges.save` / :meth:`CalibrationRanges.load`), by default
``<model>.onnx.ranges.json`` next to the model; ``calibrate`` reuses a file whose fingerprint
and method match instead of running again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from l2g.errors import L2GError


#: bumped whenever what is recorded changes; files of another version are re-measured
FORMAT_VERSION = 3


@dataclass(frozen=True)
class TensorRange:
    min: float
    max: float
    absmax: float
    #: per last-axis channel max |x|; recorded for LayerNorm outputs only (used to smooth them)
    channel_absmax: tuple[float, ...] | None = None
    #: MSE-optimal clipping bound for int8 (recorded for GELU outputs only; see module doc)
    clip_absmax: float | None = None

    @property
    def scale(self) -> float:
        """Symmetric int8 scale: real = int8 · scale."""
        return max(self.absmax, 1e-8) / 127.0


@dataclass
class CalibrationRanges:
    module_fingerprint: str
    method: str
    percentile: float | None
    num_samples: int
    ranges: dict[str, TensorRange] = field(default_factory=dict)
    format: int = FORMAT_VERSION

    def __getitem__(self, name: str) -> TensorRange:
        try:
            return self.ranges[name]
        except KeyError:
            raise L2GError(f"no calibrated range for tensor {name!r}; re-run calibration on this module") from None

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        return json.dumps(d, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "CalibrationRanges":
        d = json.loads(text)
        d.setdefault("format", 1)
        d["ranges"] = {
            k: TensorRange(**{**v, "channel_absmax": tuple(v["channel_absmax"]) if v.get("channel_absmax") else None})
            for k, v in d["ranges"].items()
        }
        return cls(**d)

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(self.to_json())
        return p

    @classmethod
    def load(cls, path: str | Path) -> "CalibrationRanges":
        try:
            return cls.from_json(Path(path).read_text())
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise L2GError(f"cannot read calibration ranges {path}: {exc}") from exc


def module_fingerprint(mod) -> str:
    """Hash of ``main``'s printed IR plus the bytes of every constant it uses (16 hex digits).

    (TVM's ``structural_hash`` is not stable across runs here, so it cannot key a file.)
    """
    from tvm import relax

    from l2g.passes._relax_util import const_array, is_const

    h = hashlib.sha256(mod["main"].script().encode())

    def consts(e):
        if is_const(e):
            h.update(np.ascontiguousarray(const_array(e)).tobytes())
        elif isinstance(e, relax.Call):
            for a in e.args:
                consts(a)
        elif isinstance(e, relax.Tuple):
            for f in e.fields:
                consts(f)

    for block in mod["main"].body.blocks:
        for b in block.bindings:
            consts(b.value)
    return h.hexdigest()[:16]


def _probe_module(mod):
    """A copy of ``mod`` whose ``main`` also returns every float32 tensor it computes."""
    from tvm import relax

    nd = relax.transform.ToNonDataflow()(mod)
    func = nd["main"]
    names: list[str] = []
    probe_vars = []
    seen: set[str] = set()
    for p in func.params:  # float inputs get ranges too (quantize may quantize them directly)
        if isinstance(p.ty, relax.TensorType) and str(p.ty.dtype) == "float32":
            seen.add(p.name)
            names.append(p.name)
            probe_vars.append(p)
    for block in func.body.blocks:
        for b in block.bindings:
            ty = b.var.ty
            if not isinstance(ty, relax.TensorType) or str(ty.dtype) != "float32":
                continue
            if b.var.name in seen:
                raise L2GError(f"binding name {b.var.name!r} appears twice in main; cannot key ranges by name")
            seen.add(b.var.name)
            names.append(b.var.name)
            probe_vars.append(b.var)
    fields = [func.body.body] + probe_vars
    ret_ty = relax.TupleType([f.ty for f in fields])
    body = relax.SeqExpr(func.body.blocks, relax.Tuple(fields))
    new = relax.Function(func.params, body, ret_ty, func.is_pure, func.attrs)
    out = nd.clone() if hasattr(nd, "clone") else nd
    out["main"] = new
    def op_is(b, *names):
        return isinstance(b.value, relax.Call) and getattr(b.value.op, "name", "") in names

    bindings = [b for block in func.body.blocks for b in block.bindings]
    per_channel = {b.var.name for b in bindings if op_is(b, "relax.nn.layer_norm")}
    clipped = {b.var.name for b in bindings if op_is(b, "relax.nn.gelu", "relax.nn.gelu_tanh")}
    return relax.transform.Normalize()(out), names, (per_channel, clipped)


def _mse_clip(x: np.ndarray, absmax: float) -> float:
    """The bound c ≤ absmax whose symmetric int8 grid (step c/127) has the least MSE on x."""
    best, best_err = absmax, np.inf
    for f in np.linspace(0.1, 1.0, 37):
        c = max(f * absmax, 1e-8)
        step = c / 127.0
        err = float(np.mean((np.clip(np.rint(x / step), -127, 127) * step - x) ** 2))
        if err < best_err:
            best, best_err = c, err
    return float(best)


def collect_ranges(mod, samples, method: str = "minmax", percentile: float = 99.99) -> CalibrationRanges:
    """Run ``mod`` on ``samples`` (dicts of graph input → array) and aggregate ranges."""
    from l2g.passes.host import build_host

    if method not in ("minmax", "percentile"):
        raise L2GError(f"unknown calibration method {method!r} (minmax or percentile)")
    if not samples:
        raise L2GError("calibration needs at least one sample input (CompileContext.calib_inputs is empty)")
    probe, names, (per_channel, clipped) = _probe_module(mod)
    rng = np.random.default_rng(0)
    subsample: dict[str, list[np.ndarray]] = {n: [] for n in clipped}
    runner = build_host(probe)
    lo = {n: np.inf for n in names}
    hi = {n: -np.inf for n in names}
    am = {n: 0.0 for n in names}
    ch: dict[str, np.ndarray] = {}
    for s in samples:
        outs = runner(s)[1:]
        for n, a in zip(names, outs):
            a = np.asarray(a)
            if not np.isfinite(a).all():  # e.g. the -FLT_MAX attention-mask bias: not an activation
                a = a[np.isfinite(a)]
                if a.size == 0:
                    continue
            lo[n] = min(lo[n], float(a.min()))
            hi[n] = max(hi[n], float(a.max()))
            if n in clipped:
                flat = a.ravel()
                subsample[n].append(flat[rng.integers(0, flat.size, min(flat.size, 8192))])
            if n in per_channel:
                c = np.abs(a).reshape(-1, a.shape[-1]).max(axis=0)
                ch[n] = c if n not in ch else np.maximum(ch[n], c)
            if method == "percentile":
                am[n] = max(am[n], float(np.percentile(np.abs(a), percentile)))
    ranges = {}
    for n in names:
        if not np.isfinite(lo[n]):
            continue
        absmax = max(abs(lo[n]), abs(hi[n])) if method == "minmax" else am[n]
        chan = tuple(float(v) for v in ch[n]) if n in ch else None
        clip = _mse_clip(np.concatenate(subsample[n]), absmax) if subsample.get(n) else None
        ranges[n] = TensorRange(lo[n], hi[n], absmax, chan, clip)
    return CalibrationRanges(
        module_fingerprint=module_fingerprint(mod),
        method=method,
        percentile=percentile if method == "percentile" else None,
        num_samples=len(samples),
        ranges=ranges,
    )


def calibrate(mod, ctx):
    """Fill ``ctx.ranges`` (reusing ``ctx.ranges_path`` when it matches); ``mod`` is returned as is."""
    fp = module_fingerprint(mod)
    if ctx.ranges is not None and ctx.ranges.module_fingerprint == fp:
        return mod
    path = Path(ctx.ranges_path) if ctx.ranges_path else None
    if path is not None and path.is_file():
        cached = CalibrationRanges.load(path)
        if cached.format == FORMAT_VERSION and cached.module_fingerprint == fp and cached.method == ctx.calib_method and (
            not ctx.calib_inputs or cached.num_samples >= len(ctx.calib_inputs)
        ):
            ctx.ranges = cached
            return mod
    ctx.ranges = collect_ranges(mod, ctx.calib_inputs, ctx.calib_method, ctx.calib_percentile)
    if path is not None:
        ctx.ranges.save(path)
    return mod
