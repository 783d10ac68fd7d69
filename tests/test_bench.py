"""l2g bench: schema, op classification, regression gating, report; the CLI on real Spike."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from l2g.bench.classify import OpLike, breakdown, classify_ops, primitives
from l2g.bench.compare import compare
from l2g.bench.schema import OP_CLASSES, BenchResult, HwInfo, OpRecord, PointResult, SchemaError, Speedup

L2G = [sys.executable, "-m", "l2g.cli"]


def _gemm_point(pid: str, cycles: int, sp=256, acc=64, m=128, k=768, n=768) -> PointResult:
    macs = m * k * n
    return PointResult(
        id=pid, suite="gemm", workload="gemm", config=HwInfo("default", "default", 16, sp, acc), mode="gemm",
        shape={"m": m, "k": k, "n": n}, cycles=cycles, macs=macs, utilization=macs / (cycles * 256),
        matmul_utilization=macs / (cycles * 256), breakdown={**{c: 0 for c in OP_CLASSES}, "matmul": cycles},
        plan={"tile_i": 8, "tile_j": 4, "tile_k": 24, "loop_ws_calls": 8},
    )


def _model_point(pid: str, mode: str, config: str, br: dict[str, int]) -> PointResult:
    full = {c: br.get(c, 0) for c in OP_CLASSES}
    total = sum(full.values())
    return PointResult(
        id=pid, suite="encoder", workload="encoder", config=HwInfo(config, config, 16, 256, 64), mode=mode,
        shape={"seq_len": 128, "hidden": 768}, cycles=total, macs=1000, utilization=0.1, matmul_utilization=0.9,
        breakdown=full, ops=[OpRecord("lv:matmul", "gemmini", "matmul", full["matmul"], 1000)],
    )


def _result(points, **kw) -> BenchResult:
    return BenchResult(suite="test", points=list(points), git_commit="abc", created="now", host="h", **kw)


# ---- schema ------------------------------------------------------------------------------
def test_schema_round_trip(tmp_path):
    base = _model_point("encoder/x/seq128/baseline@default", "baseline", "default", {"matmul": 10, "softmax": 90})
    fast = _model_point("encoder/x/seq128/integer@ibert", "integer", "ibert", {"matmul": 9, "softmax": 1})
    res = _result([_gemm_point("g/a", 1000), base, fast],
                  speedups=[Speedup("s", base.id, fast.id, 10.0)])
    path = res.save(tmp_path / "r.json")
    back = BenchResult.load(path)
    assert back == res
    assert isinstance(back.points[1].config, HwInfo) and isinstance(back.points[1].ops[0], OpRecord)


def test_schema_rejects_other_versions_and_garbage(tmp_path):
    raw = _result([_gemm_point("g/a", 1000)]).to_dict()
    raw["schema_version"] = 999
    with pytest.raises(SchemaError, match="schema version 999"):
        BenchResult.from_dict(raw)
    raw["schema_version"] = 1
    del raw["points"][0]["cycles"]
    with pytest.raises(SchemaError, match="not a valid"):
        BenchResult.from_dict(raw)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SchemaError, match="not JSON"):
        BenchResult.load(tmp_path / "bad.json")


# ---- compare -----------------------------------------------------------------------------
def test_compare_flags_regressions_beyond_tolerance_and_shows_improvements():
    old = _result([_gemm_point("a", 1000), _gemm_point("b", 1000), _gemm_point("c", 1000), _gemm_point("d", 1000)])
    new = _result([_gemm_point("a", 1005), _gemm_point("b", 1100), _gemm_point("c", 800), _gemm_point("e", 5)])
    cmp = compare(old, new, tolerance_pct=1.0)
    status = {r.id: r.status for r in cmp.rows}
    assert status == {"a": "unchanged", "b": "regressed", "c": "improved", "d": "missing", "e": "new"}
    assert cmp.failed
    table = cmp.table()
    assert "REGRESSED" in table and "+10.00%" in table and "-20.00%" in table and "MISSING" in table
    assert "FAIL" in table.splitlines()[-1]
    # within a wider tolerance, and with nothing missing, the same growth passes
    ok = compare(_result(old.points[:3]), _result(new.points[:3]), tolerance_pct=15.0)
    assert not ok.failed and ok.count("improved") == 1 and "-> ok" in ok.table()


def test_compare_lists_the_op_classes_that_moved():
    old = _result([_model_point("m", "integer", "ibert", {"matmul": 1000, "softmax": 100, "other": 10})])
    new = _result([_model_point("m", "integer", "ibert", {"matmul": 1000, "softmax": 300, "other": 10})])
    cmp = compare(old, new, 1.0)
    (row,) = cmp.rows
    assert row.status == "regressed" and row.classes == (("softmax", 100, 300),)
    assert "softmax" in cmp.table()


# ---- classification (op names as l2g compile writes them) ---------------------------------
def test_primitives_split_fused_names():
    assert primitives("lv13:fused_dequantize3_multiply13_multiply14_fast_erf_add6_multiply15_quantize3") == [
        "dequantize", "multiply", "multiply", "fast_erf", "add", "multiply", "quantize"]
    assert primitives("lv3:fused_layer_norm_quantize2") == ["layer_norm", "quantize"]
    assert primitives("lv12:layernorm_unit") == ["layernorm_unit"]


BASELINE_OPS = [  # a BERT layer compiled in baseline mode on `default` (abridged)
    ("lv:fused_less_add2_where", "cpu", "other"),
    ("lv12:take", "cpu", "other"),
    ("lv2:fused_cast6_multiply9_tir_round_tir_clip3_cast7_cast6_multiply10_tir_round_tir_clip3_cast7_add4_add4_dequantize",
     "cpu", "resadd"),
    ("lv3:fused_layer_norm_quantize", "cpu", "layernorm"),
    ("lv:matmul_requant", "gemmini", "matmul"),
    ("lv5:fused_reshape_transpose", "cpu", "other"),
    ("lv:matmul", "gemmini", "matmul"),
    ("lv8:fused_add5_dequantize1", "cpu", "quantize"),
    ("lv9:fused_fast_softmax_quantize1", "cpu", "softmax"),
    ("lv3:matmul_requant", "gemmini", "matmul"),
    ("lv13:fused_dequantize3_multiply13_multiply14_fast_erf_add6_multiply15_quantize3", "cpu", "gelu"),
    ("lv2:matmul", "gemmini", "matmul"),
    ("lv27:fused_dequantize9_fast_tanh_quantize9", "cpu", "other"),  # the pooler's tanh
    ("gv1:dequantize10", "cpu", "quantize"),
]

INTEGER_IBERT_OPS = [  # integer mode on `ibert`: I-BERT kernels on the normalization unit
    ("lv19:fused_cast18_multiply15_tir_round_tir_clip3_cast16_cast18_multiply16_tir_round_tir_clip3_cast16_add9_add9"
     "_cast11_right_shift_right_shift1_bitwise_and", "cpu", "resadd"),
    ("lv12:layernorm_unit", "gemmini", "layernorm"),
    ("lv:matmul", "gemmini", "matmul"),
    ("lv24:fused_where4_add12_cast22_right_shift2_right_shift3_bitwise_and3_not_equal1_cast23", "cpu", "softmax"),
    ("lv36:max", "cpu", "softmax"),
    ("lv25:fused_cast25_subtract1_cast22_maximum4_cast24", "cpu", "softmax"),
    ("lv42:softmax_unit", "gemmini", "softmax"),
    ("lv26:fused_cast26_cast2_multiply19_tir_round1_maximum5_minimum5_cast27_cast28", "cpu", "quantize"),
    ("lv3:matmul_requant", "gemmini", "matmul"),
    ("lv89:igelu_unit", "gemmini", "gelu"),
]

INTEGER_CPU_OPS = [  # integer mode on `default`: the I-BERT kernels as integer C on the CPU
    ("lv1:matmul", "gemmini", "matmul"),
    ("lv1:sum", "cpu", "layernorm"),
    ("lv16:fused_cast11_cast12_tir_abs_floor_divide_less1_tir_negative_where1_subtract_cast10_cast8", "cpu",
     "layernorm"),
    ("lv2:matmul", "gemmini", "matmul"),
    ("lv19:fused_cast27_right_shift7_bitwise_and8_maximum5_minimum3_cast27_less2_where4_tir_abs1_minimum4_add13",
     "cpu", "gelu"),
    ("lv:matmul", "gemmini", "matmul"),
    ("lv36:max", "cpu", "softmax"),
    ("lv11:fused_cast17_cast20_subtract2_cast19_tir_negative1_multiply16_right_shift4_multiply17_add9", "cpu",
     "softmax"),
    ("lv12:fused_cast17_sum1", "cpu", "softmax"),
    ("lv7:matmul_requant", "gemmini", "matmul"),
    ("lv36:max", "cpu", "other"),  # nothing between these matmuls names a nonlinear op
    ("lv8:matmul", "gemmini", "matmul"),
]


@pytest.mark.parametrize("ops", [BASELINE_OPS, INTEGER_IBERT_OPS, INTEGER_CPU_OPS],
                         ids=["baseline", "integer-ibert", "integer-cpu"])
def test_classify_ops(ops):
    got = classify_ops([OpLike(n, k) for n, k, _ in ops])
    assert got == [c for _, _, c in ops]


def test_breakdown_has_every_class():
    br = breakdown(["matmul", "softmax", "matmul"], [10, 5, 7])
    assert list(br) == list(OP_CLASSES) and br["matmul"] == 17 and br["softmax"] == 5 and br["gelu"] == 0


# ---- suites, report, plots ----------------------------------------------------------------
def test_derived_configs_have_the_requested_memory_sizes():
    from l2g.bench.suites import derive_config, gemm_tasks, SuiteOptions
    from l2g.errors import L2GError

    for sp in (64, 128, 256):
        for acc in (64, 128, 256):
            cfg = derive_config("default", sp, acc)
            assert (cfg.sp_bytes, cfg.acc_bytes) == (sp * 1024, acc * 1024)
    assert derive_config("default", 256, 64).name == "default"
    with pytest.raises(L2GError):
        derive_config("default", 48, 64)  # not a power-of-two number of rows
    assert len(gemm_tasks("gemm", SuiteOptions())) == 27


def test_speedups_pair_integer_with_baseline():
    from l2g.bench.suites import speedups

    base = _model_point("encoder/x/seq128/baseline@default", "baseline", "default", {"matmul": 10, "softmax": 90})
    fast = _model_point("encoder/x/seq128/integer@ibert", "integer", "ibert", {"matmul": 9, "softmax": 1})
    lone = _model_point("encoder/x/seq512/integer@ibert", "integer", "ibert", {"matmul": 9})
    (s,) = speedups([base, fast, lone])
    assert (s.baseline, s.candidate) == (base.id, fast.id) and s.speedup == pytest.approx(10.0)
    # Amdahl on the candidate's matmuls: 100 baseline cycles over its 9 matmul cycles, and over
    # its 1000 MACs at 16 × 16 per cycle
    assert s.matmul_bound == pytest.approx(100 / 9) and s.array_bound == pytest.approx(100 / (1000 / 256))
    assert s.bound_at_matmul_share(0.85) == pytest.approx(0.85 * 100 / 9)
    # a candidate at an 85 % matmul share sits exactly on that bound: total = matmul / 0.85
    on_bound = _model_point("encoder/x/seq128/integer@ibert", "integer", "ibert", {"matmul": 17, "softmax": 3})
    (t,) = speedups([base, on_bound])
    assert t.speedup == pytest.approx(t.bound_at_matmul_share(0.85))
    no_mm = _model_point("encoder/x/seq128/integer@ibert", "integer", "ibert", {"softmax": 10})
    (u,) = speedups([base, replace(no_mm, macs=0)])
    assert (u.matmul_bound, u.array_bound) == (0.0, 0.0)  # unknown, not infinite


def test_speedups_without_bounds_still_load_and_render(tmp_path):
    """Result files written before the ceilings existed load with 0.0 and render as '-'."""
    from l2g.bench import report

    base = _model_point("encoder/x/seq128/baseline@default", "baseline", "default", {"matmul": 10, "softmax": 90})
    fast = _model_point("encoder/x/seq128/integer@ibert", "integer", "ibert", {"matmul": 9, "softmax": 1})
    raw = _result([base, fast], speedups=[Speedup("s", base.id, fast.id, 10.0)]).to_dict()
    for sp in raw["speedups"]:
        del sp["matmul_bound"], sp["array_bound"]
    back = BenchResult.from_dict(raw)
    assert back.speedups[0].matmul_bound == 0.0
    assert "| s | 10.00 × | - | - | - |" in report.render(back)


def test_summary_names_the_ceilings():
    from l2g.bench.cli import summary
    from l2g.bench.suites import speedups

    base = _model_point("encoder/x/seq128/baseline@default", "baseline", "default", {"matmul": 10, "softmax": 90})
    fast = _model_point("encoder/x/seq128/integer@ibert", "integer", "ibert", {"matmul": 8, "layernorm": 2})
    res = _result([base, fast])
    res.speedups = speedups(res.points)
    assert ("10.00x (ceiling 12.5x with every non-matmul op free, 25.6x with the matmuls at 100 % of the array)"
            in summary(res))


def test_encoder_suite_measures_the_bare_layer_and_the_one_layer_model(tmp_path):
    """The issue's target workload is the bare encoder layer; the one-layer model (embeddings +
    the same layer + pooling) runs next to it, both modes, longest sequence first."""
    from l2g.bench.suites import SuiteOptions, build_tasks
    from l2g.frontend.synthetic import make_bert_model

    tasks = build_tasks("encoder", SuiteOptions())
    assert [t.id for t in tasks[:4]] == [
        "encoder/bert-base-layer/seq512/baseline@default", "encoder/bert-base-layer/seq512/integer@ibert",
        "encoder/bert-base-1layer-model/seq512/baseline@default", "encoder/bert-base-1layer-model/seq512/integer@ibert"]
    assert len(tasks) == 8 and {t.encoder.kind for t in tasks} == {"layer", "embedding"}
    with pytest.raises(ValueError, match="make_bert_layer_onnx"):
        make_bert_model(tmp_path / "m", tasks[0].encoder)
    assert not (tmp_path / "m").exists()  # refused before writing anything


def test_report_puts_survey_figures_next_to_ours(tmp_path):
    from l2g.bench import plots, report
    from l2g.bench.suites import speedups

    base = _model_point("encoder/x/seq128/baseline@default", "baseline", "default", {"matmul": 10, "softmax": 90})
    fast = _model_point("encoder/x/seq128/integer@ibert", "integer", "ibert", {"matmul": 8, "layernorm": 2})
    gemms = [_gemm_point("g/a", 4096, 256, 64), _gemm_point("g/b", 3000, 128, 128), _gemm_point("g/c", 3500, 64, 256)]
    res = _result([*gemms, base, fast])
    res.speedups = speedups(res.points)
    made = plots.write_plots(res, tmp_path / "plots")
    assert sorted(p.name for p in made) == ["breakdown.png", "speedup.png", "utilization.png"]
    assert all(p.stat().st_size > 5000 for p in made)
    md = report.render(res, made, rel_to=tmp_path)
    assert "| 74 % |" in md and "88–91 %" in md and "39.6 ×" in md and "| 87 % |" in md
    assert "| 10.0 × |" in md  # our speedup, 100 / 10 cycles
    assert "(128 KiB scratchpad, 128 KiB accumulator)" in md  # the best split: fewest cycles
    assert "| −36 % | -14.6 % (summed over 1 shapes) |" in md  # 3500 vs 4096 cycles at 64/256 KiB
    assert "| 80.0 % |" in md  # matmul share after: 8 of 10 cycles
    # the survey's own ceiling (39.6x at an 87 % matmul share) next to ours: 100 / 8 matmul cycles
    assert "(every other op free) (x, seq 128) | 45.5 × (39.6 / 0.87) | 12.5 × |" in md
    # measured, only-matmuls, matmuls at peak (1000 MACs / 256), at the survey's 87 % share
    assert "| 10.00 × | 12.5 × | 25.6 × | 10.9 × |" in md
    assert "| 19 % | 90.0 % |" in md  # baseline softmax share: paper 19 %, ours 90 of 100 cycles
    assert "BERT-base encoder (x, seq 128) | 39.6 × | 10.0 × |" in md  # the workload names the row
    assert "![utilization](plots/utilization.png)" in md


def test_host_metrics_from_pytest_benchmark_json():
    from l2g.bench.host import metrics_from_pytest_benchmark

    raw = {"benchmarks": [
        {"name": "test_ips", "fullname": "benchmarks/x.py::test_ips", "stats": {"median": 2.0, "rounds": 3},
         "extra_info": {"work": 100_000_000, "work_unit": "instructions"}},
        {"name": "test_c", "fullname": "benchmarks/x.py::test_c", "stats": {"median": 9.0, "rounds": 1},
         "extra_info": {}},
    ]}
    m = {h.name: h for h in metrics_from_pytest_benchmark(raw)}
    assert m["test_ips rate"].value == pytest.approx(5e7) and m["test_ips rate"].unit == "instructions/s"
    assert m["test_c median"].value == 9.0 and "test_c rate" not in m


def test_ray_missing_is_a_clear_error(monkeypatch):
    from l2g.bench import runner
    from l2g.errors import L2GError

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(L2GError, match=r"pip install -e '\.\[ray\]'"):
        runner._import_ray()


# ---- the CLI on real Spike ------------------------------------------------------------------
def _bench(*args, cwd=None, timeout=600):
    return subprocess.run([*L2G, "bench", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


GEMM_ARGS = ["gemm", "--shape", "64x64x64", "--shape", "37x100x45", "--sp-kib", "64", "--sp-kib", "256",
             "--acc-kib", "64", "-j", "2", "-q"]


def test_cli_gemm_sweep_gates_against_a_baseline(tmp_path):
    """A real sweep, then the gate: equal cycles pass, a doctored baseline that the run
    exceeds fails, and `--compare OLD NEW` reports the same without running anything."""
    base = tmp_path / "baseline.json"
    p = _bench(*GEMM_ARGS, "-o", str(tmp_path / "a"), "--update-baseline", "--baseline", str(base))
    assert p.returncode == 0, p.stderr
    res = BenchResult.load(tmp_path / "a" / "results.json")
    assert len(res.points) == 4 and not res.failures and res.git_commit
    for pt in res.points:
        assert 0.05 < pt.utilization <= 1.0 and pt.macs == pt.shape["m"] * pt.shape["k"] * pt.shape["n"]
        assert pt.plan["tile_k"] >= 1
    assert BenchResult.load(base) == res
    assert (tmp_path / "a" / "plots" / "utilization.png").is_file()
    assert "## GEMMs" in (tmp_path / "a" / "report.md").read_text()

    p = _bench(*GEMM_ARGS, "-o", str(tmp_path / "b"), "--compare", str(base))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "4 unchanged" in p.stdout and "-> ok" in p.stdout
    new = BenchResult.load(tmp_path / "b" / "results.json")
    assert [q.cycles for q in new.points] == [q.cycles for q in res.points]  # the cycle model is deterministic

    doctored = replace(res, points=[replace(res.points[0], cycles=res.points[0].cycles * 9 // 10), *res.points[1:]])
    doctored.save(tmp_path / "doctored.json")
    p = _bench("--compare", str(tmp_path / "doctored.json"), str(tmp_path / "b" / "results.json"), "--tolerance", "2")
    assert p.returncode == 1
    assert "REGRESSED" in p.stdout and res.points[0].id in p.stdout and "+11.1" in p.stdout
    p = _bench("--compare", str(tmp_path / "doctored.json"), str(tmp_path / "b" / "results.json"), "--tolerance", "20")
    assert p.returncode == 0, p.stdout


def test_cli_errors_are_readable(tmp_path):
    p = _bench("--compare", str(tmp_path / "nope.json"), str(tmp_path / "nope.json"))
    assert p.returncode == 1 and "not found" in p.stderr and "Traceback" not in p.stderr
    p = _bench()
    assert p.returncode == 1 and "name a suite" in p.stderr
    p = _bench("gemm", "--shape", "12by3")
    assert p.returncode == 2 and "MxKxN" in p.stderr


@pytest.mark.slow
def test_cli_gemm_on_local_ray_matches_local_processes(tmp_path):
    pytest.importorskip("ray")
    args = ["gemm", "--shape", "64x64x64", "--sp-kib", "64", "--sp-kib", "256", "--acc-kib", "64", "-q"]
    p = _bench(*args, "-o", str(tmp_path / "ray"), "--ray", "local")
    assert p.returncode == 0, p.stdout + p.stderr
    q = _bench(*args, "-o", str(tmp_path / "local"), "-j", "1")
    assert q.returncode == 0, q.stderr
    on_ray = BenchResult.load(tmp_path / "ray" / "results.json")
    local = BenchResult.load(tmp_path / "local" / "results.json")
    assert [(x.id, x.cycles) for x in on_ray.points] == [(x.id, x.cycles) for x in local.points]
    assert len(on_ray.points) == 2


@pytest.mark.slow
def test_cli_model_suite_on_a_tiny_encoder(tmp_path):
    """Compile a tiny BERT in baseline mode, run it, classify its ops; then rerun the compiled
    output directory as `--model-dir OUT` and get the same cycles.  (Baseline only: it
    compiles in a fraction of the integer mode's time.  Both variants and their speedup run
    in `l2g bench ci`, which .ci/run gates.)"""
    from l2g.bench.suites import TINY_ENCODER
    from l2g.frontend.synthetic import make_bert_model

    hf = make_bert_model(tmp_path / "tiny", replace(TINY_ENCODER, max_positions=64))
    p = _bench("model", "--model-dir", str(hf), "--seq-len", "16", "--config", "default", "--mode", "baseline",
               "-q", "--keep-work", "-o", str(tmp_path / "out"))
    assert p.returncode == 0, p.stdout + p.stderr
    res = BenchResult.load(tmp_path / "out" / "results.json")
    (point,) = res.points
    assert (point.mode, point.config.name, point.shape["seq_len"]) == ("baseline", "default", 16)
    assert set(point.breakdown) == set(OP_CLASSES) and point.breakdown["matmul"] > 0
    assert 0.8 * point.cycles <= sum(point.breakdown.values()) <= point.cycles
    assert sum(o.cycles for o in point.ops if o.op_class == "softmax") == point.breakdown["softmax"]
    for cls in ("softmax", "gelu", "layernorm"):  # float, on the CPU
        assert point.breakdown[cls] > 0 and all(o.kind == "cpu" for o in point.ops if o.op_class == cls)
    assert all(o.kind == "gemmini" for o in point.ops if o.op_class == "matmul")
    assert (tmp_path / "out" / "plots" / "breakdown.png").is_file()
    assert "## Compiled models" in (tmp_path / "out" / "report.md").read_text()

    compiled = next((tmp_path / "out" / "work").glob("*baseline@default*")) / "compiled"
    p = _bench("model", "--model-dir", str(compiled), "-q", "-o", str(tmp_path / "again"))
    assert p.returncode == 0, p.stderr
    (again,) = BenchResult.load(tmp_path / "again" / "results.json").points
    assert again.cycles == point.cycles and again.breakdown == point.breakdown
