"""pytest-benchmark wrappers: `.venv/bin/python -m pytest benchmarks/ --benchmark-only`."""

import pytest

from gemmini_host_time import PROGRAM, get_config, prepare_config, build_elf, run_elf


@pytest.fixture(scope="module")
def elf_and_config():
    art = prepare_config(get_config("default"))
    return build_elf([PROGRAM], include_dirs=[art.include_dir], defines={"M": 512}), art


@pytest.mark.benchmark
@pytest.mark.parametrize("timing", ["1", "0"])
def test_gemm512_host_time(benchmark, elf_and_config, timing):
    elf, art = elf_and_config
    res = benchmark.pedantic(lambda: run_elf(elf, config=art, extra_env={"L2G_GEMMINI_TIMING": timing}),
                             rounds=5, iterations=1)
    assert "PASS" in res.stdout
    assert res.wall_seconds < 1.0
