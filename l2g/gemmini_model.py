"""Independent functional model of the Gemmini RoCC ISA, in pure numpy.

Written from ``docs/gemmini-isa.md`` (the normative spec), *not* from the C++ Spike extension,
so the two can be compared instruction stream by instruction stream
(``tests/test_gemmini_differential.py``).

Where the spec lists RTL and MODEL (libgemmini) behaviours, this model follows the statement the
spec calls normative or recommends:

* OS results are shifted by ``sys_shift`` for scratchpad **and** accumulator destinations (§3.5.6,
  "follow the RTL"); WS never shifts.
* Accumulator read-out (§3.6, the column the spec marks normative, i.e. the RTL): RELU is
  applied *before* the scale; SOFTMAX scales by ``fl32(inv_sum_exp * S)``; LAYERNORM is
  ``ACC_SCALE(x - mean, fl32(inv_std * S))`` (``ln_mode="rtl"``, the default, which the project
  chose because the compiler's I-BERT LayerNorm relies on it).  ``ln_mode="gold"`` gives the
  spec's alternative recommendation ``ACC_SCALE(RNE((double)(x - mean) / stddev), S)`` (the
  CPU reference of gemmini-rocc-tests); the two agree except near ties when S = 1, and differ
  a lot for S != 1.
* Full-width (bit 29) reads are raw int32 even with a normalization activation (RTL).
* config_st clears activation bit 2; non-stat-only config_norm sets the activation to
  ``{act_msb, act[1:0]}`` (RTL).  The RTL's "acc_scale all-ones = unchanged" rule is *not*
  modelled; such a scale is reported as undefined.
* i-exp shifts by ``z & 31`` (§4.4 recommendation).
* Statistics slots follow the RTL clearing rules (§4.3): MEAN / INV_STDDEV clear sum and count
  after dividing; a RESET read clears sum, count and the running max.
* ``stat_id`` >= ``norm_stat_ids`` is undefined (RTL aliases on bit 8, libgemmini overflows).
* ``loop_ws`` is unrolled exactly as §3.7 describes (MODEL local-memory layout).

Everything the spec leaves undefined (out-of-range rows, compute without its own preload, OS
partial sums that would overflow the 20-bit array, forbidden transpose combinations, statistics
that would overflow 32 bits, ...) raises :class:`UndefinedBehavior` *before* any state is changed
where that is practical, so random-program generators can use the model as a validity oracle.

The model is purely functional: no timing, no counters (funct 126 is accepted and ignored).
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field

import numpy as np

from l2g.hwconfig import GemminiConfig, get_config

# ---- funct codes (§2.2) -------------------------------------------------------------------------
CONFIG = 0
MVIN2 = 1
MVIN = 2
MVOUT = 3
COMPUTE_PRELOADED = 4
COMPUTE_ACCUMULATED = 5
PRELOAD = 6
FLUSH = 7
LOOP_WS = 8
LOOP_WS_CONFIG_BOUNDS = 9
LOOP_WS_CONFIG_ADDRS_AB = 10
LOOP_WS_CONFIG_ADDRS_DC = 11
LOOP_WS_CONFIG_STRIDES_AB = 12
LOOP_WS_CONFIG_STRIDES_DC = 13
MVIN3 = 14
LOOP_CONV_WS = 15
COUNTER = 126
FENCE_NOP = 127

CONFIG_EX, CONFIG_LD, CONFIG_ST, CONFIG_NORM = 0, 1, 2, 3

OS, WS = 0, 1

ACT_NONE, ACT_RELU, ACT_LAYERNORM, ACT_IGELU, ACT_SOFTMAX = 0, 1, 2, 3, 4

# norm_cmd codes (§4.3)
NORM_RESET, NORM_SUM, NORM_MEAN, NORM_VARIANCE, NORM_INV_STDDEV, NORM_MAX, NORM_SUM_EXP, NORM_INV_SUM_EXP = range(8)
_NONTERMINAL = {NORM_MEAN: NORM_SUM, NORM_INV_STDDEV: NORM_VARIANCE, NORM_INV_SUM_EXP: NORM_SUM_EXP}

GARBAGE_ADDR = 0xFFFFFFFF
ACC_BIT = 1 << 31
ACCUMULATE_BIT = 1 << 30
READ_FULL_BIT = 1 << 29

MASK32 = 0xFFFFFFFF
MASK64 = (1 << 64) - 1
INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
OS_PARTIAL_LIMIT = 1 << 19  # |partial sum| must stay below this in OS (20-bit array, §3.5.6)

FUNCT_NAMES = {
    0: "config", 1: "mvin2", 2: "mvin", 3: "mvout", 4: "compute_preloaded", 5: "compute_accumulated",
    6: "preload", 7: "flush", 8: "loop_ws", 9: "loop_ws_config_bounds", 10: "loop_ws_config_addrs_ab",
    11: "loop_ws_config_addrs_dc", 12: "loop_ws_config_strides_ab", 13: "loop_ws_config_strides_dc",
    14: "mvin3", 15: "loop_conv_ws", 126: "counter", 127: "fence",
}


class UndefinedBehavior(Exception):
    """The instruction (in the current state) is outside what the spec defines."""


# =================================================================================================
# Numeric primitives (§3.2, §4.4)
# =================================================================================================

def f32_from_bits(bits: int) -> np.float32:
    return np.array([bits & MASK32], dtype=np.uint32).view(np.float32)[0]


def f32_bits(x: float) -> int:
    return int(np.array([x], dtype=np.float32).view(np.uint32)[0])


def wrap32(x):
    """Wrap an integer (scalar or int64 array) to signed 32 bits."""
    if isinstance(x, np.ndarray):
        return ((x.astype(np.int64) + (1 << 31)) & MASK32) - (1 << 31)
    return ((int(x) + (1 << 31)) & MASK32) - (1 << 31)


def sat8(x):
    return np.clip(x, -128, 127)


def _rne_sat8_f32(y: np.ndarray) -> np.ndarray:
    """RNE of a float32 array, saturated to int8 (returned as int32)."""
    y = np.asarray(y, dtype=np.float32)
    if not np.all(np.isfinite(y)):
        raise UndefinedBehavior("non-finite value in a scaling step")
    return np.clip(np.rint(y), -128, 127).astype(np.int32)


def mvin_scale(x, s) -> np.ndarray:
    """MVIN_SCALE(x:int8, s:float32) = sat8(RNE(fl32(x) * s)), product rounded to float32."""
    x = np.asarray(x)
    s = np.float32(s)
    if not np.isfinite(s):
        raise UndefinedBehavior(f"non-finite mvin scale {s}")
    with np.errstate(over="ignore", invalid="ignore"):
        y = x.astype(np.float32) * s
    return _rne_sat8_f32(y)


def acc_scale(x, s) -> np.ndarray:
    """ACC_SCALE(x:int32, s:float32) = sat8(RNE(fl32(x) * s))."""
    x = np.asarray(x)
    s = np.float32(s)
    if not np.isfinite(s):
        raise UndefinedBehavior(f"non-finite accumulator scale {s}")
    with np.errstate(over="ignore", invalid="ignore"):
        y = x.astype(np.int64).astype(np.float32) * s  # int -> float32 conversion is RNE
    return _rne_sat8_f32(y)


def rrs(x, s: int):
    """Rounding right shift, round-half-to-even (§3.2).  Works on ints and int64 arrays."""
    if s == 0:
        return x
    if isinstance(x, np.ndarray):
        x = x.astype(np.int64)
        q = x >> s
        h = (x >> (s - 1)) & 1
        t = ((x & ((1 << (s - 1)) - 1)) != 0).astype(np.int64)
        o = (x >> s) & 1
        return q + (h & (t | o))
    x = int(x)
    q = x >> s
    h = (x >> (s - 1)) & 1
    t = 1 if (x & ((1 << (s - 1)) - 1)) else 0
    o = (x >> s) & 1
    return q + (h & (t | o))


def igelu(q, qb: int, qc: int):
    """i-GELU kernel (§4.4), 32-bit wrapping arithmetic; q is an int array or scalar."""
    q = wrap32(np.asarray(q, dtype=np.int64))
    sign = np.where(q < 0, -1, 1).astype(np.int64)
    aq = wrap32(np.abs(q))
    a = np.minimum(aq, wrap32(-int(qb)))
    t = wrap32(a + int(qb))
    poly = wrap32(wrap32(t * t) + int(qc))
    erf = wrap32(sign * poly)
    return wrap32(q * wrap32(erf + int(qc)))


def iexp(q, qln2: int, qln2_inv: int, qb: int, qc: int):
    """i-exp kernel (§4.4) for q <= 0, 32-bit wrapping arithmetic, silicon's final shift: 0
    when any of z's bits 5..15 is set, else a logical shift by z."""
    q = wrap32(np.asarray(q, dtype=np.int64))
    z = wrap32(wrap32(-q) * int(qln2_inv)) >> 16
    qp = wrap32(q + wrap32(z * int(qln2)))
    t = wrap32(qp + int(qb))
    e = wrap32(wrap32(t * t) + int(qc))
    return np.where((z & 0xFFE0) != 0, 0, wrap32((e & 0xFFFFFFFF) >> (z & 31)))


def isqrt_floor(v: int) -> int:
    return math.isqrt(v)


# =================================================================================================
# DRAM
# =================================================================================================

class Dram:
    """A flat byte buffer standing for guest memory at virtual addresses [base, base+len)."""

    def __init__(self, base: int, data):
        if base <= 0:
            raise ValueError("DRAM base must be > 0 (address 0 means 'zeros' / 'skip')")
        self.base = int(base)
        if isinstance(data, int):
            self.mem = np.zeros(data, dtype=np.uint8)
        else:
            self.mem = np.frombuffer(bytes(data), dtype=np.uint8).copy()

    def __len__(self) -> int:
        return len(self.mem)

    def copy(self) -> "Dram":
        d = Dram.__new__(Dram)
        d.base = self.base
        d.mem = self.mem.copy()
        return d

    def _off(self, addrs: np.ndarray, nbytes: int) -> np.ndarray:
        off = np.asarray(addrs, dtype=np.int64) - self.base
        if off.size and (off.min() < 0 or off.max() + nbytes > len(self.mem)):
            raise UndefinedBehavior(
                f"DRAM access outside the modelled buffer [{self.base:#x}, {self.base + len(self.mem):#x})")
        return off

    def gather(self, addrs: np.ndarray, esize: int) -> np.ndarray:
        """Signed little-endian elements of `esize` (1 or 4) bytes at each address (int64)."""
        off = self._off(addrs, esize)
        if esize == 1:
            return self.mem[off].view(np.int8).astype(np.int64)
        b = [self.mem[off + k].astype(np.uint32) for k in range(4)]
        u = b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)
        return u.view(np.int32).astype(np.int64)

    def scatter(self, addrs: np.ndarray, values: np.ndarray, esize: int) -> None:
        """Store values (as `esize`-byte little-endian) in address order (later wins)."""
        off = self._off(addrs, esize).ravel()
        v = (np.asarray(values, dtype=np.int64).ravel() & ((1 << (8 * esize)) - 1)).astype(np.uint32)
        for k in range(esize):
            # fancy assignment with repeated indices keeps the last value, i.e. program order
            self.mem[off + k] = ((v >> (8 * k)) & 0xFF).astype(np.uint8)

    def read_bytes(self, addr: int, n: int) -> bytes:
        o = addr - self.base
        return self.mem[o:o + n].tobytes()

    def write_bytes(self, addr: int, data: bytes) -> None:
        o = addr - self.base
        self.mem[o:o + len(data)] = np.frombuffer(data, dtype=np.uint8)


# =================================================================================================
# State
# =================================================================================================

@dataclass
class LoadState:
    configured: bool = False
    stride: int = 0
    scale: np.float32 = np.float32(1.0)
    shrunk: bool = False
    bstride: int = 0
    pix: int = 1


@dataclass
class NormSlot:
    sum: int = 0
    count: int = 0
    running_max: int = INT32_MIN
    max: int = INT32_MIN
    mean: int = 0
    sd: int = 1
    inv_stddev: np.float32 = np.float32(0.0)
    inv_sum_exp: np.float32 = np.float32(0.0)
    mean_valid: bool = False
    ln_valid: bool = False
    sm_valid: bool = False

    def clear_running(self) -> None:
        self.sum = 0
        self.count = 0
        self.running_max = INT32_MIN


@dataclass
class Preload:
    bd_addr: int
    bd_cols: int
    bd_rows: int
    c_addr: int
    c_cols: int
    c_rows: int


@dataclass
class LoopWsRegs:
    I: int = 0
    J: int = 0
    K: int = 0
    pad_I: int = 0
    pad_J: int = 0
    pad_K: int = 0
    A: int = 0
    B: int = 0
    D: int = 0
    C: int = 0
    A_stride: int = 0
    B_stride: int = 0
    D_stride: int = 0
    C_stride: int = 0
    set: set = field(default_factory=set)


def _fields(v: int) -> tuple[int, int, int]:
    """(local address, cols, rows) of a packed operand (§2.3)."""
    return v & MASK32, (v >> 32) & 0xFFFF, (v >> 48) & 0xFFFF


def pack(addr: int, cols: int, rows: int) -> int:
    return (addr & MASK32) | ((cols & 0xFFFF) << 32) | ((rows & 0xFFFF) << 48)


class GemminiModel:
    """Architectural state plus one method per instruction.  ``execute(funct, rs1, rs2)``."""

    def __init__(self, cfg: GemminiConfig | str = "default", dram: Dram | None = None, ln_mode: str = "rtl"):
        if isinstance(cfg, str):
            cfg = get_config(cfg)
        self.cfg = cfg
        self.dim = cfg.dim
        self.sp_rows = cfg.sp_rows
        self.acc_rows = cfg.acc_rows
        if ln_mode not in ("gold", "rtl"):
            raise ValueError("ln_mode must be 'gold' or 'rtl'")
        self.ln_mode = ln_mode
        self.dram = dram
        self.sp = np.zeros((self.sp_rows, self.dim), dtype=np.int8)
        self.acc = np.zeros((self.acc_rows, self.dim), dtype=np.int32)
        # config_ex
        self.ex_configured = False
        self.dataflow = OS
        self.sys_act = 0
        self.sys_shift = 0
        self.sys_acc_scale_bits = 0
        self.a_transpose = False
        self.b_transpose = False
        self.a_stride = 1
        self.c_stride = 1
        # config_ld
        self.ld = [LoadState() for _ in range(3)]
        # config_st
        self.st_configured = False
        self.st_stride = 0
        self.act = 0
        self.acc_scale = np.float32(0.0)
        self.pool_stride = 0
        self.pool_size = 0
        self.upad = 0
        self.lpad = 0
        self.pool_out_dim = 0
        self.porows = 0
        self.pocols = 0
        self.orows = 0
        self.ocols = 0
        # config_norm
        self.qb = 0
        self.qc = 0
        self.qln2 = 0
        self.qln2_inv = 0
        self.stat_id = 0
        self.igelu_configured = False
        self.slots = [NormSlot() for _ in range(max(1, cfg.norm_stat_ids))]
        # matmul
        self.preload: Preload | None = None
        self.pe_mode: int | None = None  # dataflow whose PE state is valid
        self.P = np.zeros((self.dim, self.dim), dtype=np.int64)  # OS accumulators
        self.W = np.zeros((self.dim, self.dim), dtype=np.int64)  # WS weights (K x J)
        # loop_ws
        self.loop = LoopWsRegs()
        self.executed = 0
        #: feature -> times exercised (for judging how much a random program covers)
        self.coverage: collections.Counter = collections.Counter()

    # ---------------------------------------------------------------------------------------------
    def copy(self) -> "GemminiModel":
        import copy as _copy
        m = _copy.copy(self)
        m.sp = self.sp.copy()
        m.acc = self.acc.copy()
        m.ld = [_copy.copy(s) for s in self.ld]
        m.slots = [_copy.copy(s) for s in self.slots]
        m.P = self.P.copy()
        m.W = self.W.copy()
        m.loop = _copy.deepcopy(self.loop)
        m.coverage = collections.Counter(self.coverage)
        m.dram = self.dram.copy() if self.dram is not None else None
        return m

    def dump_bytes(self) -> bytes:
        """Scratchpad (int8 rows) then accumulator (int32 rows), raw little-endian, like the
        extension's ``L2G_GEMMINI_DUMP``."""
        return self.sp.tobytes() + self.acc.astype("<i4").tobytes()

    # ---------------------------------------------------------------------------------------------
    def execute(self, funct: int, rs1: int, rs2: int) -> None:
        rs1 &= MASK64
        rs2 &= MASK64
        if self.preload is not None and funct not in (COMPUTE_PRELOADED, COMPUTE_ACCUMULATED):
            raise UndefinedBehavior("a preload must be immediately followed by its compute")
        h = self._dispatch.get(funct)
        if h is None:
            raise UndefinedBehavior(f"funct {funct} is not modelled")
        h(self, rs1, rs2)
        self.executed += 1

    def run(self, insns) -> None:
        for f, a, b in insns:
            self.execute(f, a, b)

    # ---- config ---------------------------------------------------------------------------------
    def config(self, rs1: int, rs2: int) -> None:
        sub = rs1 & 3
        if sub == CONFIG_EX:
            self.config_ex(rs1, rs2)
        elif sub == CONFIG_LD:
            self.config_ld(rs1, rs2)
        elif sub == CONFIG_ST:
            self.config_st(rs1, rs2)
        else:
            self.config_norm(rs1, rs2)

    def config_ex(self, rs1: int, rs2: int) -> None:
        a_stride = (rs1 >> 16) & 0xFFFF
        c_stride = (rs2 >> 48) & 0xFFFF
        if rs1 & (1 << 7):  # set_only_strides
            self.a_stride, self.c_stride = a_stride, c_stride
            self.pe_mode = None
            return
        dataflow = (rs1 >> 2) & 1
        a_t = bool((rs1 >> 8) & 1)
        b_t = bool((rs1 >> 9) & 1)
        if dataflow == OS and b_t and not a_t:
            raise UndefinedBehavior("config_ex: OS with only B transposed is not allowed")
        if dataflow == WS and a_t and b_t:
            raise UndefinedBehavior("config_ex: WS with both transposes is not allowed")
        shift = rs2 & MASK32
        if shift >= 32:
            raise UndefinedBehavior("config_ex: sys_shift >= 32")
        if (rs1 >> 5) & 1:
            raise UndefinedBehavior("config_ex: reserved bit 5 set (act not masked with & 3)")
        self.ex_configured = True
        self.dataflow = dataflow
        self.sys_act = (rs1 >> 3) & 3
        self.sys_shift = shift
        self.sys_acc_scale_bits = (rs1 >> 32) & MASK32
        self.a_transpose, self.b_transpose = a_t, b_t
        self.a_stride, self.c_stride = a_stride, c_stride
        self.pe_mode = None

    def config_ld(self, rs1: int, rs2: int) -> None:
        sid = (rs1 >> 3) & 3
        if sid == 3:
            raise UndefinedBehavior("config_ld: state_id 3")
        scale = f32_from_bits((rs1 >> 32) & MASK32)
        if not np.isfinite(scale):
            raise UndefinedBehavior("config_ld: non-finite scale")
        pix = (rs1 >> 8) & 0xFF
        if pix >= 32:
            raise UndefinedBehavior("config_ld: pixel_repeats keeps only 5 bits in the RTL")
        bstride = (rs1 >> 16) & 0xFFFF
        if bstride >= (1 << 14):
            raise UndefinedBehavior("config_ld: block_mvin_stride keeps only 14 bits in the RTL")
        s = self.ld[sid]
        s.configured = True
        s.shrunk = bool((rs1 >> 2) & 1)
        s.pix = pix if pix else 1
        s.bstride = bstride
        s.scale = scale
        s.stride = rs2

    def config_st(self, rs1: int, rs2: int) -> None:
        scale_bits = (rs2 >> 32) & MASK32
        scale = f32_from_bits(scale_bits)
        if scale_bits == MASK32 or not np.isfinite(scale):
            raise UndefinedBehavior("config_st: non-finite acc_scale (all-ones means 'unchanged' in RTL only)")
        act = (rs1 >> 2) & 3
        if not self.cfg.has_normalizations and act >= 2:
            raise UndefinedBehavior("config_st: activation codes 2/3 need normalizations")
        pool_stride = (rs1 >> 4) & 3
        pool_size = (rs1 >> 6) & 3
        if self.cfg.has_max_pool and pool_stride == 0 and pool_size != 0:
            raise UndefinedBehavior("config_st: 1-D mvout mode (pool_stride 0, pool_size != 0)")
        self.st_configured = True
        self.st_stride = rs2 & MASK32
        self.acc_scale = scale
        self.act = act  # RTL: clears bit 2
        if self.cfg.has_max_pool:
            self.pool_stride = pool_stride
            self.pool_size = pool_size
            if pool_stride != 0:  # RTL: pool fields update only when pool_stride != 0
                self.upad = (rs1 >> 8) & 3
                self.lpad = (rs1 >> 10) & 3
                self.pool_out_dim = (rs1 >> 24) & 0xFF
                self.porows = (rs1 >> 32) & 0xFF
                self.pocols = (rs1 >> 40) & 0xFF
                self.orows = (rs1 >> 48) & 0xFF
                self.ocols = (rs1 >> 56) & 0xFF
        else:
            self.pool_stride = 0
            self.pool_size = 0

    def config_norm(self, rs1: int, rs2: int) -> None:
        if not self.cfg.has_normalizations:
            raise UndefinedBehavior("config_norm on a build without normalizations")
        nslots = len(self.slots)
        sid = (rs1 >> 8) & 0xFF
        if sid >= nslots:
            # RTL keeps bit 8 only (ids alias); libgemmini indexes out of bounds for ids >= 4.
            # Software never does it, so treat it as undefined.
            raise UndefinedBehavior(f"config_norm: stat_id {sid} >= NORM_STAT_IDS {nslots}")
        self.stat_id = sid
        if (rs1 >> 17) & 1:  # set_stats_id_only
            return
        act_msb = (rs1 >> 16) & 1
        q_const_type = (rs1 >> 18) & 1
        q_const = wrap32((rs1 >> 32) & MASK32)
        self.qb = wrap32(rs2 & MASK32)
        self.qc = wrap32((rs2 >> 32) & MASK32)
        if q_const_type == 0:
            self.qln2 = q_const
        else:
            self.qln2_inv = q_const
        self.act = (act_msb << 2) | (self.act & 3)
        if self.act > ACT_SOFTMAX:
            raise UndefinedBehavior(f"config_norm: activation code {self.act} is reserved")
        self.igelu_configured = True

    # ---- local address helpers ------------------------------------------------------------------
    def _check_rows(self, is_acc: bool, first: int, last: int, what: str) -> None:
        n = self.acc_rows if is_acc else self.sp_rows
        if first < 0 or last >= n:
            raise UndefinedBehavior(f"{what}: {'accumulator' if is_acc else 'scratchpad'} rows "
                                    f"{first}..{last} outside 0..{n - 1}")

    def _decode_write_addr(self, a: int, what: str) -> tuple[bool, bool, int]:
        """(is_acc, accumulate, row) of a write address; rejects bits 28..14 (undefined)."""
        if a == GARBAGE_ADDR:
            raise UndefinedBehavior(f"{what}: GARBAGE address")
        if a & 0x1FFFC000:
            raise UndefinedBehavior(f"{what}: address {a:#x} has bits 28..14 set")
        is_acc = bool(a >> 31)
        return is_acc, bool((a >> 30) & 1) and is_acc, a & 0x3FFF

    # ---- mvin -----------------------------------------------------------------------------------
    def mvin(self, rs1, rs2):
        self._mvin(0, rs1, rs2)

    def mvin2(self, rs1, rs2):
        self._mvin(1, rs1, rs2)

    def mvin3(self, rs1, rs2):
        self._mvin(2, rs1, rs2)

    def _mvin(self, sid: int, rs1: int, rs2: int) -> None:
        st = self.ld[sid]
        if not st.configured:
            raise UndefinedBehavior(f"mvin with unconfigured load state {sid}")
        addr, cols, rows = _fields(rs2)
        is_acc, accumulate, base = self._decode_write_addr(addr, "mvin")
        dim = self.dim
        if rows == 0 or cols == 0:
            raise UndefinedBehavior("mvin: zero-sized")
        if rows > dim:
            raise UndefinedBehavior("mvin: rows > DIM")
        esize = 4 if (is_acc and not st.shrunk) else 1
        maxcols = 64 if esize == 1 else 16
        if cols > maxcols:
            raise UndefinedBehavior(f"mvin: cols {cols} > {maxcols}")
        nblocks = -(-cols // dim)
        p = st.pix
        if nblocks > 1 and st.bstride < rows:
            raise UndefinedBehavior("mvin: block_mvin_stride < rows")
        if p > 1:
            if is_acc:
                raise UndefinedBehavior("mvin: pixel repeats into the accumulator")
            if p * cols > dim:
                raise UndefinedBehavior("mvin: pixel_repeats * cols > DIM")
            half = self.sp_rows // 2
            if base >= half and base - (p - 1) < half:
                raise UndefinedBehavior("mvin: pixel repeats would cross into the lower scratchpad half")
        self._check_rows(is_acc, base, base + (nblocks - 1) * st.bstride + rows - 1, "mvin")

        # ---- read
        if rs1 == 0:
            vals = np.zeros((rows, cols), dtype=np.int64)
        else:
            r = np.arange(rows, dtype=np.int64)[:, None]
            c = np.arange(cols, dtype=np.int64)[None, :]
            addrs = rs1 + r * st.stride + c * esize
            if self.dram is None:
                raise UndefinedBehavior("mvin from DRAM without a DRAM object")
            vals = self.dram.gather(addrs, esize)
            if esize == 1:
                vals = mvin_scale(vals, st.scale).astype(np.int64)

        cv = self.coverage
        cv[f"mvin{sid}"] += 1
        cv["mvin_acc" + ("_acc32" if esize == 4 else "_shrunk") + ("_accumulate" if accumulate else "") if is_acc else "mvin_sp"] += 1
        cv["mvin_zeros"] += rs1 == 0
        cv["mvin_multiblock"] += nblocks > 1
        cv["mvin_pixel_repeats"] += p > 1
        cv["mvin_scale!=1"] += esize == 1 and st.scale != 1
        # ---- write
        if is_acc:
            mem = self.acc
        else:
            mem = self.sp
        for b in range(nblocks):
            c0, c1 = b * dim, min(cols, (b + 1) * dim)
            r0 = base + b * st.bstride
            blk = vals[:, c0:c1]
            if is_acc:
                if accumulate:
                    mem[r0:r0 + rows, 0:c1 - c0] = wrap32(mem[r0:r0 + rows, 0:c1 - c0].astype(np.int64) + blk)
                else:
                    mem[r0:r0 + rows, 0:c1 - c0] = blk
            else:
                mem[r0:r0 + rows, 0:c1 - c0] = blk
        if p > 1:
            lower = self.sp_rows // 2 if base >= self.sp_rows // 2 else 0
            for k in range(1, p):
                for r in range(rows):
                    row = base + r - k
                    if row < lower:
                        continue
                    mem[row, k * cols:(k + 1) * cols] = vals[r, :cols]

    # ---- mvout ----------------------------------------------------------------------------------
    def mvout(self, rs1: int, rs2: int) -> None:
        addr, cols, rows = _fields(rs2)
        if addr == GARBAGE_ADDR:
            raise UndefinedBehavior("mvout from GARBAGE address")
        is_acc = bool(addr >> 31)
        full = bool((addr >> 29) & 1) and is_acc
        norm_cmd = ((addr >> 26) & 7) if is_acc else 0
        if addr & 0x03FFC000:
            raise UndefinedBehavior(f"mvout: address {addr:#x} has bits 25..14 set")
        # bits 30..26 (accumulate, read_full, norm_cmd) are ignored for scratchpad reads (§1.3)
        base = addr & 0x3FFF
        dim = self.dim
        if rows == 0 or cols == 0:
            raise UndefinedBehavior("mvout: zero-sized")
        if rows > dim:
            raise UndefinedBehavior("mvout: rows > DIM")
        if not self.st_configured:
            raise UndefinedBehavior("mvout before config_st")
        if norm_cmd and not self.cfg.has_normalizations:
            raise UndefinedBehavior("mvout: norm_cmd without normalizations")
        if self.dram is None:
            raise UndefinedBehavior("mvout without a DRAM object")
        if self.pool_stride != 0:
            self._mvout_pool(rs1, is_acc, full, norm_cmd, base, cols)
            return
        if cols > 64:
            raise UndefinedBehavior("mvout: cols > 64")
        if full and cols > dim:
            raise UndefinedBehavior("mvout: full-width read with cols > DIM")
        nblocks = -(-cols // dim)
        self._check_rows(is_acc, base, base + (nblocks - 1) * dim + rows - 1, "mvout")
        self.coverage["mvout_" + ("sp" if not is_acc else "acc_full" if full else f"acc_act{self.act}")] += 1
        self.coverage["mvout_multiblock"] += nblocks > 1
        if norm_cmd:
            self.coverage[f"norm_cmd{norm_cmd}"] += 1
        if is_acc and norm_cmd != NORM_RESET:
            if full:
                raise UndefinedBehavior("mvout: statistics command on a full-width read")
            if rows != 1:
                raise UndefinedBehavior("mvout: statistics commands need rows = 1")
            self._norm_stats(norm_cmd, base, cols)
            return
        i = np.arange(rows, dtype=np.int64)[:, None]
        j = np.arange(cols, dtype=np.int64)[None, :]
        lrow = base + (j // dim) * dim + i
        lcol = np.broadcast_to(j % dim, lrow.shape)
        osize = 4 if full else 1
        if osize * cols > self.st_stride and rows > 1:
            raise UndefinedBehavior("mvout: overlapping DRAM rows (store stride < row bytes)")
        daddr = rs1 + i * self.st_stride + j * osize
        if not is_acc:
            vals = self.sp[lrow, lcol].astype(np.int64)
        elif full:
            vals = self.acc[lrow, lcol].astype(np.int64)
        else:
            vals = self._readout(self.acc[lrow, lcol].astype(np.int64))
        self.dram.scatter(daddr, vals, osize)
        if is_acc and self.cfg.has_normalizations:
            self.slots[self.stat_id].clear_running()

    def _readout(self, x: np.ndarray) -> np.ndarray:
        """Accumulator read-out pipeline (§3.6) for read_full = 0."""
        act, S = self.act, self.acc_scale
        if act == ACT_NONE:
            return acc_scale(x, S)
        if act == ACT_RELU:
            return acc_scale(np.maximum(x, 0), S)
        if not self.cfg.has_normalizations:
            raise UndefinedBehavior(f"activation {act} without normalizations")
        slot = self.slots[self.stat_id]
        if act == ACT_LAYERNORM:
            if not slot.ln_valid:
                raise UndefinedBehavior("LAYERNORM read-out without computed mean / inv_stddev")
            d = x - slot.mean
            if np.any(d != wrap32(d)):
                raise UndefinedBehavior("LAYERNORM: x - mean overflows int32")
            if self.ln_mode == "gold":
                y = np.rint(d.astype(np.float64) / float(slot.sd)).astype(np.int64)
                return acc_scale(y, S)
            return acc_scale(d, np.float32(slot.inv_stddev * S))
        if act == ACT_IGELU:
            if not self.igelu_configured:
                raise UndefinedBehavior("IGELU read-out before config_norm")
            return acc_scale(igelu(x, self.qb, self.qc), S)
        if act == ACT_SOFTMAX:
            if not slot.sm_valid:
                raise UndefinedBehavior("SOFTMAX read-out without computed max / inv_sum_exp")
            q = x - slot.max
            if np.any(q != wrap32(q)) or np.any(q > 0):
                raise UndefinedBehavior("SOFTMAX: x - max outside the i-exp domain")
            e = iexp(q, self.qln2, self.qln2_inv, self.qb, self.qc)
            return acc_scale(e, np.float32(slot.inv_sum_exp * S))
        raise UndefinedBehavior(f"activation code {act}")

    def _norm_stats(self, code: int, base: int, cols: int) -> None:
        """A statistics mvout (norm_cmd 1..7) of one accumulator row (§4.3)."""
        dim = self.dim
        slot = self.slots[self.stat_id]
        nblocks = -(-cols // dim)
        # validate first on a scratch copy, then commit
        s = NormSlot(**slot.__dict__)
        for b in range(nblocks):
            c = code if b == nblocks - 1 else _NONTERMINAL.get(code, code)
            n = min(dim, cols - b * dim)
            x = self.acc[base + b * dim, :n].astype(np.int64)
            if c in (NORM_SUM, NORM_MEAN):
                s.sum += int(x.sum())
                s.count += n
                if not INT32_MIN <= s.sum <= INT32_MAX:
                    raise UndefinedBehavior("statistics sum overflows int32")
                if c == NORM_MEAN:
                    s.mean = _tdiv(s.sum, s.count)
                    s.sum = 0
                    s.count = 0
                    s.mean_valid = True
            elif c in (NORM_VARIANCE, NORM_INV_STDDEV):
                if not s.mean_valid:
                    raise UndefinedBehavior("VARIANCE before MEAN")
                d = x - s.mean
                s.sum += int((d * d).sum())
                s.count += n
                if not INT32_MIN <= s.sum <= INT32_MAX or np.any(np.abs(d) > 46340):
                    raise UndefinedBehavior("variance sum overflows int32")
                if c == NORM_INV_STDDEV:
                    var = _tdiv(s.sum, s.count)
                    sd = isqrt_floor(var)
                    if sd == 0:
                        sd = 1
                    s.sd = sd
                    s.inv_stddev = np.float32(1.0 / sd)
                    s.sum = 0
                    s.count = 0
                    s.ln_valid = True
            elif c == NORM_MAX:
                s.running_max = max(s.running_max, int(x.max()))
            elif c in (NORM_SUM_EXP, NORM_INV_SUM_EXP):
                if s.running_max == INT32_MIN:
                    raise UndefinedBehavior("SUM_EXP before any MAX")
                s.max = s.running_max
                q = x - s.max
                if np.any(q > 0) or np.any(q != wrap32(q)):
                    raise UndefinedBehavior("SUM_EXP: x - max outside the i-exp domain")
                e = iexp(q, self.qln2, self.qln2_inv, self.qb, self.qc)
                s.sum += int(e.sum())
                s.count += n
                if not INT32_MIN <= s.sum <= INT32_MAX:
                    raise UndefinedBehavior("exp sum overflows int32")
                if c == NORM_INV_SUM_EXP:
                    if s.sum <= 0:
                        raise UndefinedBehavior("INV_SUM_EXP with a non-positive sum")
                    s.inv_sum_exp = np.float32(np.float32(127.0) / np.float32(s.sum))
                    s.sm_valid = True
            else:
                raise AssertionError(c)
        if not 0 <= s.count < (1 << 16):
            raise UndefinedBehavior("statistics count exceeds the RTL's 16 bits")
        slot.__dict__.update(s.__dict__)

    def _mvout_pool(self, rs1: int, is_acc: bool, full: bool, norm_cmd: int, base: int, cols: int) -> None:
        """Max-pooling mvout (§3.4.2)."""
        if full or norm_cmd:
            raise UndefinedBehavior("pooling mvout with a full-width read or a norm command")
        if cols > self.dim:
            raise UndefinedBehavior("pooling mvout with cols > DIM")
        if is_acc and self.act not in (ACT_NONE, ACT_RELU):
            raise UndefinedBehavior("pooling with a normalization activation")
        ps, k = self.pool_stride, self.pool_size
        self.coverage["mvout_pool_" + ("acc" if is_acc else "sp")] += 1
        porows, pocols, orows, ocols = self.porows, self.pocols, self.orows, self.ocols
        if porows == 0 or pocols == 0 or k == 0:
            raise UndefinedBehavior("pooling mvout with empty window or output")
        if porows > 1 and self.pool_out_dim < pocols:
            raise UndefinedBehavior("pooling: pool_out_dim < pocols overlaps outputs")
        if self.st_stride < cols and porows * pocols > 1:
            raise UndefinedBehavior("pooling: store stride < channels overlaps outputs")
        pr = np.arange(porows)[:, None, None, None]
        pc = np.arange(pocols)[None, :, None, None]
        wr = np.arange(k)[None, None, :, None]
        wc = np.arange(k)[None, None, None, :]
        orow = pr * ps + wr - self.upad
        ocol = pc * ps + wc - self.lpad
        valid = (orow >= 0) & (orow < orows) & (ocol >= 0) & (ocol < ocols)
        lrow = base + orow * ocols + ocol
        lrow_v = lrow[valid]
        if lrow_v.size:
            self._check_rows(is_acc, int(lrow_v.min()), int(lrow_v.max()), "pooling mvout")
        lrow_safe = np.where(valid, lrow, base)
        if is_acc:
            src = self.acc[lrow_safe, :cols].astype(np.int64)  # (pr, pc, wr, wc, ch)
            src = np.maximum(acc_scale(src, self.acc_scale), 0) if self.act == ACT_RELU else acc_scale(src, self.acc_scale)
        else:
            src = self.sp[lrow_safe, :cols].astype(np.int64)
        src = np.where(valid[..., None], src, 0)
        res = np.maximum(src.max(axis=(2, 3)), -128)  # (porows, pocols, cols)
        prr = np.arange(porows)[:, None, None]
        pcc = np.arange(pocols)[None, :, None]
        ch = np.arange(cols)[None, None, :]
        daddr = rs1 + (prr * self.pool_out_dim + pcc) * self.st_stride + ch
        self.dram.scatter(daddr, res, 1)

    # ---- preload / compute ----------------------------------------------------------------------
    def preload_(self, rs1: int, rs2: int) -> None:
        bd, bd_cols, bd_rows = _fields(rs1)
        c, c_cols, c_rows = _fields(rs2)
        dim = self.dim
        if max(bd_cols, bd_rows, c_cols, c_rows) > dim:
            raise UndefinedBehavior("preload: rows/cols > DIM")
        if bd != GARBAGE_ADDR and bd >> 31:
            raise UndefinedBehavior("preload: B/D from the accumulator is not supported")
        self.preload = Preload(bd, bd_cols, bd_rows, c, c_cols, c_rows)

    def _read_sp(self, addr: int, rows: int, cols: int, transposed: bool, stride: int, what: str) -> np.ndarray:
        """A DIM x DIM logical operand; element (r, c) valid for r < rows, c < cols."""
        dim = self.dim
        out = np.zeros((dim, dim), dtype=np.int64)
        if addr == GARBAGE_ADDR or rows == 0 or cols == 0:
            return out
        if addr >> 31:
            raise UndefinedBehavior(f"{what}: operand in the accumulator")
        if addr & 0x7FFFC000:
            raise UndefinedBehavior(f"{what}: address {addr:#x} has high bits set")
        base = addr & 0x3FFF
        if not transposed:
            self._check_rows(False, base, base + stride * (rows - 1), what)
            idx = base + stride * np.arange(rows)
            out[:rows, :cols] = self.sp[idx, :cols]
        else:
            # stored (cols x rows): logical (r, c) at row base + stride*c, column r
            self._check_rows(False, base, base + stride * (cols - 1), what)
            idx = base + stride * np.arange(cols)
            out[:rows, :cols] = self.sp[idx, :rows].T
        return out

    def compute_preloaded(self, rs1, rs2):
        self._compute(True, rs1, rs2)

    def compute_accumulated(self, rs1, rs2):
        self._compute(False, rs1, rs2)

    def _compute(self, preloaded: bool, rs1: int, rs2: int) -> None:
        pre = self.preload
        if pre is None:
            raise UndefinedBehavior("compute without a preload")
        if not self.ex_configured:
            raise UndefinedBehavior("compute before config_ex")
        if not preloaded and self.pe_mode != self.dataflow:
            raise UndefinedBehavior("compute_accumulated without valid PE state")
        a_addr, a_cols, a_rows = _fields(rs1)
        bd2, bd2_cols, bd2_rows = _fields(rs2)
        dim = self.dim
        if max(a_cols, a_rows, bd2_cols, bd2_rows) > dim:
            raise UndefinedBehavior("compute: rows/cols > DIM")
        if a_addr == GARBAGE_ADDR:
            raise UndefinedBehavior("compute: GARBAGE A reads undefined data")
        A = self._read_sp(a_addr, a_rows, a_cols, self.a_transpose, self.a_stride, "compute A")
        if self.dataflow == OS:
            B = self._read_sp(bd2, bd2_rows, bd2_cols, self.b_transpose, 1, "compute B")
            if preloaded:
                P = self._read_sp(pre.bd_addr, pre.bd_rows, pre.bd_cols, False, 1, "preload D")
            else:
                P = self.P
            P = P + A @ B
            if np.any(np.abs(P) >= OS_PARTIAL_LIMIT):
                raise UndefinedBehavior("OS partial sum exceeds the 20-bit array range")
            out = rrs(P, self.sys_shift)
            new_P, new_W = P, self.W
        else:
            if preloaded:
                W = self._read_sp(pre.bd_addr, pre.bd_rows, pre.bd_cols, self.b_transpose, 1, "preload B")
            else:
                W = self.W
            D = self._read_sp(bd2, bd2_rows, bd2_cols, False, 1, "compute D")
            out = D + A @ W
            new_P, new_W = self.P, W
        c = pre.c_addr
        cv = self.coverage
        cv[("os" if self.dataflow == OS else "ws") + ("_preloaded" if preloaded else "_accumulated")] += 1
        cv["os_shift"] += self.dataflow == OS and self.sys_shift > 0
        cv["a_transpose"] += self.a_transpose
        cv["b_transpose"] += self.b_transpose
        cv["c_to_" + ("garbage" if c == GARBAGE_ADDR else "acc" if c >> 31 else "sp")] += 1
        cv["sys_relu"] += self.sys_act == 1 and c != GARBAGE_ADDR and not c >> 31
        if c != GARBAGE_ADDR and pre.c_rows and pre.c_cols:
            is_acc, accumulate, base = self._decode_write_addr(c, "compute C")
            rows, cols = pre.c_rows, pre.c_cols
            self._check_rows(is_acc, base, base + self.c_stride * (rows - 1), "compute C")
            if rows > 1 and self.c_stride == 0:
                raise UndefinedBehavior("compute: c_stride 0 with several output rows")
            if self.dataflow == OS and self.c_stride != 1 and rows > 1:
                raise UndefinedBehavior("compute: OS with c_stride != 1 is unverified")
            idx = base + self.c_stride * np.arange(rows)
            blk = out[:rows, :cols]
            if is_acc:
                if accumulate:
                    self.acc[idx, :cols] = wrap32(self.acc[idx, :cols].astype(np.int64) + blk)
                else:
                    self.acc[idx, :cols] = wrap32(blk)
            else:
                v = sat8(blk)
                if self.sys_act == ACT_RELU:
                    v = np.maximum(v, 0)
                self.sp[idx, :cols] = v
        self.P, self.W = new_P, new_W
        self.pe_mode = self.dataflow
        self.preload = None

    # ---- misc -----------------------------------------------------------------------------------
    def flush(self, rs1, rs2):
        pass

    def counter(self, rs1, rs2):
        pass  # performance counters are microarchitectural; not modelled

    # ---- loop_ws --------------------------------------------------------------------------------
    def loop_ws_config_bounds(self, rs1, rs2):
        L = self.loop
        L.pad_I, L.pad_J, L.pad_K = rs1 & 0xFFFF, (rs1 >> 16) & 0xFFFF, (rs1 >> 32) & 0xFFFF
        L.I, L.J, L.K = rs2 & 0xFFFF, (rs2 >> 16) & 0xFFFF, (rs2 >> 32) & 0xFFFF
        L.set.add("bounds")

    def loop_ws_config_addrs_ab(self, rs1, rs2):
        self.loop.A, self.loop.B = rs1, rs2
        self.loop.set.add("ab")

    def loop_ws_config_addrs_dc(self, rs1, rs2):
        self.loop.D, self.loop.C = rs1, rs2
        self.loop.set.add("dc")

    def loop_ws_config_strides_ab(self, rs1, rs2):
        self.loop.A_stride, self.loop.B_stride = rs1, rs2
        self.loop.set.add("sab")

    def loop_ws_config_strides_dc(self, rs1, rs2):
        self.loop.D_stride, self.loop.C_stride = rs1, rs2
        self.loop.set.add("sdc")

    def loop_ws_unroll(self, rs1: int, rs2: int) -> list[tuple[int, int, int]]:
        """The instruction sequence a loop_ws run command stands for (§3.7, §4.5)."""
        L = self.loop
        if L.set != {"bounds", "ab", "dc", "sab", "sdc"}:
            raise UndefinedBehavior("loop_ws before all five loop configs")
        dim = self.dim
        I, J, K = L.I, L.J, L.K
        pad_I, pad_J, pad_K = L.pad_I, L.pad_J, L.pad_K
        ex_acc = rs1 & 1
        full_C = (rs1 >> 1) & 1
        low_D = (rs1 >> 2) & 1
        act = (rs1 >> 8) & 7
        b_spad_id = (rs1 >> 16) & 3
        a_spad_id = (rs1 >> 18) & 3
        a_t = rs2 & 1
        b_t = (rs2 >> 1) & 1
        is_resadd = (rs2 >> 2) & 1
        if rs2 >> 3 or (rs1 >> 20) or (rs1 >> 11) & 0x1F or (rs1 >> 3) & 0x1F:
            raise UndefinedBehavior("loop_ws: reserved bits set")
        if max(pad_I, pad_J, pad_K) >= dim:
            raise UndefinedBehavior("loop_ws: pad >= DIM")
        if I == 0 or J == 0 or (K == 0 and not is_resadd):
            raise UndefinedBehavior("loop_ws: zero bounds")
        if not self.st_configured or act != self.act:
            raise UndefinedBehavior("loop_ws: act differs from the config_st activation")
        if self.pool_stride:
            raise UndefinedBehavior("loop_ws with pooling configured")
        if act in (ACT_LAYERNORM, ACT_SOFTMAX) and full_C:
            raise UndefinedBehavior("loop_ws: normalization with full_C")
        half_sp = self.sp_rows // 2
        out: list[tuple[int, int, int]] = []
        acc_D = ACC_BIT
        acc_C = ACC_BIT | ACCUMULATE_BIT | (READ_FULL_BIT if full_C else 0)
        csize = 4 if full_C else 1
        last_rows = lambda i, n, pad: dim - pad if i == n - 1 else dim  # noqa: E731
        ld = self.ld
        if is_resadd:
            if K != 0:
                raise UndefinedBehavior("loop_ws resadd with K != 0")
            if not (ld[0].configured and ld[1].configured and ld[0].shrunk and ld[1].shrunk):
                raise UndefinedBehavior("loop_ws resadd needs shrunk load states 0 and 1")
            if I * J * dim > self.acc_rows // 2:
                raise UndefinedBehavior("loop_ws: accumulator capacity exceeded")
            for i in range(I):
                for j in range(J):
                    rows, cols = last_rows(i, I, pad_I), last_rows(j, J, pad_J)
                    row = (i * J + j) * dim
                    if L.A:
                        out.append((MVIN, (L.A + (i * L.A_stride + j) * dim) & MASK64,
                                    pack(acc_D + row, cols, rows)))
                    if L.B:
                        out.append((MVIN2, (L.B + (i * L.B_stride + j) * dim) & MASK64,
                                    pack(ACC_BIT | ACCUMULATE_BIT | row, cols, rows)))
                    if L.C:
                        out.append((MVOUT, (L.C + (i * L.C_stride + j) * dim * csize) & MASK64,
                                    pack(acc_C + row, cols, rows)))
            return out
        if not self.ex_configured or self.dataflow != WS:
            raise UndefinedBehavior("loop_ws needs WS dataflow")
        if bool(a_t) != self.a_transpose or bool(b_t) != self.b_transpose:
            raise UndefinedBehavior("loop_ws: transposes differ from config_ex")
        if self.a_stride != 1 or self.c_stride != 1:
            raise UndefinedBehavior("loop_ws: config_ex a_stride / c_stride must be 1")
        if (I * K + K * J) * dim > half_sp or I * J * dim > self.acc_rows // 2:
            raise UndefinedBehavior("loop_ws: capacity exceeded")
        if L.D and ld[2].configured and bool(ld[2].shrunk) != bool(low_D):
            raise UndefinedBehavior("loop_ws: load state 2 shrunk differs from low_D")
        A_base = half_sp if a_spad_id == 2 else 0
        B_base = (self.sp_rows if b_spad_id == 2 else half_sp) - K * J * dim
        dsize = 1 if low_D else 4

        def a_tile(i, k):
            return A_base + ((k * I + i) if a_t else (i * K + k)) * dim

        def b_tile(k, j):
            return B_base + ((j * K + k) if b_t else (k * J + j)) * dim

        if L.D:
            for i in range(I):
                for j in range(J):
                    out.append((MVIN3, (L.D + (i * L.D_stride + j) * dim * dsize) & MASK64,
                                pack(acc_D + (i * J + j) * dim, last_rows(j, J, pad_J), last_rows(i, I, pad_I))))
        for k in range(K):
            for j in range(J):
                for i in range(I):
                    ri, cj, rk = last_rows(i, I, pad_I), last_rows(j, J, pad_J), last_rows(k, K, pad_K)
                    if j == 0 and L.A:
                        if a_t:
                            out.append((MVIN, (L.A + (k * L.A_stride + i) * dim) & MASK64, pack(a_tile(i, k), ri, rk)))
                        else:
                            out.append((MVIN, (L.A + (i * L.A_stride + k) * dim) & MASK64, pack(a_tile(i, k), rk, ri)))
                    if i == 0 and L.B:
                        if b_t:
                            out.append((MVIN2, (L.B + (j * L.B_stride + k) * dim) & MASK64, pack(b_tile(k, j), rk, cj)))
                        else:
                            out.append((MVIN2, (L.B + (k * L.B_stride + j) * dim) & MASK64, pack(b_tile(k, j), cj, rk)))
                    c_addr = ACC_BIT | ACCUMULATE_BIT | ((i * J + j) * dim)
                    if not ex_acc and k == 0:
                        c_addr &= ~ACCUMULATE_BIT
                    b_addr = b_tile(k, j) if i == 0 else GARBAGE_ADDR
                    out.append((PRELOAD, pack(b_addr, cj, rk), pack(c_addr, cj, ri)))
                    out.append((COMPUTE_PRELOADED if i == 0 else COMPUTE_ACCUMULATED,
                                pack(a_tile(i, k), rk, ri), pack(GARBAGE_ADDR, cj, ri)))
                    if k == K - 1 and L.C:
                        if act not in (ACT_LAYERNORM, ACT_SOFTMAX):
                            out.append((MVOUT, (L.C + (i * L.C_stride + j) * dim * csize) & MASK64,
                                        pack(acc_C + (i * J + j) * dim, cj, ri)))
                        elif j == J - 1:
                            out += self.norm_passes(act, L.C + i * dim * L.C_stride * csize,
                                                    acc_C + i * J * dim, ri, J * dim - pad_J, L.C_stride, csize)
        return out

    def norm_passes(self, act: int, Cd: int, Cb: int, rows: int, Jc: int, ldc: int, esize: int,
                    W: int | None = None) -> list[tuple[int, int, int]]:
        """The §4.5 pass sequence for one row block (config_norm set_stats_id_only form)."""
        W = W or self.dim
        nsi = len(self.slots)
        if act == ACT_LAYERNORM:
            passes = [(NORM_SUM, NORM_MEAN), (NORM_VARIANCE, NORM_INV_STDDEV), (NORM_RESET, NORM_RESET)]
        else:
            passes = [(NORM_MAX, NORM_MAX), (NORM_SUM_EXP, NORM_INV_SUM_EXP), (NORM_RESET, NORM_RESET)]
        out = []
        row0 = 0
        while row0 < rows:
            n = min(nsi, rows - row0)
            for other, last in passes:
                for s in range(n):
                    out.append((CONFIG, CONFIG_NORM | (s << 8) | (1 << 17), 0))
                    r = row0 + s
                    c0 = 0
                    while c0 < Jc:
                        code = last if c0 + W >= Jc else other
                        out.append((MVOUT, (Cd + (r * ldc + c0) * esize) & MASK64,
                                    pack((Cb + c0 + r) | (code << 26), min(W, Jc - c0), 1)))
                        c0 += W
            row0 += nsi
        return out

    def loop_ws(self, rs1: int, rs2: int) -> None:
        seq = self.loop_ws_unroll(rs1, rs2)
        self.coverage["loop_ws_resadd" if (rs2 >> 2) & 1 else f"loop_ws_act{(rs1 >> 8) & 7}"] += 1
        for f, a, b in seq:
            self.execute(f, a, b)
        self.executed -= len(seq)

    def loop_conv_ws(self, rs1, rs2):
        raise UndefinedBehavior("loop_conv_ws is not modelled")

    def fence(self, rs1, rs2):
        pass

    _dispatch = {
        CONFIG: config,
        MVIN2: mvin2,
        MVIN: mvin,
        MVOUT: mvout,
        COMPUTE_PRELOADED: compute_preloaded,
        COMPUTE_ACCUMULATED: compute_accumulated,
        PRELOAD: preload_,
        FLUSH: flush,
        LOOP_WS: loop_ws,
        LOOP_WS_CONFIG_BOUNDS: loop_ws_config_bounds,
        LOOP_WS_CONFIG_ADDRS_AB: loop_ws_config_addrs_ab,
        LOOP_WS_CONFIG_ADDRS_DC: loop_ws_config_addrs_dc,
        LOOP_WS_CONFIG_STRIDES_AB: loop_ws_config_strides_ab,
        LOOP_WS_CONFIG_STRIDES_DC: loop_ws_config_strides_dc,
        MVIN3: mvin3,
        LOOP_CONV_WS: loop_conv_ws,
        COUNTER: counter,
    }


def _tdiv(a: int, b: int) -> int:
    """Integer division truncating toward zero (C semantics)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


# ---- encoders for the common instructions (register values, §2) --------------------------------

def enc_config_ex(dataflow: int = WS, sys_act: int = 0, sys_shift: int = 0, sys_acc_scale: float = 1.0,
                  c_stride: int = 1, a_stride: int = 1, a_transpose: bool = False, b_transpose: bool = False,
                  set_only_strides: bool = False) -> tuple[int, int, int]:
    rs1 = (CONFIG_EX | (dataflow << 2) | ((sys_act & 3) << 3) | (int(set_only_strides) << 7)
           | (int(a_transpose) << 8) | (int(b_transpose) << 9) | ((a_stride & 0xFFFF) << 16)
           | (f32_bits(sys_acc_scale) << 32))
    rs2 = (sys_shift & MASK32) | ((c_stride & 0xFFFF) << 48)
    return CONFIG, rs1, rs2


def enc_config_ld(stride: int, scale: float = 1.0, shrunk: bool = False, block_stride: int = 16,
                  pixel_repeats: int = 1, state_id: int = 0) -> tuple[int, int, int]:
    rs1 = (CONFIG_LD | (int(shrunk) << 2) | ((state_id & 3) << 3) | ((pixel_repeats & 0xFF) << 8)
           | ((block_stride & 0xFFFF) << 16) | (f32_bits(scale) << 32))
    return CONFIG, rs1, stride & MASK64


def enc_config_st(stride: int, act: int = 0, scale: float = 1.0, pool_stride: int = 0, pool_size: int = 0,
                  pool_out_dim: int = 0, porows: int = 0, pocols: int = 0, orows: int = 0, ocols: int = 0,
                  upad: int = 0, lpad: int = 0) -> tuple[int, int, int]:
    rs1 = (CONFIG_ST | ((act & 3) << 2) | ((pool_stride & 3) << 4) | ((pool_size & 3) << 6)
           | ((upad & 3) << 8) | ((lpad & 3) << 10) | ((pool_out_dim & 0xFF) << 24) | ((porows & 0xFF) << 32)
           | ((pocols & 0xFF) << 40) | ((orows & 0xFF) << 48) | ((ocols & 0xFF) << 56))
    rs2 = (stride & MASK32) | (f32_bits(scale) << 32)
    return CONFIG, rs1, rs2


def enc_config_norm(q_const: int = 0, q_const_type: int = 0, set_stats_id_only: int = 0, act_msb: int = 0,
                    stat_id: int = 0, igelu_qb: int = 0, igelu_qc: int = 0) -> tuple[int, int, int]:
    rs1 = (CONFIG_NORM | ((stat_id & 0xFF) << 8) | ((act_msb & 1) << 16) | ((set_stats_id_only & 1) << 17)
           | ((q_const_type & 1) << 18) | ((q_const & MASK32) << 32))
    rs2 = (igelu_qb & MASK32) | ((igelu_qc & MASK32) << 32)
    return CONFIG, rs1, rs2


def enc_loop_ws(I, J, K, pad_I, pad_J, pad_K, A, B, D, C, A_stride, B_stride, D_stride, C_stride,
                A_transpose=False, B_transpose=False, full_C=False, low_D=False, ex_accumulate=False,
                act=0, a_spad_id=0, b_spad_id=0, is_resadd=False) -> list[tuple[int, int, int]]:
    """The six instructions of ``gemmini_loop_ws`` (§2.9)."""
    return [
        (LOOP_WS_CONFIG_BOUNDS, pad_I | (pad_J << 16) | (pad_K << 32), I | (J << 16) | (K << 32)),
        (LOOP_WS_CONFIG_ADDRS_AB, A, B),
        (LOOP_WS_CONFIG_ADDRS_DC, D, C),
        (LOOP_WS_CONFIG_STRIDES_AB, A_stride, B_stride),
        (LOOP_WS_CONFIG_STRIDES_DC, D_stride, C_stride),
        (LOOP_WS, int(ex_accumulate) | (int(full_C) << 1) | (int(low_D) << 2) | ((act & 7) << 8)
         | ((b_spad_id & 3) << 16) | ((a_spad_id & 3) << 18),
         int(A_transpose) | (int(B_transpose) << 1) | (int(is_resadd) << 2)),
    ]


def describe(funct: int, rs1: int, rs2: int) -> str:
    """One-line human description of an instruction."""
    name = FUNCT_NAMES.get(funct, f"funct{funct}")
    if funct == CONFIG:
        name = ("config_ex", "config_ld", "config_st", "config_norm")[rs1 & 3]
    extra = ""
    if funct in (MVIN, MVIN2, MVIN3, MVOUT, PRELOAD, COMPUTE_PRELOADED, COMPUTE_ACCUMULATED):
        a, c, r = _fields(rs2)
        extra = f"  [rs2: addr={a:#010x} cols={c} rows={r}]"
        if funct in (PRELOAD, COMPUTE_PRELOADED, COMPUTE_ACCUMULATED):
            a1, c1, r1 = _fields(rs1)
            extra = f"  [rs1: addr={a1:#010x} cols={c1} rows={r1}]" + extra
    return f"{name:<26} rs1={rs1:#018x} rs2={rs2:#018x}{extra}"


__all__ = [name for name in dir() if not name.startswith("_")]
