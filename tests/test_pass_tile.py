"""passes/tile.py: tile plans fit the memories, cover the matmul, and minimize traffic."""

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2g.hwconfig import get_config
from l2g.passes.tile import TilingError, plan_matmul


@settings(max_examples=200, deadline=None)
@given(
    m=st.integers(1, 1024), k=st.integers(1, 3072), n=st.integers(1, 3072),
    cfg_name=st.sampled_from(["default", "ibert"]),
)
def test_plan_fits_half_memories_and_covers_matmul(m, k, n, cfg_name):
    cfg = get_config(cfg_name)
    p = plan_matmul(cfg, m, k, n)
    assert p.sp_rows_used <= cfg.sp_rows // 2
    assert p.acc_rows_used <= cfg.acc_rows // 2
    bi, bj, bk = p.blocks
    assert bi * p.tile_i >= p.tiles_m and bj * p.tile_j >= p.tiles_n and bk * p.tile_k >= p.tiles_k
    assert 0 <= p.pad_m < cfg.dim and 0 <= p.pad_k < cfg.dim and 0 <= p.pad_n < cfg.dim
    assert p.macs == m * k * n <= p.padded_macs


def test_plan_is_traffic_optimal_against_brute_force():
    cfg = get_config("default")
    m, k, n = 128, 768, 3072
    p = plan_matmul(cfg, m, k, n)
    tm, tk, tn = (math.ceil(x / 16) for x in (m, k, n))
    best = min(
        (m * k * math.ceil(tn / tj) + k * n * math.ceil(tm / ti) + m * n + 4 * n * math.ceil(tm / ti))
        for ti, tj in itertools.product(range(1, tm + 1), range(1, tn + 1))
        if ti * tj * 16 <= cfg.acc_rows // 2 and (ti + tj) * 16 <= cfg.sp_rows // 2
    )
    assert p.dram_bytes == best


def test_bert_ffn_plan_reuses_better_than_greedy_default():
    # tiled_matmul_auto's WS limit is tile_I, tile_J <= 5 on the default config (acc 512 rows
    # per half); the planner must stay within the same memory and not move more data.
    cfg = get_config("default")
    p = plan_matmul(cfg, 128, 768, 3072, name="ffn1")
    assert p.tile_i * p.tile_j * 16 <= 512
    greedy_bytes = 128 * 768 * math.ceil(192 / 5) + 768 * 3072 * math.ceil(8 / 5) + 128 * 3072 + 4 * 3072 * 2
    assert p.dram_bytes <= greedy_bytes
    assert "ffn1: 128x768x3072" in p.describe()


def test_row_epilogue_keeps_whole_rows():
    cfg = get_config("ibert")
    p = plan_matmul(cfg, 128, 64, 128, row_epilogue=True)
    assert p.tile_j == p.tiles_n == 8
    with pytest.raises(TilingError, match="full row of 40000 columns"):
        plan_matmul(cfg, 16, 16, 40000, row_epilogue=True)


def test_bad_sizes_are_rejected():
    with pytest.raises(TilingError, match="positive"):
        plan_matmul(get_config("default"), 0, 4, 4)
