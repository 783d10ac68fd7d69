"""The ``l2g`` command line.

Each area of the toolchain contributes its sub-commands through a module listed in
``COMMAND_MODULES``; such a module defines ``register(subparsers)``.  Registration must stay
cheap: heavy imports (torch, tvm) belong inside the command handlers, so ``l2g --help``
answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from l2g.errors import L2GError

COMMAND_MODULES = [
    "l2g.doctor",
    "l2g.runtime.cli",
    "l2g.augment.cli",
    "l2g.frontend.cli",
    "l2g.codegen.gemmini.cli",
    "l2g.demo",
    "l2g.mission",
    "l2g.bench.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="l2g",
        description="LLM2LLM to Gemmini: augment a small task model, compile it to integer-only "
        "Gemmini code, and run it cycle-measured on Spike.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `l2g COMMAND --help` for the options of one command.",
    )
    from l2g import __version__

    parser.add_argument("--version", action="version", version=f"l2g {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except KeyboardInterrupt:
        print("l2g: interrupted", file=sys.stderr)
        return 130
    except L2GError as exc:
        print(f"l2g {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
