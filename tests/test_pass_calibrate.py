"""calibrate: per-tensor ranges from sample runs, JSON round trip, reuse, fingerprint check."""

import numpy as np
import pytest

from relax_graphs import mlp_block

import tvm  # noqa: F401


def _samples(n=3):
    rng = np.random.default_rng(0)
    return [{"x": rng.normal(0, 1, (1, 8, 16)).astype("float32")} for _ in range(n)]


def test_ranges_match_numpy_and_round_trip(tmp_path):
    from l2g.passes.calibrate import CalibrationRanges, calibrate
    from l2g.passes.pipeline import CompileContext

    mod = mlp_block()
    samples = _samples()
    ctx = CompileContext(calib_inputs=samples, ranges_path=tmp_path / "r.json")
    assert calibrate(mod, ctx) is mod
    r = ctx.ranges
    assert r.method == "minmax" and r.num_samples == 3
    # the first binding is the LayerNorm of x: check its range against numpy
    first = mod["main"].body.blocks[0].bindings[0].var.name
    ln = [(s["x"] - s["x"].mean(-1, keepdims=True)) / np.sqrt(s["x"].var(-1, keepdims=True) + 1e-5) for s in samples]
    assert r[first].max == pytest.approx(max(a.max() for a in ln), rel=1e-4)
    assert r[first].min == pytest.approx(min(a.min() for a in ln), rel=1e-4)
    assert r[first].absmax == pytest.approx(max(abs(r[first].min), r[first].max))
    back = CalibrationRanges.load(tmp_path / "r.json")
    assert back == r


def test_saved_ranges_are_reused_and_fingerprint_checked(tmp_path):
    from l2g.errors import L2GError
    from l2g.passes.calibrate import calibrate
    from l2g.passes.pipeline import CompileContext
    from l2g.passes.quantize import quantize

    path = tmp_path / "r.json"
    calibrate(mlp_block(), CompileContext(calib_inputs=_samples(2), ranges_path=path))
    ctx = CompileContext(calib_inputs=[], ranges_path=path)  # no samples: must come from the file
    calibrate(mlp_block(), ctx)
    assert ctx.ranges.num_samples == 2
    with pytest.raises(L2GError, match="different module"):
        quantize(mlp_block(seed=5), ctx)


def test_percentile_method_clips():
    from l2g.passes.calibrate import collect_ranges

    mod = mlp_block()
    mm = collect_ranges(mod, _samples(), "minmax")
    pc = collect_ranges(mod, _samples(), "percentile", 90.0)
    name = next(iter(mm.ranges))
    assert pc.ranges[name].absmax < mm.ranges[name].absmax
    assert pc.ranges[name].max == mm.ranges[name].max


def test_no_samples_is_an_error():
    from l2g.errors import L2GError
    from l2g.passes.calibrate import calibrate
    from l2g.passes.pipeline import CompileContext

    with pytest.raises(L2GError, match="at least one sample"):
        calibrate(mlp_block(), CompileContext())
