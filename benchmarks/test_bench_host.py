"""Host-side speed of the toolchain (pytest-benchmark; `l2g bench host` runs these).

Each benchmark stores the work it did in ``extra_info`` (``work`` in ``work_unit``) so that
``l2g bench host`` can report a rate: simulated instructions per second for plain Spike,
simulated MACs per second for the Gemmini extension, and seconds per compile.
Run: ``.venv/bin/python -m pytest benchmarks/test_bench_host.py --benchmark-only``.
"""

from pathlib import Path

import pytest

from l2g.hwconfig import get_config
from l2g.runtime import build_elf, prepare_config, run_elf

HERE = Path(__file__).resolve().parent
GEMM_PROGRAM = HERE.parent / "tests" / "gemmini_programs" / "gemm_loop_ws.c"


@pytest.mark.benchmark
def test_spike_instructions_per_second(benchmark):
    elf = build_elf([HERE / "programs" / "cpu_loop.c"], defines={"ITERS": 20_000_000})
    res = benchmark.pedantic(lambda: run_elf(elf, gemmini=False, timeout=600), rounds=3, iterations=1)
    instret = int(res.outputs["instret"][0])
    assert instret >= 7 * 20_000_000  # the loop body is at least seven instructions
    benchmark.extra_info.update(work=instret, work_unit="instructions")


@pytest.mark.benchmark
@pytest.mark.parametrize("timing", ["on", "off"])
def test_extension_gemm_macs_per_second(benchmark, timing):
    """A 512x512x512 int8 GEMM through loop_ws, with the cycle model on or off."""
    art = prepare_config(get_config("default"))
    elf = build_elf([GEMM_PROGRAM], include_dirs=[art.include_dir], defines={"M": 512})
    env = {"L2G_GEMMINI_TIMING": "1" if timing == "on" else "0"}
    res = benchmark.pedantic(lambda: run_elf(elf, config=art, extra_env=env), rounds=3, iterations=1)
    assert "PASS" in res.stdout
    benchmark.extra_info.update(work=512**3, work_unit="MACs")


@pytest.mark.benchmark
@pytest.mark.parametrize("mode,config", [("baseline", "default"), ("integer", "ibert")])
def test_compile_tiny_encoder(benchmark, tmp_path, mode, config):
    """`l2g compile` end to end (export, passes, host references, codegen, cross-compile)."""
    from l2g.bench.suites import TINY_ENCODER
    from l2g.codegen.gemmini.compile import compile_model
    from l2g.frontend.synthetic import make_bert_model

    model = make_bert_model(tmp_path / "hf", TINY_ENCODER)
    manifest = benchmark.pedantic(
        lambda: compile_model(model, tmp_path / "out", config=config, mode=mode, seq_len=32), rounds=1, iterations=1)
    assert (tmp_path / "out" / manifest.elf).is_file()
    benchmark.extra_info.update(stages={k: round(v, 2) for k, v in manifest.compile_seconds.items()})
