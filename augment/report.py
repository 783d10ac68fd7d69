"""Per-iteration table (text/Markdown) and a PNG plot of accuracy vs iteration."""

from __future__ import annotations

from pathlib import Path

from l2g.augment.loop import PHASE_AUGMENTED, RunState
from l2g.files import atomic_write_text

COLUMNS = ("iter", "data", "seed acc", "test acc", "#wrong", "#requested", "#generated", "#accepted", "#rejected",
           "rejected by reason", "wall s", "cpu s")


def table_rows(state: RunState) -> list[list[str]]:
    rows = []
    for s in state.iterations:
        augmented = s.phase == PHASE_AUGMENTED
        rows.append(
            [
                str(s.iteration),
                str(s.data_size),
                f"{s.seed_acc:.4f}",
                f"{s.test_acc:.4f}",
                str(s.n_wrong),
                str(s.n_requested) if augmented else "-",
                str(s.n_generated) if augmented else "-",
                str(s.n_accepted) if augmented else "-",
                str(s.n_rejected) if augmented else "-",
                (", ".join(f"{k}={v}" for k, v in s.rejected.items()) or "none") if augmented else "-",
                f"{s.train_s + s.eval_s + s.teacher_s:.1f}",
                f"{s.cpu_s:.1f}",
            ]
        )
    return rows


def format_table(state: RunState) -> str:
    """A fixed-width text table, one row per iteration."""
    rows = [list(COLUMNS)] + table_rows(state)
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = []
    for n, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(state: RunState) -> str:
    c = state.config
    seed_desc = f"{c.seed_size} examples" if c.seed_size is not None else f"fraction {c.seed_fraction:.4g} of the pool"
    if state.iterations:
        seed_desc += f" ({state.iterations[0].data_size} examples)"
    head = [
        f"# LLM2LLM run: {c.task}",
        "",
        f"- student: `{c.student}`",
        f"- seed: {seed_desc} (selection seed {c.seed})",
        f"- teacher: {'none (seed-only baseline)' if c.seed_only else f'{c.teacher.model} at {c.teacher.base_url}' if c.teacher else 'none'}",
        f"- mode: {'augment all seed examples' if c.augment_all else 'augment wrong seed examples'}, "
        f"{c.per_example} new example(s) per source, dedup ROUGE-L > {c.dedup_threshold}",
    ]
    if state.note:
        head.append(f"- data: {state.note}")
    rows = table_rows(state)
    md = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(head + ["", *md, "", "![test accuracy vs iteration](accuracy.png)", ""])


def plot(state: RunState, path: Path) -> Path:
    """Test (and seed) accuracy vs iteration, written atomically as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    its = [s.iteration for s in state.iterations]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(its, [s.test_acc for s in state.iterations], marker="o", label="test accuracy")
    ax.plot(its, [s.seed_acc for s in state.iterations], marker="s", linestyle="--", alpha=0.6, label="seed accuracy")
    ax.set_xlabel("iteration")
    ax.set_ylabel("accuracy")
    ax.set_title(f"LLM2LLM {state.config.task}")
    ax.set_xticks(its)
    ax.set_ylim(0.0, 1.0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return path


def write_report(run_dir: Path, state: RunState) -> None:
    atomic_write_text(run_dir / "report.txt", format_table(state) + "\n")
    atomic_write_text(run_dir / "report.md", format_markdown(state))
    if state.iterations:
        plot(state, run_dir / "accuracy.png")
