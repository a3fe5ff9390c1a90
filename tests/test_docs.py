"""Every code block of README.md, examples/README.md and datasets/README.md, as written.

* ``python`` blocks run in a fresh interpreter (in a scratch folder, ``RECFM_DATA`` set),
  unless the line before the block is ``<!-- docs-test: parse-only (reason) -->``: then they
  are only compiled (for blocks needing a cluster, big data or files the reader has).
* ``bash`` blocks: every ``recfm ...`` line is parsed by the real argparse parser (so a flag
  renamed in the CLI fails here), ``python path/to/script.py`` names a file of this repository
  and ``python -m`` a module that imports; then every block not marked parse-only runs,
  line by line, in a scratch folder (``pip`` and ``python -m pytest`` lines excepted: CI runs
  those itself). Blocks marked parse-only say why on the marker (minutes of benchmarks, a
  cluster, an optuna study).

A failure names the file, the block's first line number and the offending line.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ml100k_home() -> Path | None:
    """RECFM_DATA if set, else <repo>/../shared/datasets; None unless it holds ML-100K
    (the blocks would otherwise try to download it)."""
    env = os.environ.get("RECFM_DATA", "").strip()
    home = Path(env).expanduser() if env else ROOT.parent / "shared" / "datasets"
    if (home / "ml-100k" / "u.data").is_file() or (home / "ml-100k.zip").is_file():
        return home
    return None


DOCS = [ROOT / "README.md", ROOT / "examples" / "README.md", ROOT / "datasets" / "README.md"]
PARSE_ONLY = re.compile(r"<!--\s*docs-test:\s*parse-only\b")
FENCE = re.compile(r"^```(\w*)\s*$")


def blocks():
    """(file, line of the opening fence, language, text, parse_only) of every fenced block."""
    out = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            m = FENCE.match(lines[i])
            if not m or not m.group(1):
                i += 1
                continue
            start = i
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            prev = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
            out.append((path, start + 1, m.group(1), "\n".join(lines[start + 1:j]) + "\n",
                        bool(PARSE_ONLY.search(prev))))
            i = j + 1
    return out


BLOCKS = blocks()


def _id(block) -> str:
    path, line, lang, _, _ = block
    return f"{path.relative_to(ROOT)}:{line}:{lang}"


def test_docs_have_blocks():
    langs = {b[2] for b in BLOCKS}
    assert {"python", "bash"} <= langs


@pytest.mark.parametrize("block", [b for b in BLOCKS if b[2] == "python"], ids=_id)
def test_python_block_runs(block, tmp_path):
    path, line, _, text, parse_only = block
    where = f"{path.relative_to(ROOT)}, python block at line {line}"
    try:
        compile(text, where, "exec")
    except SyntaxError as exc:
        pytest.fail(f"{where}: syntax error on block line {exc.lineno}: {exc.msg}")
    if parse_only:
        return
    if "movielens" in text and _ml100k_home() is None:
        pytest.skip("MovieLens 100K not found: set RECFM_DATA to a data home holding ml-100k/")
    script = tmp_path / "block.py"
    script.write_text(text, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    home = _ml100k_home()
    if home is not None:
        env["RECFM_DATA"] = str(home)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        tb = proc.stderr.strip().splitlines()
        at = [ln for ln in tb if str(script) in ln]
        pytest.fail(f"{where} failed ({at[-1].strip() if at else 'see below'}; the block's "
                    f"line N is README line {line} + N):\n" + "\n".join(tb[-15:]))


def _commands(text: str):
    """(offset, argv, text) of each command of a shell block (comments dropped; ``a && b``
    split)."""
    for k, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        for part in line.split("&&"):
            yield k, shlex.split(part.strip()), part.strip()


@pytest.mark.parametrize("block", [b for b in BLOCKS if b[2] in ("bash", "sh", "shell")],
                         ids=_id)
def test_shell_block_commands_exist(block):
    from recfm.cli import build_parser

    path, line, _, text, _ = block
    parser = build_parser()
    for k, argv, _ in _commands(text):
        where = f"{path.relative_to(ROOT)}, line {line + k}: {' '.join(argv)}"
        if argv[0] == "recfm":
            try:
                parser.parse_args(argv[1:])
            except SystemExit:
                pytest.fail(f"{where}: the recfm parser refuses this command line")
        elif argv[0] == "python" and len(argv) > 1:
            if argv[1] == "-m":
                if importlib.util.find_spec(argv[2]) is None:
                    pytest.fail(f"{where}: no module {argv[2]}")
            elif argv[1].endswith(".py") and not (ROOT / argv[1]).is_file():
                pytest.fail(f"{where}: no file {argv[1]} in the repository")


#: Commands a shell block may hold that this test does not run: CI itself runs the install
#: and the test suite (running the suite from inside itself would recurse).
_NOT_RUN_HERE = (("pip",), ("python", "-m", "pytest"))


def _argv_to_run(argv: list[str], text: str) -> list[str] | None:
    if any(argv[: len(p)] == list(p) for p in _NOT_RUN_HERE):
        return None
    if argv[0] not in ("recfm", "python") and any(a in (">", ">>", "|") for a in argv):
        return ["bash", "-c", text]  # a shell helper line (printf > file) needs the shell
    if argv[0] == "recfm":  # this checkout's CLI, whatever is installed
        return [sys.executable, "-m", "recfm.cli", *argv[1:]]
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    return argv


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b[2] in ("bash", "sh", "shell") and not b[4]], ids=_id
)
def test_shell_block_runs(block, tmp_path):
    """Every shell block not marked parse-only runs as written, line by line, from a scratch
    folder that sees the repository's datasets/, examples/ and benchmarks/ (so the commands
    write nothing into the checkout)."""
    path, line, _, text, _ = block
    if "ml-100k" in text and _ml100k_home() is None:
        pytest.skip("MovieLens 100K not found: set RECFM_DATA to a data home holding ml-100k/")
    for folder in ("datasets", "examples", "benchmarks"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    home = _ml100k_home()
    if home is not None:
        env["RECFM_DATA"] = str(home)
    for k, argv, part in _commands(text):
        run = _argv_to_run(argv, part)
        if run is None:
            continue
        proc = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        if proc.returncode != 0:
            pytest.fail(f"{path.relative_to(ROOT)}, line {line + k}: `{' '.join(argv)}` exited "
                        f"{proc.returncode}:\n" + "\n".join(proc.stderr.strip().splitlines()[-15:]))


def test_shell_parsing_catches_a_drifted_flag():
    """The check above can fail: an unknown flag is refused by the real parser."""
    from recfm.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["evaluate", "--no-such-flag"])


def test_every_script_the_project_names_exists():
    """A figure's command must be rerunnable: every ``benchmarks/*.py`` or ``examples/*.py``
    named in the docs, the library or the scripts is in the repository."""
    named = {}
    sources = [*ROOT.glob("*.md"), *ROOT.glob("examples/**/*.md"), *ROOT.glob("datasets/*.md"),
               *ROOT.glob("recfm/**/*.py"), *ROOT.glob("benchmarks/*.py"),
               *ROOT.glob("examples/**/*.py")]
    for path in sources:
        for name in re.findall(r"\b((?:benchmarks|examples)/[\w/]+\.py)\b", path.read_text("utf-8")):
            named.setdefault(name, path.relative_to(ROOT))
    assert named, "no script named anywhere: the pattern is broken"
    missing = {name: str(where) for name, where in named.items() if not (ROOT / name).is_file()}
    assert not missing, f"scripts named but absent (name: where): {missing}"
