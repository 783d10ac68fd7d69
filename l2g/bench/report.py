"""The Markdown report of a benchmark result, with the survey's published figures beside ours.

Survey: S. Kim et al., "Full Stack Optimization of Transformer Inference: a Survey" (2023),
Gemmini case study.  Its figures quoted here are constants below; ours come from the
result.  The table rows appear only when the result holds the points they need.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from l2g.bench.plots import SURVEY_MATMUL_BOUND, SURVEY_MATMUL_SHARE_AFTER, SURVEY_SPEEDUP
from l2g.bench.schema import OP_CLASSES, BenchResult, PointResult


@dataclass(frozen=True)
class SurveyFigure:
    what: str
    paper: str


#: the survey's baseline cycle breakdown of the BERT-base encoder (float nonlinear ops on the CPU)
SURVEY_BASELINE_SHARES = {"quantize": 0.49, "softmax": 0.19, "resadd": 0.11, "gelu": 0.10, "layernorm": 0.04,
                          "matmul": 0.01}
#: the survey's rebalanced memory: scratchpad / accumulator (KiB)
SURVEY_REBALANCED = (64, 256)

SURVEY = {
    "baseline_util": SurveyFigure("GEMM utilization, baseline memory (256 KiB scratchpad, 64 KiB accumulator)", "74 %"),
    "rebalanced_util": SurveyFigure("GEMM utilization after memory rebalancing (64 KiB scratchpad, 256 KiB "
                                    "accumulator)", "88–91 %"),
    "rebalanced_latency": SurveyFigure("matmul latency change from rebalancing alone", "−36 %"),
    "best_util": SurveyFigure("GEMM utilization, best scratchpad/accumulator split of our sweep", "-"),
    "speedup": SurveyFigure("end-to-end speedup, integer-only (I-BERT) over baseline, BERT-base encoder",
                            f"{SURVEY_SPEEDUP} ×"),
    "matmul_share_after": SurveyFigure("matmul share of cycles after the integer-only changes",
                                       f"{100 * SURVEY_MATMUL_SHARE_AFTER:.0f} %"),
    "matmul_bound": SurveyFigure("speedup ceiling: baseline cycles over the integer-only build's matmul cycles "
                                 "(every other op free)",
                                 f"{SURVEY_MATMUL_BOUND:.1f} × ({SURVEY_SPEEDUP} / {SURVEY_MATMUL_SHARE_AFTER})"),
    "baseline_util_e2e": SurveyFigure("end-to-end array utilization of the baseline", "< 1 %"),
}


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def survey_rows(result: BenchResult) -> list[tuple[str, str, str]]:
    """(what, paper, ours) for every survey figure this result can speak to."""
    rows = []
    gemms = [p for p in result.points if p.workload == "gemm"]
    if gemms:
        by_mem: dict[tuple[int, int], list] = {}
        for p in gemms:
            by_mem.setdefault((p.config.sp_kib, p.config.acc_kib), []).append(p)
        base = by_mem.get((256, 64), [])
        if base:
            rows.append((SURVEY["baseline_util"].what, SURVEY["baseline_util"].paper,
                         _span([p.utilization for p in base]) + f" ({len(base)} shapes)"))
        reb = by_mem.get(SURVEY_REBALANCED, [])
        if reb:
            rows.append((SURVEY["rebalanced_util"].what, SURVEY["rebalanced_util"].paper,
                         _span([p.utilization for p in reb])))
        if base and reb:
            b = {(p.shape["m"], p.shape["k"], p.shape["n"]): p.cycles for p in base}
            r = {(p.shape["m"], p.shape["k"], p.shape["n"]): p.cycles for p in reb}
            common = sorted(set(b) & set(r))
            if common:
                change = sum(r[s] for s in common) / sum(b[s] for s in common) - 1
                rows.append((SURVEY["rebalanced_latency"].what, SURVEY["rebalanced_latency"].paper,
                             f"{100 * change:+.1f} % (summed over {len(common)} shapes)"))
        if len(by_mem) > 1:
            (sp, acc), pts = max(by_mem.items(), key=lambda kv: sum(p.utilization for p in kv[1]) / len(kv[1]))
            rows.append((SURVEY["best_util"].what, SURVEY["best_util"].paper,
                         f"{_span([p.utilization for p in pts])} ({sp} KiB scratchpad, {acc} KiB accumulator)"))
    for s in result.speedups:
        cand, base = result.point(s.candidate), result.point(s.baseline)
        parts = cand.id.split("/")  # suite/workload/seqN/variant: several workloads can share a suite
        tag = (f"{parts[1]}, " if len(parts) == 4 else "") + f"seq {cand.shape.get('seq_len', '?')}"
        rows.append((SURVEY["speedup"].what + f" ({tag})", SURVEY["speedup"].paper, f"{s.speedup:.1f} ×"))
        rows.append((SURVEY["matmul_share_after"].what + f" ({tag})", SURVEY["matmul_share_after"].paper,
                     _pct(cand.breakdown["matmul"] / cand.cycles)))
        if s.matmul_bound:
            rows.append((SURVEY["matmul_bound"].what + f" ({tag})", SURVEY["matmul_bound"].paper,
                         f"{s.matmul_bound:.1f} ×"))
        rows.append((SURVEY["baseline_util_e2e"].what + f" ({tag})", SURVEY["baseline_util_e2e"].paper,
                     _pct(base.utilization)))
        for cls, share in SURVEY_BASELINE_SHARES.items():
            rows.append((f"baseline share of cycles: {cls} ({tag})", f"{100 * share:.0f} %",
                         _pct(base.breakdown[cls] / base.cycles)))
    return rows


def _times(x: float) -> str:
    return f"{x:.1f} ×" if x else "-"


def _span(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return _pct(lo) if abs(hi - lo) < 5e-4 else f"{100 * lo:.1f}–{100 * hi:.1f} %"


def _gemm_table(points: list[PointResult]) -> list[str]:
    lines = ["| config | scratchpad KiB | accumulator KiB | M×K×N | tiles i/j/k | cycles | utilization |",
             "|---|---:|---:|---|---|---:|---:|"]
    for p in points:
        s, t = p.shape, p.plan
        lines.append(f"| {p.config.base} | {p.config.sp_kib} | {p.config.acc_kib} | {s['m']}×{s['k']}×{s['n']} | "
                     f"{t.get('tile_i')}/{t.get('tile_j')}/{t.get('tile_k')} | {p.cycles:,} | {_pct(p.utilization)} |")
    return lines


def _model_table(points: list[PointResult]) -> list[str]:
    head = "| point | cycles | matmul util. | " + " | ".join(OP_CLASSES) + " | compile s | sim s |"
    lines = [head, "|---|---:|---:|" + "---:|" * len(OP_CLASSES) + "---:|---:|"]
    for p in points:
        shares = " | ".join(_pct(p.breakdown.get(c, 0) / p.cycles) if p.cycles else "-" for c in OP_CLASSES)
        lines.append(f"| `{p.id}` | {p.cycles:,} | {_pct(p.matmul_utilization)} | {shares} | "
                     f"{p.compile_seconds:.0f} | {p.wall_seconds:.1f} |")
    return lines


def render(result: BenchResult, plots: list[Path] | None = None, rel_to: Path | None = None) -> str:
    commit = (result.git_commit or "unknown")[:12] + (" (with uncommitted changes)" if result.git_dirty else "")
    out = [f"# l2g bench `{result.suite}`", "",
           f"* commit {commit}; {result.created}; {result.host}",
           f"* result schema version {result.schema_version}; {len(result.points)} points"
           + (f", **{len(result.failures)} failed**" if result.failures else ""), ""]
    rows = survey_rows(result)
    if rows:
        out += ["## Survey figures next to ours", "",
                "Kim et al. 2023, *Full Stack Optimization of Transformer Inference: a Survey*, Gemmini case study.",
                "", "| figure | paper | l2g (this run) |", "|---|---|---|"]
        out += [f"| {w} | {p} | {o} |" for w, p, o in rows]
        out.append("")
    if result.speedups:
        out += ["## End-to-end speedup", "",
                "The ceilings are Amdahl's law on the candidate's own matmuls: the speedup if every other "
                "op took no time, with the matmuls as measured and at 100 % of the array, and the largest "
                f"speedup at which matmuls still take the survey's {100 * SURVEY_MATMUL_SHARE_AFTER:.0f} % of "
                "the cycles.", "",
                "| comparison | speedup | ceiling: only the matmuls | ceiling: matmuls at peak | "
                f"ceiling with matmuls at {100 * SURVEY_MATMUL_SHARE_AFTER:.0f} % of the cycles |",
                "|---|---:|---:|---:|---:|"]
        out += [f"| {s.name} | {s.speedup:.2f} × | {_times(s.matmul_bound)} | {_times(s.array_bound)} | "
                f"{_times(s.bound_at_matmul_share(SURVEY_MATMUL_SHARE_AFTER))} |" for s in result.speedups]
        out.append("")
    gemms = [p for p in result.points if p.workload == "gemm"]
    if gemms:
        out += ["## GEMMs", "", "Utilization = MACs / (cycles × DIM²), cycles around one planned "
                "`l2g_matmul_ws` call.", ""] + _gemm_table(gemms) + [""]
    models = [p for p in result.points if p.workload != "gemm"]
    if models:
        out += ["## Compiled models: cycles and share per op class", ""] + _model_table(models) + [""]
    if result.host_metrics:
        out += ["## Host-side speed", "", "| metric | value | unit | detail |", "|---|---:|---|---|"]
        out += [f"| {h.name} | {h.value:,.3g} | {h.unit} | {h.detail} |" for h in result.host_metrics]
        out.append("")
    if result.failures:
        out += ["## Failed points", ""]
        out += [f"* `{f.id}`: {f.error.splitlines()[0] if f.error else ''}" for f in result.failures]
        out.append("")
    if plots:
        out += ["## Plots", ""]
        for p in plots:
            rel = p.relative_to(rel_to) if rel_to else p
            out += [f"![{p.stem}]({rel.as_posix()})", ""]
    return "\n".join(out)
