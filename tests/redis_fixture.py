"""A real ``redis-server`` on a free loopback port, for the tests that need one.

``tests/conftest.py`` loads this module as a pytest plugin, so every test can ask for
the fixtures by name.

``redis_server`` is a :class:`RedisServer` a test can stop (or kill) and start again on
the same port; ``redis_url`` is just its URL. Without ``redis-server`` on PATH the
tests are skipped, except under CI (``CI`` set), where they fail: CI must not go green
by skipping them.

:class:`SlowLink` is a TCP relay that delays every byte each way: a Redis far away,
or a slow one. :class:`LocalCluster` is a Redis Cluster of three masters on loopback,
created by ``redis-cli --cluster create``.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

__all__ = ["LocalCluster", "RedisServer", "SlowLink", "free_port", "redis_server", "redis_url"]

_START_TIMEOUT = 10.0


def free_port() -> int:
    """A loopback port nothing listens on (at the moment of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_cluster_port() -> int:
    """A loopback port free with its cluster bus port (the port + 10000) free too."""
    for _ in range(100):
        port = random.randrange(20000, 55000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process without persistence, restartable on the same port."""

    def __init__(
        self, executable: str, port: int | None = None, options: tuple[str, ...] = ()
    ) -> None:
        self.executable = executable
        self.port = port if port is not None else free_port()
        #: More ``redis-server`` arguments, e.g. ``("--cluster-enabled", "yes")``.
        self.options = options
        self._dir = tempfile.TemporaryDirectory(prefix="okx-async-redis-")
        self._process: subprocess.Popen[bytes] | None = None
        #: ``time.time()`` just before the last start: the server started no earlier.
        self.started = 0.0

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
        self.started = time.time()
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
                *self.options,
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
        # SIGKILL: nothing to save, and SIGTERM waits for the server's next cron tick.
        self.stop(kill=True)
        self._dir.cleanup()


def _executable(name: str = "redis-server") -> str:
    found = shutil.which(name)
    if found is None:
        message = (
            f"{name} is not on PATH; install it (apt-get install redis-server, "
            "brew install redis) to run the Redis limiter tests"
        )
        if os.environ.get("CI"):
            pytest.fail(message + " -- CI must not skip these tests", pytrace=False)
        pytest.skip(message)
    return found


class SlowLink:
    """A TCP relay to ``127.0.0.1:target`` that delays every byte by ``delay`` s each way.

    A round trip through it takes ``2 * delay`` more. ``delay`` may change at any time;
    bytes already on their way keep theirs, and order is kept.
    """

    def __init__(self, target: int, delay: float = 0.0) -> None:
        self.target = target
        self.delay = delay
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        due: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                at, chunk = await due.get()
                await asyncio.sleep(max(0.0, at - loop.time()))
                if not chunk:
                    sink.close()
                    return
                sink.write(chunk)
                await sink.drain()

        delivering = asyncio.create_task(deliver())
        try:
            while chunk := await source.read(65536):
                due.put_nowait((loop.time() + self.delay, chunk))
            due.put_nowait((loop.time() + self.delay, b""))
            await delivering
        except OSError:  # a side went away: so does the other
            delivering.cancel()
            sink.close()
        except asyncio.CancelledError:
            delivering.cancel()
            sink.close()
            raise


class LocalCluster:
    """Three ``redis-server --cluster-enabled yes`` on loopback, one master each."""

    def __init__(self, executable: str, cli: str) -> None:
        self.cli = cli
        self.nodes = [
            RedisServer(executable, _free_cluster_port(), options=(
                "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{i}.conf",
                "--cluster-node-timeout", "1000",
            ))
            for i in range(3)
        ]

    @property
    def url(self) -> str:
        """Any node's URL: a cluster client finds the others through it."""
        return f"redis://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [self.cli, "--cluster", "create", *addresses, "--cluster-replicas", "0",
             "--cluster-yes"],
            check=True, capture_output=True, timeout=30,
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while not all(self._ok(node.port) for node in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not reach cluster_state:ok")
            time.sleep(0.02)

    def _ok(self, port: int) -> bool:
        run = subprocess.run([self.cli, "-p", str(port), "cluster", "info"],
                             capture_output=True, text=True, timeout=5, check=False)
        return "cluster_state:ok" in run.stdout

    def close(self) -> None:
        for node in self.nodes:
            node.close()


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


@pytest.fixture
def redis_cluster() -> Iterator[LocalCluster]:
    """A started three-master :class:`LocalCluster`, stopped after the test.

    Skipped (failed under CI) without ``redis-cli``, which creates the cluster.
    """
    cluster = LocalCluster(_executable(), _executable("redis-cli"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()
