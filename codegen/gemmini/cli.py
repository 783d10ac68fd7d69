"""`l2g compile`: a model (ONNX file or Hugging Face dir) to a Gemmini program directory."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compile",
        help="compile a model for Spike + Gemmini (C, ELF, tile plans, host reference)",
        description="Export (Hugging Face dir) or load (ONNX) a model, quantize it to int8 with "
        "calibration, make it integer-only (I-BERT) in --mode integer, fuse Gemmini composites, "
        "plan tiles for the hardware config, emit one C program and cross-compile it. OUTDIR "
        "receives model.c, model.elf, plan.txt, manifest.json, the host reference library and, "
        "with --dump-ir, the IR after every pass. Run it with `l2g run OUTDIR`.",
    )
    p.add_argument("model", help="Hugging Face model directory or .onnx file")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output directory")
    p.add_argument("--config", default="default", help="hardware config (default: %(default)s; `l2g doctor` lists them)")
    p.add_argument("--mode", choices=("integer", "baseline"), default="integer",
                   help="integer: integer-only nonlinear ops (default); baseline: float nonlinear ops "
                   "on the CPU with quantize/dequantize around them (the survey's baseline)")
    p.add_argument("--seq-len", type=int, default=128, help="static sequence length of a Hugging Face model's export (default: %(default)s; "
                   "an .onnx file keeps its own shapes)")
    p.add_argument("--calib-data", metavar="FILE.jsonl",
                   help="JSONL with a 'text' (or 'question'/'prompt') field for calibration sentences")
    p.add_argument("--calib-limit", type=int, default=32, help="calibration sentences to use (default: %(default)s)")
    p.add_argument("--dump-ir", action="store_true", help="write the IR after every pass to OUTDIR/ir/")
    p.set_defaults(func=run)


def _calibration_texts(path: str | None, limit: int) -> list[str]:
    if not path:
        return []
    import json

    from l2g.errors import L2GError

    texts = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise L2GError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            text = next((row[k] for k in ("text", "question", "prompt", "sentence") if isinstance(row.get(k), str)), None)
            if text is None:
                raise L2GError(f"{path}:{lineno}: no 'text', 'question', 'prompt' or 'sentence' field")
            texts.append(text)
            if len(texts) >= limit:
                break
    return texts


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from l2g.codegen.gemmini.compile import compile_model
    from l2g.hwconfig import get_config

    get_config(args.config)  # a misspelt config fails now, not after minutes of compiling
    with tqdm(total=1, desc=f"compiling {Path(args.model).name} ({args.mode}, {args.config})",
              bar_format="{desc}: {elapsed}", file=sys.stderr) as bar:
        manifest = compile_model(
            args.model, Path(args.output), config=args.config, mode=args.mode, seq_len=args.seq_len,
            calib_texts=_calibration_texts(args.calib_data, args.calib_limit), dump_ir=args.dump_ir,
        )
        bar.update(1)
    n_gem = sum(o.kind == "gemmini" for o in manifest.ops)
    macs = sum(o.macs for o in manifest.ops)
    print(f"compiled {args.model} -> {args.output}")
    print(f"  config {manifest.config}, mode {manifest.mode}: {len(manifest.ops)} ops "
          f"({n_gem} on Gemmini, {len(manifest.ops) - n_gem} on the CPU), {macs:,} MACs")
    for stage, secs in manifest.compile_seconds.items():
        print(f"  {stage:<22} {secs:7.2f} s")
    return 0
