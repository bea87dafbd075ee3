"""A real ``redis-server`` on a free loopback port, for the tests that need one.

``tests/conftest.py`` loads this module as a pytest plugin, so every test can ask for
the fixtures by name.

``redis_server`` is a :class:`RedisServer` a test can stop (or kill) and start again on
the same port; ``redis_url`` is its URL, or, for a test that does not ask for a server
of its own, the URL of one shared by the session and emptied for each test. Without
``redis-server`` on PATH the tests are skipped, except under CI (``CI`` set), where they
fail: CI must not go green by skipping them.

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
from collections.abc import Callable, Iterator

import pytest

__all__ = [
    "LocalCluster", "RedisServer", "SlowLink", "free_port", "redis_cluster", "redis_server",
    "redis_url",
]

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


def _ask(port: int, command: bytes) -> bytes:
    """One inline command to a server on loopback, and what it answered ("" if nothing)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(command + b"\r\n")
            return sock.recv(65536)
    except OSError:
        return b""


class LocalCluster:
    """Three ``redis-server --cluster-enabled yes`` on loopback, one master each.

    :meth:`begin` starts them and ``redis-cli --cluster create``, without waiting for
    it; :meth:`wait` waits until every node says ``cluster_state:ok``.
    """

    def __init__(self, executable: str, cli: str) -> None:
        self.cli = cli
        self.nodes = [
            RedisServer(executable, _free_cluster_port(), options=(
                "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{i}.conf",
                "--cluster-node-timeout", "1000",
            ))
            for i in range(3)
        ]
        self._create: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Any node's URL: a cluster client finds the others through it."""
        return f"redis://127.0.0.1:{self.nodes[0].port}"

    def begin(self) -> None:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        self._create = subprocess.Popen(
            [self.cli, "--cluster", "create", *addresses, "--cluster-replicas", "0",
             "--cluster-yes"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )

    def wait(self) -> None:
        assert self._create is not None, "begin() first"
        output, _ = self._create.communicate(timeout=30)
        if self._create.returncode:
            raise RuntimeError(f"redis-cli --cluster create failed: {output.decode()[-2000:]}")
        deadline = time.monotonic() + _START_TIMEOUT
        while not all(b"cluster_state:ok" in _ask(n.port, b"CLUSTER INFO") for n in self.nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster did not reach cluster_state:ok")
            time.sleep(0.02)

    def close(self) -> None:
        if self._create is not None and self._create.poll() is None:
            self._create.kill()
            self._create.wait()
        for node in self.nodes:
            node.close()


#: A server shared by the tests that do not stop theirs, started with the session so
#: that it has run for a while when they come: its first use is no restart to hold.
_shared: RedisServer | None = None


def pytest_sessionstart(session: pytest.Session) -> None:
    global _shared  # noqa: PLW0603 - one per session is the point
    found = shutil.which("redis-server")
    if found is not None:
        _shared = RedisServer(found)
        _shared.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _shared is not None:
        _shared.close()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A started :class:`RedisServer` of the test's own, stopped after the test."""
    server = RedisServer(_executable())
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> str:
    """``redis://127.0.0.1:PORT/0``: of the test's own ``redis_server`` if it asks for
    one (to stop or restart it), else of a server shared by the session, emptied for it."""
    if "redis_server" in request.fixturenames:
        server: RedisServer = request.getfixturevalue("redis_server")
        return server.url
    _executable()
    assert _shared is not None
    _shared.start()  # a test may have left it stopped
    with socket.create_connection(("127.0.0.1", _shared.port), timeout=5) as sock:
        sock.sendall(b"FLUSHALL\r\n")
        assert sock.recv(64).startswith(b"+OK")
    return _shared.url


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[Callable[[], LocalCluster]]:
    """A three-master :class:`LocalCluster`, begun when the fixture is first asked for;
    calling the result waits until it is ready.

    Creating a cluster takes ``redis-cli`` a second or two, so a module can ask for it
    early and use it later. Without ``redis-cli`` the call skips (fails under CI).
    """
    cli, server = shutil.which("redis-cli"), shutil.which("redis-server")
    cluster = LocalCluster(server, cli) if cli and server else None
    if cluster is not None:
        cluster.begin()

    def ready() -> LocalCluster:
        if cluster is None:
            _executable("redis-cli")
            _executable()
            raise AssertionError("unreachable: redis-cli and redis-server are on PATH")
        cluster.wait()
        return cluster

    try:
        yield ready
    finally:
        if cluster is not None:
            cluster.close()
