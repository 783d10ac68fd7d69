"""The benchmark result file: typed records, JSON round trip, schema version.

One ``l2g bench`` run writes one :class:`BenchResult` as ``results.json``.  The layout is
documented in docs/benchmarks.md; :data:`SCHEMA_VERSION` changes whenever a field changes
meaning or disappears, so ``--compare`` never silently compares apples with oranges.
Adding a field with a default does not bump the version (old files still load).
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import subprocess
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from l2g.errors import L2GError

SCHEMA_VERSION = 1

#: The op classes of the per-op cycle breakdown, in the survey's order (Kim et al. 2023,
#: Gemmini case study); every point's ``breakdown`` holds all of them.
OP_CLASSES = ("matmul", "softmax", "gelu", "layernorm", "resadd", "quantize", "other")


class SchemaError(L2GError):
    pass


@dataclass(frozen=True)
class HwInfo:
    """The hardware config a point ran on (derived configs carry their base's name)."""

    name: str
    base: str
    dim: int
    sp_kib: int
    acc_kib: int

    @classmethod
    def from_config(cls, cfg, base: str | None = None) -> "HwInfo":
        return cls(cfg.name, base or cfg.name, cfg.dim, cfg.sp_bytes // 1024, cfg.acc_bytes // 1024)


@dataclass(frozen=True)
class OpRecord:
    """One op of a compiled model, as measured (cycles from the cycle model's clock)."""

    name: str
    kind: str  # "cpu" | "gemmini"
    op_class: str  # one of OP_CLASSES
    cycles: int
    macs: int


@dataclass
class PointResult:
    """One measured sweep point.

    ``id`` is the stable key that ``--compare`` matches old and new results by.
    ``shape``: GEMMs ``m``/``k``/``n``; models ``seq_len`` plus, for synthetic encoders,
    ``hidden``/``heads``/``intermediate``/``layers``.
    ``utilization`` = MACs / (cycles × DIM²) over the whole point; ``matmul_utilization``
    counts only the cycles of matmul ops (equal to ``utilization`` for a lone GEMM).
    """

    id: str
    suite: str
    workload: str  # "gemm" | "encoder" | "model"
    config: HwInfo
    mode: str  # "gemm" for lone GEMMs, else the compile mode ("baseline" | "integer")
    shape: dict[str, int]
    cycles: int
    macs: int
    utilization: float
    matmul_utilization: float
    breakdown: dict[str, int]  # op class -> cycles
    ops: list[OpRecord] = field(default_factory=list)
    plan: dict[str, int] = field(default_factory=dict)  # GEMM tile sizes (DIM×DIM tiles)
    wall_seconds: float = 0.0  # host time of the simulation
    compile_seconds: float = 0.0  # host time of `l2g compile` (0 for GEMMs)


@dataclass(frozen=True)
class Speedup:
    """End-to-end speedup of ``candidate`` over ``baseline`` (both point ids), with the two
    ceilings the candidate's own matmuls put on it (Amdahl's law on the same hardware).

    ``matmul_bound`` = baseline cycles / the candidate's matmul-op cycles: the speedup if every
    other op of the candidate took no time.  ``array_bound`` = baseline cycles / (the
    candidate's MACs / DIM²): the same with those matmuls at 100 % of the array, which no
    schedule can beat.  A target above ``array_bound`` needs a slower baseline or a bigger
    array, not a better compiler.  0.0 where unknown (files from before these fields, a
    candidate without matmuls).
    """

    name: str
    baseline: str
    candidate: str
    speedup: float
    matmul_bound: float = 0.0
    array_bound: float = 0.0

    def bound_at_matmul_share(self, share: float) -> float:
        """The largest speedup at which the candidate's matmuls still take ``share`` of its
        cycles (a candidate at share s has total = matmul / s, so speedup = s · matmul_bound)."""
        return share * self.matmul_bound


@dataclass(frozen=True)
class HostMetric:
    """A host-side speed measurement (the ``host`` suite); never gated, it is wall time."""

    name: str
    value: float
    unit: str
    detail: str = ""


@dataclass(frozen=True)
class PointFailure:
    id: str
    error: str


@dataclass
class BenchResult:
    suite: str
    points: list[PointResult] = field(default_factory=list)
    speedups: list[Speedup] = field(default_factory=list)
    host_metrics: list[HostMetric] = field(default_factory=list)
    failures: list[PointFailure] = field(default_factory=list)
    git_commit: str | None = None
    git_dirty: bool = False
    created: str = ""
    host: str = ""
    argv: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def point(self, point_id: str) -> PointResult:
        for p in self.points:
            if p.id == point_id:
                return p
        raise KeyError(point_id)

    # ---- JSON ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=False) + "\n"

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.dumps())
        return path

    @classmethod
    def from_dict(cls, raw: dict, source: str = "<dict>") -> "BenchResult":
        version = raw.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SchemaError(
                f"{source}: benchmark schema version {version!r}, this l2g reads version {SCHEMA_VERSION}; "
                "regenerate the file with the current `l2g bench`"
            )
        try:
            points = [
                PointResult(**{**p, "config": HwInfo(**p["config"]), "ops": [OpRecord(**o) for o in p.get("ops", [])]})
                for p in raw.get("points", [])
            ]
            return cls(
                **{
                    **_known(cls, raw),
                    "points": points,
                    "speedups": [Speedup(**s) for s in raw.get("speedups", [])],
                    "host_metrics": [HostMetric(**h) for h in raw.get("host_metrics", [])],
                    "failures": [PointFailure(**f) for f in raw.get("failures", [])],
                }
            )
        except (TypeError, KeyError) as exc:
            raise SchemaError(f"{source}: not a valid l2g benchmark result ({exc})") from None

    @classmethod
    def load(cls, path: str | Path) -> "BenchResult":
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise SchemaError(f"{path} not found") from None
        except json.JSONDecodeError as exc:
            raise SchemaError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_dict(raw, str(path))


def _known(cls, raw: dict) -> dict:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in raw.items() if k in names}


def git_state(repo: Path | None = None) -> tuple[str | None, bool]:
    """(commit, dirty) of the checkout the toolchain runs from; (None, False) outside git."""
    from l2g.paths import REPO_ROOT

    cwd = repo or REPO_ROOT
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, False
    return commit or None, bool(status.strip())


def new_result(suite: str, argv: list[str] | None = None) -> BenchResult:
    commit, dirty = git_state()
    return BenchResult(
        suite=suite, git_commit=commit, git_dirty=dirty,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        host=f"{platform.node()} ({platform.machine()}, {platform.python_implementation()} {platform.python_version()})",
        argv=list(argv or []),
    )
