"""`l2g export` and `l2g accuracy`: the frontend's commands (heavy imports inside handlers)."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a Hugging Face model dir to ONNX with fixed shapes",
        description="Export a sequence classifier (logits) or a plain encoder (mean-pooled sentence "
        "embedding) to ONNX with the dynamo torch.onnx exporter, batch and sequence length fixed.",
    )
    p.add_argument("model", help="Hugging Face model dir")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write (a .json sidecar is written beside it)")
    p.add_argument("--seq-len", type=int, default=128, help="sequence length (default: %(default)s)")
    p.add_argument("--batch", type=int, default=1, help="batch size (default: %(default)s)")
    p.add_argument("--kind", choices=["classifier", "embedding"], help="default: from the model's config")
    p.set_defaults(func=run_export)

    p = subparsers.add_parser(
        "accuracy",
        help="FP32 (PyTorch / TVM), int8 and integer-only accuracy side by side, on the host",
        description="Export MODEL, calibrate on the task's train split, quantize, apply the "
        "integer-only pass, and evaluate every variant on the host (TVM LLVM target).  For a "
        "sentence-embedding model (no classification head) the mean cosine similarity to the "
        "PyTorch FP32 embedding is reported instead of accuracy.",
    )
    p.add_argument("model", help="Hugging Face model dir (classifier or sentence-embedding encoder)")
    p.add_argument("--task", required=True, choices=["sst2", "trec", "snips"])
    p.add_argument("--data", required=True, help="evaluation JSONL ({\"text\", \"label\"} per line)")
    p.add_argument("--limit", type=int, help="evaluate only the first N examples")
    p.add_argument("--seq-len", type=int, default=128, help="sequence length (default: %(default)s)")
    p.add_argument("--calib-data", help="calibration JSONL (default: train.jsonl beside --data)")
    p.add_argument("--calib-samples", type=int, default=16, help="calibration sentences (default: %(default)s)")
    p.add_argument("--calib-method", choices=["minmax", "percentile"], default="minmax")
    p.add_argument("--work-dir", default="l2g-out", help="where ONNX + ranges JSON go (default: %(default)s)")
    p.add_argument("--dump-ir", metavar="DIR", help="write the IR after every pass here")
    p.add_argument("-o", "--output", metavar="FILE.json",
                   help="JSON report (default: WORK_DIR/MODEL/accuracy-TASK.json)")
    p.set_defaults(func=run_accuracy)


def run_export(args: argparse.Namespace) -> int:
    from l2g.frontend.export import export_model

    rec = export_model(args.model, args.output, seq_len=args.seq_len, batch=args.batch, kind=args.kind)
    print(f"wrote {rec.onnx_path} ({rec.kind}, inputs {', '.join(rec.input_names)}, "
          f"shape ({rec.batch}, {rec.seq_len})) and {rec.sidecar}")
    return 0


def run_accuracy(args: argparse.Namespace) -> int:
    from pathlib import Path

    from l2g.frontend.accuracy import compile_variants, default_calibration_file, evaluate, load_examples

    examples = load_examples(args.data, args.limit)
    calib_file = Path(args.calib_data) if args.calib_data else default_calibration_file(args.data)
    calib = [e.text for e in load_examples(calib_file, args.calib_samples)]
    work = Path(args.work_dir) / (Path(args.model).resolve().name or "model")
    compiled = compile_variants(
        args.model, work, calib, seq_len=args.seq_len, calib_method=args.calib_method, dump_ir_dir=args.dump_ir
    )
    report = evaluate(compiled, examples, args.task)
    print(report.format())
    print(f"(calibration: {len(calib)} sentences of {calib_file}; compile times: "
          + ", ".join(f"{k} {v:.1f}s" for k, v in compiled.compile_seconds.items()) + ")")
    out = Path(args.output) if args.output else work / f"accuracy-{args.task}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report.to_json(compiled.compile_seconds), indent=2) + "\n")
    print(f"report: {out}")
    return 0
