"""Build a Relax module with TVM's LLVM target and run it on the host on numpy inputs.

This is the host reference path: ``relax.build(mod, Target({"kind": "llvm"}))`` plus
``relax.VirtualMachine``.  Integer modules built here are the bit-exact reference for what
Gemmini must compute.

:func:`schedule_host` (on by default in :func:`build_host`) legalizes the module and gives
every matmul-like TIR reduction a CPU schedule before ``relax.build``: legalized matmuls
otherwise run as naive ``i, j, k`` loops reading ``B[k, j]`` with a stride, which is most of
the host time (MiniLM at seq 64, integer-only: ≈ 0.6 s of 0.65 s per sentence; ≈ 0.2 s in
all once scheduled).  The schedule only moves the reduction loop outward (``i, k, j``),
vectorizes and parallelizes *spatial* loops, so each output element still sums over ``k`` in
the same sequential order: results, float ones included, stay bit-identical to the
unscheduled build.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np


@dataclass
class HostModule:
    """A built module: call it with numpy arrays (positional or by parameter name)."""

    vm: Any
    param_names: tuple[str, ...]

    def __call__(self, *args, **kwargs):
        import tvm

        if args and isinstance(args[0], Mapping):
            kwargs = dict(args[0])
            args = ()
        if kwargs:
            missing = [n for n in self.param_names if n not in kwargs]
            if missing:
                from l2g.errors import L2GError

                raise L2GError(f"missing inputs {missing}; the module takes {list(self.param_names)}")
            args = tuple(kwargs[n] for n in self.param_names)
        out = self.vm["main"](*[tvm.runtime.tensor(np.ascontiguousarray(a)) for a in args])
        return _to_numpy(out)


def _to_numpy(out):
    if hasattr(out, "numpy"):
        return out.numpy()
    return tuple(_to_numpy(o) for o in out)


def build_host(mod, *, schedule: bool = True) -> HostModule:
    """``relax.build`` for the LLVM host target; returns a callable :class:`HostModule`.

    ``schedule=False`` builds the plain legalized TIR (same results, slower)."""
    import tvm
    from tvm import relax

    target = tvm.target.Target({"kind": "llvm"})
    if schedule:
        mod = schedule_host(mod, target)
    # The default pipeline re-runs LegalizeOps, a no-op on the already legalized module.
    ex = relax.build(mod, target)
    vm = relax.VirtualMachine(ex, tvm.cpu())
    names = tuple(p.name for p in mod["main"].params)
    return HostModule(vm, names)


def run_on_host(mod, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]):
    """Build ``mod`` and run ``main`` once on ``inputs``; returns numpy array(s)."""
    m = build_host(mod)
    return m(inputs) if isinstance(inputs, Mapping) else m(*inputs)


#: Lanes of the innermost vectorized loop (LLVM splits it into the target's registers).
_VECTOR_LANES = 16


def schedule_host(mod, target: Any = None):
    """Legalize ``mod`` as ``relax.build``'s default pipeline would, then schedule its matmuls.

    Returns the legalized module with each matmul-like PrimFunc replaced by its scheduled
    version (function attribute ``l2g.host_scheduled``); a PrimFunc the schedule does not fit
    is kept as it is."""
    import tvm
    from tvm import relax

    target = target or tvm.target.Target({"kind": "llvm"})
    with target:  # the same first passes, in the same order, as relax's "default" pipeline
        mod = tvm.transform.Sequential(
            [relax.backend.DispatchSampling(), relax.backend.DispatchSortScan(), relax.transform.LegalizeOps()]
        )(mod)
    scheduled = {gv: _schedule_matmul(f) for gv, f in mod.functions.items() if isinstance(f, tvm.tirx.PrimFunc)}
    for gv, func in scheduled.items():
        if func is not None:
            mod[gv] = func
    return mod


def _schedule_matmul(func):
    """``i.., k, j`` order + vectorized ``j`` + parallel outer loop, or None if it does not apply.

    Applies to a PrimFunc whose only block is ``C[.., j] (+)= f(A[.., k], B[.., k, j])``:
    spatial loops then one reduction loop innermost, one loop per block iterator, ``j`` the
    last index of the output and of a read.  Moving ``k`` above ``j`` keeps every output's
    own sum over ``k`` sequential (``j`` is spatial), so no result bit changes."""
    import tvm
    from tvm import s_tir

    try:
        sch = s_tir.Schedule(func)
        blocks = sch.get_child_blocks(sch.get_sblock("root"))
        if len(blocks) != 1:
            return None
        block = blocks[0]
        stmt = sch.get(block)
        loops = sch.get_loops(block)
        iters = stmt.iter_vars
        kinds = [iv.iter_type for iv in iters]
        IterVar = tvm.tirx.IterVar
        if (len(loops) != len(iters) or len(iters) < 3 or kinds[-1] != IterVar.CommReduce
                or any(t != IterVar.DataPar for t in kinds[:-1])):
            return None
        # loops bound one-to-one, in order, to the block iterators (what legalization emits)
        realize = sch.get(loops[-1]).body
        if not isinstance(realize, s_tir.SBlockRealize) or any(
            not v.same_as(sch.get(lp).loop_var) for v, lp in zip(realize.iter_values, loops)
        ):
            return None
        j, k = iters[-2].var, iters[-1].var
        out_last = [w.region[-1].min for w in stmt.writes]
        if len(out_last) != 1 or not out_last[0].same_as(j):
            return None
        if not any(r.region[-1].min.same_as(j) and any(x.min.same_as(k) for x in r.region) for r in stmt.reads):
            return None  # no B[.., k, j]: k innermost is already the contiguous walk
        lj, lk = loops[-2], loops[-1]
        sch.reorder(lk, lj)
        if int(sch.get(lj).extent) % _VECTOR_LANES == 0:
            _, inner = sch.split(lj, [None, _VECTOR_LANES])
            sch.vectorize(inner)
        # one parallel loop over the outer rows: each thread owns whole output rows
        sch.parallel(sch.fuse(*loops[:-2]) if len(loops) > 3 else loops[0])
        # Last: vectorize/parallel need the block with its init; the init block made here
        # (C = 0 under the rows, above k) copies the annotated loops.
        sch.decompose_reduction(block, lk)
        return sch.mod["main"].with_attr("l2g.host_scheduled", True)
    except Exception:  # noqa: BLE001 - any schedule failure means: keep the plain function
        return None
