"""frontend.load: unsupported ONNX ops are refused up front with one actionable error."""

import numpy as np
import pytest

import onnx
from onnx import TensorProto, helper  # noqa: E402


def _model_with_unsupported_ops():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="relu0"),
        helper.make_node("Hardmax", ["a"], ["b"], name="hardmax_first"),
        helper.make_node("Hardmax", ["b"], ["c"], name="hardmax_second"),
        helper.make_node("FusedGemm", ["c"], ["d"], name="ms_fused", domain="com.microsoft"),
        helper.make_node("Identity", ["d"], ["y"], name="out"),
    ]
    g = helper.make_graph(nodes, "g", [x], [y])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1)])


def test_unsupported_ops_named_before_tvm(monkeypatch, tmp_path):
    from l2g.errors import L2GError
    from l2g.frontend import load

    path = tmp_path / "bad.onnx"
    onnx.save(_model_with_unsupported_ops(), str(path))
    import tvm.relax.frontend.onnx as tvm_onnx

    def boom(*a, **k):  # pragma: no cover - must not be reached
        raise AssertionError("TVM's importer was called before the op check")

    monkeypatch.setattr(tvm_onnx, "from_onnx", boom)
    with pytest.raises(L2GError) as info:
        load.load_onnx(path)
    msg = str(info.value)
    assert "Hardmax: hardmax_first, hardmax_second" in msg
    assert "FusedGemm (domain com.microsoft): ms_fused" in msg
    assert "Relu" not in msg.split("lower:")[1].split("What to do")[0]
    assert "What to do" in msg and "SUPPORTED_ONNX_OPS" in msg
    assert str(path) in msg


def test_qoperator_graph_is_refused():
    from l2g.errors import L2GError
    from l2g.frontend.load import load_onnx

    a = helper.make_tensor_value_info("a", TensorProto.UINT8, [2, 2])
    y = helper.make_tensor_value_info("y", TensorProto.UINT8, [2, 2])
    inits = [helper.make_tensor(n, TensorProto.FLOAT, [], [1.0]) for n in ("sa", "sb", "sy")]
    inits += [helper.make_tensor(n, TensorProto.UINT8, [], [0]) for n in ("za", "zb", "zy")]
    inits.append(helper.make_tensor("b", TensorProto.UINT8, [2, 2], [1, 2, 3, 4]))
    node = helper.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"], name="qmm")
    m = helper.make_model(helper.make_graph([node], "q", [a], [y], inits), opset_imports=[helper.make_opsetid("", 18)])
    with pytest.raises(L2GError, match="QLinearMatMul: qmm"):
        load_onnx(m)


def test_missing_file_is_an_l2g_error(tmp_path):
    from l2g.errors import L2GError
    from l2g.frontend.load import load_onnx

    with pytest.raises(L2GError, match="not found"):
        load_onnx(tmp_path / "nope.onnx")


def test_supported_graph_imports_and_runs():
    from l2g.frontend.load import load_onnx
    from l2g.passes.host import run_on_host

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.arange(12, dtype=np.float32).tolist())
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"], name="mm"), helper.make_node("Softmax", ["m"], ["y"], name="sm")]
    m = helper.make_model(helper.make_graph(nodes, "ok", [x], [y], [w]), opset_imports=[helper.make_opsetid("", 18)])
    mod = load_onnx(m)
    xs = np.ones((2, 4), np.float32) * 0.1
    ref = xs @ np.arange(12, dtype=np.float32).reshape(4, 3)
    ref = np.exp(ref - ref.max(-1, keepdims=True))
    np.testing.assert_allclose(run_on_host(mod, [xs]), ref / ref.sum(-1, keepdims=True), rtol=1e-5)
