"""Every command and code block a reader is meant to run, run as the reader would.

Convention, for README.md and every docs/**/*.md (also summarised in README.md):

- Fenced blocks tagged ``python`` or ``sh`` are run; every other tag (``text``,
  ``toml``, none...) is only read. ``bash``, ``shell``, ``console``, ``py`` and the like
  are refused, so that no runnable block escapes this test by its spelling.
- A ``python`` block runs in a fresh interpreter in an empty directory, with top-level
  ``await`` allowed, as in ``python -m asyncio``. It must exit cleanly.
- An ``sh`` block runs with ``bash -eo pipefail`` where a reader runs it, at the top of
  a clone: a scratch directory that links to every top-level entry of the repository
  (so writes below them are real), except ``.venv``, which is the suite's own virtual
  environment (its ``bin`` first on ``PATH``).
  Set-up steps are not repeated: the commands ``python3 -m venv ...`` and
  ``... pip install ...`` are dropped, and the okx-async extras they name must exist.
- No block sees ``OKX_*`` variables. Blocks that need a simulator start their own
  (``okx_async.simulator.Simulator``, or ``okx-async max-redeem --simulator``).
- An HTML comment on the line right before the fence changes this:
  - ``<!-- snippet: skip (REASON) -->``: not run, reported as skipped with REASON
    (needs OKX keys, a fragment, takes minutes...). A skipped ``python`` block must
    still compile and its imports must resolve; a skipped ``sh`` block must parse.
  - ``<!-- snippet: pytest -->``: a ``python`` block made of files, each starting at a
    ``# NAME.py`` comment line. They are written to an empty directory and
    ``python -m pytest`` must pass there, with no configuration of ours.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from importlib.metadata import entry_points, metadata, requires
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
_SET_UP = re.compile(r"^\s*(?:\S*python3?\s+-m\s+venv\b|\S*pip3?\s+install\b)")
_EXTRAS = re.compile(r"okx-async\[(?P<extras>[\w,-]+)\]")

SNIPPET_TIMEOUT = 60.0
#: Left out of an sh block's copy of the repository.
NOT_LINKED = frozenset({".venv", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache"})

#: How ``python -m asyncio`` runs a line: top-level await, in a module namespace.
_RUNNER = """\
import ast, asyncio, inspect, sys
path = sys.argv[1]
with open(path) as f:
    code = compile(f.read(), path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
result = eval(code, {"__name__": "__main__"})
if inspect.iscoroutine(result):
    asyncio.run(result)
"""


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


def without_set_up(block: Block) -> str:
    """The block's commands minus venv creation and pip installs, whose extras must exist."""
    extras = set(metadata("okx-async").get_all("Provides-Extra") or [])
    kept: list[str] = []
    for line in block.code.splitlines():
        steps = [step for step in re.split(r"\s+&&\s+", line)]
        for step in steps:
            if _SET_UP.match(step):
                for named in _EXTRAS.finditer(step):
                    for extra in named["extras"].split(","):
                        assert extra in extras, f"{block.name}: okx-async has no extra {extra!r}"
        kept.append(" && ".join(step for step in steps if not _SET_UP.match(step)))
    return "\n".join(kept) + "\n"


def check_skipped(block: Block) -> None:
    """What can be checked of a block that is not run: it parses and its imports resolve."""
    if block.tag == "python":
        flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        tree = compile(block.code, block.name, "exec", flags=flags, dont_inherit=True)
        assert isinstance(tree, ast.Module)
        imports: list[ast.stmt] = [
            node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)
        ]
        exec(compile(ast.Module(body=imports, type_ignores=[]), block.name, "exec"), {})
    else:
        parsed = subprocess.run(["bash", "-n"], input=block.code, capture_output=True,
                                text=True, timeout=10, check=False)
        assert parsed.returncode == 0, f"{block.name}: {parsed.stderr}"


@pytest.mark.parametrize("block", RUNNABLE, ids=[f"{b.name}-{b.tag}" for b in RUNNABLE])
def test_snippet_runs(block: Block, tmp_path: Path) -> None:
    if block.marker == "skip":
        assert block.reason, f"{block.name}: say why: <!-- snippet: skip (REASON) -->"
        check_skipped(block)
        pytest.skip(block.reason)
    if block.marker == "pytest":
        assert block.tag == "python", f"{block.name}: 'snippet: pytest' is for python blocks"
        done = run_pytest_project(block, tmp_path)
    elif block.tag == "python":
        (tmp_path / "snippet.py").write_text(block.code, encoding="utf-8")
        done = run([sys.executable, "-c", _RUNNER, "snippet.py"], tmp_path)
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
    to bring pytest-asyncio, both from the installed metadata.
    """
    readme = [b for b in ALL_BLOCKS if b.path.name == "README.md"]
    assert any(b.marker == "pytest" for b in readme)
    assert "pip install 'okx-async[pytest]'" in "".join(b.code for b in readme)
    assert plugin_installed(), STALE_INSTALL
    needs = [r for r in requires("okx-async") or [] if 'extra == "pytest"' in r]
    assert any(r.startswith("pytest-asyncio") for r in needs), needs
