"""Running a compiled model directory (``l2g compile`` output) on Spike, and checking it.

:func:`run_compiled` runs ``model.elf`` with the Gemmini extension configured as the model
was compiled, and returns a :class:`RunReport`: the outputs, the per-op cycle table (from the
cycle model's clock, read around every op), the extension's statistics, and, with
``check=True``, the bit-for-bit comparison with the host reference (``reference.json`` built
with TVM's LLVM target).  When outputs differ, the program is rebuilt to dump every op's
result and compared op by op with the legalized module on the host, so the report names the
first op and tensor that differ.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from l2g.errors import L2GError


@dataclass(frozen=True)
class OpCycles:
    index: int
    name: str
    kind: str
    cycles: int
    share: float
    macs: int
    utilization: float  # MACs / (cycles * DIM^2)


@dataclass
class Mismatch:
    """The first place where the target differs from the host reference."""

    tensor: str
    op: str | None
    index: tuple[int, ...]
    expected: float
    got: float
    differing: int
    total: int

    def describe(self) -> str:
        where = f"op {self.op} " if self.op else ""
        return (f"{where}tensor {self.tensor}: {self.differing} of {self.total} elements differ; "
                f"first at index {list(self.index)}: expected {self.expected}, got {self.got}")


@dataclass
class RunReport:
    config: str
    mode: str
    outputs: dict[str, np.ndarray]
    ops: list[OpCycles]
    total_cycles: int  # one inference, from the first op to the last (cycle-model clock)
    gemmini_stats: dict | None  # the extension's statistics for the whole program run
    stdout: str
    check: str = "not run"  # "not run" | "bit-exact" | "MISMATCH"
    mismatch: Mismatch | None = None
    wall_seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "config": self.config, "mode": self.mode, "total_cycles": self.total_cycles,
            "check": self.check, "mismatch": asdict(self.mismatch) if self.mismatch else None,
            "ops": [asdict(o) for o in self.ops], "gemmini_stats": self.gemmini_stats,
            "outputs": {k: {"dtype": str(v.dtype), "shape": list(v.shape)} for k, v in self.outputs.items()},
            "wall_seconds": self.wall_seconds,
        }

    def table(self, limit: int | None = None) -> str:
        return format_op_table([(o.name, o.kind, o.cycles, o.share, o.macs, o.utilization) for o in self.ops],
                               self.total_cycles, limit)


def format_op_table(ops: Sequence[tuple[str, str, int, float, int, float]], total: int,
                    limit: int | None = None) -> str:
    """The per-op cycle table, most expensive first: rows of ``(name, unit, cycles, share,
    MACs, utilization)``; ``limit`` keeps the top rows and says how many were left out."""
    rows = sorted(ops, key=lambda o: -o[2])
    if limit:
        rows = rows[:limit]

    def short(name: str, width: int = 56) -> str:  # fused kernels have very long names
        return name if len(name) <= width else name[: width - 3] + "..."

    w = max([len(short(o[0])) for o in rows] + [5])
    lines = [f"{'op':<{w}}  {'unit':<7} {'cycles':>12} {'share':>7} {'MACs':>14} {'util':>6}"]
    for name, unit, cycles, share, macs, util in rows:
        u = f"{100 * util:5.1f}%" if macs else "     -"
        lines.append(f"{short(name):<{w}}  {unit:<7} {cycles:>12,} {100 * share:6.2f}% {macs:>14,} {u}")
    if limit and len(ops) > limit:
        lines.append(f"... {len(ops) - limit} more ops (all of them are in report.json)")
    lines.append(f"{'total':<{w}}  {'':<7} {total:>12,}")
    return "\n".join(lines)


def _op_table(manifest, cycles: np.ndarray) -> list[OpCycles]:
    total = int(cycles.sum()) or 1
    dim2 = manifest.dim * manifest.dim
    out = []
    for i, (op, c) in enumerate(zip(manifest.ops, cycles.tolist())):
        util = op.macs / (c * dim2) if c and op.macs else 0.0
        out.append(OpCycles(i, op.name, op.kind, int(c), c / total, op.macs, util))
    return out


def _first_mismatch(name: str, expected: np.ndarray, got: np.ndarray, op: str | None) -> Mismatch | None:
    expected = np.asarray(expected)
    got = np.asarray(got).reshape(expected.shape).astype(expected.dtype, copy=False)  # bool travels as uint8
    if expected.dtype.kind == "f":
        diff = ~((expected == got) | (np.isnan(expected) & np.isnan(got)))
    else:
        diff = expected != got
    if not diff.any():
        return None
    idx = tuple(int(i) for i in np.argwhere(diff)[0])
    return Mismatch(name, op, idx, expected[idx].item(), got[idx].item(), int(diff.sum()), int(diff.size))


def tokenize_texts(manifest, texts: Sequence[str]) -> dict[str, np.ndarray]:
    if not manifest.model_dir:
        raise L2GError("this model was compiled from an ONNX file, so it has no tokenizer: pass --inputs FILE.npz")
    from l2g.frontend.tokenize import load_tokenizer, tokenize

    tok = load_tokenizer(manifest.model_dir)
    batch = tokenize(tok, list(texts), manifest.seq_len, "token_type_ids" in manifest.input_names)
    return batch.as_inputs(manifest.input_names)


def _match_inputs(manifest, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for t in manifest.inputs:
        if t.name not in inputs:
            raise L2GError(f"missing input {t.name!r}; the model takes "
                           + ", ".join(f"{i.name}{list(i.shape)}:{i.dtype}" for i in manifest.inputs))
        arr = np.asarray(inputs[t.name])
        if tuple(arr.shape) != tuple(t.shape):
            raise L2GError(f"input {t.name!r} has shape {list(arr.shape)}, the model expects {list(t.shape)}")
        out[t.name] = np.ascontiguousarray(arr.astype(t.dtype))
    return out


def run_compiled(
    out_dir: str | Path,
    inputs: Mapping[str, np.ndarray],
    *,
    check: bool = False,
    timeout: float = 600.0,
) -> RunReport:
    from l2g.codegen.gemmini.compile import Manifest
    from l2g.hwconfig import get_config
    from l2g.runtime import prepare_config, run_elf

    out_dir = Path(out_dir)
    manifest = Manifest.load(out_dir / "manifest.json")
    feed = _match_inputs(manifest, inputs)
    artifacts = prepare_config(get_config(manifest.config))
    res = run_elf(out_dir / manifest.elf, config=artifacts, inputs=feed, timeout=timeout)
    cycles = res.outputs.pop("__op_cycles")
    total = int(res.outputs.pop("__total_cycles")[0])
    report = RunReport(
        config=manifest.config, mode=manifest.mode,
        outputs={t.name: res.outputs[t.name] for t in manifest.outputs},
        ops=_op_table(manifest, cycles),
        total_cycles=total,
        gemmini_stats=res.gemmini_stats, stdout=res.stdout, wall_seconds=res.wall_seconds,
    )
    if check:
        _check(out_dir, manifest, feed, report, artifacts, timeout)
    (out_dir / "report.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return report


def load_host_library(path: Path, param_names: Sequence[str]):
    """A host reference saved by ``l2g compile``, as a callable HostModule."""
    import tvm
    from tvm import relax

    from l2g.passes.host import HostModule

    if not path.is_file():
        raise L2GError(f"{path} not found; recompile the model with `l2g compile`")
    vm = relax.VirtualMachine(tvm.runtime.load_module(str(path)), tvm.cpu())
    return HostModule(vm, tuple(param_names))


def _check(out_dir: Path, manifest, feed, report: RunReport, artifacts, timeout: float) -> None:
    names = [t.name for t in manifest.inputs]
    ref = load_host_library(out_dir / manifest.reference, names)(feed)
    ref = ref if isinstance(ref, tuple) else (ref,)
    for t, expected in zip(manifest.outputs, ref):
        mm = _first_mismatch(t.name, expected, report.outputs[t.name], None)
        if mm is not None:
            report.check = "MISMATCH"
            report.mismatch = _localize(out_dir, manifest, feed, artifacts, timeout) or mm
            return
    report.check = "bit-exact"


def _localize(out_dir: Path, manifest, feed, artifacts, timeout: float) -> Mismatch | None:
    """Dump every op's result on the target and compare op by op with the host."""
    from l2g.codegen.gemmini.program import CFLAGS
    from l2g.runtime import build_elf, run_elf

    ops_lib = out_dir / "reference_ops.so"
    if not ops_lib.is_file():  # compiled without it (debug_reference=False): nothing to compare with
        return None
    sources = [p for p in (out_dir / "model.c", out_dir / "model_weights.S") if p.exists()]
    elf = build_elf(sources, include_dirs=[artifacts.include_dir], extra_cflags=(*CFLAGS, "-DL2G_DUMP_ALL"))
    got = run_elf(elf, config=artifacts, inputs=feed, timeout=timeout).outputs
    expected = load_host_library(ops_lib, [t.name for t in manifest.inputs])(feed)
    for i, (op, exp) in enumerate(zip(manifest.ops, expected)):
        mm = _first_mismatch(op.output, exp, got[f"op{i}"], op.name)
        if mm is not None:
            return mm
    return None


def op_by_op_module(mod):
    """The legalized module with ``main`` returning every op's result, in op order."""
    import tvm
    from tvm import relax

    funcs = {}
    for gv, f in mod.functions.items():
        if isinstance(f, relax.Function) and f.attrs is not None and "Composite" in f.attrs:
            # composites run as ordinary Relax functions on the host
            f = f.without_attr("Composite").without_attr("Primitive")
        funcs[gv] = f
    # plain (non-dataflow) variables may be returned from the function
    mod = relax.transform.ToNonDataflow()(tvm.IRModule(funcs))
    main = mod["main"]
    op_vars = [
        b.var
        for block in main.body.blocks
        for b in block.bindings
        if isinstance(b.value, relax.Call)
        and (getattr(b.value.op, "name", "") == "relax.call_tir" or isinstance(b.value.op, tvm.ir.GlobalVar))
    ]
    body = relax.BlockBuilder().normalize(relax.SeqExpr(main.body.blocks, relax.Tuple(op_vars)))
    funcs = {gv: f for gv, f in mod.functions.items() if gv.name_hint != "main"}
    funcs[mod.get_global_var("main")] = relax.Function(main.params, body, attrs=main.attrs)
    return tvm.IRModule(funcs)
