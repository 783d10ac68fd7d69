"""The errors a newcomer hits first read as one actionable line, with no traceback:
a missing toolchain (points to `make setup`), a wrong task name (lists the valid ones), an
unreachable teacher (shows the URL and the last error) and a model dir whose architecture l2g
cannot compile (names the supported ones)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from augment_models import tiny_gpt2
from l2g.augment.tasks import TASKS
from l2g.cli import main
from scripted_teacher import Reply, ScriptedTeacher

REPO = Path(__file__).resolve().parents[1]
HELLO = REPO / "tests" / "programs" / "hello.c"


def _l2g(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "l2g.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


def _one_error_line(res: subprocess.CompletedProcess, command: str) -> str:
    assert "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith(f"l2g {command}: error: ")]
    assert len(lines) == 1, res.stderr
    return lines[0]


@pytest.mark.parametrize("env, names", [
    ({"L2G_RISCV_GCC": "riscv64-nowhere-gcc"}, "gcc-riscv64-unknown-elf"),
    ({"L2G_SPIKE": "/nonexistent/spike"}, "L2G_SPIKE=/nonexistent/spike"),
    ({"L2G_BUILD_DIR": "/nonexistent/build"}, "Gemmini extension"),
    ({"L2G_GEMMINI_EXTLIB": "/nonexistent/lib.so"}, "L2G_GEMMINI_EXTLIB=/nonexistent/lib.so"),
])
def test_missing_toolchain_points_to_make_setup(env, names):
    res = _l2g("sim", "-D", "EXIT_CODE=0", str(HELLO), env=env)
    assert res.returncode == 3  # ToolchainError
    line = _one_error_line(res, "sim")
    assert names in line and ("`make setup`" in line or "unset it" in line), line


def test_missing_toolchain_control_run_works():
    # the same command with the real toolchain succeeds, so the cases above fail for their reason
    res = _l2g("sim", "-D", "EXIT_CODE=0", str(HELLO))
    assert res.returncode == 0 and "hello from spike" in res.stdout, res.stderr


@pytest.mark.parametrize("command", ["augment", "pipeline"])
def test_wrong_task_name_lists_the_valid_ones(command, tmp_path):
    res = _l2g(command, "--task", "sst-2", "--seed-size", "4", "-o", str(tmp_path / "run"))
    assert res.returncode == 2 and "invalid choice: 'sst-2'" in res.stderr
    for name in TASKS:
        assert f"'{name}'" in res.stderr, res.stderr


def test_unknown_task_in_the_api_lists_the_valid_ones():
    from l2g.augment.tasks import get_task
    from l2g.errors import L2GError

    with pytest.raises(L2GError, match="unknown task 'sst-2'; known tasks: sst2, trec, snips, casehold, gsm8k"):
        get_task("sst-2")


def _closed_port() -> int:
    with socket.socket() as s:  # bound and closed again: nothing listens there afterwards
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("command", ["augment", "pipeline"])
def test_unreachable_teacher_names_url_and_error_before_any_work(command, tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    run = tmp_path / "run"
    res = _l2g(command, "--task", "sst2", "--seed-size", "4", "--teacher-base-url", url, "--teacher-model", "m",
               "-o", str(run))
    assert res.returncode == 1
    line = _one_error_line(res, command)
    assert f"the teacher at {url} is unreachable" in line and "APIConnectionError" in line
    assert "refused" in line.lower(), line  # the cause, not only the client's "Connection error."
    assert not (run / "augment" / "state.json").exists() and not (run / "state.json").exists()


def test_teacher_failing_every_request_stops_the_run_resumably(tmp_path):
    from l2g.augment import loop as L
    from l2g.errors import L2GError
    from test_augment_loop import FakeStudent, _seed, _state, _test

    with ScriptedTeacher(lambda call: Reply(status=404)) as srv:
        state = _state(srv.base_url, iterations=1)
        L.save_state(tmp_path, state)
        with pytest.raises(L2GError) as exc:
            L.run_loop(tmp_path, state, _seed(), _test(), backend=FakeStudent(), log=lambda m: None)
    msg = str(exc.value)
    assert f"requests to the teacher at {srv.base_url} failed" in msg and "NotFoundError" in msg
    saved = L.load_state(tmp_path)  # the teacher step is not recorded: a rerun redoes it
    assert len(saved.iterations) == 1 and saved.iterations[0].phase == L.PHASE_EVALUATED


def test_unsupported_architecture_names_the_supported_ones(tmp_path, capsys):
    model = tiny_gpt2(tmp_path / "gpt2")
    rc = main(["compile", str(model), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert f"{model} holds a 'gpt2' model (GPT2LMHeadModel), which l2g cannot compile" in err
    assert "Supported: BERT-style encoders (model_type 'bert')" in err
    assert not (tmp_path / "out" / "model.onnx").exists()  # refused before exporting


@pytest.mark.parametrize("command", ["sim", "compile", "pipeline"])
def test_unknown_hardware_config_lists_the_known_ones(command, tmp_path, capsys):
    args = {"sim": ["sim", "--config", "ibret", str(HELLO)],
            "compile": ["compile", str(tmp_path / "never-read"), "-o", str(tmp_path / "out"), "--config", "ibret"],
            "pipeline": ["pipeline", "--task", "sst2", "--seed-size", "4", "--config", "ibret", "-o", str(tmp_path / "r")]}
    assert main(args[command]) == 1
    assert "unknown Gemmini config 'ibret'; known configs: default, ibert" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "r").exists()


def test_not_a_model_dir(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    rc = main(["compile", str(tmp_path / "empty"), "-o", str(tmp_path / "out")])
    assert rc == 1 and "is not a Hugging Face model dir (no config.json)" in capsys.readouterr().err
