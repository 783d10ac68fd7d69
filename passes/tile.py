"""Tiling for Gemmini: plan each matmul to fit the scratchpad and accumulator.

Entry point: :func:`plan_matmul` returns a :class:`MatmulPlan`, a typed, printable record of
how one ``C[M,N] = A[M,K] @ B[K,N] (+ D)`` runs on a given hardware config:

* weight-stationary dataflow, issued as one ``loop_ws`` per tile block;
* tile sizes (in DIM×DIM tiles) chosen so that A and B blocks fit in *half* the scratchpad
  and the C block in *half* the accumulator, leaving the other halves to the next block
  (double buffering, as Gemmini's loop unroller alternates halves);
* among all tile shapes that fit, the one that moves the fewest bytes between DRAM and the
  private memories, then the one with the fewest ``loop_ws`` calls; block sizes are then
  balanced (the same number of blocks, none ragged).  Gemmini's own
  ``tiled_matmul_auto`` grows tiles greedily instead; an exhaustive search over at most a
  few thousand shapes costs microseconds and finds better reuse;
* padding for dimensions that are not multiples of DIM (the pad counts loop_ws takes);
* the loop order (i0, j0, k0 with k0 innermost, so partial sums stay in the accumulator);
* the expected MACs, real and padded.

Normalization epilogues (LayerNorm / softmax on the normalization unit) need a whole row
block in the accumulator, so their plans force ``tile_j`` to cover all of N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from l2g.hwconfig import GemminiConfig


@dataclass(frozen=True)
class MatmulPlan:
    """How one matmul maps onto Gemmini.  Tile counts are in DIM×DIM tiles."""

    name: str
    config: str
    dim: int
    m: int
    k: int
    n: int
    tile_i: int
    tile_j: int
    tile_k: int
    dataflow: str = "WS"
    loop_order: tuple[str, str, str] = ("i", "j", "k")
    use_loop_ws: bool = True
    row_epilogue: bool = False

    # ---- derived geometry ----------------------------------------------------------------
    @property
    def tiles_m(self) -> int:
        return math.ceil(self.m / self.dim)

    @property
    def tiles_k(self) -> int:
        return math.ceil(self.k / self.dim)

    @property
    def tiles_n(self) -> int:
        return math.ceil(self.n / self.dim)

    @property
    def pad_m(self) -> int:
        return self.tiles_m * self.dim - self.m

    @property
    def pad_k(self) -> int:
        return self.tiles_k * self.dim - self.k

    @property
    def pad_n(self) -> int:
        return self.tiles_n * self.dim - self.n

    @property
    def blocks(self) -> tuple[int, int, int]:
        """Number of tile blocks along (i, j, k)."""
        return (
            math.ceil(self.tiles_m / self.tile_i),
            math.ceil(self.tiles_n / self.tile_j),
            math.ceil(self.tiles_k / self.tile_k),
        )

    @property
    def loop_ws_calls(self) -> int:
        bi, bj, bk = self.blocks
        return bi * bj * bk

    @property
    def macs(self) -> int:
        return self.m * self.k * self.n

    @property
    def padded_macs(self) -> int:
        return self.tiles_m * self.tiles_k * self.tiles_n * self.dim**3

    @property
    def sp_rows_used(self) -> int:
        return (self.tile_i * self.tile_k + self.tile_k * self.tile_j) * self.dim

    @property
    def acc_rows_used(self) -> int:
        return self.tile_i * self.tile_j * self.dim

    @property
    def dram_bytes(self) -> int:
        """Estimated DRAM traffic: A once per j-block, B once per i-block, C and bias once."""
        bi, bj, _ = self.blocks
        return _traffic(self.m, self.k, self.n, bi, bj)

    def describe(self) -> str:
        bi, bj, bk = self.blocks
        return (
            f"{self.name}: {self.m}x{self.k}x{self.n} on {self.config} ({self.dataflow}, loop_ws)\n"
            f"  tiles (DIM={self.dim}): i={self.tile_i} j={self.tile_j} k={self.tile_k}; "
            f"blocks {bi}x{bj}x{bk} = {self.loop_ws_calls} loop_ws calls, order {''.join(self.loop_order)}\n"
            f"  padding: m+{self.pad_m} k+{self.pad_k} n+{self.pad_n}; "
            f"scratchpad {self.sp_rows_used} rows, accumulator {self.acc_rows_used} rows (per half)\n"
            f"  MACs {self.macs:,} (padded {self.padded_macs:,}); est. DRAM traffic {self.dram_bytes:,} B"
        )


def _traffic(m: int, k: int, n: int, blocks_i: int, blocks_j: int) -> int:
    a = m * k * blocks_j  # int8 A, reloaded for each j-block
    b = k * n * blocks_i  # int8 B, reloaded for each i-block
    c = m * n  # int8 C written once
    d = 4 * n * blocks_i  # int32 bias row, broadcast, once per i-block
    return a + b + c + d


class TilingError(ValueError):
    pass


def plan_matmul(
    cfg: GemminiConfig, m: int, k: int, n: int, *, name: str = "matmul", row_epilogue: bool = False
) -> MatmulPlan:
    """Choose tile sizes for ``C[m,n] = A[m,k] @ B[k,n]`` on ``cfg``.

    ``row_epilogue``: the output goes through a per-row normalization (LayerNorm/softmax on the
    normalization unit), so each i-block must hold all of N in the accumulator.
    """
    if min(m, k, n) <= 0:
        raise TilingError(f"{name}: matmul sizes must be positive, got m={m} k={k} n={n}")
    dim = cfg.dim
    tm, tk, tn = (math.ceil(x / dim) for x in (m, k, n))
    sp_half = cfg.sp_rows // 2
    acc_half = cfg.acc_rows // 2
    best: tuple | None = None
    j_choices = [tn] if row_epilogue else range(1, tn + 1)
    for tj in j_choices:
        for ti in range(1, tm + 1):
            if ti * tj * dim > acc_half:
                break
            # the largest tile_k that fits is always best for a given (ti, tj): fewer calls,
            # same traffic
            tk_fit = min(tk, (sp_half // dim) // (ti + tj)) if (ti + tj) else 0
            if tk_fit < 1:
                continue
            bi, bj, bk = math.ceil(tm / ti), math.ceil(tn / tj), math.ceil(tk / tk_fit)
            key = (_traffic(m, k, n, bi, bj), bi * bj * bk, -(ti * tj))
            if best is None or key < best[0]:
                best = (key, ti, tj, tk_fit)
    if best is None:
        what = f"a full row of {n} columns" if row_epilogue else "one DIM×DIM tile of A, B and C"
        raise TilingError(
            f"{name}: {what} does not fit half of config {cfg.name!r} "
            f"(scratchpad {cfg.sp_rows} rows, accumulator {cfg.acc_rows} rows)"
        )
    _, ti, tj, tkf = best
    # Same block counts, balanced sizes: a ragged last block (say 42 + 6 tiles of K) runs
    # with a short pipeline whose fill and drain are not hidden.
    ti = math.ceil(tm / math.ceil(tm / ti))
    tj = tn if row_epilogue else math.ceil(tn / math.ceil(tn / tj))
    tkf = math.ceil(tk / math.ceil(tk / tkf))
    return MatmulPlan(
        name=name, config=cfg.name, dim=dim, m=m, k=k, n=n, tile_i=ti, tile_j=tj, tile_k=tkf,
        row_epilogue=row_epilogue,
    )
