"""Load an ONNX file into a float ``tvm.relax`` IRModule, refusing unsupported ops up front.

Before anything is handed to TVM, every node of the graph (subgraphs included) is checked
against :data:`SUPPORTED_ONNX_OPS`, the op types this toolchain has been validated on
(TVM's importer converts them *and* the l2g passes either handle them or run them in the
float fallback).  Anything else fails with one :class:`~l2g.errors.L2GError` that names
every offending op type, the node names, and what to do, instead of a traceback from inside
TVM's importer.  QOperator ops (``QLinearMatMul``, ``QLinearConv``, ``MatMulInteger``-style
pre-quantized graphs other than QDQ) are deliberately not supported: l2g quantizes a float
model itself (``passes/quantize.py``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from l2g.errors import L2GError

#: ONNX op types (default domain) the toolchain can lower.  Add an op here only together with
#: a test that imports a graph using it and runs it through the pass pipeline.
SUPPORTED_ONNX_OPS: frozenset[str] = frozenset(
    {
        # arithmetic / elementwise
        "Add", "Sub", "Mul", "Div", "Neg", "Abs", "Sqrt", "Pow", "Reciprocal", "Exp", "Erf",
        "Tanh", "Sigmoid", "Relu", "Max", "Min", "Clip", "Where", "IsNaN", "IsInf",
        # comparisons / logic (attention-mask construction)
        "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Not",
        # linear algebra
        "MatMul", "Gemm",
        # normalization / activations handled by the integer passes
        "Softmax", "LayerNormalization", "Gelu",
        # reductions
        "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin",
        # data movement / shapes
        "Gather", "GatherND", "GatherElements", "Reshape", "Transpose", "Unsqueeze", "Squeeze",
        "Concat", "Slice", "Split", "Expand", "Flatten", "Tile", "Shape", "Size", "Range",
        "Constant", "ConstantOfShape", "Cast", "CastLike", "Identity", "Dropout",
        # QDQ (imports as relax quantize/dequantize)
        "QuantizeLinear", "DequantizeLinear",
    }
)


@dataclass(frozen=True)
class UnsupportedOp:
    op_type: str
    domain: str
    node_names: tuple[str, ...]


def _walk_nodes(graph):
    for node in graph.node:
        yield node
        for attr in node.attribute:  # If / Loop / Scan bodies
            if attr.g is not None and len(attr.g.node):
                yield from _walk_nodes(attr.g)
            for g in attr.graphs:
                yield from _walk_nodes(g)


def find_unsupported_ops(model) -> list[UnsupportedOp]:
    """Every op type in ``model`` (an ``onnx.ModelProto``) outside the supported list."""
    bad: dict[tuple[str, str], list[str]] = defaultdict(list)
    for i, node in enumerate(_walk_nodes(model.graph)):
        domain = node.domain or ""
        if domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED_ONNX_OPS:
            bad[(node.op_type, domain)].append(node.name or f"<unnamed node #{i}>")
    return [UnsupportedOp(op, dom, tuple(names)) for (op, dom), names in sorted(bad.items())]


def unsupported_ops_message(path: str, bad: list[UnsupportedOp]) -> str:
    lines = [f"{path} uses {len(bad)} ONNX op type(s) that the l2g toolchain cannot lower:"]
    for u in bad:
        shown = ", ".join(u.node_names[:8]) + (f", … ({len(u.node_names)} nodes)" if len(u.node_names) > 8 else "")
        dom = f" (domain {u.domain})" if u.domain else ""
        lines.append(f"  - {u.op_type}{dom}: {shown}")
    lines.append(
        "What to do: export the float model with `l2g export` (torch.onnx dynamo exporter, "
        "eager attention); l2g quantizes it itself, so pre-quantized QOperator graphs "
        "(QLinear*, ConvInteger, ...) and vendor-domain fused ops (com.microsoft.*) must be "
        "replaced by their float form (QDQ is accepted).  Supporting a new op means adding it "
        "to SUPPORTED_ONNX_OPS in frontend/load.py together with a test that runs it through "
        "the pass pipeline."
    )
    return "\n".join(lines)


def load_onnx_model(path_or_model):
    """``onnx.ModelProto`` from a path (external data beside it) or pass-through."""
    import onnx

    if isinstance(path_or_model, (str, Path)):
        p = Path(path_or_model)
        if not p.is_file():
            raise L2GError(f"ONNX file {p} not found")
        try:
            return onnx.load(str(p))
        except Exception as exc:
            raise L2GError(f"{p} is not a readable ONNX file: {exc}") from exc
    return path_or_model


def load_onnx(path_or_model, *, check_only: bool = False):
    """Import an ONNX model as a float Relax IRModule (function ``main``).

    Raises :class:`L2GError` listing all unsupported ops before TVM is involved.  With
    ``check_only`` the check runs and ``None`` is returned.
    """
    model = load_onnx_model(path_or_model)
    name = str(path_or_model) if isinstance(path_or_model, (str, Path)) else (model.graph.name or "<model>")
    bad = find_unsupported_ops(model)
    if bad:
        raise L2GError(unsupported_ops_message(name, bad))
    if check_only:
        return None
    from tvm.relax.frontend.onnx import from_onnx

    try:
        return from_onnx(model, keep_params_in_input=False)
    except Exception as exc:
        raise L2GError(
            f"TVM's ONNX importer failed on {name} although all its ops are on the supported "
            f"list: {type(exc).__name__}: {exc}.  Re-export with `l2g export` (fixed shapes, "
            "dynamo exporter); if it persists, report it with the model attached."
        ) from exc
