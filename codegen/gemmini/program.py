"""Whole-program C emission: a legalized Relax ``main`` becomes one bare-metal C program.

The program reads the Relax function's parameters as named input tensors
(``l2g_input_tensor``), runs every operator in order, and sends the results back with
``l2g_output_tensor`` as ``output0``, ``output1``, ...  Around every operator it reads the
cycle counter; the per-op cycle counts come back as the ``__op_cycles`` tensor, in the order
of :attr:`CProgram.ops`.

Operators are either ``call_tir`` into a PrimFunc, printed as plain C by
:mod:`l2g.codegen.gemmini.tir_to_c`, or calls of Gemmini kernels supplied by an
``OffloadHook`` (see :mod:`l2g.codegen.gemmini.offload`).  Weights (Relax constants) are
written to one binary blob and linked with the assembler's ``.incbin``, which is far faster to
build than C array initializers for megabytes of data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import tvm
from tvm import relax, tirx

from l2g.codegen.gemmini.tir_to_c import (
    PRELUDE, UnsupportedTIR, c_identifier, c_type, lower_prim_funcs, print_prim_func,
)

DTYPE_CODES = {"int8": "L2G_INT8", "uint8": "L2G_UINT8", "int16": "L2G_INT16", "int32": "L2G_INT32",
               "int64": "L2G_INT64", "float32": "L2G_FLOAT32", "float64": "L2G_FLOAT64",
               "bool": "L2G_UINT8"}  # C bool is one byte


@dataclass(frozen=True)
class Tensor:
    """One tensor of the program: where it lives in C and what it holds."""

    cname: str
    dtype: str
    shape: tuple[int, ...]
    kind: str  # "input" | "weight" | "temp"

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.numel * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class OpRecord:
    """One operator of the program, in execution order."""

    name: str
    kind: str  # "cpu" or "gemmini"
    macs: int = 0
    output: str = ""  # C name of the tensor the op writes (its first output)
    var: str = ""  # the Relax variable it binds (for comparing with the host reference)


@dataclass
class CProgram:
    """The emitted program: sources to compile plus what the host needs to read its results."""

    c_path: Path
    asm_path: Path | None
    weights_path: Path | None
    inputs: list[tuple[str, str, tuple[int, ...]]]  # (name, dtype, shape) in parameter order
    outputs: list[tuple[str, str, tuple[int, ...]]]
    ops: list[OpRecord] = field(default_factory=list)
    plans: list = field(default_factory=list)  # MatmulPlans of the Gemmini matmuls, in op order

    @property
    def sources(self) -> list[Path]:
        return [p for p in (self.c_path, self.asm_path) if p is not None]


#: An offload hook looks at a binding; if it handles it, it returns (C statements, OpRecord).
OffloadHook = Callable[["ProgramBuilder", relax.VarBinding], "tuple[list[str], OpRecord] | None"]


class CodegenError(Exception):
    pass


def _shape_of(ty) -> tuple[int, ...]:
    shape = getattr(ty, "shape", None)
    if shape is None:
        raise CodegenError(f"tensor without a static shape: {ty}")
    dims = []
    for d in shape:
        if not hasattr(d, "value"):
            raise CodegenError(f"dynamic dimension {d} in {ty}; Gemmini code needs static shapes")
        dims.append(int(d.value))
    return tuple(dims)


class ProgramBuilder:
    """Walks a legalized Relax main function and collects the C program's pieces."""

    def __init__(self, mod: tvm.IRModule, offload: Sequence[OffloadHook] = (), clock: str = "rdcycle"):
        if clock not in ("rdcycle", "gemmini"):
            raise ValueError(f"clock must be 'rdcycle' or 'gemmini', got {clock!r}")
        self.clock = clock
        self.mod = mod
        self.offload = list(offload)
        self.tensors: dict[str, Tensor] = {}  # by C name
        self.var_tensor: dict = {}  # relax var -> Tensor or tuple of Tensors
        self.statements: list[str] = []
        self.functions: dict[str, str] = {}  # C function name -> source
        self.weights = bytearray()
        self.weight_syms: list[tuple[str, int, int]] = []  # (symbol, offset, nbytes)
        self.ops: list[OpRecord] = []
        self.op_statements: list[list[str]] = []  # per op, for liveness
        self.plans: list = []
        self.used_names: set[str] = set()
        self.lowered = lower_prim_funcs(mod)

    # ---- names and tensors ----------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        return c_identifier(hint, self.used_names, "t")

    def new_tensor(self, hint: str, dtype: str, shape: tuple[int, ...], kind: str) -> Tensor:
        t = Tensor(self.fresh(hint), str(dtype), tuple(shape), kind)
        self.tensors[t.cname] = t
        return t

    def tensor_of(self, expr) -> Tensor:
        """The Tensor behind a Relax argument (a variable or a constant)."""
        if isinstance(expr, relax.Var) or type(expr).__name__ in ("Var", "DataflowVar"):
            for k, v in self.var_tensor.items():
                if k.same_as(expr):
                    if isinstance(v, tuple):
                        raise CodegenError(f"tuple {expr} used where a tensor is expected")
                    return v
            raise CodegenError(f"variable {expr} used before it is defined")
        if hasattr(expr, "value") and hasattr(expr.value, "numpy"):
            return self.add_weight(expr.value.numpy(), "const")
        raise CodegenError(f"unsupported argument {type(expr).__name__}: {expr}")

    def add_weight(self, arr: np.ndarray, hint: str) -> Tensor:
        arr = np.ascontiguousarray(arr)
        t = self.new_tensor(f"w_{hint}", str(arr.dtype), arr.shape, "weight")
        pad = (-len(self.weights)) % 64
        self.weights += b"\0" * pad
        self.weight_syms.append((t.cname, len(self.weights), arr.nbytes))
        self.weights += arr.tobytes()
        return t

    # ---- the walk ----------------------------------------------------------------------------
    def build(self, func_name: str = "main") -> None:
        func = self.mod[func_name]
        self.params = []
        for p in func.params:
            t = self.new_tensor(f"in_{p.name}", p.ty.dtype, _shape_of(p.ty), "input")
            self.var_tensor[p] = t
            self.params.append((p.name, t))
        body = func.body
        for block in body.blocks:
            for binding in block.bindings:
                self.binding(binding)
        result = body.body
        outs = self._resolve_output(result)
        self.results = outs

    def _resolve_output(self, expr) -> list[Tensor]:
        if isinstance(expr, relax.Tuple):
            out: list[Tensor] = []
            for f in expr.fields:
                out += self._resolve_output(f)
            return out
        for k, v in self.var_tensor.items():
            if k.same_as(expr):
                return list(v) if isinstance(v, tuple) else [v]
        return [self.tensor_of(expr)]

    def binding(self, b) -> None:
        for hook in self.offload:
            handled = hook(self, b)
            if handled is not None:
                stmts, record = handled
                out = self.var_tensor[b.var]
                record = dataclasses.replace(
                    record, output=(out[0] if isinstance(out, tuple) else out).cname, var=b.var.name
                )
                self._emit_timed(stmts, record)
                return
        value = b.value
        if isinstance(value, relax.Call) and getattr(value.op, "name", "") == "relax.call_tir":
            self._call_tir(b)
        elif isinstance(value, relax.Tuple):
            self.var_tensor[b.var] = tuple(self.tensor_of(f) for f in value.fields)
        elif isinstance(value, relax.TupleGetItem):
            tup = None
            for k, v in self.var_tensor.items():
                if k.same_as(value.tuple_value):
                    tup = v
            if not isinstance(tup, tuple):
                raise CodegenError(f"TupleGetItem on a non-tuple {value.tuple_value}")
            self.var_tensor[b.var] = tup[value.index]
        elif isinstance(value, relax.Var) or type(value).__name__ in ("Var", "DataflowVar"):
            self.var_tensor[b.var] = self.tensor_of(value)
        elif hasattr(value, "value") and hasattr(value.value, "numpy"):
            self.var_tensor[b.var] = self.add_weight(value.value.numpy(), b.var.name)
        else:
            callee = getattr(value, "op", None)
            op = getattr(callee, "name", None) or getattr(callee, "name_hint", None) or type(value).__name__
            raise CodegenError(
                f"operator {op} (binding {b.var.name}) has no lowering to C: legalize the module "
                f"(relax.transform.LegalizeOps), or, for a Gemmini composite, check that its offload "
                f"rule accepts it"
            )

    def _call_tir(self, b) -> None:
        call = b.value
        gv, args = call.args[0], call.args[1]
        prim_name = gv.name_hint
        if prim_name not in self.functions:
            try:
                func = self.lowered[prim_name]
            except (KeyError, tvm.TVMError):
                raise CodegenError(f"call_tir target {prim_name} is not a PrimFunc in the module") from None
            cname = self.fresh(f"k_{prim_name}")
            printed = print_prim_func(cname, func)
            self.functions[prim_name] = printed.source
            self._prim_cnames = getattr(self, "_prim_cnames", {})
            self._prim_cnames[prim_name] = cname
        cname = self._prim_cnames[prim_name]
        in_tensors = [self.tensor_of(a) for a in args.fields]
        out_ty = b.var.ty
        if type(out_ty).__name__ == "TupleType":
            outs = tuple(
                self.new_tensor(f"{b.var.name}_{i}", f.dtype, _shape_of(f), "temp")
                for i, f in enumerate(out_ty.fields)
            )
            self.var_tensor[b.var] = outs
            out_list = list(outs)
        else:
            out = self.new_tensor(b.var.name, out_ty.dtype, _shape_of(out_ty), "temp")
            self.var_tensor[b.var] = out
            out_list = [out]
        argv = ", ".join(t.cname for t in [*in_tensors, *out_list])
        record = OpRecord(name=f"{b.var.name}:{prim_name}", kind="cpu", output=out_list[0].cname, var=b.var.name)
        self._emit_timed([f"{cname}({argv});"], record)

    def _emit_timed(self, stmts: list[str], record: OpRecord) -> None:
        i = len(self.ops)
        self.ops.append(record)
        self.op_statements.append(list(stmts))
        self.statements.append(f"  /* op {i}: {record.name} ({record.kind}) */")
        self.statements.append("  t0 = L2G_CLOCK();")
        self.statements += [f"  {s}" for s in stmts]
        self.statements.append(f"  op_cycles[{i}] = (int64_t)L2G_ELAPSED(t0);")
        if record.output:
            # `l2g run --check` rebuilds with L2G_DUMP_ALL to find the first op that differs
            t = self.tensors[record.output]
            shape = ", ".join(str(d) for d in t.shape) or "1"
            self.statements.append(
                f"#ifdef L2G_DUMP_ALL\n  {{ static const int64_t s[] = {{{shape}}}; "
                f'l2g_output_tensor("op{i}", {DTYPE_CODES[t.dtype]}, {len(t.shape)}, s, {t.cname}); }}\n#endif'
            )

    # ---- emission ------------------------------------------------------------------------------
    def plan_memory(self) -> tuple[dict[str, int], int]:
        """Offsets in one arena for the intermediate tensors, reusing memory by liveness.

        A tensor is live from the first op that mentions it to the last (the program's
        results to the end).  Each tensor goes at the lowest 64-byte-aligned offset that no
        tensor with an overlapping live range occupies (first fit, in order of definition).
        """
        temps = {c for c, t in self.tensors.items() if t.kind == "temp"}
        first: dict[str, int] = {}
        last: dict[str, int] = {}
        word = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
        for i, stmts in enumerate(self.op_statements):
            for name in set(word.findall(" ".join(stmts))) & temps:
                first.setdefault(name, i)
                last[name] = i
        end = len(self.op_statements)
        for t in getattr(self, "results", []):
            if t.cname in temps:
                first.setdefault(t.cname, end)
                last[t.cname] = end
        placed: list[tuple[int, int, int, int]] = []  # (offset, size, first, last)
        offsets: dict[str, int] = {}
        arena = 0
        for name in sorted(first, key=lambda n: (first[n], -self.tensors[n].nbytes)):
            size = (self.tensors[name].nbytes + 63) // 64 * 64
            lo, hi = first[name], last[name]
            busy = sorted((o, o + sz) for o, sz, f, l in placed if not (l < lo or f > hi))
            off = 0
            for b0, b1 in busy:
                if off + size <= b0:
                    break
                off = max(off, b1)
            placed.append((off, size, lo, hi))
            offsets[name] = off
            arena = max(arena, off + size)
        return offsets, arena

    def render(self) -> str:
        lines = [
            "/* Generated by l2g.codegen.gemmini. Do not edit. */",
            "#include <math.h>",
            "#include <stdbool.h>",
            "#include <stdint.h>",
            "#include <stdio.h>",
            '#include "l2g_rt.h"',
        ]
        if self.clock == "gemmini" or any(r.kind == "gemmini" for r in self.ops):
            lines.append('#include "l2g_gemmini_kernels.h"')
        if self.clock == "gemmini":
            # The cycle model's clock (CPU cycles including every wait on Gemmini), read
            # through a performance counter; reading it also waits for Gemmini to finish,
            # so each op's time includes its accelerator work.  32-bit, hence the wrap.
            lines += ["#define L2G_CLOCK() ((uint64_t)counter_read(7))",
                      "#define L2G_ELAPSED(t0) ((uint32_t)((uint32_t)counter_read(7) - (uint32_t)(t0)))"]
        else:
            lines += ["#define L2G_CLOCK() l2g_rdcycle()", "#define L2G_ELAPSED(t0) (l2g_rdcycle() - (t0))"]
        lines.append(PRELUDE)
        offsets, arena_bytes = self.plan_memory()
        self.arena_bytes = arena_bytes
        if arena_bytes:
            lines.append(f"/* intermediate tensors share one arena by liveness: {arena_bytes:,} bytes */")
            lines.append(f"static uint8_t l2g_arena[{arena_bytes}] __attribute__((aligned(64)));")
        for t in self.tensors.values():
            ct = c_type(t.dtype)
            if t.kind == "weight":
                lines.append(f"extern const {ct} {t.cname}[{t.numel}];")
            elif t.cname in offsets:
                lines.append(f"static {ct} *const {t.cname} = ({ct} *)(l2g_arena + {offsets[t.cname]});")
            else:
                lines.append(f"static {ct} {t.cname}[{t.numel}] __attribute__((aligned(64)));")
        lines.append("")
        lines += list(self.functions.values())
        lines.append(f"static int64_t op_cycles[{max(len(self.ops), 1)}];")
        lines.append("")
        lines.append("int main(void) {")
        lines.append("  uint64_t t0;")
        for name, t in self.params:
            shape = ", ".join(str(d) for d in t.shape) or "1"
            lines.append(f"  {{ static const int64_t s[] = {{{shape}}}; "
                         f'l2g_input_tensor("{name}", {DTYPE_CODES[t.dtype]}, {len(t.shape)}, s, {t.cname}); }}')
        if self.clock == "gemmini":
            lines += ["  gemmini_flush(0);", "  l2g_counter_configure_cycles(7);"]
        lines.append("  uint64_t start = L2G_CLOCK();")
        lines += self.statements
        # the 32-bit Gemmini counter wraps after 4.29 G cycles (the float baseline of MiniLM
        # takes more), so the total is the sum of the per-op times, each far below the wrap
        lines.append("  uint64_t total = 0;")
        lines.append(f"  for (int i = 0; i < {len(self.ops)}; i++) total += (uint64_t)op_cycles[i];")
        lines.append("  (void)start;")
        for i, t in enumerate(self.results):
            shape = ", ".join(str(d) for d in t.shape) or "1"
            lines.append(f"  {{ static const int64_t s[] = {{{shape}}}; "
                         f'l2g_output_tensor("output{i}", {DTYPE_CODES[t.dtype]}, {len(t.shape)}, s, {t.cname}); }}')
        lines.append(f"  {{ static const int64_t s[] = {{{len(self.ops)}}}; "
                     f'l2g_output_tensor("__op_cycles", L2G_INT64, 1, s, op_cycles); }}')
        lines.append('  { static const int64_t s[] = {1}; int64_t t = (int64_t)total; '
                     'l2g_output_tensor("__total_cycles", L2G_INT64, 1, s, &t); }')
        lines.append('  printf("l2g: %d ops, %lu cycles\\n", ' + f"{len(self.ops)}, (unsigned long)total);")
        lines.append("  return 0;")
        lines.append("}")
        return "\n".join(lines) + "\n"


def emit_program(
    mod: tvm.IRModule, out_dir: Path, *, offload: Sequence[OffloadHook] = (), name: str = "model",
    clock: str = "rdcycle",
) -> CProgram:
    """Emit ``out_dir/<name>.c`` (+ ``<name>_weights.S`` and ``.bin``) for ``mod['main']``.

    ``mod`` must be legalized (every operator a ``call_tir``) except for the bindings an
    offload hook claims.  ``clock`` times the ops with ``rdcycle`` (plain Spike) or with the
    Gemmini cycle model's clock (``"gemmini"``; needs the extension).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    builder = ProgramBuilder(mod, offload, clock)
    try:
        builder.build()
    except UnsupportedTIR as exc:
        raise CodegenError(str(exc)) from exc
    c_src = builder.render()
    c_path = out_dir / f"{name}.c"
    c_path.write_text(c_src)
    asm_path = weights_path = None
    if builder.weight_syms:
        weights_path = out_dir / f"{name}_weights.bin"
        weights_path.write_bytes(bytes(builder.weights))
        digest = hashlib.sha256(builder.weights).hexdigest()
        asm = [f"/* weights blob sha256 {digest} (the digest keeps ELF caching exact) */",
               '  .section .rodata.l2g_weights, "a"', "  .balign 64"]
        for sym, off, nbytes in builder.weight_syms:
            asm += [f"  .globl {sym}", "  .balign 64", f"{sym}:",
                    f'  .incbin "{weights_path.resolve()}", {off}, {nbytes}']
        asm_path = out_dir / f"{name}_weights.S"
        asm_path.write_text("\n".join(asm) + "\n")
    return CProgram(
        c_path=c_path, asm_path=asm_path, weights_path=weights_path,
        inputs=[(n, t.dtype, t.shape) for n, t in builder.params],
        outputs=[(f"output{i}", t.dtype, t.shape) for i, t in enumerate(builder.results)],
        ops=builder.ops,
        plans=builder.plans,
    )


#: C flags that make the target's arithmetic match the TVM LLVM host build (see tir_to_c), and
#: -O3 (overrides build_elf's -O2): on a BERT-base layer it saves ~2 % of the cycles, mostly by
#: turning the embedding gathers into word copies (no vector unit on rv64gc, so no other change).
CFLAGS = ("-fwrapv", "-ffp-contract=off", "-O3", "-funroll-loops")
