"""Every command and code block a reader is meant to run, run as the reader would.

Convention, for README.md and every docs/**/*.md (also summarised in README.md):

- Fenced blocks tagged ``python`` or ``sh`` are run; every other tag (``text``,
  ``toml``, none...) is only read. ``bash``, ``shell``, ``console``, ``py`` and the like
  are refused, so that no runnable block escapes this test by its spelling.
- A ``python`` block is a complete program: it is written to a file in an empty
  directory and run as ``python snippet.py`` runs it: compiled as a file (no
  top-level ``await``: a ``SyntaxError`` here as in the reader's file) and run as
  ``__main__`` (``runpy.run_path``), from that directory, without ``OKX_*``
  variables. It must end cleanly within ``SNIPPET_TIMEOUT``. So ``await`` goes inside
  ``async def main()`` run by ``asyncio.run(main())``, or a scenario run by the
  simulator's ``run_virtual``. It runs in this process, in a thread of its own: an
  interpreter per block would cost about 0.3 s each, and every block makes its own
  event loop, simulator and clients anyway.
- An ``sh`` block runs with ``bash -eo pipefail`` where a reader runs it, at the top of
  a clone: a scratch directory that links to every top-level entry of the repository
  (so writes below them are real), except ``.venv``, which is the suite's own virtual
  environment (its ``bin`` first on ``PATH``).
  Set-up steps are not repeated: the commands ``python3 -m venv ...`` and
  ``... pip install ...`` are dropped. In every ``sh`` block, run or not, the extras
  an install names (``'.[cli]'``, ``okx-async[redis]``, ``...whl[pytest]``) must
  exist, and a wheel named by its file is this version's.
- No block sees ``OKX_*`` variables. Blocks that need a simulator start their own
  (``okx_async.simulator.run_virtual`` or ``Simulator``, or ``okx-async ... --simulator``).
- An HTML comment on the line right before the fence changes this:
  - ``<!-- snippet: skip (REASON) -->``: not run, reported as skipped with REASON
    (needs OKX keys, takes minutes...). A skipped ``python`` block must still
    compile as a file (no top-level ``await``) and its imports must resolve; a
    skipped ``sh`` block must parse.
  - ``<!-- snippet: pytest -->``: a ``python`` block made of files, each starting at a
    ``# NAME.py`` comment line. They are written to an empty directory and
    ``python -m pytest`` must pass there, with no configuration of ours.
"""

from __future__ import annotations

import ast
import os
import re
import runpy
import subprocess
import sys
import sysconfig
import threading
import traceback
from dataclasses import dataclass
from importlib.metadata import entry_points, metadata, requires, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

RUN = frozenset({"python", "sh"})
#: Tags a runnable block might be given by habit; they must be spelled as in RUN.
MISSPELT = frozenset({"bash", "shell", "console", "zsh", "py", "python3", "pycon", "sh-session"})

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<tag>[\w+-]*)")
_MARKER = re.compile(r"^<!--\s*snippet:\s*(?P<kind>[\w-]+)\s*(?:\((?P<reason>[^)]*)\))?\s*-->$")
_FILE_HEADER = re.compile(r"^# (?P<name>[\w./-]+\.py)\s*$")
_SET_UP = re.compile(
    r"^\s*(?:\S*python3?\s+-m\s+venv\b|\S*pip3?\s+(?:install|wheel)\b|\S*python3?\s+-m\s+pip\b)"
)
#: An install's extras: ``okx-async[redis]``, ``'.[cli]'``, ``...-none-any.whl[pytest]``.
_EXTRAS = re.compile(r"(?:okx-async|\.whl|\.)\[(?P<extras>[\w,-]+)\]")
_STEP = re.compile(r"\s+&&\s+")
_WHEEL = re.compile(r"okx_async-(?P<version>[^-\s]+)-py3-none-any\.whl")

SNIPPET_TIMEOUT = 60.0
#: Left out of an sh block's copy of the repository.
NOT_LINKED = frozenset({".venv", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache"})


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    tag: str
    code: str
    marker: str | None
    reason: str

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of one Markdown file, each with the marker right above it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        end = i + 1
        while end < len(lines) and not lines[end].lstrip().startswith(fence):
            end += 1
        previous = lines[i - 1].strip() if i else ""
        marker = _MARKER.match(previous)
        found.append(Block(
            path=path, line=i + 1, tag=opening["tag"].lower(),
            # A fence indented in a list item indents its code as much.
            code="\n".join(line[indent:] for line in lines[i + 1:end]) + "\n",
            marker=marker["kind"] if marker else None,
            reason=(marker["reason"] or "").strip() if marker else "",
        ))
        i = end + 1
    return found


ALL_BLOCKS = [block for path in DOCS for block in blocks(path)]
RUNNABLE = [block for block in ALL_BLOCKS if block.tag in RUN]


def clean_env() -> dict[str, str]:
    """The suite's environment without OKX keys, with its virtualenv's scripts first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKX_", "PYTEST_"))}
    env["PATH"] = os.pathsep.join([sysconfig.get_path("scripts"), env.get("PATH", "")])
    return env


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=clean_env(), capture_output=True, text=True,
        timeout=SNIPPET_TIMEOUT, check=False,
    )


def run_as_main(
    path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> subprocess.CompletedProcess[str]:
    """``python PATH`` in this process: the file as ``__main__``, from its directory."""
    for name in [name for name in os.environ if name.startswith("OKX_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(path.parent)
    monkeypatch.setattr(sys, "argv", [str(path)])
    failure: list[str] = []

    def main() -> None:
        try:
            runpy.run_path(str(path), run_name="__main__")
        except SystemExit as exc:
            if exc.code not in (None, 0):
                failure.append(f"SystemExit({exc.code!r})")
        except BaseException:
            failure.append(traceback.format_exc())

    thread = threading.Thread(target=main, name=f"snippet {path}", daemon=True)
    thread.start()
    thread.join(SNIPPET_TIMEOUT)
    if thread.is_alive():
        failure.append(f"still running after {SNIPPET_TIMEOUT} s")
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(
        [str(path)], 1 if failure else 0, out, err + "".join(failure)
    )


def files_of(block: Block) -> dict[str, str]:
    """A ``snippet: pytest`` block split at its ``# NAME.py`` lines."""
    files: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in block.code.splitlines():
        header = _FILE_HEADER.match(line)
        if header is not None:
            current = files.setdefault(header["name"], [])
        elif current is not None:
            current.append(line)
        elif line.strip():
            pytest.fail(f"{block.name}: code before the first '# NAME.py' line: {line!r}")
    assert files, f"{block.name}: a 'snippet: pytest' block needs '# NAME.py' lines"
    return {name: "\n".join(body).strip() + "\n" for name, body in files.items()}


def plugin_installed() -> bool:
    return "okx_async.simulator.pytest_plugin" in {
        ep.value for ep in entry_points(group="pytest11")
    }


STALE_INSTALL = "the installed okx-async predates its pytest11 entry point: pip install -e . again"


def run_pytest_project(block: Block, directory: Path) -> subprocess.CompletedProcess[str]:
    assert plugin_installed(), STALE_INSTALL
    for name, text in files_of(block).items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text, encoding="utf-8")
    return run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], directory)


def check_installs(block: Block) -> None:
    """The extras an install line names exist, and a wheel named by its file is ours."""
    extras = set(metadata("okx-async").get_all("Provides-Extra") or [])
    steps = [step for line in block.code.splitlines() for step in _STEP.split(line)]
    for step in steps:
        if not _SET_UP.match(step):
            continue
        for named in _EXTRAS.finditer(step):
            for extra in named["extras"].split(","):
                assert extra in extras, f"{block.name}: okx-async has no extra {extra!r}"
        for wheel in _WHEEL.finditer(step):
            assert wheel["version"] == version("okx-async"), (
                f"{block.name}: {wheel[0]} is not this version's wheel ({version('okx-async')})"
            )


def without_set_up(block: Block) -> str:
    """The block's commands minus venv creation and pip installs."""
    kept: list[str] = []
    for line in block.code.splitlines():
        steps = _STEP.split(line)
        kept.append(" && ".join(step for step in steps if not _SET_UP.match(step)))
    return "\n".join(kept) + "\n"


def check_skipped(block: Block) -> None:
    """What can be checked of a block that is not run: it parses and its imports resolve."""
    if block.tag == "python":
        # Compiled as a file is: a top-level await is a SyntaxError here, as for the reader.
        compile(block.code, block.name, "exec", dont_inherit=True)
        tree = ast.parse(block.code, block.name)
        imports: list[ast.stmt] = [
            node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)
        ]
        exec(compile(ast.Module(body=imports, type_ignores=[]), block.name, "exec"), {})
    else:
        parsed = subprocess.run(["bash", "-n"], input=block.code, capture_output=True,
                                text=True, timeout=10, check=False)
        assert parsed.returncode == 0, f"{block.name}: {parsed.stderr}"


@pytest.mark.parametrize("block", RUNNABLE, ids=[f"{b.name}-{b.tag}" for b in RUNNABLE])
def test_snippet_runs(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if block.tag == "sh":
        check_installs(block)
    if block.marker == "skip":
        assert block.reason, f"{block.name}: say why: <!-- snippet: skip (REASON) -->"
        check_skipped(block)
        pytest.skip(block.reason)
    if block.marker == "pytest":
        assert block.tag == "python", f"{block.name}: 'snippet: pytest' is for python blocks"
        done = run_pytest_project(block, tmp_path)
    elif block.tag == "python":
        (tmp_path / "snippet.py").write_text(block.code, encoding="utf-8")
        done = run_as_main(tmp_path / "snippet.py", monkeypatch, capsys)
    else:
        for entry in ROOT.iterdir():
            if entry.name not in NOT_LINKED:
                (tmp_path / entry.name).symlink_to(entry)
        (tmp_path / ".venv").symlink_to(Path(sysconfig.get_path("scripts")).parent)
        done = run(["bash", "-eo", "pipefail", "-c", without_set_up(block)], tmp_path)
    assert done.returncode == 0, (
        f"{block.name} failed ({done.returncode}):\n{block.code}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}\n"
        "If readers cannot run it as is either, fix it; if it needs what the suite lacks "
        "(OKX keys...), put <!-- snippet: skip (REASON) --> on the line before its fence."
    )


def test_markers_are_known_and_placed_right_above_a_fence() -> None:
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            if "snippet:" not in line or not line.lstrip().startswith("<!--"):
                continue
            marker = _MARKER.match(line.strip())
            where = f"{path.relative_to(ROOT)}:{number}"
            assert marker is not None, f"{where}: malformed marker {line!r}"
            assert marker["kind"] in {"skip", "pytest"}, f"{where}: unknown marker {line!r}"
            following = lines[number] if number < len(lines) else ""
            opening = _FENCE.match(following)
            assert opening is not None, f"{where}: a marker goes on the line right before ```"
            assert opening["tag"] in RUN, f"{where}: marks a block that is not run anyway"


def test_runnable_blocks_are_tagged_so_this_test_sees_them() -> None:
    misspelt = [f"{b.name} ```{b.tag}" for b in ALL_BLOCKS if b.tag in MISSPELT]
    assert not misspelt, f"tag these ```sh or ```python (or ```text if not runnable): {misspelt}"


def test_readme_shows_a_pytest_example_and_the_extra_it_needs() -> None:
    """The README's simulator fixtures example is run (above) as a fresh project would.

    That needs the plugin registered through its entry point and the ``pytest`` extra
    to bring pytest-asyncio, both from the installed metadata; and a pytest-asyncio
    that knows the ``asyncio_default_fixture_loop_scope`` the README advises (0.24+).
    """
    readme = [b for b in ALL_BLOCKS if b.path.name == "README.md"]
    assert any(b.marker == "pytest" for b in readme)
    installs = [
        step for b in readme if b.tag == "sh"
        for line in b.code.splitlines() for step in _STEP.split(line) if _SET_UP.match(step)
    ]
    assert any(
        "pytest" in named["extras"].split(",")
        for step in installs for named in _EXTRAS.finditer(step)
    ), installs
    assert plugin_installed(), STALE_INSTALL
    needs = [r for r in requires("okx-async") or [] if 'extra == "pytest"' in r]
    pins = [re.match(r"pytest-asyncio\s*>=\s*([\d.]+)", r) for r in needs]
    least = [tuple(int(part) for part in pin[1].split(".")) for pin in pins if pin]
    assert least and least[0] >= (0, 24), needs


def test_readme_pytest_advice_runs_its_example_without_a_warning(tmp_path: Path) -> None:
    """The README's configuration and ``-p`` flags, with ``PYTEST_DISABLE_PLUGIN_AUTOLOAD``.

    Its example project, with the pytest configuration it advises, passes with every
    warning an error: no unknown option, no unset loop scope, no plugin loaded late.
    """
    readme = [b for b in ALL_BLOCKS if b.path.name == "README.md"]
    config = next(b for b in readme if b.tag == "toml" and "loop_scope" in b.code)
    (tmp_path / "pyproject.toml").write_text(config.code, encoding="utf-8")
    command = next(
        line for b in readme if b.tag == "sh" for line in b.code.splitlines()
        if line.startswith("PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 ")
    )
    flags = [arg for pair in re.findall(r"-p\s+(\S+)", command) for arg in ("-p", pair)]
    example = next(b for b in readme if b.marker == "pytest")
    for name, text in files_of(example).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", *flags],
        cwd=tmp_path, env={**clean_env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True, text=True, timeout=SNIPPET_TIMEOUT, check=False,
    )
    assert done.returncode == 0, f"{command}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
