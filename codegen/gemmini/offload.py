"""Map Gemmini composites (from ``l2g.passes.fuse``) onto kernel calls in the C program.

:func:`gemmini_offload` returns an offload hook for
:func:`l2g.codegen.gemmini.program.emit_program`.  For each binding that calls a composite
function it reads the composite's operands and constants (from the fused, not yet legalized
module), plans the tiling with :func:`l2g.passes.tile.plan_matmul`, and emits calls of the
kernels in ``csrc/include/l2g_gemmini_kernels.h``.

Requantization scales reach the hardware unchanged as float32 (``config_st``'s acc_scale and
``config_ld``'s mvin scale), so the accelerator's ``sat8(RNE(fl32(x)·S))`` is the same
computation the host reference performs.  A per-channel (vector) scale has no single-register
equivalent on Gemmini: such a matmul runs with full-width int32 output and the requantization
runs on the CPU, exactly as the reference computes it.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
import tvm
from tvm import relax

from l2g.codegen.gemmini.program import OpRecord, ProgramBuilder
from l2g.hwconfig import GemminiConfig
from l2g.passes.fuse import binding_lookup, composite_kind, matmul_calls, operand_layout, result_layout, tensor_bias_layout
from l2g.passes.tile import MatmulPlan, plan_matmul


def _f32_literal(x: float) -> str:
    return f"{struct.unpack('<f', struct.pack('<f', float(x)))[0].hex()}f"


def _const_value(expr) -> np.ndarray | None:
    value = getattr(expr, "value", None)
    return value.numpy() if value is not None and hasattr(value, "numpy") else None


def _shape(expr) -> tuple[int, ...]:
    return tuple(int(d.value) for d in expr.ty.shape)


@dataclass
class _Chain:
    """What a composite computes, read off its body."""

    kind: str
    params: list  # the composite's parameters
    bindings: dict  # var -> value (bodies are flat dataflow blocks)
    output: object  # the expression the composite returns


def _read_composite(func) -> _Chain:
    bindings = {}
    for block in func.body.blocks:
        for b in block.bindings:
            bindings[b.var] = b.value
    return _Chain(composite_kind(func), list(func.params), bindings, func.body.body)


def _op(expr) -> str:
    return getattr(getattr(expr, "op", None), "name", "") if isinstance(expr, relax.Call) else ""


class _Resolver:
    """Follows variables inside a composite body back to their defining calls."""

    def __init__(self, chain: _Chain):
        self.chain = chain
        self.value = binding_lookup(chain.bindings)  # var -> its bound value (or expr itself)

    def calls(self, name: str) -> list:
        return [v for v in self.chain.bindings.values() if _op(v) == name]

    def param_index(self, expr) -> int | None:
        for i, p in enumerate(self.chain.params):
            if p.same_as(expr):
                return i
        return None


def _requant_scale(res: _Resolver, final_cast) -> np.ndarray | None:
    """Given the int8 astype at the end of a requant chain, return its scale (or None)."""
    clip = res.value(final_cast.args[0])
    if _op(clip) != "relax.clip":
        return None
    lo, hi = (float(getattr(a, "value", a)) for a in clip.args[1:3])
    if (lo, hi) != (-128.0, 127.0):
        return None
    rnd = res.value(clip.args[0])
    mul = res.value(rnd.args[0]) if _op(rnd) == "relax.round" else None
    if mul is None or _op(mul) != "relax.multiply":
        return None
    return _const_value(mul.args[1])


def _requant_input(res: _Resolver, final_cast):
    """The integer tensor a requant chain ``astype(clip(round(astype(x) * S)))`` starts from."""
    expr = final_cast
    for op_name in ("relax.clip", "relax.round", "relax.multiply", "relax.astype"):
        expr = res.value(expr.args[0])
        if _op(expr) != op_name:
            return None
    return expr.args[0]


def gemmini_offload(cfg: GemminiConfig, fused_mod: tvm.IRModule):
    """An offload hook that runs ``fused_mod``'s composites on Gemmini configured as ``cfg``."""

    def hook(builder: ProgramBuilder, binding) -> tuple[list[str], OpRecord] | None:
        call = binding.value
        if not isinstance(call, relax.Call) or not isinstance(call.op, tvm.ir.GlobalVar):
            return None
        try:
            func = fused_mod[call.op.name_hint]
        except (KeyError, tvm.TVMError):
            return None
        kind = composite_kind(func)
        if kind is None:
            return None
        args = [builder.tensor_of(a) for a in call.args]
        if kind in NORM_UNIT_KINDS:
            return _emit_norm_unit(builder, cfg, binding, kind, func, args)
        chain = _read_composite(func)
        if kind in ("matmul_requant", "matmul"):
            return _emit_matmul(builder, cfg, binding, chain, args)
        if kind == "resadd":
            return _emit_resadd(builder, cfg, binding, chain, args)
        return None

    return hook


#: Composites that ``l2g.passes.integer_only`` forms around one use of the I-BERT unit.  Their
#: attributes carry the unit's constants: ``l2g.qb``, ``l2g.qc``, ``l2g.qln2``,
#: ``l2g.qln2_inv`` (softmax), ``l2g.scale`` (read-out scale), ``l2g.col_scale`` (LayerNorm:
#: one read-out scale per channel, constant within each DIM-column tile).
NORM_UNIT_KINDS = ("softmax_unit", "layernorm_unit", "igelu_unit")


def _attr(func, key):
    value = func.attrs[key]
    if isinstance(value, (int, float)):
        return value
    if hasattr(value, "value"):
        return value.value
    return [float(getattr(v, "value", v)) for v in value]


def _ln_tile_scales(cfg: GemminiConfig, func, cols: int) -> list[float] | None:
    per_channel = np.asarray(_attr(func, "l2g.col_scale"), np.float32).reshape(-1)
    if per_channel.size == 1:
        per_channel = np.repeat(per_channel, cols)
    tiles = [per_channel[j : j + cfg.dim] for j in range(0, cols, cfg.dim)]
    if per_channel.size != cols or any((t != t[0]).any() for t in tiles):
        return None  # the unit applies one read-out scale per DIM-column tile
    return [float(t[0]) for t in tiles]


def norm_unit_offloadable(cfg: GemminiConfig, func) -> bool:
    """Whether a normalization-unit composite can run on ``cfg``'s unit."""
    kind = composite_kind(func)
    if kind not in NORM_UNIT_KINDS or not cfg.has_normalizations or len(func.params) != 1:
        return False
    (p,) = func.params
    if str(p.ty.dtype) != "int32" and not (kind == "igelu_unit" and str(p.ty.dtype) == "int8"):
        return False
    cols = int(p.ty.shape[-1].value)
    if kind != "igelu_unit" and -(-cols // cfg.dim) * cfg.dim > cfg.acc_rows:
        return False  # softmax / LayerNorm statistics need a whole row block in the accumulator
    return kind != "layernorm_unit" or _ln_tile_scales(cfg, func, cols) is not None


def _emit_norm_unit(builder: ProgramBuilder, cfg: GemminiConfig, binding, kind: str, func, args):
    if not norm_unit_offloadable(cfg, func):
        return None
    (x,) = args
    cols = x.shape[-1]
    rows = int(np.prod(x.shape[:-1], dtype=np.int64))
    out = builder.new_tensor(binding.var.name, "int8", _shape(binding.var), "temp")
    builder.var_tensor[binding.var] = out
    if kind == "softmax_unit":
        q = [int(_attr(func, f"l2g.{k}")) for k in ("qb", "qc", "qln2", "qln2_inv")]
        stmt = (f"l2g_softmax_unit({x.cname}, {out.cname}, {rows}, {cols}, {q[0]}, {q[1]}, {q[2]}, {q[3]}, "
                f"{_f32_literal(_attr(func, 'l2g.scale'))});")
    elif kind == "igelu_unit":
        qb, qc = int(_attr(func, "l2g.qb")), int(_attr(func, "l2g.qc"))
        fn = "l2g_igelu_unit_i8" if x.dtype == "int8" else "l2g_igelu_unit"
        stmt = f"{fn}({x.cname}, {out.cname}, {rows}, {cols}, {qb}, {qc}, {_f32_literal(_attr(func, 'l2g.scale'))});"
    else:
        tile_scales = np.array(_ln_tile_scales(cfg, func, cols), np.float32)
        scales = builder.add_weight(tile_scales, f"{binding.var.name}_ln_scale")
        stmt = f"l2g_layernorm_unit({x.cname}, {out.cname}, {rows}, {cols}, {scales.cname});"
    return [stmt], OpRecord(name=f"{binding.var.name}:{kind}", kind="gemmini")


def _operand(builder, res: _Resolver, expr, args, hint):
    idx = res.param_index(expr)
    if idx is not None:
        return args[idx]
    arr = _const_value(expr)
    if arr is None:
        raise ValueError(f"composite operand {expr} is neither a parameter nor a constant")
    return builder.add_weight(arr, hint)


def _emit_matmul(builder: ProgramBuilder, cfg: GemminiConfig, binding, chain: _Chain, args):
    res = _Resolver(chain)
    (mm,) = res.calls("relax.matmul")
    a_expr, b_expr = mm.args
    # head split / merge views (fuse.operand_layout): the kernel reads and writes in place
    (a_src, a_lay), (b_src, b_lay) = operand_layout(a_expr, res.value), operand_layout(b_expr, res.value)
    _c_expr, c_lay = result_layout(chain.output, res.value)
    a = _operand(builder, res, a_src, args, "a")
    b = _operand(builder, res, b_src, args, f"{binding.var.name}_w")
    bias, bias_expr = None, None
    for add in res.calls("relax.add"):
        bias_arr = _const_value(add.args[1])
        if bias_arr is not None:
            if bias_arr.ndim > 1 and int(np.prod(bias_arr.shape[:-1])) != 1:
                return None  # a full bias matrix is not a repeating row
            bias = builder.add_weight(bias_arr.reshape(-1).astype(np.int32), f"{binding.var.name}_bias")
        else:
            bias_expr = add.args[1]
    scale = None
    if chain.kind == "matmul_requant":
        casts = [c for c in res.calls("relax.astype") if str(c.ty.dtype) == "int8"]
        scale = _requant_scale(res, casts[-1])
        if scale is None:
            return None

    a_shape, b_shape = _shape(a_expr), _shape(b_expr)
    k = a_shape[-1]
    n = b_shape[-1]
    calls_rows = matmul_calls(a_shape, b_shape)
    if calls_rows is None:
        return None  # broadcasting batch dims: left to the CPU
    batch, m = calls_rows  # batch > 1: one call per batch element of a batched B
    bias_stride, bias_step = 0, 0
    if bias_expr is not None:  # a tensor bias (attention mask, residual): see fuse.accumulator_bias_ok
        bias = _operand(builder, res, bias_expr, args, "bias")
        layout = tensor_bias_layout(bias.shape, a_shape, b_shape)
        if layout is None:
            return None
        bias_stride, bias_step = layout
    plan = plan_matmul(cfg, m, k, n, name=binding.var.name)
    builder.plans.append(plan)

    out_dtype = "int8" if chain.kind == "matmul_requant" else "int32"
    out = builder.new_tensor(binding.var.name, out_dtype, _shape(binding.var), "temp")
    builder.var_tensor[binding.var] = out

    scalar = scale is not None and scale.size == 1
    full_c = not scalar
    acc = out
    if chain.kind == "matmul_requant" and not scalar:
        acc = builder.new_tensor(f"{binding.var.name}_acc", "int32", _shape(binding.var), "temp")
    s_lit = _f32_literal(float(scale.reshape(-1)[0])) if scalar else "1.0f"
    plan_c = f"{{{m}, {k}, {n}, {plan.tile_i}, {plan.tile_j}, {plan.tile_k}}}"
    bias_c = f"{bias.cname} + bt * {bias_step}" if bias is not None else "NULL"
    b_transposed = b_lay.row == 1 and b_lay.col != 1
    b_stride = b_lay.col if b_transposed else b_lay.row
    a_step, b_step, c_step = (lay.step if batch > 1 else 0 for lay in (a_lay, b_lay, c_lay))
    stmts = [
        f"static const l2g_matmul_plan_t plan_{out.cname} = {plan_c};",
        f"for (int bt = 0; bt < {batch}; bt++) "
        f"l2g_matmul_ws(&plan_{out.cname}, {a.cname} + bt * {a_step}, {a_lay.row}, {b.cname} + bt * {b_step}, "
        f"{b_stride}, {'true' if b_transposed else 'false'}, {bias_c}, {bias_stride}, {acc.cname} + bt * {c_step}, "
        f"{c_lay.row}, {s_lit}, 0, {'true' if full_c else 'false'});",
    ]
    if acc is not out:
        svec = builder.add_weight(np.broadcast_to(scale.astype(np.float32).reshape(-1), (n,)).copy(), f"{binding.var.name}_scale")
        stmts.append(f"l2g_requant_cols({acc.cname}, {out.cname}, {batch * m}, {n}, {svec.cname});")
    macs = batch * m * k * n
    return stmts, OpRecord(name=f"{binding.var.name}:{chain.kind}", kind="gemmini", macs=macs)


def _emit_resadd(builder: ProgramBuilder, cfg: GemminiConfig, binding, chain: _Chain, args):
    res = _Resolver(chain)
    (add,) = res.calls("relax.add")
    final = [c for c in res.calls("relax.astype") if str(c.ty.dtype) == "int8"]
    out_scale = None
    # the output requant is the chain whose input is the int32 add
    for c in final:
        src = _requant_input(res, c)
        if src is not None and res.value(src).same_as(add):
            out_scale = _requant_scale(res, c)
    if out_scale is None or out_scale.size != 1:
        return None

    def input_of(expr):
        """(tensor, mvin scale) for one side of the add: astype(requant?(param))."""
        cast32 = res.value(expr)
        inner = res.value(cast32.args[0])
        if _op(inner) == "relax.astype" and str(inner.ty.dtype) == "int8":
            s = _requant_scale(res, inner)
            if s is None or s.size != 1:
                raise ValueError("vector mvin scale")
            return _operand(builder, res, _requant_input(res, inner), args, "resadd_in"), float(s.reshape(-1)[0])
        return _operand(builder, res, cast32.args[0], args, "resadd_in"), 1.0

    try:
        (ta, sa), (tb, sb) = input_of(add.args[0]), input_of(add.args[1])
    except ValueError:
        return None
    if ta.shape != tb.shape or ta.dtype != "int8" or tb.dtype != "int8":
        return None
    cols = ta.shape[-1]
    rows = int(np.prod(ta.shape[:-1], dtype=np.int64))
    out = builder.new_tensor(binding.var.name, "int8", _shape(binding.var), "temp")
    builder.var_tensor[binding.var] = out
    tile_rows = _resadd_tile_rows(cfg, rows, cols)
    stmt = (f"l2g_resadd_ws({rows}, {cols}, {tile_rows}, {ta.cname}, {_f32_literal(sa)}, {tb.cname}, "
            f"{_f32_literal(sb)}, {out.cname}, {_f32_literal(float(out_scale.reshape(-1)[0]))}, false);")
    return [stmt], OpRecord(name=f"{binding.var.name}:resadd", kind="gemmini")


def _resadd_tile_rows(cfg: GemminiConfig, rows: int, cols: int) -> int:
    """Rows per resadd block: a block of whole rows must fit half the accumulator."""
    dim = cfg.dim
    col_tiles = math.ceil(cols / dim)
    max_row_tiles = max(1, (cfg.acc_rows // 2) // (dim * col_tiles))
    if col_tiles * dim > cfg.acc_rows // 2:
        raise ValueError(f"resadd with {cols} columns does not fit half the accumulator")
    return min(math.ceil(rows / dim), max_row_tiles) * dim


__all__ = ["gemmini_offload", "MatmulPlan"]
