"""Print lowered TIR PrimFuncs as plain C for the RISC-V CPU.

TVM's own C target emits functions behind its packed FFI calling convention, which needs
TVM's runtime headers and a packed-argument stack.  A bare-metal program wants plain
``static void f(const int8_t *restrict x, int32_t *restrict y)`` functions, so this module
lowers each PrimFunc with TVM's standard TIR passes (the same ones the LLVM build of the host
reference runs, minus the packed-API wrapper) and prints the result as C.

Because both the host reference (TVM's LLVM target) and the target C come from the same
lowered TIR, the integer arithmetic agrees bit for bit.  Three C-vs-LLVM differences are
closed explicitly:

* signed overflow: the program is built with ``-fwrapv`` (two's-complement wrap, as LLVM's
  ``mul``/``add`` produce at run time);
* floating-point contraction: ``-ffp-contract=off``, so ``a*b+c`` is not fused into ``fmadd``
  (LLVM does not fuse without fast-math either);
* floor division/modulo: printed through helpers with TIR's floor semantics.

Transcendental float functions (``exp``, ``erf``, ``tanh``...) call picolibc, whose results
can differ from the host's libm in the last ulp; integer-only programs contain none.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass, field

import tvm
from tvm import s_tir, tirx
from tvm.ir import expr as ir_expr
from tvm.ir.prim import expr as pe


class UnsupportedTIR(NotImplementedError):
    """A TIR construct this printer does not translate (names the node and function)."""


C_TYPES = {
    "int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
    "uint8": "uint8_t", "uint16": "uint16_t", "uint32": "uint32_t", "uint64": "uint64_t",
    "bool": "bool", "uint1": "bool", "float32": "float", "float64": "double",
}

#: TIR math intrinsics -> C (float32 variant, float64 variant)
MATH_CALLS = {
    "tirx.exp": ("expf", "exp"), "tirx.exp2": ("exp2f", "exp2"), "tirx.log": ("logf", "log"),
    "tirx.log2": ("log2f", "log2"), "tirx.log10": ("log10f", "log10"), "tirx.sqrt": ("sqrtf", "sqrt"),
    "tirx.erf": ("erff", "erf"), "tirx.tanh": ("tanhf", "tanh"), "tirx.sin": ("sinf", "sin"),
    "tirx.cos": ("cosf", "cos"), "tirx.floor": ("floorf", "floor"), "tirx.ceil": ("ceilf", "ceil"),
    # TVM's LLVM backend lowers tirx.round to llvm.nearbyint (ties to even), not llvm.round
    "tirx.trunc": ("truncf", "trunc"), "tirx.round": ("l2g_nearbyintf", "l2g_nearbyint"),
    "tirx.nearbyint": ("l2g_nearbyintf", "l2g_nearbyint"), "tirx.fabs": ("fabsf", "fabs"),
    "tirx.pow": ("powf", "pow"), "tirx.fmod": ("fmodf", "fmod"), "tirx.log1p": ("log1pf", "log1p"),
}

#: TIR lowering passes: TVM's default s_tir pipeline up to, not including, the host/device
#: split and the packed-API wrapper.  Vectorization is disabled so no Ramp/Broadcast remain.
_LOWERING = [
    s_tir.transform.CanonicalizeLoop(),
    s_tir.transform.LowerInitBlock(),
    s_tir.transform.PlanAndUpdateBufferAllocationLocation(),
    s_tir.transform.ConvertBlocksToOpaque(),
    s_tir.transform.CompactBufferAllocation(),
    s_tir.transform.LowerMatchBuffer(),
    s_tir.transform.StmtSimplify(),
    s_tir.transform.LowerOpaqueBlock(),
    tirx.transform.FlattenBuffer(),
    tirx.transform.NarrowDataType(32),
    tirx.transform.StmtSimplify(),
    tirx.transform.RemoveNoOp(),
]


def lower_prim_funcs(mod: tvm.IRModule) -> tvm.IRModule:
    """Lower every PrimFunc of ``mod`` to flat loops over 1-D buffers."""
    prims = {gv: f for gv, f in mod.functions.items() if isinstance(f, tirx.PrimFunc)}
    if not prims:
        return tvm.IRModule({})
    with tvm.transform.PassContext(config={"tirx.disable_vectorize": True}):
        return tvm.transform.Sequential(_LOWERING)(tvm.IRModule(prims))


#: Allocations up to this size are C locals (registers), larger ones static arrays.
SMALL_LOCAL_BYTES = 64


def power_of_two_divisor(node) -> int | None:
    """The divisor of a floor division / modulo when it is a constant power of two (which
    lowers to a shift or a mask), else None."""
    d = getattr(node, "b", None)
    if type(d).__name__ == "IntImm" and d.value > 0 and d.value & (d.value - 1) == 0:
        return int(d.value)
    return None


PRELUDE = r"""
/* helpers for TIR semantics that C does not have built in */
static inline int64_t l2g_floordiv_i64(int64_t a, int64_t b) { int64_t q = a / b; return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q; }
static inline int64_t l2g_floormod_i64(int64_t a, int64_t b) { int64_t r = a % b; return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r; }
static inline int32_t l2g_floordiv_i32(int32_t a, int32_t b) { int32_t q = a / b; return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q; }
static inline int32_t l2g_floormod_i32(int32_t a, int32_t b) { int32_t r = a % b; return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r; }
static inline int32_t l2g_bits_f32(float x) { int32_t r; __builtin_memcpy(&r, &x, 4); return r; }
static inline float l2g_f32_bits(int32_t x) { float r; __builtin_memcpy(&r, &x, 4); return r; }
static inline int64_t l2g_bits_f64(double x) { int64_t r; __builtin_memcpy(&r, &x, 8); return r; }
static inline double l2g_f64_bits(int64_t x) { double r; __builtin_memcpy(&r, &x, 8); return r; }
/* nearbyint under the default rounding mode (ties to even), with one fcvt instead of
 * picolibc's bit-twiddling routine: requantization rounds every element. */
static inline float l2g_nearbyintf(float x) {
  if (!(__builtin_fabsf(x) < 8388608.0f)) return x; /* >= 2^23: integral already (or inf/NaN) */
  int32_t i;
  __asm__("fcvt.w.s %0, %1, rne" : "=r"(i) : "f"(x));
  return __builtin_copysignf((float)i, x); /* keeps -0.0 for x in [-0.5, -0] */
}
static inline double l2g_nearbyint(double x) {
  if (!(__builtin_fabs(x) < 4503599627370496.0)) return x; /* >= 2^52 */
  int64_t i;
  __asm__("fcvt.l.d %0, %1, rne" : "=r"(i) : "f"(x));
  return __builtin_copysign((double)i, x);
}
/* (int)clip(nearbyint(x), lo, hi) for integral lo <= hi within int32, the requantization
 * pattern, in three instructions: clamping before rounding gives the same integer when the
 * bounds are integral, fmin.s/fmax.s return the non-NaN operand (so NaN becomes the bound the
 * TIR form picks: max(min(r, hi), lo) gives hi, min(max(r, lo), hi) gives lo, nan_lo), and
 * fcvt.w.s rounds ties to even, exact for a value within the bounds. */
static inline int32_t l2g_round_clamp_f32(float x, float lo, float hi, int nan_lo) {
  /* GCC calls libm's fminf/fmaxf (sNaN rules) instead of emitting the instructions */
  float c = x;
  if (nan_lo) {
    __asm__("fmax.s %0, %0, %1" : "+f"(c) : "f"(lo));
    __asm__("fmin.s %0, %0, %1" : "+f"(c) : "f"(hi));
  } else {
    __asm__("fmin.s %0, %0, %1" : "+f"(c) : "f"(hi));
    __asm__("fmax.s %0, %0, %1" : "+f"(c) : "f"(lo));
  }
  long i; /* fcvt.w.s sign-extends to 64 bits: no extra sext.w */
  __asm__("fcvt.w.s %0, %1, rne" : "=r"(i) : "f"(c));
  return (int32_t)i;
}
#define L2G_MIN(a, b) ((a) < (b) ? (a) : (b))
#define L2G_MAX(a, b) ((a) > (b) ? (a) : (b))
"""


def dtype_of(e) -> str:
    """dtype of a scalar TIR expression or variable (0.27 keeps it on the PrimType)."""
    ty = getattr(e, "ty", None)
    if ty is not None and hasattr(ty, "dtype"):
        return str(ty.dtype)
    return str(e.dtype)


def c_identifier(hint: str, used: set[str], prefix: str) -> str:
    """A C identifier from ``hint`` that is not in ``used`` (and is then added to it)."""
    base = re.sub(r"\W", "_", hint) or prefix
    if base[0].isdigit():
        base = f"{prefix}_{base}"
    name, i = base, 1
    while name in used:
        name, i = f"{base}_{i}", i + 1
    used.add(name)
    return name


def c_type(dtype: str) -> str:
    try:
        return C_TYPES[str(dtype)]
    except KeyError:
        raise UnsupportedTIR(f"dtype {dtype} has no C equivalent here") from None


def c_float_literal(value: float, dtype: str) -> str:
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INFINITY" if value > 0 else "-INFINITY"
    if dtype == "float32":
        # round to float32 first so the literal is exactly the value TVM uses
        f32 = struct.unpack("<f", struct.pack("<f", value))[0]
        return f"{f32.hex()}f"
    return value.hex()


def c_int_literal(value: int, dtype: str) -> str:
    if dtype in ("bool", "uint1"):
        return "true" if value else "false"
    if dtype == "int64":
        return f"INT64_C({value})" if value != -(2**63) else "INT64_MIN"
    if dtype == "uint64":
        return f"UINT64_C({value})"
    if dtype == "int32" and value == -(2**31):
        return "INT32_MIN"
    if dtype.startswith("uint"):
        return f"{value}u"
    return str(value)


@dataclass
class _Storage:
    cname: str
    dtype: str
    numel: int | None  # None for parameters (sized by the caller)


@dataclass
class PrintedFunction:
    name: str
    params: list[tuple[str, str]]  # (C name, dtype) in call order
    source: str


@dataclass
class _Printer:
    func_name: str
    lines: list[str] = field(default_factory=list)
    indent: int = 1
    names: dict = field(default_factory=dict)  # var -> C name
    used: set = field(default_factory=set)
    storages: dict = field(default_factory=dict)  # root var -> _Storage
    # common-subexpression elimination inside one stored value (see store_value)
    cse_mode: str = ""  # "" | "count" | "emit"
    cse_canon: dict = field(default_factory=dict)  # node -> its C text without temporaries
    cse_stats: dict = field(default_factory=dict)  # C text -> [count, unconditional?, has load?]
    cse_hoist: set = field(default_factory=set)
    cse_temps: dict = field(default_factory=dict)  # C text -> temporary's name
    cse_cond: int = 0  # > 0 while printing an operand that C evaluates conditionally

    # ---- naming ------------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        return c_identifier(hint, self.used, "v")

    def var_name(self, v) -> str:
        for k, n in self.names.items():
            if k.same_as(v):
                return n
        raise UnsupportedTIR(f"{self.func_name}: variable {v} used before definition")

    def bind(self, v, hint: str | None = None) -> str:
        n = self.fresh(hint or str(v.name) if hasattr(v, "name") else "v")
        self.names[v] = n
        return n

    # ---- buffers -----------------------------------------------------------------------------
    def storage(self, buf) -> _Storage:
        """The storage behind a buffer variable: a parameter, an allocation, or an alias of one
        declared with ``decl_buffer(..., data=other.data)``."""
        for k, s in self.storages.items():
            if k.same_as(buf):
                return s
        raise UnsupportedTIR(f"{self.func_name}: buffer {buf.name} is not a parameter, allocation or alias")

    def declare_alias(self, decl) -> None:
        data = getattr(decl, "data", None)
        if data is None:
            raise UnsupportedTIR(f"{self.func_name}: decl_buffer {decl.buffer.name} without data")
        if not (isinstance(data, ir_expr.Call) and data.op.name == "tirx.buffer_data"):
            raise UnsupportedTIR(f"{self.func_name}: decl_buffer {decl.buffer.name} over {data}")
        self.storages[decl.buffer] = self.storage(data.args[0])

    def buffer_ref(self, buf, indices) -> str:
        if len(indices) != 1:
            raise UnsupportedTIR(f"{self.func_name}: buffer {buf.name} is not flattened ({len(indices)}-D access)")
        st = self.storage(buf)
        idx = self.expr(indices[0])
        off = buf.elem_offset
        if not (isinstance(off, pe.IntImm) and off.value == 0):
            idx = f"({self.expr(off)} + {idx})"
        return f"{st.cname}[{idx}]"

    # ---- statements --------------------------------------------------------------------------
    def emit(self, line: str) -> None:
        self.lines.append("  " * self.indent + line)

    def stmt(self, s) -> None:
        kind = type(s).__name__
        if kind == "SeqStmt":
            for x in s.seq:
                self.stmt(x)
        elif kind == "For":
            self.for_(s)
        elif kind == "BufferStore":
            value = self.store_value(s.value)
            self.emit(f"{self.buffer_ref(s.buffer, s.indices)} = {value};")
        elif kind == "IfThenElse":
            self.emit(f"if ({self.expr(s.condition)}) {{")
            self.block(s.then_case)
            if s.else_case is not None:
                self.emit("} else {")
                self.block(s.else_case)
            self.emit("}")
        elif kind == "DeclBuffer":
            self.declare_alias(s)
            self.maybe_body(s)
        elif kind == "AllocBuffer":
            buf = s.buffer
            numel = 1
            for d in buf.shape:
                if not isinstance(d, pe.IntImm):
                    raise UnsupportedTIR(f"{self.func_name}: allocation {buf.name} has a dynamic shape")
                numel *= d.value
            cname = self.fresh(str(buf.name))
            self.storages[buf] = _Storage(cname, str(buf.dtype), numel)
            if numel * tvm.DataType(str(buf.dtype)).bits <= 8 * SMALL_LOCAL_BYTES:
                # a per-element temporary (a producer computed at its consumer): a local, so
                # GCC keeps it in a register
                self.emit(f"{c_type(buf.dtype)} {cname}[{max(numel, 1)}];")
            else:
                # static: scratch arrays can be large, and the program is single-threaded
                self.emit(f"static {c_type(buf.dtype)} {cname}[{max(numel, 1)}] __attribute__((aligned(64)));")
            self.maybe_body(s)
        elif kind in ("Bind", "LetStmt"):
            name = self.bind(s.var, str(s.var.name))
            self.emit(f"const {c_type(dtype_of(s.var))} {name} = {self.expr(s.value)};")
            self.maybe_body(s)
        elif kind == "AttrStmt":
            self.maybe_body(s)
        elif kind == "AssertStmt":
            self.maybe_body(s)
        elif kind == "Evaluate":
            v = s.value
            if isinstance(v, pe.IntImm):
                return
            self.emit(f"{self.expr(v)};")
        elif kind == "While":
            self.emit(f"while ({self.expr(s.condition)}) {{")
            self.block(s.body)
            self.emit("}")
        else:
            raise UnsupportedTIR(f"{self.func_name}: TIR statement {kind} is not supported by the C printer")

    def maybe_body(self, s) -> None:
        body = getattr(s, "body", None)
        if body is not None:
            self.stmt(body)

    def block(self, s) -> None:
        self.indent += 1
        self.stmt(s)
        self.indent -= 1

    def for_(self, s) -> None:
        step = getattr(s, "step", None)
        if step is not None and not (isinstance(step, pe.IntImm) and step.value == 1):
            raise UnsupportedTIR(f"{self.func_name}: loop with step {step}")
        v = s.loop_var
        t = c_type(dtype_of(v))
        name = self.bind(v, str(v.name))
        lo, ext = self.expr(s.min), self.expr(s.extent)
        end = ext if lo == "0" else f"{lo} + {ext}"
        self.emit(f"for ({t} {name} = {lo}; {name} < {end}; {name}++) {{")
        self.block(s.body)
        self.emit("}")

    # ---- common subexpressions ----------------------------------------------------------------
    def store_value(self, e) -> str:
        """The C text of a stored value, with every subexpression that occurs more than once
        computed once into a ``const`` temporary first.  Inlined elementwise chains repeat
        their producers (a rounding shift reads its operand four times, each operand holding
        two requantizations); GCC does not merge them across the branches of the float
        min/max clamps.  A repeated subexpression is hoisted only where evaluating it
        unconditionally is safe: it has an unconditional occurrence or reads no memory (a
        guarded load could be out of bounds)."""
        self.cse_canon, self.cse_stats = {}, {}
        self.cse_mode = "count"
        self.expr(e)
        self.cse_hoist = {t for t, (n, uncond, load) in self.cse_stats.items() if n > 1 and (uncond or not load)}
        self.cse_mode = "emit" if self.cse_hoist else ""
        self.cse_temps = {}
        try:
            return self.expr(e)
        finally:
            self.cse_mode = ""
            self.cse_canon, self.cse_stats, self.cse_hoist, self.cse_temps = {}, {}, set(), {}

    def conditional(self, e) -> str:
        """Print an operand C may not evaluate (a branch of ``?:``, the right of ``&&``)."""
        self.cse_cond += 1
        try:
            return self.expr(e)
        finally:
            self.cse_cond -= 1

    def expr(self, e) -> str:
        if not self.cse_mode or type(e).__name__ in ("IntImm", "FloatImm", "Var"):
            return self.expr_text(e)
        if self.cse_mode == "count":
            text = self.expr_text(e)
            self.cse_canon[e] = text
            st = self.cse_stats.setdefault(text, [0, False, False])
            st[0] += 1
            st[1] = st[1] or self.cse_cond == 0
            st[2] = st[2] or type(e).__name__ in ("TensorLoad", "BufferLoad") or any(
                self.cse_stats.get(self.cse_canon.get(c), (0, 0, False))[2] for c in _operands(e))
            return text
        canon = self.cse_canon.get(e)
        if canon is not None and canon in self.cse_temps:
            return self.cse_temps[canon]
        text = self.expr_text(e)
        if canon in self.cse_hoist:
            name = self.fresh("t")
            self.emit(f"const {c_type(dtype_of(e))} {name} = {text};")
            self.cse_temps[canon] = name
            return name
        return text

    # ---- expressions -------------------------------------------------------------------------
    _BINOPS = {
        "Add": "+", "Sub": "-", "Mul": "*", "EQ": "==", "NE": "!=", "LT": "<", "LE": "<=",
        "GT": ">", "GE": ">=", "And": "&&", "Or": "||", "BitwiseAnd": "&", "BitwiseOr": "|",
        "BitwiseXor": "^", "LShift": "<<", "RShift": ">>",
    }

    def expr_text(self, e) -> str:
        kind = type(e).__name__
        if kind == "IntImm":
            return c_int_literal(int(e.value), dtype_of(e))
        if kind == "FloatImm":
            return c_float_literal(float(e.value), dtype_of(e))
        if kind == "Var":
            return self.var_name(e)
        if kind == "TensorLoad" or kind == "BufferLoad":
            src = getattr(e, "source", None)
            if src is None:
                src = e.buffer
            return self.buffer_ref(src, e.indices)
        if kind in ("And", "Or"):
            return f"({self.expr(e.a)} {self._BINOPS[kind]} {self.conditional(e.b)})"
        if kind in self._BINOPS:
            return f"({self.expr(e.a)} {self._BINOPS[kind]} {self.expr(e.b)})"
        if kind == "Div":
            return f"({self.expr(e.a)} / {self.expr(e.b)})"  # float div, or int truncdiv
        if kind == "Mod":
            return f"({self.expr(e.a)} % {self.expr(e.b)})"
        if kind in ("FloorDiv", "FloorMod"):
            dt = dtype_of(e)
            if dt.startswith("float"):
                raise UnsupportedTIR(f"{self.func_name}: float {kind}")
            d = power_of_two_divisor(e)
            if d is not None:
                # floor semantics by a power of two are exactly an arithmetic shift and a mask
                # (GCC shifts signed values arithmetically): index math of reshapes/transposes
                if kind == "FloorDiv":
                    return f"({self.expr(e.a)} >> {d.bit_length() - 1})"
                return f"({self.expr(e.a)} & {d - 1})"
            width = "i64" if dt == "int64" else "i32"
            fn = "floordiv" if kind == "FloorDiv" else "floormod"
            return f"l2g_{fn}_{width}({self.expr(e.a)}, {self.expr(e.b)})"
        if kind == "Min":
            return f"L2G_MIN({self.expr(e.a)}, {self.expr(e.b)})"
        if kind == "Max":
            return f"L2G_MAX({self.expr(e.a)}, {self.expr(e.b)})"
        if kind == "Not":
            return f"(!{self.expr(e.a)})"
        if kind == "BitwiseNot":
            return f"(~{self.expr(e.a)})"
        if kind == "Select":
            return f"({self.expr(e.condition)} ? {self.conditional(e.true_value)} : {self.conditional(e.false_value)})"
        if kind == "Cast":
            rc = self.round_clamp(e)
            if rc is not None:
                return rc
            return f"(({c_type(dtype_of(e))}){self.expr(e.value)})"
        if kind == "Let":
            raise UnsupportedTIR(f"{self.func_name}: Let expression")
        if kind == "Call":
            return self.call(e)
        raise UnsupportedTIR(f"{self.func_name}: TIR expression {kind} ({e}) is not supported by the C printer")

    def call(self, e) -> str:
        name = e.op.name if hasattr(e.op, "name") else str(e.op)
        if name == "tirx.if_then_else":
            return f"({self.expr(e.args[0])} ? {self.conditional(e.args[1])} : {self.conditional(e.args[2])})"
        args = [self.expr(a) for a in e.args]
        dtype = dtype_of(e)
        if name in MATH_CALLS:
            f32, f64 = MATH_CALLS[name]
            return f"{f32 if dtype == 'float32' else f64}({', '.join(args)})"
        if name == "tirx.shift_right":
            return f"({args[0]} >> {args[1]})"
        if name == "tirx.shift_left":
            return f"({args[0]} << {args[1]})"
        if name == "tirx.bitwise_and":
            return f"({args[0]} & {args[1]})"
        if name == "tirx.bitwise_or":
            return f"({args[0]} | {args[1]})"
        if name == "tirx.bitwise_xor":
            return f"({args[0]} ^ {args[1]})"
        if name == "tirx.bitwise_not":
            return f"(~{args[0]})"
        if name == "tirx.if_then_else":
            return f"({args[0]} ? {args[1]} : {args[2]})"
        if name == "tirx.likely":
            return args[0]
        if name == "tirx.reinterpret":
            src = dtype_of(e.args[0])
            fn = {("float32", "int32"): "l2g_bits_f32", ("float32", "uint32"): "(uint32_t)l2g_bits_f32",
                  ("int32", "float32"): "l2g_f32_bits", ("uint32", "float32"): "l2g_f32_bits",
                  ("float64", "int64"): "l2g_bits_f64", ("int64", "float64"): "l2g_f64_bits"}.get((src, dtype))
            if fn is None:
                raise UnsupportedTIR(f"{self.func_name}: reinterpret {src} -> {dtype}")
            return f"{fn}({args[0]})"
        if name == "tirx.isnan":
            return f"isnan({args[0]})"
        if name == "tirx.rsqrt":
            return f"(1.0f / sqrtf({args[0]}))" if dtype == "float32" else f"(1.0 / sqrt({args[0]}))"
        if name == "tirx.sigmoid":
            one = "1.0f" if dtype == "float32" else "1.0"
            ex = "expf" if dtype == "float32" else "exp"
            return f"({one} / ({one} + {ex}(-({args[0]}))))"
        raise UnsupportedTIR(f"{self.func_name}: TIR intrinsic {name} is not supported by the C printer")


    def round_clamp(self, e) -> str | None:
        """``Cast(int, clip(round(x), lo, hi))`` or ``Cast(int, round(clip(x, lo, hi)))`` with
        float32 ``x`` and integral bounds in int32 range as one ``l2g_round_clamp_f32`` (see
        the prelude), else None.  With integral bounds, rounding before or after the clip gives
        the same integer, and the NaN rule depends only on the clip's Min/Max order."""
        dt = dtype_of(e)
        if not dt.startswith("int"):
            return None
        rounded_outside = _is_round(e.value)
        clip = _clip_bounds(e.value.args[0] if rounded_outside else e.value)
        if clip is None:
            return None
        x, lo, hi, nan_lo = clip
        if not rounded_outside:
            if not _is_round(x):
                return None
            x = x.args[0]
        if dtype_of(x) != "float32":
            return None
        bits = int(dt[3:])
        tmin, tmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        if not (lo.is_integer() and hi.is_integer() and max(tmin, -(2**31)) <= lo <= hi <= min(tmax, 2**31 - 1)):
            return None
        flo, fhi = c_float_literal(lo, "float32"), c_float_literal(hi, "float32")
        return f"(({c_type(dt)})l2g_round_clamp_f32({self.expr(x)}, {flo}, {fhi}, {nan_lo}))"


def _is_round(e) -> bool:
    return type(e).__name__ == "Call" and getattr(e.op, "name", "") in ("tirx.round", "tirx.nearbyint")


def _clip_bounds(e):
    """``(x, lo, hi, nan_lo)`` of a float clip ``max(min(x, hi), lo)`` (NaN -> hi) or
    ``min(max(x, lo), hi)`` (NaN -> lo) with constant bounds, else None."""
    ok, ik = type(e).__name__, type(getattr(e, "a", None)).__name__
    if {ok, ik} != {"Min", "Max"}:
        return None
    inner = e.a
    if type(e.b).__name__ != "FloatImm" or type(inner.b).__name__ != "FloatImm":
        return None
    if ok == "Max":
        return inner.a, float(e.b.value), float(inner.b.value), 0
    return inner.a, float(inner.b.value), float(e.b.value), 1


def _operands(e) -> list:
    """The direct operands of a TIR expression (for the CSE's load tracking)."""
    out = []
    for name in ("a", "b", "value", "condition", "true_value", "false_value"):
        c = getattr(e, name, None)
        if c is not None and not isinstance(c, (int, float, str)):
            out.append(c)
    for name in ("args", "indices"):
        out.extend(getattr(e, name, None) or ())
    return out


def print_prim_func(name: str, func: tirx.PrimFunc) -> PrintedFunction:
    """Print one lowered PrimFunc as ``static void name(...)``."""
    p = _Printer(func_name=name)
    params: list[tuple[str, str]] = []
    for v in func.params:
        ty = getattr(v, "ty", None)
        if "BufferType" not in type(ty).__name__ and not hasattr(v, "data"):
            raise UnsupportedTIR(f"{name}: scalar parameter {v} (only tensor parameters are supported)")
        cname = p.fresh(str(v.name))
        p.storages[v] = _Storage(cname, str(v.dtype), None)
        params.append((cname, str(v.dtype)))
    p.stmt(func.body)
    # parameters that are only read are const; the written ones are outputs
    body = "\n".join(p.lines)
    written = {c for c, _ in params if re.search(r"\b" + re.escape(c) + r"\[[^\]]*\] = ", body)}
    sig = ", ".join(f"{'' if c in written else 'const '}{c_type(dt)} *restrict {c}" for c, dt in params)
    # noipa: inlined into the program with its arena pointers constant, a kernel's loads and
    # stores share one induction variable and each store pays 2-3 extra address adds (GCC's
    # IV choice); as a real call each array gets its own pointer increments
    src = f"static __attribute__((noipa)) void {name}({sig}) {{\n{body}\n}}\n"
    return PrintedFunction(name=name, params=params, source=src)
