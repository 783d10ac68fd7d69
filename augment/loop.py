"""The LLM2LLM loop and its resumable run state.

Iteration ``i`` (0 ≤ i ≤ K):
  1. fine-tune the student from the base weights on the seed data plus every example accepted
     in iterations < i;
  2. evaluate it on the seed examples (and the test set);
  3. (i < K) send each seed example it got wrong (all seed examples with ``augment_all``) to
     the teacher, asking for ``per_example`` new examples like it;
  4. validate and deduplicate the answers and add the accepted ones to the training data.
Iteration K only trains and evaluates; its merged student is saved to ``RUN_DIR/student``.
Only seed examples are ever sources.

Everything a resumed run needs is in the run directory: ``state.json`` (written atomically
after every step), ``seed.jsonl``/``test.jsonl`` (the examples chosen at the start) and
``teacher_cache.jsonl`` (every teacher answer, fsynced as it arrives).  A run killed in the
middle of step 3 resumes by replaying the cached answers in request order, so it accepts the
same examples and pays for no call twice.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Protocol

from l2g.augment.dedup import DEFAULT_THRESHOLD, Deduper
from l2g.augment.student import TrainConfig
from l2g.augment.tasks import (
    REJECT_DUPLICATE,
    REJECT_MALFORMED,
    REJECT_NO_OUTPUT,
    REJECT_REQUEST_FAILED,
    Example,
    Rejection,
    Task,
    accuracy,
    get_task,
)
from l2g.augment.teacher import Teacher, TeacherConfig, TeacherRequest
from l2g.errors import L2GError
from l2g.files import atomic_write_text

STATE_VERSION = 1

PHASE_EVALUATED = "evaluated"  # steps 1-2 done, stats recorded
PHASE_AUGMENTED = "augmented"  # steps 3-4 done, accepted examples in RunState.augmented


@dataclass(frozen=True)
class RunConfig:
    task: str
    student: str
    iterations: int
    seed_size: int | None = None
    seed_fraction: float | None = None
    seed: int = 0
    per_example: int = 1
    augment_all: bool = False
    seed_only: bool = False
    dedup_threshold: float = DEFAULT_THRESHOLD
    train: TrainConfig = field(default_factory=TrainConfig)
    teacher: TeacherConfig | None = None
    data_dir: str | None = None
    train_file: str | None = None
    test_file: str | None = None
    fields: str | None = None
    hf_config: str | None = None
    test_size: int | None = None

    @property
    def rounds(self) -> int:
        """Augmentation rounds: 0 for the seed-only baseline."""
        return 0 if self.seed_only else self.iterations

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "RunConfig":
        d = dict(d)
        tr = dict(d.pop("train"))
        if tr.get("lora_target_modules") is not None:
            tr["lora_target_modules"] = tuple(tr["lora_target_modules"])
        te = d.pop("teacher")
        names = {f.name for f in fields(cls)}
        return cls(
            train=TrainConfig(**tr),
            teacher=TeacherConfig(**te) if te else None,
            **{k: v for k, v in d.items() if k in names},
        )


@dataclass
class IterationStats:
    iteration: int
    phase: str
    data_size: int  # training examples used in this iteration
    n_augmented: int  # of which teacher-written
    seed_acc: float
    test_acc: float
    n_wrong: int  # seed examples the student got wrong
    wrong_uids: list[str]
    train_s: float
    eval_s: float
    n_requested: int = 0  # teacher requests (one per source seed example)
    n_generated: int = 0  # example objects found in the teacher's answers
    n_accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    teacher_s: float = 0.0
    cpu_s: float = 0.0  # CPU time (user+sys, all threads of this process) of the whole iteration

    @property
    def n_rejected(self) -> int:
        return sum(self.rejected.values())


@dataclass
class RunState:
    config: RunConfig
    iterations: list[IterationStats] = field(default_factory=list)
    augmented: list[Example] = field(default_factory=list)
    note: str = ""
    version: int = STATE_VERSION

    @property
    def done(self) -> bool:
        k = self.config.rounds
        return len(self.iterations) == k + 1 and self.iterations[k].phase == PHASE_EVALUATED

    def to_json(self) -> dict:
        return {
            "version": self.version,
            "config": self.config.to_json(),
            "note": self.note,
            "iterations": [asdict(s) for s in self.iterations],
            "augmented": [e.to_json() for e in self.augmented],
        }

    @classmethod
    def from_json(cls, d: dict) -> "RunState":
        if d.get("version") != STATE_VERSION:
            raise L2GError(f"run state version {d.get('version')} is not supported (expected {STATE_VERSION})")
        return cls(
            config=RunConfig.from_json(d["config"]),
            iterations=[IterationStats(**s) for s in d["iterations"]],
            augmented=[Example.from_json(e) for e in d["augmented"]],
            note=d.get("note", ""),
        )


# ---- files --------------------------------------------------------------------------------


def write_examples(path: Path, examples: list[Example]) -> None:
    atomic_write_text(path, "".join(json.dumps(e.to_json(), ensure_ascii=False) + "\n" for e in examples))


def read_examples(path: Path) -> list[Example]:
    with path.open(encoding="utf-8") as f:
        return [Example.from_json(json.loads(line)) for line in f if line.strip()]


def save_state(run_dir: Path, state: RunState) -> None:
    atomic_write_text(run_dir / "state.json", json.dumps(state.to_json(), indent=1, ensure_ascii=False))


def load_state(run_dir: Path) -> RunState:
    p = run_dir / "state.json"
    if not p.is_file():
        raise L2GError(f"{run_dir} holds no run to resume (no state.json); start it without --resume")
    try:
        return RunState.from_json(json.loads(p.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise L2GError(f"{p} is damaged ({exc}); start a new run in another directory") from None


# ---- the student interface ------------------------------------------------------------------


class StudentBackend(Protocol):
    def train(self, task: Task, base: str, examples: list[Example], cfg: TrainConfig, desc: str) -> Any: ...
    def evaluate(self, handle: Any, examples: list[Example], cfg: TrainConfig, desc: str) -> list[bool]: ...
    def save(self, handle: Any, out_dir: Path) -> None: ...


class HFStudentBackend:
    """transformers + peft (student.py)."""

    def train(self, task, base, examples, cfg, desc):
        from l2g.augment import student

        return student.train_student(task, base, examples, cfg, desc)

    def evaluate(self, handle, examples, cfg, desc):
        from l2g.augment import student

        return student.evaluate(handle, examples, cfg, desc)

    def save(self, handle, out_dir):
        from l2g.augment import student

        student.save_merged(handle, out_dir)


# ---- the loop -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AugmentOutcome:
    accepted: list[Example]
    n_generated: int
    rejected: dict[str, int]
    rejections: list[tuple[str, Rejection]]  # (parent uid, rejection)


def augment_step(
    task: Task,
    sources: list[Example],
    existing: list[Example],
    iteration: int,
    teacher: Teacher,
    per_example: int,
    dedup_threshold: float,
) -> AugmentOutcome:
    """Steps 3-4 for one iteration: ask the teacher about every source (seed) example,
    parse, validate and deduplicate.  Results are processed in source order, so a replay from
    the cache accepts exactly the same examples."""
    for s in sources:
        if not s.is_seed:
            raise AssertionError(f"only seed examples may be augmented, got {s.uid} ({s.source})")
    reqs = [
        TeacherRequest.from_messages(task.build_prompt(s, per_example), salt=f"it{iteration}:{s.uid}")
        for s in sources
    ]
    results = teacher.complete_all(reqs, progress_desc=f"iter {iteration} teacher")
    if results and all(r.content is None for r in results):
        # nothing to learn from: stop before the step is recorded, so a rerun redoes it
        raise L2GError(
            f"all {len(results)} requests to the teacher at {teacher.cfg.base_url} failed (last error: "
            f"{results[-1].error}); check that it serves --teacher-model {teacher.cfg.model!r}, then rerun "
            "to resume from this step"
        )
    dedup = Deduper(existing, dedup_threshold)
    accepted: list[Example] = []
    rejected: dict[str, int] = {}
    rejections: list[tuple[str, Rejection]] = []
    n_generated = 0

    def reject(parent: str, r: Rejection) -> None:
        rejected[r.reason] = rejected.get(r.reason, 0) + 1
        rejections.append((parent, r))

    for src, res in zip(sources, results):
        if res.content is None:
            reject(src.uid, Rejection(REJECT_REQUEST_FAILED, res.error or "request failed"))
            continue
        parsed = task.parse_response(res.content, src, iteration, per_example, uid_prefix=f"aug-it{iteration}-{src.uid}")
        n_generated += len(parsed.examples) + sum(
            1 for r in parsed.rejections if r.reason not in (REJECT_MALFORMED, REJECT_NO_OUTPUT)
        )
        for r in parsed.rejections:
            reject(src.uid, r)
        for ex in parsed.examples:
            if dedup.offer(ex):
                accepted.append(ex)
            else:
                reject(src.uid, Rejection(REJECT_DUPLICATE, f"ROUGE-L > {dedup_threshold} vs existing data", ex.text[:300]))
    return AugmentOutcome(accepted, n_generated, rejected, rejections)


ProgressFn = Callable[[str], None]


def run_loop(
    run_dir: Path,
    state: RunState,
    seed: list[Example],
    test: list[Example],
    backend: StudentBackend | None = None,
    teacher: Teacher | None = None,
    on_iteration: Callable[[RunState], None] | None = None,
    log: ProgressFn = print,
) -> RunState:
    """Run (or continue) the loop until ``state.done``; state is saved after every step."""
    cfg = state.config
    task = get_task(cfg.task)
    backend = backend or HFStudentBackend()
    if cfg.rounds > 0 and teacher is None:
        if cfg.teacher is None:
            raise L2GError("the run needs a teacher: pass --teacher-base-url and --teacher-model (or --seed-only)")
        teacher = Teacher(cfg.teacher, run_dir)
    seed_ids = {e.uid for e in seed}

    for it in range(cfg.rounds + 1):
        stats = state.iterations[it] if it < len(state.iterations) else None
        if stats is None:
            data = seed + [e for e in state.augmented if e.iteration is not None and e.iteration < it]
            log(f"iteration {it}: training on {len(data)} examples ({len(data) - len(seed)} augmented)")
            c0 = time.process_time()
            t0 = time.time()
            handle = backend.train(task, cfg.student, data, cfg.train, f"iter {it} train")
            t1 = time.time()
            seed_flags = backend.evaluate(handle, seed, cfg.train, f"iter {it} eval seed")
            test_flags = backend.evaluate(handle, test, cfg.train, f"iter {it} eval test")
            t2 = time.time()
            if it == cfg.rounds:
                backend.save(handle, run_dir / "student")
            del handle
            stats = IterationStats(
                iteration=it,
                phase=PHASE_EVALUATED,
                data_size=len(data),
                n_augmented=len(data) - len(seed),
                seed_acc=accuracy(seed_flags),
                test_acc=accuracy(test_flags),
                n_wrong=seed_flags.count(False),
                wrong_uids=[e.uid for e, ok in zip(seed, seed_flags) if not ok],
                train_s=round(t1 - t0, 2),
                eval_s=round(t2 - t1, 2),
                cpu_s=round(time.process_time() - c0, 2),
            )
            state.iterations.append(stats)
            save_state(run_dir, state)
            log(f"iteration {it}: seed acc {stats.seed_acc:.4f}, test acc {stats.test_acc:.4f}, "
                f"{stats.n_wrong} wrong (train {stats.train_s:.1f}s, eval {stats.eval_s:.1f}s)")
            if on_iteration:
                on_iteration(state)
        if it == cfg.rounds:
            break
        if stats.phase == PHASE_EVALUATED:
            # a resumed run may hold examples of a half-finished step 4; they are rebuilt
            state.augmented = [e for e in state.augmented if e.iteration is not None and e.iteration < it]
            wrong = set(stats.wrong_uids)
            sources = list(seed) if cfg.augment_all else [e for e in seed if e.uid in wrong]
            assert all(s.uid in seed_ids for s in sources)
            c0 = time.process_time()
            t0 = time.time()
            assert teacher is not None
            out = augment_step(task, sources, seed + state.augmented, it, teacher, cfg.per_example, cfg.dedup_threshold)
            write_rejections(run_dir / f"rejected_it{it}.jsonl", out.rejections)
            state.augmented = state.augmented + out.accepted
            stats.n_requested = len(sources)
            stats.n_generated = out.n_generated
            stats.n_accepted = len(out.accepted)
            stats.rejected = dict(sorted(out.rejected.items()))
            stats.teacher_s = round(time.time() - t0, 2)
            stats.cpu_s = round(stats.cpu_s + time.process_time() - c0, 2)
            stats.phase = PHASE_AUGMENTED
            save_state(run_dir, state)
            write_examples(run_dir / "augmented.jsonl", state.augmented)
            log(f"iteration {it}: teacher answered {len(sources)} requests; {stats.n_generated} generated, "
                f"{stats.n_accepted} accepted, rejected {stats.rejected or 'none'}")
            if on_iteration:
                on_iteration(state)
    write_examples(run_dir / "train_data.jsonl", seed + state.augmented)
    return state


def needs_teacher(state: RunState) -> bool:
    """Whether the rest of the run calls the teacher (some augmentation step is not done)."""
    its = state.iterations
    return any(i >= len(its) or its[i].phase != PHASE_AUGMENTED for i in range(state.config.rounds))


def check_teacher(cfg: TeacherConfig | None, run_dir: Path) -> None:
    """Raise a readable error now, not after training, when the teacher cannot be reached."""
    if cfg is not None:
        Teacher(cfg, run_dir).check_reachable()


def write_rejections(path: Path, rejections: list[tuple[str, Rejection]]) -> None:
    atomic_write_text(
        path,
        "".join(
            json.dumps({"parent": p, "reason": r.reason, "detail": r.detail, "raw": r.raw}, ensure_ascii=False) + "\n"
            for p, r in rejections
        ),
    )


# ---- starting and resuming ------------------------------------------------------------------


def start_or_resume(
    run_dir: Path, cfg: RunConfig | None, resume: bool, overrides: dict | None = None
) -> tuple[RunState, list[Example], list[Example]]:
    """A fresh run (select the seed, write seed/test files and the first state) or the saved
    run in ``run_dir``.  On resume ``overrides`` may change the teacher endpoint or raise the
    iteration count; other settings are the saved ones."""
    from l2g.augment.data import DataSource, FieldMap, default_data_dir, plan_splits

    run_dir = Path(run_dir)
    if resume:
        state = load_state(run_dir)
        if overrides:
            state.config = replace(state.config, **overrides)
        seed = read_examples(run_dir / "seed.jsonl")
        test = read_examples(run_dir / "test.jsonl")
        return state, seed, test
    assert cfg is not None
    if (run_dir / "state.json").exists():
        raise L2GError(f"{run_dir} already holds a run; pass --resume to continue it, or choose another -o")
    task = get_task(cfg.task)
    fm = FieldMap.parse(cfg.fields)
    data_dir = Path(cfg.data_dir) if cfg.data_dir else default_data_dir()
    plan = plan_splits(
        task,
        data_dir=data_dir,
        train=DataSource(cfg.train_file, fm, cfg.hf_config) if cfg.train_file else None,
        test=DataSource(cfg.test_file, fm, cfg.hf_config) if cfg.test_file else None,
        seed_size=cfg.seed_size,
        seed_fraction=cfg.seed_fraction,
        seed=cfg.seed,
        test_size=cfg.test_size,
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    write_examples(run_dir / "seed.jsonl", plan.seed)
    write_examples(run_dir / "test.jsonl", plan.test)
    state = RunState(config=replace(cfg, data_dir=str(data_dir) if data_dir else None), note=plan.note)
    save_state(run_dir, state)
    return state, plan.seed, plan.test
