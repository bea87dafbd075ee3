"""A real ``redis-server`` on a free loopback port, for the tests that need one.

``tests/conftest.py`` loads this module as a pytest plugin, so every test can ask for
the fixtures by name.

``redis_server`` is a :class:`RedisServer` a test can stop (or kill) and start again on
the same port; ``redis_url`` is just its URL. Without ``redis-server`` on PATH the
tests are skipped, except under CI (``CI`` set), where they fail: CI must not go green
by skipping them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

__all__ = ["RedisServer", "free_port", "redis_server", "redis_url"]

_START_TIMEOUT = 10.0


def free_port() -> int:
    """A loopback port nothing listens on (at the moment of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process without persistence, restartable on the same port."""

    def __init__(self, executable: str, port: int | None = None) -> None:
        self.executable = executable
        self.port = port if port is not None else free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="okx-async-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RedisServer 127.0.0.1:{self.port} {state}>"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        if self.running:
            return
        self._process = subprocess.Popen(
            [
                self.executable,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self._dir.name,
                "--logfile", "",
                "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while not _pong(self.port):
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}")
            if time.monotonic() > deadline:
                self.stop(kill=True)
                raise RuntimeError(f"redis-server did not answer PING within {_START_TIMEOUT}s")
            time.sleep(0.01)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGTERM, or SIGKILL to play a crash. Its data is lost."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGCONT)  # a frozen server cannot act on SIGTERM
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its connections but answers nothing, like a hung host."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: undo :meth:`freeze`."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    async def astart(self) -> None:
        """:meth:`start` off the event loop, so waiting tasks keep running meanwhile."""
        await asyncio.to_thread(self.start)

    async def astop(self, *, kill: bool = False) -> None:
        """:meth:`stop` off the event loop."""
        await asyncio.to_thread(self.stop, kill=kill)

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()


def _executable() -> str:
    found = shutil.which("redis-server")
    if found is None:
        message = (
            "redis-server is not on PATH; install it (apt-get install redis-server, "
            "brew install redis) to run the Redis limiter tests"
        )
        if os.environ.get("CI"):
            pytest.fail(message + " -- CI must not skip these tests", pytrace=False)
        pytest.skip(message)
    return found


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A started :class:`RedisServer`, stopped after the test."""
    server = RedisServer(_executable())
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """``redis://127.0.0.1:PORT/0`` of a fresh server of the test's own."""
    return redis_server.url
