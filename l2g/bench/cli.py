"""`l2g bench`: run a benchmark suite, write JSON + plots + report, gate against a baseline."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

SUITE_HELP = {
    "gemm": "planned GEMMs of BERT-base (seq 128) over scratchpad x accumulator sizes {64,128,256} KiB",
    "encoder": "a BERT-base encoder layer at seq 128 and 512: baseline@default vs integer@ibert",
    "model": "all-MiniLM-L6-v2 (or --model-dir DIRs) end to end: baseline@default vs integer@ibert",
    "host": "host-side speed via pytest-benchmark: compile time, Spike instructions/s, extension MACs/s",
    "ci": "a CI-sized sweep (4 GEMMs + a tiny encoder in both modes), gated against benchmarks/baseline/ci.json",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="benchmark suites: GEMM utilization, encoder breakdown/speedup, models, host speed",
        description="Run a benchmark suite on Spike + Gemmini (cycle-model cycles), write "
        "OUTDIR/results.json (schema in docs/benchmarks.md), PNG plots and a Markdown report that "
        "puts the survey's figures next to ours. Suites:\n"
        + "\n".join(f"  {k:<8} {v}" for k, v in SUITE_HELP.items())
        + "\n\nWith --compare OLD.json the run is gated: the exit code is 1 when any point's "
        "cycles grew by more than --tolerance percent. `l2g bench --compare OLD.json NEW.json` "
        "compares two result files without running anything.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("suite", nargs="?", choices=list(SUITE_HELP), help="the suite to run")
    p.add_argument("-o", "--output", metavar="OUTDIR", help="output directory (default: runs/bench/SUITE)")
    p.add_argument("--config", action="append", default=[], metavar="NAME",
                   help="gemm: base config(s) whose memories are swept (default: default); encoder/model: "
                   "run each mode on these configs instead of baseline@default + integer@ibert")
    p.add_argument("--mode", action="append", default=[], choices=("baseline", "integer"),
                   help="encoder/model: compile modes (with --config)")
    p.add_argument("--shape", action="append", default=[], type=_shape, metavar="MxKxN",
                   help="gemm: GEMM shape(s) instead of the BERT-base ones")
    p.add_argument("--sp-kib", action="append", default=[], type=int, metavar="KIB", help="gemm: scratchpad sizes")
    p.add_argument("--acc-kib", action="append", default=[], type=int, metavar="KIB", help="gemm: accumulator sizes")
    p.add_argument("--seq-len", action="append", default=[], type=int, help="encoder/model: sequence length(s)")
    p.add_argument("--model-dir", action="append", default=[], metavar="DIR",
                   help="model: an `l2g compile` output dir (run as compiled) or a Hugging Face model dir "
                   "(compiled in each mode); default: all-MiniLM-L6-v2")
    p.add_argument("-j", "--jobs", type=int, metavar="N", help="parallel local processes (default: one per core)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run the points on Ray: `local` starts a private instance, else a cluster address "
                   "(needs the ray extra: pip install -e '.[ray]')")
    p.add_argument("--timeout", type=float, default=3600.0, help="per-simulation limit in seconds (default: %(default)s)")
    p.add_argument("--compare", nargs="+", metavar="JSON",
                   help="OLD.json: gate this run against it; OLD.json NEW.json: compare two files only")
    p.add_argument("--tolerance", type=float, default=1.0, metavar="PCT",
                   help="allowed cycle growth per point in percent (default: %(default)s)")
    p.add_argument("--update-baseline", action="store_true",
                   help="after a clean run, copy results.json to the suite's baseline (--baseline)")
    p.add_argument("--baseline", metavar="JSON", help="baseline file (default: benchmarks/baseline/SUITE.json)")
    p.add_argument("--keep-work", action="store_true", help="keep each point's compiled model under OUTDIR/work")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _shape(text: str) -> tuple[int, int, int]:
    m = re.fullmatch(r"(\d+)[xX*](\d+)[xX*](\d+)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"expected MxKxN, e.g. 128x768x3072, not {text!r}")
    return tuple(int(g) for g in m.groups())  # type: ignore[return-value]


def default_baseline(suite: str) -> Path:
    from l2g.paths import REPO_ROOT

    return REPO_ROOT / "benchmarks" / "baseline" / f"{suite}.json"


def run(args: argparse.Namespace) -> int:
    from l2g.bench.compare import compare
    from l2g.bench.schema import BenchResult
    from l2g.errors import L2GError

    if args.tolerance < 0:
        raise L2GError("--tolerance must be >= 0")
    if args.compare and len(args.compare) > 2:
        raise L2GError("--compare takes OLD.json, or OLD.json NEW.json")
    if args.suite is None:
        if not args.compare or len(args.compare) != 2:
            raise L2GError("name a suite to run, or compare two results: l2g bench --compare OLD.json NEW.json")
        cmp = compare(BenchResult.load(args.compare[0]), BenchResult.load(args.compare[1]), args.tolerance)
        print(cmp.table())
        return 1 if cmp.failed else 0
    if args.compare and len(args.compare) == 2:
        raise L2GError("with a suite, --compare takes one file: the old result to gate against")
    old = BenchResult.load(args.compare[0]) if args.compare else None  # fail early on a bad file

    result, out_dir = run_suite(args)
    rc = 0
    if result.failures:
        print(f"\n{len(result.failures)} point(s) failed:", file=sys.stderr)
        for f in result.failures:
            print(f"  {f.id}: {f.error}", file=sys.stderr)
        rc = 1
    if args.update_baseline:
        if result.failures:
            print("baseline not updated: some points failed", file=sys.stderr)
        else:
            dest = Path(args.baseline) if args.baseline else default_baseline(args.suite)
            result.save(dest)
            print(f"baseline updated: {dest}")
    if old is not None:
        cmp = compare(old, result, args.tolerance)
        print(f"\ncompared with {args.compare[0]}:")
        print(cmp.table())
        if cmp.failed:
            rc = 1
    return rc


def run_suite(args: argparse.Namespace):
    from l2g.bench import plots, report
    from l2g.bench.runner import run_tasks
    from l2g.bench.schema import new_result
    from l2g.bench.suites import SuiteOptions, build_tasks, speedups

    out_dir = Path(args.output or f"runs/bench/{args.suite}")
    out_dir.mkdir(parents=True, exist_ok=True)
    result = new_result(args.suite, ["l2g", "bench", *sys.argv[2:]] if sys.argv[1:2] == ["bench"] else sys.argv)
    if args.suite == "host":
        from l2g.bench.host import run_host_suite

        result.host_metrics = run_host_suite(out_dir, quiet=args.quiet)
    else:
        compiled = [d for d in args.model_dir if (Path(d) / "manifest.json").is_file()]
        opts = SuiteOptions(
            configs=args.config, modes=args.mode, shapes=args.shape, sp_kib=args.sp_kib, acc_kib=args.acc_kib,
            seq_lens=args.seq_len, model_dirs=[d for d in args.model_dir if d not in compiled],
            compiled_dirs=compiled, timeout=args.timeout,
        )
        tasks = build_tasks(args.suite, opts)
        points, failures = run_tasks(tasks, out_dir / "work", jobs=args.jobs, ray_address=args.ray,
                                     keep=args.keep_work, progress=not args.quiet, desc=f"bench {args.suite}")
        result.points, result.failures = points, failures
        result.speedups = speedups(points)
    path = result.save(out_dir / "results.json")
    made = [] if args.no_plots else plots.write_plots(result, out_dir / "plots")
    (out_dir / "report.md").write_text(report.render(result, made, rel_to=out_dir))
    print(summary(result))
    print(f"\nresults: {path}\nreport:  {out_dir / 'report.md'}" + (f"\nplots:   {out_dir / 'plots'}" if made else ""))
    return result, out_dir


def summary(result) -> str:
    lines = []
    if result.points:
        w = max(len(p.id) for p in result.points)
        lines.append(f"{'point':<{w}}  {'cycles':>14}  {'util':>6}  {'matmul':>6}")
        for p in result.points:
            lines.append(f"{p.id:<{w}}  {p.cycles:>14,}  {100 * p.utilization:5.1f}%  "
                         f"{100 * p.breakdown['matmul'] / max(p.cycles, 1):5.1f}%")
    for s in result.speedups:
        line = f"speedup {s.name}: {s.speedup:.2f}x"
        if s.matmul_bound:
            line += (f" (ceiling {s.matmul_bound:.1f}x with every non-matmul op free, "
                     f"{s.array_bound:.1f}x with the matmuls at 100 % of the array)")
        lines.append(line)
    for h in result.host_metrics:
        lines.append(f"{h.name}: {h.value:,.4g} {h.unit}")
    return "\n".join(lines)
