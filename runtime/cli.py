"""`l2g sim`: build bare-metal C with the target runtime and run it on Spike + Gemmini."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    register_sim(subparsers)
    register_run(subparsers)


def register_sim(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sim",
        help="build bare-metal C for the target and run it on Spike with the Gemmini extension",
        description="Cross-compile C sources together with l2g's bare-metal runtime (start-up code, "
        "HTIF console, tensor I/O) against the chosen config's gemmini_params.h, run the ELF on "
        "Spike with the project's Gemmini extension, print the program's output and exit with the "
        "program's exit code. Include <gemmini_isa.h> for the Gemmini instruction macros and "
        "<l2g_rt.h> for the runtime.",
    )
    p.add_argument("sources", nargs="+", metavar="FILE.c", help="C or assembly sources")
    p.add_argument("--config", default="default", help="hardware config name (default: %(default)s; see `l2g doctor`)")
    p.add_argument("--stats", metavar="FILE", help="write the Gemmini extension's cycle statistics JSON here")
    p.add_argument("--no-gemmini", action="store_true", help="run plain Spike without the Gemmini extension")
    p.add_argument("--timeout", type=float, default=300.0, help="wall-clock limit in seconds (default: %(default)s)")
    p.add_argument("-O", dest="opt", default="2", help="optimization level (default: 2)")
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME[=VALUE]", help="preprocessor define")
    p.add_argument("-I", dest="includes", action="append", default=[], metavar="DIR", help="extra include directory")
    p.add_argument("--inputs", metavar="FILE.npz", help="tensors the program reads with l2g_input_tensor()")
    p.add_argument("--outputs", metavar="FILE.npz", help="save tensors the program sent with l2g_output_tensor()")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from l2g.runtime import SimulationTrap, sim_c

    defines = {}
    for d in args.defines:
        k, _, v = d.partition("=")
        defines[k] = v
    inputs = dict(np.load(args.inputs)) if args.inputs else None
    result = sim_c(
        args.sources, config=args.config, gemmini=not args.no_gemmini, inputs=inputs, defines=defines,
        include_dirs=args.includes, opt=f"-O{args.opt}", timeout=args.timeout, stats_path=args.stats,
        check=False,
    )
    sys.stdout.write(result.stdout)
    sys.stdout.flush()
    err = "\n".join(l for l in result.stderr.splitlines() if not l.startswith("*** FAILED ***"))
    if err:
        print(err, file=sys.stderr)
    if result.trap is not None:
        raise SimulationTrap(f"program trapped: {result.trap.describe()}", result)
    if args.outputs and result.outputs:
        np.savez(args.outputs, **result.outputs)
    return result.exit_code


def register_run(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="run a compiled model on Spike + Gemmini and report per-op cycles",
        description="Run OUTDIR/model.elf (from `l2g compile`) on Spike with the Gemmini extension "
        "configured as at compile time. Prints the outputs and a per-op cycle table (op, cycles, "
        "share, MACs, utilization = MACs / (cycles x DIM^2)) and writes OUTDIR/report.json. With "
        "--check, compares every output bit for bit with the host reference (the same integer "
        "module built with TVM's LLVM target) and exits non-zero on a mismatch, naming the first "
        "op and tensor that differ.",
    )
    p.add_argument("outdir", metavar="OUTDIR", help="an `l2g compile` output directory")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", action="append", metavar="TEXT", help="input sentence (repeatable: one run each)")
    src.add_argument("--inputs", metavar="FILE.npz", help="input tensors by graph input name")
    p.add_argument("--check", action="store_true", help="compare bit for bit with the host reference")
    p.add_argument("--timeout", type=float, default=600.0, help="wall-clock limit per run in seconds")
    p.add_argument("--top", type=int, default=25, help="rows of the cycle table to print (default: %(default)s)")
    p.set_defaults(func=run_compiled_cmd)


def run_compiled_cmd(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import numpy as np
    from tqdm import tqdm

    from l2g.codegen.gemmini.compile import Manifest
    from l2g.runtime.compiled import run_compiled, tokenize_texts

    out = Path(args.outdir)
    manifest = Manifest.load(out / "manifest.json")
    if args.inputs:
        feeds = [("inputs", dict(np.load(args.inputs)))]
    else:
        feeds = [(t, tokenize_texts(manifest, [t])) for t in args.text]
    failed = False
    reports = []
    for label, feed in tqdm(feeds, desc="simulating", unit="run", file=sys.stderr, disable=len(feeds) < 2):
        rep = run_compiled(out, feed, check=args.check, timeout=args.timeout)
        reports.append(rep)
        print(f"== {label}")
        for name, arr in rep.outputs.items():
            flat = np.asarray(arr).reshape(-1)
            shown = np.array2string(flat[:8], precision=4, separator=", ")
            print(f"  {name} {list(arr.shape)} {arr.dtype}: {shown}{' ...' if flat.size > 8 else ''}")
        if args.check:
            print(f"  check vs host reference: {rep.check}")
            if rep.mismatch is not None:
                print(f"  first mismatch: {rep.mismatch.describe()}")
                failed = True
    print()
    print(reports[-1].table(limit=args.top))
    if len(reports) > 1:
        (out / "report.json").write_text(json.dumps([r.to_json() for r in reports], indent=2) + "\n")
    print(f"\nreport: {out / 'report.json'}")
    return 1 if failed else 0
