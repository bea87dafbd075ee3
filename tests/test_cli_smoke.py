"""The installed ``okx-async`` command, run as a user runs it: a process of its own.

Two runs, for what only a real process shows: Ctrl-C typed on a real terminal at a
write's confirmation, and the ``simulator`` command serving until Ctrl-C. Everything
else is tested in-process (test_cli*.py).
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sysconfig
import time
from pathlib import Path

import pytest
from cli_fixtures import PATIENCE, interruptible, run

ENTRY_POINT = Path(sysconfig.get_path("scripts")) / "okx-async"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OKX_")}


def _read_until(fd: int, marker: bytes, seen: bytearray) -> bool:
    """Read ``fd`` into ``seen`` until ``marker`` shows up (True) or it ends (False)."""
    deadline = time.monotonic() + PATIENCE
    while marker not in seen:
        if time.monotonic() > deadline:
            return False
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the terminal closed: the process ended
                return False
            if not chunk:
                return False
            seen += chunk
    return True


def test_ctrl_c_at_a_confirmation_ends_at_once_with_130() -> None:
    assert ENTRY_POINT.exists(), f"{ENTRY_POINT}: pip install -e '.[test]'"
    with interruptible():
        pid, terminal = pty.fork()
    if pid == 0:  # the child: okx-async on a terminal of its own
        os.execve(ENTRY_POINT, [str(ENTRY_POINT), "adjust-collateral", "--simulator",
                                "reduce", "BTC", "0.1"], _clean_env())
    seen = bytearray()
    try:
        assert _read_until(terminal, b"[y/N] ", seen), seen.decode(errors="replace")
        typed = time.monotonic()
        os.write(terminal, b"\x03")  # Ctrl-C: the terminal sends SIGINT to the command
        _read_until(terminal, b"\0never", seen)  # to the end of its output
        _, status = os.waitpid(pid, 0)
        ended = time.monotonic() - typed
    finally:
        os.close(terminal)
    text = seen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 130, text
    assert "Traceback" not in text
    assert "Released" not in text
    assert ended < PATIENCE


def test_the_simulator_command_serves_until_ctrl_c(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with interruptible():
        server = subprocess.Popen(
            [ENTRY_POINT, "simulator", "--port", "0"], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=_clean_env(),
        )
    try:
        assert server.stdout is not None
        seen = bytearray()
        assert _read_until(server.stdout.fileno(), b"Press Ctrl+C to stop.", seen), seen
        banner = seen.decode()
        url = banner.split("listening on ", 1)[1].split()[0]
        printed = next(line for line in banner.splitlines() if "okx-async loan-info" in line)
        for word in printed.split():
            if word.startswith("OKX_"):
                monkeypatch.setenv(*word.split("=", 1))
        ran = run(capsys, "loan-info", "--base-url", url, "--json")
        assert ran.code == 0, ran.err
        assert len(json.loads(ran.out)) == 2
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=PATIENCE)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0
    assert b"Traceback" not in err
