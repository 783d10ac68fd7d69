"""``l2g demo`` through the CLI: both builds compiled, the sentences run on the real Spike and
checked bit for bit, cosine against PyTorch FP32, the cycle table, the speedup and the report
directory.  The end-to-end test uses a small random BERT (``--model``) so that it takes
minutes, not the MiniLM compile's; the MiniLM run itself is the slow test below."""

from __future__ import annotations

import json

import pytest

from l2g.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def _check_report(out, stdout: str, sentences: int, baseline_sentences: int | None) -> dict:
    rep = json.loads((out / "report.json").read_text())
    assert rep["bit_exact"] is True
    runs = rep["integer"]["runs"]
    assert len(runs) == sentences and all(r["check"] == "bit-exact" and r["cycles"] > 0 for r in runs)
    assert all(-1.0 <= r["cosine_vs_fp32"] <= 1.0 for r in runs)
    assert rep["mean_cosine_vs_fp32"] == pytest.approx(sum(r["cosine_vs_fp32"] for r in runs) / sentences, abs=1e-5)
    ops = rep["integer"]["ops"]
    assert sum(o["cycles"] for o in ops) <= runs[0]["cycles"] and any(o["unit"] == "gemmini" for o in ops)
    if baseline_sentences is None:
        assert rep["baseline"] is None and rep["speedup_over_baseline"] is None
    else:
        b = rep["baseline"]
        assert len(b["runs"]) == baseline_sentences and all(r["check"] == "bit-exact" for r in b["runs"])
        same = runs[:baseline_sentences]
        expect = b["cycles_per_inference"] / (sum(r["cycles"] for r in same) / len(same))
        assert rep["speedup_over_baseline"] == pytest.approx(expect)
        assert f"speedup {expect:.1f}x" in stdout
    md = (out / "summary.md").read_text()
    assert "| sentence | check | cycles |" in md and f"{runs[0]['cycles']:,}" in md
    for png in ("cycles.png", "top_ops.png"):
        assert (out / png).read_bytes()[:8] == PNG
    assert "op" in stdout and "cycles" in stdout and f"{runs[0]['cycles']:,}" in stdout
    return rep


@pytest.mark.slow
def test_demo_end_to_end(tmp_path, capsys):
    from l2g.frontend.synthetic import BertShape, make_bert_model

    model = make_bert_model(tmp_path / "bert", BertShape(hidden=32, heads=2, intermediate=64, layers=2,
                                                          max_positions=64))
    out = tmp_path / "demo"
    rc = main(["demo", "--model", str(model), "--seq-len", "16", "--sentences", "2", "--baseline-sentences", "1",
               "-o", str(out)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err[-3000:]
    for n in range(1, 7):
        assert f"[{n}/6]" in cap.err  # a stage line for every stage
    rep = _check_report(out, cap.out, 2, 1)
    assert rep["name"] == "bert" and rep["seq_len"] == 16


@pytest.mark.slow
def test_demo_minilm_no_baseline(tmp_path, capsys):
    """The real model of `make demo`, integer build only (the baseline doubles the time)."""
    out = tmp_path / "demo"
    rc = main(["demo", "--no-baseline", "--sentences", "2", "-o", str(out)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err[-3000:]
    rep = _check_report(out, cap.out, 2, None)
    assert rep["name"] == "all-MiniLM-L6-v2" and rep["seq_len"] == 128
    # the Gemmini build (per-tensor weight scales) measured 0.96 mean cosine to FP32 (docs/performance.md)
    assert rep["mean_cosine_vs_fp32"] > 0.8


def test_demo_rejects_bad_counts(tmp_path, capsys):
    assert main(["demo", "--sentences", "0", "-o", str(tmp_path)]) == 1
    assert "--sentences must be between 1 and" in capsys.readouterr().err
    assert main(["demo", "--sentences", "2", "--baseline-sentences", "3", "-o", str(tmp_path)]) == 1
    assert "--baseline-sentences must be between 1 and --sentences" in capsys.readouterr().err
