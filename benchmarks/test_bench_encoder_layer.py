"""Issue 5 end-to-end targets on one BERT-base encoder layer (hidden 768, 12 heads, FFN 3072,
sequence 128, random weights; ``make_bert_layer_onnx``: hidden states in, hidden states out,
no embeddings and no pooling): ``integer`` mode on the ``ibert`` config against the survey's
``baseline`` mode on ``default``.

Both programs are compiled with ``l2g compile`` and run on Spike + Gemmini with ``l2g run
--check``, so the cycle counts are those of bit-exact programs.  Cycles come from the
deterministic cycle model: these are exact checks, not timing tests.  They are performance
targets, so they live with the benchmarks (`make bench`; `l2g bench encoder` sweeps the same
layer at more sequence lengths, and the one-layer model with embeddings and pooling) rather
than in the CI test suite: two full compiles of a BERT-base layer take minutes on 2 cores.
"""

import json
import subprocess
import sys

import pytest

L2G = [sys.executable, "-m", "l2g.cli"]
SEQ = 128


def _compile_and_run(model, inputs, out, mode: str, config: str) -> dict:
    proc = subprocess.run(
        [*L2G, "compile", str(model), "-o", str(out), "--mode", mode, "--config", config, "--seq-len", str(SEQ)],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = subprocess.run([*L2G, "run", str(out), "--check", "--inputs", str(inputs)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    report = report[0] if isinstance(report, list) else report
    assert report["check"] == "bit-exact"
    return report


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    import numpy as np

    from l2g.frontend.synthetic import BERT_BASE_LAYER, LAYER_INPUT, make_bert_layer_onnx

    root = tmp_path_factory.mktemp("bert_base_layer")
    model = make_bert_layer_onnx(root / "layer.onnx", seq_len=SEQ)
    inputs = root / "inputs.npz"
    hidden = np.random.default_rng(0).standard_normal((1, SEQ, BERT_BASE_LAYER.hidden)).astype(np.float32)
    np.savez(inputs, **{LAYER_INPUT: hidden})
    return {
        "baseline": _compile_and_run(model, inputs, root / "baseline", "baseline", "default"),
        "integer": _compile_and_run(model, inputs, root / "integer", "integer", "ibert"),
    }


def matmul_share(report: dict) -> float:
    """Share of the cycles spent in Gemmini matmuls (the ops that do MACs)."""
    mm = sum(o["cycles"] for o in report["ops"] if o["kind"] == "gemmini" and o["macs"] > 0)
    return mm / report["total_cycles"]


def integer_array_bound(reports: dict) -> float:
    """The speedup if the integer build did nothing but its MACs at 100 % of the ibert array."""
    from l2g.bench.suites import array_bound
    from l2g.hwconfig import get_config

    macs = sum(o["macs"] for o in reports["integer"]["ops"])
    return array_bound(reports["baseline"]["total_cycles"], macs, get_config("ibert").dim)


@pytest.mark.xfail(strict=True, reason="measured 5.65x (73.1 M baseline over 12.9 M cycles, `l2g bench "
                   "encoder`), and out of reach of any integer build on this array: its matmuls alone take "
                   "3.72 M cycles (931 M MACs = 3.64 M cycles at 100 % of the 16x16 array), so the ceiling is "
                   "19.7x (20.1x at peak) with every other op free; blocked in issue 5 (docs/benchmarks.md)")
def test_integer_ibert_is_30x_faster_than_baseline(reports):
    speedup = reports["baseline"]["total_cycles"] / reports["integer"]["total_cycles"]
    print(f"baseline {reports['baseline']['total_cycles']:,} cycles, integer {reports['integer']['total_cycles']:,}"
          f" cycles: {speedup:.1f}x; ceiling {integer_array_bound(reports):.1f}x with the integer build's matmuls at "
          "100 % of the array and nothing else")
    assert speedup >= 30


@pytest.mark.xfail(strict=True, reason="measured 28.7% (3.72 M of 12.9 M cycles): 8.3 M cycles of CPU glue "
                   "(softmax prescale, LayerNorm affine and wide LayerNorm, residual rescaling, the input's "
                   "quantization); at 85 % the speedup could be at most 16.7x; blocked with the 30x target in issue 5")
def test_matmuls_dominate_integer_ibert_cycles(reports):
    share = matmul_share(reports["integer"])
    print(f"matmul share on integer/ibert: {share:.1%}")
    assert share >= 0.85
