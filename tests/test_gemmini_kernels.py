"""l2g_gemmini_kernels.h driven by MatmulPlans, on Spike + the Gemmini extension, against numpy."""

from pathlib import Path

import numpy as np
import pytest

from l2g.hwconfig import get_config
from l2g.passes.tile import plan_matmul
from l2g.runtime import sim_c

PROGRAMS = Path(__file__).parent / "programs"


def acc_scale(x: np.ndarray, scale: float) -> np.ndarray:
    """sat8(RNE(fl32(x) * fl32(scale))), gemmini-isa.md §3.2."""
    y = x.astype(np.float32) * np.float32(scale)
    return np.clip(np.rint(y), -128, 127).astype(np.int8)  # np.rint rounds half to even


@pytest.mark.parametrize(
    "cfg_name,m,k,n,use_bias,act,full_bias,b_transposed",
    [
        ("default", 16, 16, 16, False, 0, False, False),
        ("default", 37, 100, 45, True, 1, False, False),  # padding in every dimension, ReLU
        ("default", 128, 200, 150, True, 0, False, False),  # several tile blocks in i, j and k
        ("ibert", 64, 48, 96, True, 0, False, False),
        ("default", 128, 200, 150, True, 0, True, False),  # an m x n bias matrix over several blocks
        ("ibert", 37, 64, 45, True, 0, True, False),  # ... with padded rows and columns
        ("default", 128, 200, 150, True, 0, False, True),  # B stored n x k (Kᵀ), several blocks
        ("ibert", 37, 70, 45, False, 0, True, True),  # ... padded in every dimension
    ],
)
def test_planned_matmul_matches_numpy(cfg_name, m, k, n, use_bias, act, full_bias, b_transposed):
    cfg = get_config(cfg_name)
    plan = plan_matmul(cfg, m, k, n)
    if (m, k, n) == (128, 200, 150):
        # force several blocks in every dimension to exercise the block loops
        from dataclasses import replace

        plan = replace(plan, tile_i=3, tile_j=4, tile_k=5)
    rng = np.random.default_rng(m * 7 + n)
    A = rng.integers(-128, 128, (m, k), dtype=np.int8)
    B = rng.integers(-128, 128, (k, n), dtype=np.int8)
    B_stored = np.ascontiguousarray(B.T) if b_transposed else B
    bias = rng.integers(-20000, 20000, (m, n) if full_bias else n, dtype=np.int32)
    scale = 1 / 256
    res = sim_c(
        [PROGRAMS / "matmul_plan.c"], config=cfg,
        defines=dict(MAT_M=m, MAT_K=k, MAT_N=n, TILE_I=plan.tile_i, TILE_J=plan.tile_j, TILE_K=plan.tile_k,
                     USE_BIAS=int(use_bias), SCALE=f"{scale}f", ACT=act, BIAS_STRIDE=n if full_bias else 0,
                     B_TRANSPOSED=int(b_transposed)),
        inputs={"A": A, "B": B_stored, "bias": bias.reshape(-1)},
    )
    acc = A.astype(np.int32) @ B.astype(np.int32) + (bias if use_bias else 0)
    if act == 1:
        acc = np.maximum(acc, 0)
    np.testing.assert_array_equal(res.outputs["C"], acc_scale(acc, scale))
    stats = res.gemmini_stats
    assert stats is not None and stats["macs"] >= m * k * n


# (20, 1100): i-GELU rows wider than half the accumulator go in two column chunks
@pytest.mark.parametrize("rows,cols", [(5, 16), (37, 40), (16, 128), (20, 1100)])
def test_normalization_unit_kernels_match_ibert_definitions(rows, cols):
    """Softmax / LayerNorm / i-GELU on the unit == the compiler's single I-BERT definition."""
    from l2g.passes import ibert

    rng = np.random.default_rng(rows * cols)
    x = rng.integers(-3000, 3000, (rows, cols), dtype=np.int32)
    x[0, : cols // 2] = -(2**24)  # masked positions, as the attention mask produces
    smc = ibert.softmax_consts(0.004)
    gec = ibert.gelu_consts(0.002)
    tiles = -(-cols // 16)
    ln_scale = rng.uniform(2.0, 40.0, tiles).astype(np.float32)
    ge_scale = np.float32(1 / 2000)
    x8 = rng.integers(-128, 128, (rows, cols), dtype=np.int8)
    ge8 = ibert.gelu_consts(0.0807)  # int8 GELU input (qb = -31)
    ge8_scale = np.float32(ge8.out_scale / 0.0807)  # output at about the input scale
    x = ibert.softmax_clamp(x, smc)  # the compiler clamps before the unit, so shifts stay < 32
    res = sim_c(
        [PROGRAMS / "norm_unit.c"], config="ibert",
        defines=dict(ROWS=rows, COLS=cols, SM_QB=smc.qb, SM_QC=smc.qc, SM_QLN2=smc.qln2,
                     SM_QLN2_INV=smc.qln2_inv, GE_QB=gec.qb, GE_QC=gec.qc, GE_SCALE=f"{float(ge_scale)!r}f",
                     GE8_QB=ge8.qb, GE8_QC=ge8.qc, GE8_SCALE=f"{float(ge8_scale)!r}f"),
        inputs={"x": x, "ln_scale": ln_scale, "x8": x8},
    )
    np.testing.assert_array_equal(res.outputs["softmax"], ibert.softmax_unit(x, smc))
    col_scale = np.repeat(ln_scale, 16)[:cols]
    np.testing.assert_array_equal(res.outputs["layernorm"], ibert.layernorm_unit(x, col_scale))
    np.testing.assert_array_equal(res.outputs["igelu"], ibert.igelu_unit(x, gec, ge_scale))
    want8 = ibert.igelu_unit(x8.astype(np.int32), ge8, ge8_scale)
    assert int(want8.max()) - int(want8.min()) > 100  # the read-out scale spreads the results over int8
    np.testing.assert_array_equal(res.outputs["igelu_i8"], want8)


@pytest.mark.parametrize("m,k,n", [(128, 768, 3072), (128, 3072, 768), (128, 768, 768)])
def test_bert_base_ffn_gemm_utilization_on_default_config(m, k, n):
    """Issue target: >= 90% of the array on BERT-base GEMMs (seq 128: FFN up/down, a 768x768
    projection), default config.
    Cycles come from the deterministic cycle model, so this is exact, not a timing test."""
    cfg = get_config("default")
    plan = plan_matmul(cfg, m, k, n)
    rng = np.random.default_rng(0)
    res = sim_c(
        [PROGRAMS / "matmul_plan.c"], config=cfg,
        defines=dict(MAT_M=m, MAT_K=k, MAT_N=n, TILE_I=plan.tile_i, TILE_J=plan.tile_j, TILE_K=plan.tile_k,
                     USE_BIAS=1, SCALE="0.001f", ACT=0),
        inputs={"A": rng.integers(-128, 128, (m, k), dtype=np.int8),
                "B": rng.integers(-128, 128, (k, n), dtype=np.int8), "bias": np.zeros(n, np.int32)},
    )
    cycles = int(res.outputs["cycles"][0])
    utilization = m * k * n / (cycles * cfg.dim**2)
    print(f"{m}x{k}x{n}: {cycles} cycles, utilization {utilization:.3f}")
    assert 0.90 <= utilization <= 1.0
