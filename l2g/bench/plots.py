"""PNG figures of a benchmark result (matplotlib, headless Agg backend).

* ``breakdown.png``: per-op-class share of cycles per compiled-model point, stacked (the
  survey's breakdown figure);
* ``utilization.png``: GEMM utilization over scratchpad × accumulator size, one heat map per
  shape (the survey's memory-rebalancing figure);
* ``speedup.png``: end-to-end speedup of integer-only over baseline, next to the survey's.
"""

from __future__ import annotations

from pathlib import Path

from l2g.bench.schema import OP_CLASSES, BenchResult

#: Kim et al. 2023, Gemmini case study: I-BERT integer-only over the float baseline.
SURVEY_SPEEDUP = 39.6
#: ... and the matmuls' share of the integer-only cycles.  Together they give the survey's
#: own ceiling, baseline cycles / integer-only matmul cycles = speedup / share.
SURVEY_MATMUL_SHARE_AFTER = 0.87
SURVEY_MATMUL_BOUND = SURVEY_SPEEDUP / SURVEY_MATMUL_SHARE_AFTER

_COLORS = {"matmul": "#4C72B0", "softmax": "#DD8452", "gelu": "#55A868", "layernorm": "#C44E52",
           "resadd": "#8172B3", "quantize": "#937860", "other": "#BBBBBB"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _short(point_id: str) -> str:
    return point_id.split("/", 1)[-1]


def breakdown_chart(result: BenchResult, path: Path) -> Path | None:
    points = [p for p in result.points if p.workload != "gemm" and p.cycles]
    if not points:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(points) + 3), 4.8))
    bottoms = [0.0] * len(points)
    xs = range(len(points))
    for cls in OP_CLASSES:
        shares = [100.0 * p.breakdown.get(cls, 0) / p.cycles for p in points]
        ax.bar(xs, shares, bottom=bottoms, color=_COLORS[cls], label=cls, width=0.6)
        bottoms = [b + s for b, s in zip(bottoms, shares)]
    for x, p in zip(xs, points):
        ax.text(x, 101, f"{p.cycles / 1e6:,.1f} M", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(xs), [_short(p.id).replace("/", "\n") for p in points], fontsize=7)
    ax.set_ylabel("share of cycles (%)")
    ax.set_ylim(0, 110)
    ax.set_title("Cycle breakdown by op class (label: total cycles)")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def utilization_heatmap(result: BenchResult, path: Path) -> Path | None:
    gemms = [p for p in result.points if p.workload == "gemm"]
    if not gemms:
        return None
    groups: dict[tuple[str, str], list] = {}
    for p in gemms:
        groups.setdefault((p.config.base, f"{p.shape['m']}x{p.shape['k']}x{p.shape['n']}"), []).append(p)
    plt = _plt()
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups) + 1, 3.6), squeeze=False)
    im = None
    for ax, ((base, shape), pts) in zip(axes[0], groups.items()):
        sps = sorted({p.config.sp_kib for p in pts})
        accs = sorted({p.config.acc_kib for p in pts})
        grid = [[float("nan")] * len(accs) for _ in sps]
        for p in pts:
            grid[sps.index(p.config.sp_kib)][accs.index(p.config.acc_kib)] = 100.0 * p.utilization
        im = ax.imshow(grid, vmin=0, vmax=100, cmap="viridis", origin="lower")
        for i in range(len(sps)):
            for j in range(len(accs)):
                v = grid[i][j]
                if v == v:  # not NaN
                    ax.text(j, i, f"{v:.1f}", ha="center", va="center", color="white" if v < 60 else "black",
                            fontsize=9)
        ax.set_xticks(range(len(accs)), [str(a) for a in accs])
        ax.set_yticks(range(len(sps)), [str(s) for s in sps])
        ax.set_xlabel("accumulator (KiB)")
        if ax is axes[0][0]:  # the rows are the same in every panel
            ax.set_ylabel("scratchpad (KiB)")
        ax.set_title(f"{shape} ({base})", fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=axes[0].tolist(), label="utilization (%)", shrink=0.85)
    fig.suptitle("GEMM utilization vs. scratchpad × accumulator size", fontsize=10)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def speedup_chart(result: BenchResult, path: Path) -> Path | None:
    if not result.speedups:
        return None
    plt = _plt()
    labels = [_short(s.candidate).rsplit("/", 1)[0] for s in result.speedups] + ["Kim et al.\n2023"]
    values = [s.speedup for s in result.speedups] + [SURVEY_SPEEDUP]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(values) + 2), 4.2))
    colors = ["#4C72B0"] * len(result.speedups) + ["#999999"]
    # the ceiling (every non-matmul op free) as an outline behind each bar: how far the
    # compiler could still go before only a slower baseline or a bigger array would help
    ceilings = [s.matmul_bound for s in result.speedups] + [SURVEY_MATMUL_BOUND]
    ax.bar(range(len(values)), ceilings, width=0.6, fill=False, edgecolor="#555555", linestyle="--",
           linewidth=1.0, label="ceiling: every non-matmul op free")
    bars = ax.bar(range(len(values)), values, color=colors, width=0.6, label="measured")
    for b, v, c in zip(bars, values, ceilings):
        ax.text(b.get_x() + b.get_width() / 2, v, f"{v:.1f}×", ha="center", va="bottom", fontsize=9)
        if c > v:
            ax.text(b.get_x() + b.get_width() / 2, c, f"≤ {c:.1f}×", ha="center", va="bottom", fontsize=8,
                    color="#555555")
    ax.set_xticks(range(len(values)), [lbl.replace("/", "\n") for lbl in labels], fontsize=8)
    ax.set_ylabel("end-to-end speedup (×)")
    ax.set_ylim(0, 1.15 * max(values + ceilings))
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("integer-only (ibert) over baseline (default)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_plots(result: BenchResult, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    made = [
        breakdown_chart(result, out_dir / "breakdown.png"),
        utilization_heatmap(result, out_dir / "utilization.png"),
        speedup_chart(result, out_dir / "speedup.png"),
    ]
    return [p for p in made if p is not None]
