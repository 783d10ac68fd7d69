"""Build a Relax module with TVM's LLVM target and run it on the host on numpy inputs.

This is the host reference path: ``relax.build(mod, Target({"kind": "llvm"}))`` plus
``relax.VirtualMachine``.  Integer modules built here are the bit-exact reference for what
Gemmini must compute.
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


def build_host(mod) -> HostModule:
    """``relax.build`` for the LLVM host target; returns a callable :class:`HostModule`."""
    import tvm
    from tvm import relax

    ex = relax.build(mod, tvm.target.Target({"kind": "llvm"}))
    vm = relax.VirtualMachine(ex, tvm.cpu())
    names = tuple(p.name for p in mod["main"].params)
    return HostModule(vm, names)


def run_on_host(mod, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]):
    """Build ``mod`` and run ``main`` once on ``inputs``; returns numpy array(s)."""
    m = build_host(mod)
    return m(inputs) if isinstance(inputs, Mapping) else m(*inputs)
