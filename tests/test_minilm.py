"""Real model: all-MiniLM-L6-v2 at sequence length 128 on SST-2 dev sentences, on the host.

FP32 reference = the PyTorch model with sentence-transformers mean pooling.  Checks the TVM
float module, the int8 module and the integer-only module by mean cosine similarity.
"""

import numpy as np
import pytest

from minilm_fixture import SEQ_LEN, prepare, sst2_texts

pytestmark = pytest.mark.slow
N_EVAL = 16


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    import tvm  # noqa: F401
    from l2g.frontend.accuracy import _torch_forward
    from l2g.frontend.export import load_hf_model
    from l2g.frontend.tokenize import tokenize
    from l2g.passes.host import build_host
    from l2g.passes.pipeline import Pipeline

    work = tmp_path_factory.mktemp("minilm")
    rec, tok, ctx, fmod = prepare(work)
    qmod = Pipeline(["quantize"]).run(fmod, ctx)
    mods = {"fp32-tvm": fmod, "int8": qmod}
    try:
        mods["integer-only"] = Pipeline(["integer_only"]).run(qmod, ctx)
    except Exception as exc:  # reported by the test that needs it
        mods["integer-only"] = exc
    enc = tokenize(tok, sst2_texts("test", N_EVAL), SEQ_LEN)
    torch_model, _ = load_hf_model(rec.model_dir, "embedding")
    ref = [_torch_forward(torch_model, "embedding", enc.rows(i, i + 1)) for i in range(N_EVAL)]
    cos = {}
    for name, mod in mods.items():
        if isinstance(mod, Exception):
            cos[name] = mod
            continue
        run = build_host(mod)
        cs = []
        for i in range(N_EVAL):
            a = ref[i].ravel().astype(np.float64)
            b = np.asarray(run(enc.rows(i, i + 1).as_inputs(rec.input_names))).ravel().astype(np.float64)
            cs.append(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
        cos[name] = np.array(cs)
    print({k: (v.mean(), v.min()) if isinstance(v, np.ndarray) else v for k, v in cos.items()})
    return cos


def test_tvm_float_matches_pytorch(minilm):
    assert minilm["fp32-tvm"].min() > 0.99999


def test_int8_cosine(minilm):
    assert minilm["int8"].mean() >= 0.99, minilm["int8"]


def test_integer_only_cosine(minilm):
    """Measured 0.9908 mean on these 16 sentences (SmoothQuant α 0.85; it was 0.9896 at α 0.5,
    where this test was a strict xfail); see docs/frontend-passes.md."""
    v = minilm["integer-only"]
    assert not isinstance(v, Exception), v
    assert v.mean() >= 0.99, v
