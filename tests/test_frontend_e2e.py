"""Tiny random-weight BERT (hidden 32, 2 layers, built here): export → load → float → int8 →
integer-only on the host, for a classifier and for a mean-pooled sentence-embedding encoder."""

import json

import numpy as np
import pytest

import tvm  # noqa: F401  (a required dependency: fail, never skip)
import torch
import transformers

from tiny_bert import SENTENCES, make_tiny_berts

SEQ = 16


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    return make_tiny_berts(tmp_path_factory.mktemp("tiny_bert"))


def _compile(model_dir, tmp_path, kind):
    from l2g.frontend.export import export_model
    from l2g.frontend.load import load_onnx
    from l2g.frontend.tokenize import load_tokenizer, tokenize
    from l2g.passes.pipeline import CompileContext, Pipeline

    rec = export_model(model_dir, tmp_path / f"{kind}.onnx", seq_len=SEQ)
    assert rec.kind == kind and rec.input_names == ("input_ids", "attention_mask", "token_type_ids")
    tok = load_tokenizer(model_dir)
    enc = tokenize(tok, SENTENCES, SEQ)
    assert enc.input_ids.shape == (len(SENTENCES), SEQ) and enc.input_ids.dtype == np.int64
    samples = [enc.rows(i, i + 1).as_inputs(rec.input_names) for i in range(len(SENTENCES))]
    ctx = CompileContext(calib_inputs=samples[:8], ranges_path=tmp_path / f"{kind}.ranges.json")
    fmod = Pipeline(["canonicalize"]).run(load_onnx(rec.onnx_path), ctx)
    qmod = Pipeline(["calibrate", "quantize"], dump_ir_dir=tmp_path / f"dump_{kind}").run(fmod, ctx)
    return rec, enc, samples, fmod, qmod, ctx


def _torch_out(model_dir, kind, enc):
    from l2g.frontend.export import load_hf_model

    m, _ = load_hf_model(model_dir, kind)
    with torch.no_grad():
        kw = dict(input_ids=torch.from_numpy(enc.input_ids), attention_mask=torch.from_numpy(enc.attention_mask),
                  token_type_ids=torch.from_numpy(enc.token_type_ids))
        out = m(**kw)
        if kind == "classifier":
            return out.logits.numpy()
        h, msk = out.last_hidden_state, kw["attention_mask"].unsqueeze(-1).float()
        return ((h * msk).sum(1) / msk.sum(1)).numpy()


def _cos(a, b):
    return float((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.parametrize("kind", ["classifier", "embedding"])
def test_float_int8_integer_only(tiny_dirs, tmp_path, kind):
    from l2g.passes.host import build_host

    rec, enc, samples, fmod, qmod, ctx = _compile(tiny_dirs[kind], tmp_path, kind)
    ref = _torch_out(tiny_dirs[kind], kind, enc)
    f, q = build_host(fmod), build_host(qmod)
    fo = np.concatenate([f(s) for s in samples])
    qo = np.concatenate([q(s) for s in samples])
    np.testing.assert_allclose(fo, ref, atol=2e-4, rtol=1e-3)
    # int8 with 8 calibration sentences: close to float on all 12 sentences
    assert min(_cos(a, b) for a, b in zip(fo, qo)) > 0.98
    rep = ctx.quant_report
    assert rep.int8_matmuls == 2 * 8 + (2 if kind == "classifier" else 0)  # 6 weight + 2 act×act per layer
    assert rep.brackets["softmax"] == 2 and rep.brackets["gelu"] == 2 and rep.brackets["layer_norm"] == 5
    dumps = sorted(p.name for p in (tmp_path / f"dump_{kind}").iterdir())
    assert dumps == ["00_input.py", "01_calibrate.py", "02_quantize.py"]
    assert json.loads((tmp_path / f"{kind}.ranges.json").read_text())["num_samples"] == 8

    import l2g.passes.integer_only as ib
    from l2g.passes.pipeline import Pipeline

    imod = Pipeline(["integer_only"]).run(qmod, ctx)
    left = {b.value.op.name for blk in imod["main"].body.blocks for b in blk.bindings
            if hasattr(b.value, "op") and hasattr(b.value.op, "name")}
    assert not left & {"relax.nn.softmax", "relax.nn.gelu", "relax.nn.layer_norm", "relax.erf"}
    run_i = build_host(imod)
    io = np.concatenate([run_i(s) for s in samples])
    assert min(_cos(a, b) for a, b in zip(fo, io)) > 0.95


def test_accuracy_report_on_tiny_task(tiny_dirs, tmp_path):
    from l2g.frontend.accuracy import compile_variants, evaluate, load_examples

    data = tmp_path / "test.jsonl"
    data.write_text("".join(json.dumps({"text": s, "label": i % 2}) + "\n" for i, s in enumerate(SENTENCES)))
    comp = compile_variants(tiny_dirs["classifier"], tmp_path / "work", SENTENCES[:6], seq_len=SEQ)
    rep = evaluate(comp, load_examples(data, limit=10), "sst2")
    assert rep.num_examples == 10
    assert rep.scores["FP32 (PyTorch)"] == rep.scores["FP32 (TVM)"]
    assert rep.scores["int8"] is not None
    assert "FP32 (PyTorch)" in rep.format()


def test_export_cli(tiny_dirs, tmp_path, capsys):
    from l2g.cli import main
    from l2g.frontend.export import ExportedModel

    out = tmp_path / "cli.onnx"
    assert main(["export", str(tiny_dirs["embedding"]), "-o", str(out), "--seq-len", "8"]) == 0
    rec = ExportedModel.load(out)
    assert (rec.kind, rec.seq_len, rec.output_name) == ("embedding", 8, "embedding")
    assert "wrote" in capsys.readouterr().out


def test_accuracy_cli_reports_bad_data(tmp_path, capsys):
    from l2g.cli import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"sentence": "x"}\n')
    assert main(["accuracy", str(tmp_path), "--task", "sst2", "--data", str(bad)]) == 1
    assert "not a" in capsys.readouterr().err


def test_accuracy_cli_writes_json_report(tiny_dirs, tmp_path, capsys):
    from l2g.cli import main

    data = tmp_path / "test.jsonl"
    data.write_text("".join(json.dumps({"text": s, "label": i % 2}) + "\n" for i, s in enumerate(SENTENCES)))
    out = tmp_path / "report.json"
    rc = main(["accuracy", str(tiny_dirs["classifier"]), "--task", "sst2", "--data", str(data), "--limit", "4",
               "--seq-len", str(SEQ), "--calib-data", str(data), "--calib-samples", "4",
               "--work-dir", str(tmp_path / "work"), "-o", str(out)])
    assert rc == 0
    rep = json.loads(out.read_text())
    assert rep["num_examples"] == 4 and rep["metric"] == "accuracy"
    assert set(rep["scores"]) == {"FP32 (PyTorch)", "FP32 (TVM)", "int8", "integer-only"}
    assert all(0.0 <= v <= 1.0 for v in rep["scores"].values())
    captured = capsys.readouterr()
    assert f"report: {out}" in captured.out
    assert "evaluate 4 variants" in captured.err  # the progress bar
