"""Compile time of all-MiniLM-L6-v2 (seq 128) to the integer-only host module: ≤ 30 s.

Timed: ONNX import → canonicalize → quantize (ranges from the calibration JSON, as the
toolchain reuses them) → integer_only (including its LayerNorm input probe on the calibration
sentences, which builds one more host module) → relax.build for the LLVM host.  Export and
calibration run once before, untimed (calibration is data-dependent and cached next to the
model).
Run: ``.venv/bin/python -m pytest benchmarks/test_bench_compile_minilm.py --benchmark-only``.
"""

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from minilm_fixture import prepare  # noqa: E402


@pytest.mark.benchmark
def test_compile_minilm_integer_only(benchmark, tmp_path):
    from l2g.frontend.load import load_onnx
    from l2g.passes.host import build_host
    from l2g.passes.pipeline import CompileContext, Pipeline

    rec, _, ctx0, _ = prepare(tmp_path, n_calib=4)
    timings = {}

    def compile_once():
        # ranges come from the JSON file; the samples feed integer_only's LayerNorm probe
        ctx = CompileContext(calib_inputs=ctx0.calib_inputs, ranges_path=ctx0.ranges_path)
        t0 = time.perf_counter()
        mod = load_onnx(rec.onnx_path)
        timings["import"] = time.perf_counter() - t0
        mod = Pipeline(["canonicalize", "calibrate", "quantize", "integer_only"]).run(mod, ctx)
        timings.update(ctx.timings)
        t0 = time.perf_counter()
        host = build_host(mod)
        timings["relax.build"] = time.perf_counter() - t0
        return host

    t0 = time.perf_counter()
    benchmark.pedantic(compile_once, rounds=1, iterations=1)
    total = time.perf_counter() - t0
    print({k: round(v, 2) for k, v in timings.items()}, "total", round(total, 2))
    assert total <= 30.0, timings
