"""Every command in the docs is exercised, so the docs cannot rot.

Each line of every fenced ```sh block of README.md and docs/*.md (continuation lines joined,
comments dropped) is one command.  Every command must

* name files of this checkout that exist (the scripts, tests and inputs it mentions),
* for ``l2g ...``: parse with the real argument parser (``l2g.cli.build_parser``), and
* either run here (:data:`RUN`: cheap commands, executed and required to succeed) or be
  covered by a named test (:data:`COVERED_BY`, each checked to exist).

A command that matches neither table fails ``test_every_command_is_run_or_covered``: add it
to one of them (and write the covering test) together with the doc change.  ``make`` targets
must exist in the Makefile.  Relative Markdown links must point at existing files and
headings, too.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

#: Commands (by :func:`DocCommand.key`) cheap enough to run here on every test run.
RUN = {
    "l2g doctor",
    "l2g sim",
    "assign M",
    "python benchmarks/gemmini_microbench.py",
    "git diff",
}

#: Commands too heavy to run here, and the test that runs the same thing (``file::test``).
COVERED_BY = {
    "make demo": "tests/test_docs.py::test_make_demo_recipe_is_l2g_demo",  # and `l2g demo` below
    "make test": "tests/test_docs.py::test_make_targets_exist",  # it is the test suite itself
    "make bench": "benchmarks/test_bench_host.py::test_compile_tiny_encoder",
    "l2g demo": "tests/test_demo.py::test_demo_end_to_end",
    "l2g pipeline": "tests/test_mission.py::test_pipeline_end_to_end_and_resume",
    "l2g compile": "tests/test_compile_e2e.py::test_compile_run_check_bit_exact",
    "l2g run": "tests/test_compile_e2e.py::test_compile_run_check_bit_exact",
    "l2g accuracy": "tests/test_frontend_e2e.py::test_accuracy_report_on_tiny_task",
    "l2g export": "tests/test_frontend_e2e.py::test_export_cli",
    "l2g augment": "tests/test_augment_cli.py::test_every_task_end_to_end_in_process",
    "l2g teacher": "tests/test_augment_serve.py::test_cli_server_answers_openai_client",
    "l2g bench": "tests/test_bench.py",
    "python tests/scripted_teacher.py": "tests/test_augment_cli.py::test_resume_after_sigkill_mid_iteration",
    "spike": "tests/test_runtime.py::test_cli_sim_runs_gemmini_code_and_writes_stats",
    "pytest": "",  # a pytest command is its own test; its test files must exist
}

#: Prefixes that only change how a command runs.
WRAPPERS = (("/usr/bin/time", "-v"), ("nice", "-n", "5"), ("time",))


def _replace_substitutions(text: str) -> str:
    """``$( ... )`` (parentheses balanced, quotes ignored) becomes ``__SUBST__``."""
    out, i = [], 0
    while (j := text.find("$(", i)) != -1:
        depth, k = 0, j + 1
        while k < len(text):
            depth += {"(": 1, ")": -1}.get(text[k], 0)
            if depth == 0:
                break
            k += 1
        out += [text[i:j], "__SUBST__"]
        i = k + 1
    return "".join(out) + text[i:]


@dataclass(frozen=True)
class DocCommand:
    doc: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {self.text}"

    @property
    def argv(self) -> list[str]:
        """Tokens with environment prefixes, wrappers, ``&`` and optional-syntax brackets
        removed; ``$(...)`` and ``$VAR`` become placeholders."""
        text = _replace_substitutions(self.text)
        text = re.sub(r"\$\{?([A-Za-z_]\w*)\}?", r"__\1__", text)
        toks = shlex.split(text, comments=True)
        while toks and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", toks[0]) and len(toks) > 1:
            toks = toks[1:]
        changed = True
        while changed:
            changed = False
            for w in WRAPPERS:
                if tuple(toks[: len(w)]) == w:
                    toks, changed = toks[len(w):], True
        if toks and toks[-1] == "&":
            toks = toks[:-1]
        out = []
        for t in toks:  # synopsis: `[--opt a|b]` -> `--opt a`
            t = t.strip("[]")
            if "|" in t and not t.startswith("-"):
                t = t.split("|")[0]
            if t:
                out.append(t)
        return out

    @property
    def key(self) -> str:
        a = self.argv
        if len(a) == 1 and re.fullmatch(r"[A-Za-z_]\w*=\S*", a[0]):
            return f"assign {a[0].split('=', 1)[0]}"
        exe = Path(a[0]).name
        if exe == "l2g":
            sub = next((t for t in a[1:] if not t.startswith("-")), "--help")
            return f"l2g {sub}"
        if exe in ("make", "git"):
            return f"{exe} " + (a[1] if len(a) > 1 else "")
        if exe.startswith("python"):
            if a[1:3] == ["-m", "pytest"]:
                return "pytest"
            if a[1] == "-c":
                return "python -c"
            return f"python {a[1]}"
        return exe


def _commands(path: Path) -> list[DocCommand]:
    out: list[DocCommand] = []
    in_sh = False
    pending, start = "", 0
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if line.startswith("```"):
            in_sh = (not in_sh) and line[3:].strip() in ("sh", "bash", "console", "shell")
            if not in_sh and line == "```" and pending:
                pending = ""
            continue
        if not in_sh:
            continue
        if not pending:
            start = n
            if not line or line.startswith("#"):
                continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        if text:
            out.append(DocCommand(str(path.relative_to(REPO)), start, text))
    return out


ALL = [c for d in DOCS for c in _commands(d)]


def test_docs_have_commands():
    # guards the extractor itself: these blocks exist in README.md and docs/quickstart.md
    keys = {c.key for c in ALL}
    assert {"make demo", "make test", "l2g demo", "l2g pipeline", "l2g compile", "l2g run"} <= keys
    assert len(ALL) > 20


@pytest.mark.parametrize("cmd", ALL, ids=str)
def test_every_command_is_run_or_covered(cmd):
    assert cmd.key in RUN or cmd.key in COVERED_BY, (
        f"{cmd}: no test exercises `{cmd.key}`; add it to RUN or COVERED_BY in tests/test_docs.py")


@pytest.mark.parametrize("key, target", sorted(COVERED_BY.items()))
def test_covering_tests_exist(key, target):
    if not target:
        return
    file, _, name = target.partition("::")
    path = REPO / file
    assert path.is_file(), f"{key}: {file} does not exist"
    if name:
        assert re.search(rf"^def {re.escape(name)}\(", path.read_text(), re.M), f"{key}: no test {target}"


def _input_paths(cmd: DocCommand) -> list[str]:
    """Relative paths a command reads: tokens that look like files of the checkout."""
    paths = []
    for t in cmd.argv[1:]:
        v = t.split("=", 1)[1] if t.startswith("--") and "=" in t else t
        if v.startswith(("-", "/", "runs/")) or "__" in v or "/" not in v or "://" in v:
            continue  # options, absolute example paths, outputs, placeholders, bare names
        paths.append(v)
    return paths


@pytest.mark.parametrize("cmd", ALL, ids=str)
def test_files_named_by_commands_exist(cmd):
    for p in _input_paths(cmd):
        target = p.split("::")[0]
        assert (REPO / target).exists(), f"{cmd}: {target} does not exist"
        if "::" in p:
            name = p.split("::")[1].split("[")[0]
            assert re.search(rf"^def {re.escape(name)}\(", (REPO / target).read_text(), re.M), f"{cmd}: no test {p}"


L2G = [c for c in ALL if c.key.startswith("l2g ")]


@pytest.mark.parametrize("cmd", L2G, ids=str)
def test_l2g_commands_parse(cmd):
    from l2g.cli import build_parser

    parser = build_parser()
    argv = [("MODEL" if t.startswith("__") else t) for t in cmd.argv[1:]]
    # a placeholder value (`--tolerance PCT`) becomes a value of the option's type
    sub = next((a.choices.get(argv[0]) for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    for i in range(1, len(argv)):
        action = sub._option_string_actions.get(argv[i - 1]) if sub is not None else None
        if argv[i].isupper() and action is not None and action.type in (int, float):
            argv[i] = "1"
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{cmd}: the l2g parser rejects it (exit {exc.code})")
    assert getattr(args, "func", None) is not None, f"{cmd}: not a command"


def test_make_targets_exist():
    targets = set(re.findall(r"^([\w-]+):", (REPO / "Makefile").read_text(), re.M))
    for c in ALL:
        if c.key.startswith("make "):
            assert c.key.split()[1] in targets, f"{c}: no such Makefile target"


def test_make_demo_recipe_is_l2g_demo():
    mk = (REPO / "Makefile").read_text()
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", mk, re.M).group(1)
    assert recipe.strip() == "$(VENV)/bin/l2g demo"


def _env():
    return {**os.environ, "HF_HUB_OFFLINE": "1"}


def _shell(text: str) -> subprocess.CompletedProcess:
    # the docs write tools as .venv/bin/...; a checkout without that venv runs this interpreter's
    venv = REPO / ".venv" / "bin"
    if not venv.is_dir():
        text = text.replace(".venv/bin/python", sys.executable).replace(".venv/bin/l2g", f"{sys.executable} -m l2g.cli")
    return subprocess.run(["bash", "-c", f"set -e\n{text}"], cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("cmd", [c for c in ALL if c.key in RUN], ids=str)
def test_cheap_commands_run(cmd):
    script = cmd.text
    if cmd.key.startswith("assign "):
        var = cmd.key.split()[1]
        script += f'\ntest -d "${var}" && echo "{var}=${var}"'
    res = _shell(script)
    assert res.returncode == 0, f"{cmd}\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"


# ---- links ----------------------------------------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", text, re.M)}


LINKS = [(d, m.group(1)) for d in DOCS for m in re.finditer(r"\]\(([^)\s]+)\)", d.read_text(encoding="utf-8"))
         if not m.group(1).startswith(("http://", "https://", "mailto:"))]


@pytest.mark.parametrize("doc, link", LINKS, ids=[f"{d.name}->{l}" for d, l in LINKS])
def test_relative_links_resolve(doc, link):
    file, _, anchor = link.partition("#")
    target = (doc.parent / file).resolve() if file else doc
    assert target.exists(), f"{doc.name}: link {link} -> {target} does not exist"
    if anchor and target.suffix == ".md":
        assert anchor in _anchors(target), f"{doc.name}: no heading #{anchor} in {target.name}"


def test_docs_linked_from_readme():
    readme = (REPO / "README.md").read_text()
    for d in DOCS[1:]:
        assert f"(docs/{d.name})" in readme, f"docs/{d.name} is not linked from README.md"
