"""`l2g compile` + `l2g run --check` on a tiny random BERT: the whole compiler on Spike + Gemmini.

Each compile exports, quantizes, fuses, plans, emits C, cross-compiles and builds the host
reference libraries, so this module is marked slow; the fast suite covers the same code
paths on small synthetic graphs (test_codegen_*).
"""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from tiny_bert import SENTENCES, make_tiny_bert

pytestmark = pytest.mark.slow
L2G = [sys.executable, "-m", "l2g.cli"]
SEQ = 16


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny"), "classifier")


@pytest.mark.parametrize("mode,config", [("baseline", "default"), ("integer", "ibert"), ("integer", "default")])
def test_compile_run_check_bit_exact(tiny_classifier, tmp_path, mode, config):
    out = tmp_path / f"{mode}-{config}"
    proc = subprocess.run(
        [*L2G, "compile", str(tiny_classifier), "-o", str(out), "--mode", mode, "--config", config,
         "--seq-len", str(SEQ), "--dump-ir"],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "on Gemmini" in proc.stdout
    for f in ("model.c", "model.elf", "plan.txt", "manifest.json", "reference.so"):
        assert (out / f).is_file(), f
    assert any((out / "ir").iterdir())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["mode"] == mode and manifest["config"] == config
    assert any(o["kind"] == "gemmini" for o in manifest["ops"])
    # the attention mask is added in the accumulator (a bias matrix under Q·Kᵀ), not by the CPU
    calls = re.findall(r"l2g_matmul_ws\(([^;]*)\);", (out / "model.c").read_text())
    assert any(c.split(", ")[6] != "0" for c in calls), calls

    proc = subprocess.run(
        [*L2G, "run", str(out), "--check", "--text", SENTENCES[0], "--text", SENTENCES[5]],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("check vs host reference: bit-exact") == 2
    reports = json.loads((out / "report.json").read_text())
    for rep in reports:
        assert rep["check"] == "bit-exact"
        assert rep["total_cycles"] > 0
        ops = rep["ops"]
        assert len(ops) == len(manifest["ops"])
        assert all(0 <= o["utilization"] <= 1.0 for o in ops)
        assert abs(sum(o["share"] for o in ops) - 1.0) < 1e-6


def test_run_rejects_wrong_input_shape(tiny_classifier, tmp_path):
    out = tmp_path / "b"
    subprocess.run([*L2G, "compile", str(tiny_classifier), "-o", str(out), "--mode", "baseline", "--seq-len", str(SEQ)],
                   check=True, capture_output=True, timeout=900)
    bad = tmp_path / "bad.npz"
    np.savez(bad, input_ids=np.zeros((1, SEQ + 1), np.int64))
    proc = subprocess.run([*L2G, "run", str(out), "--inputs", str(bad)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "input 'input_ids' has shape [1, 17], the model expects [1, 16]" in proc.stderr


@pytest.mark.parametrize("mode,config", [("baseline", "default"), ("integer", "ibert")])
def test_bare_encoder_layer_onnx_compiles_and_runs_bit_exact(tmp_path, mode, config):
    """The encoder-layer benchmark's workload: one bare BERT layer exported to ONNX (float
    hidden states in and out), compiled from the .onnx file with random calibration inputs,
    run with `--inputs`, bit-exact; the manifest takes the sequence length from the file."""
    from l2g.frontend.synthetic import LAYER_INPUT, BertShape, make_bert_layer_onnx

    shape = BertShape(hidden=32, heads=2, intermediate=64, kind="layer")
    onnx_path = make_bert_layer_onnx(tmp_path / "layer.onnx", shape, seq_len=SEQ)
    out = tmp_path / "out"
    proc = subprocess.run([*L2G, "compile", str(onnx_path), "-o", str(out), "--mode", mode, "--config", config,
                           "--seq-len", "999"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seq_len"] == SEQ
    assert [(t["name"], t["shape"]) for t in manifest["inputs"]] == [(LAYER_INPUT, [1, SEQ, 32])]
    # no embeddings, no mask, no pooling: the only gathers or reductions are the layer's own
    assert not any(o["name"].split(":")[1].startswith("take") for o in manifest["ops"])
    inputs = tmp_path / "in.npz"
    np.savez(inputs, **{LAYER_INPUT: np.random.default_rng(3).standard_normal((1, SEQ, 32)).astype(np.float32)})
    proc = subprocess.run([*L2G, "run", str(out), "--check", "--inputs", str(inputs)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())  # one run: one report, not a list
    assert report["check"] == "bit-exact"
    # Q, K, V, attention output, the two FFN matmuls, and Q·Kᵀ and P·V of both heads, all on Gemmini
    assert sum(o["macs"] for o in report["ops"]) == SEQ * 32 * (4 * 32 + 2 * 64) + 2 * SEQ * SEQ * 32
    assert [t["shape"] for t in manifest["outputs"]] == [[1, SEQ, 32]]
