"""Regression gating: compare the cycle counts of two benchmark results.

Points are matched by id.  A point whose cycles grew by more than ``tolerance_pct`` percent
is a regression; one that shrank by more is an improvement (shown, never a failure).  A
point of the old result that the new one lacks is a failure too (a sweep that silently
loses a point could hide a regression); new points are listed for information.  For
compiled models the table also lists the op classes whose cycles moved by more than the
tolerance, so a diff says where the cycles went; only the totals are gated.
Cycle counts come from the deterministic cycle model, so any change is real, not noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from l2g.bench.schema import OP_CLASSES, BenchResult

STATUSES = ("regressed", "improved", "unchanged", "new", "missing")


@dataclass(frozen=True)
class Delta:
    id: str
    old: int | None
    new: int | None
    status: str  # one of STATUSES
    classes: tuple[tuple[str, int, int], ...] = ()  # (class, old, new) of moved op classes

    @property
    def change_pct(self) -> float | None:
        if not self.old or self.new is None:
            return None
        return 100.0 * (self.new - self.old) / self.old


@dataclass
class Comparison:
    tolerance_pct: float
    rows: list[Delta] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(r.status in ("regressed", "missing") for r in self.rows)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    def table(self, show_unchanged: bool = True) -> str:
        rows = [r for r in self.rows if show_unchanged or r.status != "unchanged"]
        w = max([len(r.id) for r in rows] + [5])
        lines = [f"{'point':<{w}}  {'old cycles':>14}  {'new cycles':>14}  {'change':>8}  status"]
        for r in rows:
            old = f"{r.old:,}" if r.old is not None else "-"
            new = f"{r.new:,}" if r.new is not None else "-"
            pct = f"{r.change_pct:+.2f}%" if r.change_pct is not None else "-"
            mark = {"regressed": "REGRESSED", "missing": "MISSING", "improved": "improved"}.get(r.status, r.status)
            lines.append(f"{r.id:<{w}}  {old:>14}  {new:>14}  {pct:>8}  {mark}")
            for cls, o, n in r.classes:
                cpct = f"{100.0 * (n - o) / o:+.2f}%" if o else "new"
                lines.append(f"{'  ' + cls:<{w}}  {o:>14,}  {n:>14,}  {cpct:>8}")
        lines.append(
            f"{len(self.rows)} points, tolerance {self.tolerance_pct:g}%: "
            + ", ".join(f"{self.count(s)} {s}" for s in STATUSES if self.count(s))
            + (" -> FAIL" if self.failed else " -> ok")
        )
        return "\n".join(lines)


def compare(old: BenchResult, new: BenchResult, tolerance_pct: float = 1.0) -> Comparison:
    if tolerance_pct < 0:
        raise ValueError("tolerance must be >= 0")
    cmp = Comparison(tolerance_pct)
    new_by_id = {p.id: p for p in new.points}
    old_ids = set()
    for o in old.points:
        old_ids.add(o.id)
        n = new_by_id.get(o.id)
        if n is None:
            cmp.rows.append(Delta(o.id, o.cycles, None, "missing"))
            continue
        status = _status(o.cycles, n.cycles, tolerance_pct)
        moved = tuple(
            (c, o.breakdown.get(c, 0), n.breakdown.get(c, 0))
            for c in OP_CLASSES
            if n.workload != "gemm" and _status(o.breakdown.get(c, 0), n.breakdown.get(c, 0), tolerance_pct) != "unchanged"
        )
        cmp.rows.append(Delta(o.id, o.cycles, n.cycles, status, moved))
    for n in new.points:
        if n.id not in old_ids:
            cmp.rows.append(Delta(n.id, None, n.cycles, "new"))
    return cmp


def _status(old: int, new: int, tolerance_pct: float) -> str:
    if old == new:
        return "unchanged"
    if old == 0:
        return "regressed" if new > 0 else "improved"
    change = 100.0 * (new - old) / old
    if change > tolerance_pct:
        return "regressed"
    if change < -tolerance_pct:
        return "improved"
    return "unchanged"
