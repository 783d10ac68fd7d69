"""passes.pipeline: registry, ordering, IR dumps, errors."""

import pytest

from relax_graphs import mlp_block


def test_unknown_pass_is_an_l2g_error():
    from l2g.errors import L2GError
    from l2g.passes.pipeline import Pipeline

    with pytest.raises(L2GError, match="unknown pass 'nope'"):
        Pipeline(["canonicalize", "nope"])


def test_registered_but_missing_module(monkeypatch):
    from l2g.errors import L2GError
    from l2g.passes import pipeline

    monkeypatch.setitem(pipeline.PASS_REGISTRY, "ghost", "l2g.passes.ghost_pass_xyz:ghost")
    with pytest.raises(L2GError, match="does not exist yet"):
        pipeline.get_pass("ghost")


def test_runs_in_order_and_dumps(tmp_path, monkeypatch):
    import tvm  # noqa: F401
    from l2g.passes import pipeline

    seen = []

    def one_arg(mod):
        seen.append("a")
        return mod

    def two_args(mod, ctx):
        seen.append("b")
        return mod

    fake = type("M", (), {"one_arg": staticmethod(one_arg), "two_args": staticmethod(two_args)})
    monkeypatch.setitem(__import__("sys").modules, "fake_passes_mod", fake)
    monkeypatch.setitem(pipeline.PASS_REGISTRY, "one_arg", "fake_passes_mod:one_arg")
    monkeypatch.setitem(pipeline.PASS_REGISTRY, "two_args", "fake_passes_mod:two_args")
    ctx = pipeline.CompileContext()
    pipeline.Pipeline(["two_args", "one_arg", "canonicalize"], dump_ir_dir=tmp_path).run(mlp_block(), ctx)
    assert seen == ["b", "a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00_input.py", "01_two_args.py", "02_one_arg.py", "03_canonicalize.py"]
    assert set(ctx.timings) == {"two_args", "one_arg", "canonicalize"}
    assert "def main" in (tmp_path / "03_canonicalize.py").read_text()
