"""`l2g sim`: build bare-metal C with the target runtime and run it on Spike + Gemmini."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
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
