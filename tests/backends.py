"""Real OTLP backends for end-to-end export tests: Arize Phoenix and the rotel collector.

Both run as real servers on free loopback ports. Each lives in its own virtualenv under
``$OTELSTREAM_TEST_CACHE`` (default ``~/.cache/otelstream-test``): ``phoenix-venv`` and
``rotel-venv``, installed on first use (under a file lock, so concurrent test processes install
once) and reused afterwards. Nothing is skipped: a missing server is installed.

Load this module as a pytest plugin (``pytest_plugins = ["backends"]`` in the test module): it
provides the fixtures, attaches the servers' log tails to failing tests' reports, and prints the
install/start timings in the terminal summary. (PYTEST_DONT_REWRITE: the test module imports
it before pytest loads it as a plugin; its checks report their own messages.)

With pytest-xdist (``-n``, ``--dist loadfile``), each test file is a unit of work for one
worker, so module fixtures are set up once, and the files in ``PHOENIX_FILES`` form a single
unit: one Phoenix per run, not one per worker (it costs about 20 s of a core to start).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan

PHOENIX_REQUIREMENT = "arize-phoenix==20.26.1"
ROTEL_REQUIREMENT = "rotel==0.0.1a15"
ROTEL_AGENT = "lib/python*/site-packages/rotel/rotel-agent"

#: The test files whose tests use the ``phoenix`` or ``rotel`` fixtures (checked at collection).
PHOENIX_FILES = frozenset(
    {"test_collector_config.py", "test_export_e2e.py", "test_phoenix_content.py"}
)

PHOENIX_START_TIMEOUT = 120.0  # 11 s on an idle 2-core box, 28 s seen on a busy one
SPANS_TIMEOUT = 15.0

#: ``what -> seconds`` measured in this process, printed in pytest's terminal summary.
TIMINGS: dict[str, float] = {}


# --- installing --------------------------------------------------------------------------------
def cache_dir() -> Path:
    """Where the backend virtualenvs are cached (``$OTELSTREAM_TEST_CACHE``)."""
    configured = os.environ.get("OTELSTREAM_TEST_CACHE")
    base = Path(configured) if configured else Path.home() / ".cache" / "otelstream-test"
    base.mkdir(parents=True, exist_ok=True)
    return base


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` for the block (the kernel drops it if we die)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _find(venv: Path, pattern: str) -> Path | None:
    found = sorted(venv.glob(pattern)) if venv.is_dir() else []
    return found[0] if found else None


def _venv_python_works(venv: Path) -> bool:
    python = venv / "bin" / "python"
    if not python.exists():
        return False
    probe = subprocess.run([str(python), "-c", "pass"], capture_output=True, timeout=60)
    return probe.returncode == 0


def ensure_venv(name: str, requirement: str, executable: str) -> Path:
    """The file matching ``executable`` (a glob inside the cached venv ``name``), after
    installing ``requirement`` into that venv if it is missing."""
    venv = cache_dir() / name
    if found := _find(venv, executable):
        return found
    with file_lock(cache_dir() / f"{name}.lock"):
        if found := _find(venv, executable):  # another process installed it meanwhile
            return found
        started = time.monotonic()
        if venv.exists() and not _venv_python_works(venv):
            shutil.rmtree(venv)  # a broken leftover (base interpreter gone, say)
        if not venv.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
        result = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", requirement],
            capture_output=True,
            text=True,
            env=env,
            timeout=1800,
        )
        found = _find(venv, executable)
        if result.returncode != 0 or found is None:
            raise RuntimeError(
                f"installing {requirement} into {venv} failed (exit {result.returncode}):\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        TIMINGS[f"install {requirement}"] = time.monotonic() - started
        return found


def ensure_phoenix() -> Path:
    """The ``phoenix`` executable (``arize-phoenix`` installed if ``bin/phoenix`` is missing)."""
    return ensure_venv("phoenix-venv", PHOENIX_REQUIREMENT, "bin/phoenix")


def ensure_rotel() -> Path:
    """The ``rotel-agent`` binary bundled in the ``rotel`` wheel (installed if missing)."""
    return ensure_venv("rotel-venv", ROTEL_REQUIREMENT, ROTEL_AGENT)


def ensure_opentelemetry_distro() -> Path:
    """A directory holding ``opentelemetry-distro`` (the release matching the installed
    ``opentelemetry-instrumentation``) for ``PYTHONPATH``: zero-code tests with it installed
    beside otelstream's own distro. Installed once (``pip --target``, no dependencies)."""
    from importlib.metadata import version

    release = version("opentelemetry-instrumentation")
    target = cache_dir() / f"opentelemetry-distro-{release}"
    with file_lock(cache_dir() / "opentelemetry-distro.lock"):
        if not (target / "opentelemetry" / "distro").is_dir():
            started = time.monotonic()
            pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps"]
            subprocess.run(
                [*pip, "--target", str(target), f"opentelemetry-distro=={release}"],
                check=True,
                capture_output=True,
                timeout=300,
            )
            TIMINGS[f"install opentelemetry-distro=={release}"] = time.monotonic() - started
    return target


# --- processes ---------------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port that nobody listens on right now (bound on all interfaces to be sure)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """In the child: get SIGTERM when the test process dies, even by SIGKILL (Linux only)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def clean_env(drop_prefixes: Sequence[str], **extra: str) -> dict[str, str]:
    """This process's environment without variables that would reconfigure a server
    (``OTEL_*``, proxies, ...), plus ``extra``."""
    drop = (*drop_prefixes, "OTEL_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "GRPC_PROXY")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(drop)}
    env.update(NO_PROXY="*", no_proxy="*", NO_COLOR="1", **extra)
    return env


@dataclass
class ServerProcess:
    """A server started in its own session, its output in ``log_path``."""

    name: str
    args: list[str]
    log_path: Path
    process: subprocess.Popen[bytes]
    _log: IO[bytes]
    started_at: float = field(default_factory=time.monotonic)

    @classmethod
    def start(cls, name: str, args: list[str], env: dict[str, str], cwd: Path) -> ServerProcess:
        """Start ``args`` with its stdout and stderr going to ``cwd/<name>.log``."""
        cwd.mkdir(parents=True, exist_ok=True)
        log_path = cwd / f"{name}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        server = cls(name, args, log_path, process, log)
        RUNNING.append(server)
        return server

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def uptime(self) -> float:
        """Seconds since the process was started."""
        return time.monotonic() - self.started_at

    def log_tail(self, chars: int = 6000) -> str:
        """The end of the server's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as error:
            return f"<no log: {error}>"
        return text[-chars:]

    def describe(self) -> str:
        state = "running" if self.alive else f"exited with {self.process.returncode}"
        return (
            f"{self.name} (pid {self.process.pid}, {state}): {' '.join(self.args)}\n"
            f"--- {self.log_path} (tail) ---\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the server's process group, SIGKILL it if it lingers."""
        try:
            if self.alive:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout)
        finally:
            self._log.close()
            if self in RUNNING:
                RUNNING.remove(self)


#: Servers started by this process and not stopped yet (for failure reports).
RUNNING: list[ServerProcess] = []


class StartupFailed(RuntimeError):
    """A server did not become ready."""


def wait_ready(server: ServerProcess, ready: Callable[[], bool], timeout: float) -> float:
    """Poll ``ready()`` until true; seconds waited. Raises with the server's log otherwise."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not server.alive:
            raise StartupFailed(f"{server.name} exited during start-up\n{server.describe()}")
        if ready():
            return time.monotonic() - started
        time.sleep(0.25)
    raise StartupFailed(f"{server.name} not ready after {timeout:.0f}s\n{server.describe()}")


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """``(status, body)`` of a GET, never through a proxy; status 0 if unreachable."""
    try:
        with _NO_PROXY.open(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()
    except (OSError, urllib.error.URLError):
        return 0, b""


# --- Phoenix -----------------------------------------------------------------------------------
@dataclass
class Phoenix:
    """A running ``phoenix serve``: OTLP/HTTP on ``http_port``, OTLP/gRPC on ``grpc_port``."""

    http_port: int
    grpc_port: int
    server: ServerProcess

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def http_traces_endpoint(self) -> str:
        """The OTLP/HTTP (protobuf) traces URL."""
        return f"{self.base_url}/v1/traces"

    @property
    def grpc_endpoint(self) -> str:
        """The OTLP/gRPC endpoint (plain text)."""
        return f"http://127.0.0.1:{self.grpc_port}"

    def spans(self, project: str, page_size: int = 100) -> list[dict[str, Any]]:
        """Every span Phoenix stored for ``project`` (``[]`` if the project does not exist yet),
        read through ``GET /v1/projects/{project}/spans`` page by page."""
        spans: list[dict[str, Any]] = []
        cursor: str | None = None
        path = f"{self.base_url}/v1/projects/{urllib.parse.quote(project, safe='')}/spans"
        while True:
            query = {"limit": str(page_size), **({"cursor": cursor} if cursor else {})}
            status, body = http_get(f"{path}?{urllib.parse.urlencode(query)}", timeout=10)
            if status == 404:
                return []
            if status != 200:
                raise AssertionError(f"GET {path} -> {status}: {body[:500]!r}")
            page = json.loads(body)
            spans.extend(page["data"])
            cursor = page.get("next_cursor")
            if not cursor:
                return spans

    def wait_for_spans(
        self, project: str, count: int, timeout: float = SPANS_TIMEOUT
    ) -> list[dict[str, Any]]:
        """Poll until ``project`` holds at least ``count`` spans (or ``timeout`` passes, when
        what arrived is returned: the caller's comparison says what is missing)."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans(project)
            if len(spans) >= count or time.monotonic() > deadline:
                if len(spans) > count:  # give duplicates a moment to show up as well
                    time.sleep(0.5)
                    spans = self.spans(project)
                return spans
            time.sleep(0.2)


def launch_phoenix(workdir: Path) -> Phoenix:
    """Install Phoenix if needed and start ``phoenix serve`` on free loopback ports, with a
    fresh database in ``workdir``; does not wait for it to be ready."""
    executable = ensure_phoenix()
    http_port, grpc_port = free_port(), free_port()
    env = clean_env(
        ("PHOENIX_",),
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(http_port),
        PHOENIX_GRPC_PORT=str(grpc_port),  # gRPC listens on all interfaces whatever we say
        PHOENIX_WORKING_DIR=str(workdir),
        # no internet attempts at start-up (see shared/research/backends.md 2a)
        PHOENIX_TELEMETRY_ENABLED="false",
        PHOENIX_DISABLE_AGENT_ASSISTANT="true",
        PHOENIX_ALLOW_EXTERNAL_RESOURCES="false",
        PHOENIX_ALLOWED_SANDBOX_PROVIDERS="none",
    )
    server = ServerProcess.start("phoenix", [str(executable), "serve"], env, workdir)
    return Phoenix(http_port, grpc_port, server)


def start_phoenix(workdir: Path, attempts: int = 3, launched: Phoenix | None = None) -> Phoenix:
    """A ready Phoenix: ``launched`` (or a new one) once ``/healthz`` answers and its gRPC port
    accepts connections. A server that dies or hangs is replaced, on new ports."""
    failure: Exception | None = None
    for attempt in range(attempts):
        phoenix = launched if launched and attempt == 0 else None
        phoenix = phoenix or launch_phoenix(workdir / f"phoenix-{attempt}")

        def ready(phoenix: Phoenix = phoenix) -> bool:
            status, _ = http_get(f"{phoenix.base_url}/healthz", timeout=2)
            return status == 200 and port_open(phoenix.grpc_port)

        try:
            wait_ready(phoenix.server, ready, PHOENIX_START_TIMEOUT)
            TIMINGS["phoenix start (process start to ready)"] = phoenix.server.uptime
            return phoenix
        except StartupFailed as error:
            failure = error
            phoenix.server.stop()
    raise StartupFailed(f"Phoenix did not start in {attempts} attempts") from failure


class Background:
    """``call()`` run in a daemon thread; ``result()`` waits for it and returns or re-raises.

    The thread then stays alive until ``linger(value)`` returns: a child started with
    ``PR_SET_PDEATHSIG`` is signalled when the *thread* that started it exits.
    """

    def __init__(self, call: Callable[[], Any], linger: Callable[[Any], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(call, linger), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], Any], linger: Callable[[Any], Any]) -> None:
        try:
            self._value = call()
        except BaseException as error:
            self._error = error
        finally:
            self._done.set()
        if self._error is None:
            linger(self._value)

    def result(self) -> Any:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


#: Phoenix launched (installed if needed) in the background as soon as collection shows a
#: test needs it, so that it boots while the tests that do not need it run.
_PHOENIX_LAUNCH: list[tuple[Background, Path]] = []
_ROTEL_INSTALL: list[Background] = []
_EARLY: dict[str, set[str]] = {}


# --- rotel -------------------------------------------------------------------------------------
@dataclass
class Rotel:
    """A running ``rotel-agent`` receiving OTLP and forwarding it to Phoenix over OTLP/HTTP."""

    grpc_port: int
    http_port: int
    server: ServerProcess

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http_traces_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v1/traces"


def start_rotel(workdir: Path, phoenix: Phoenix, attempts: int = 3) -> Rotel:
    """Start rotel on free loopback ports, exporting to ``phoenix``; wait until both of its
    receivers accept connections."""
    executable = ensure_rotel()
    failure: Exception | None = None
    for attempt in range(attempts):
        grpc_port, http_port = free_port(), free_port()
        home = workdir / f"rotel-{attempt}"
        args = [
            str(executable),
            "start",
            "--otlp-grpc-endpoint",
            f"127.0.0.1:{grpc_port}",
            "--otlp-http-endpoint",
            f"127.0.0.1:{http_port}",
            "--exporter",
            "otlp",
            "--otlp-exporter-endpoint",
            phoenix.base_url,
            "--otlp-exporter-protocol",
            "http",
            # its defaults are shared files in /tmp: keep concurrent runs apart
            "--pid-file",
            str(home / "rotel.pid"),
            "--log-file",
            str(home / "rotel-daemon.log"),
        ]
        server = ServerProcess.start("rotel", args, clean_env(("ROTEL_",)), home)

        def ready(grpc_port: int = grpc_port, http_port: int = http_port) -> bool:
            return port_open(grpc_port) and port_open(http_port)

        try:
            wait_ready(server, ready, 30.0)
            TIMINGS["rotel start"] = server.uptime
            return Rotel(grpc_port, http_port, server)
        except StartupFailed as error:
            failure = error
            server.stop()
    raise StartupFailed(f"rotel did not start in {attempts} attempts") from failure


# --- endpoints that do not work ----------------------------------------------------------------
@dataclass
class BlackHole:
    """A TCP server that accepts connections and reads them, but never answers."""

    sock: socket.socket
    connections: list[socket.socket] = field(default_factory=list)
    accepted: int = 0
    bytes_received: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @classmethod
    def start(cls) -> BlackHole:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        hole = cls(sock)
        threading.Thread(target=hole._serve, name="black-hole", daemon=True).start()
        return hole

    def _serve(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, ValueError):
                readable, _, _ = select.select([self.sock, *self.connections], [], [], 0.2)
                for ready in readable:
                    if ready is self.sock:
                        connection, _ = self.sock.accept()
                        self.connections.append(connection)
                        self.accepted += 1
                    elif data := ready.recv(65536):
                        self.bytes_received += len(data)
                    else:  # the client gave up and closed
                        self.connections.remove(ready)
                        ready.close()

    def close(self) -> None:
        self._stop.set()
        for connection in [self.sock, *self.connections]:
            with contextlib.suppress(OSError):
                connection.close()


# --- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Generator[Phoenix, None, None]:
    """A Phoenix server for the session (installed on first use, stopped at the end)."""
    waited = time.monotonic()
    if _PHOENIX_LAUNCH:
        launch, workdir = _PHOENIX_LAUNCH.pop()
        phoenix = start_phoenix(workdir, launched=launch.result())
    else:
        phoenix = start_phoenix(tmp_path_factory.mktemp("phoenix"))
    TIMINGS["phoenix fixture setup (waiting for it)"] = time.monotonic() - waited
    try:
        yield phoenix
    finally:
        phoenix.server.stop()


@pytest.fixture(scope="session")
def rotel(
    phoenix: Phoenix, tmp_path_factory: pytest.TempPathFactory
) -> Generator[Rotel, None, None]:
    """A rotel collector for the session, forwarding to the ``phoenix`` fixture's server."""
    for install in _ROTEL_INSTALL:
        install.result()
    rotel = start_rotel(tmp_path_factory.mktemp("rotel"), phoenix)
    try:
        yield rotel
    finally:
        rotel.server.stop()


@pytest.fixture
def black_hole() -> Generator[BlackHole, None, None]:
    """A port that accepts TCP connections and never answers."""
    hole = BlackHole.start()
    try:
        yield hole
    finally:
        hole.close()


@pytest.fixture
def dead_port() -> int:
    """A port nobody listens on (connections are refused)."""
    port = free_port()
    assert not port_open(port)
    return port


def _uses(item: pytest.Item, fixture: str) -> bool:
    return fixture in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use Phoenix last (a stable sort): the rest of their files run while
    Phoenix, launched at the first test of those files, boots."""
    items.sort(key=lambda item: _uses(item, "phoenix"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Note the test files whose tests use Phoenix or rotel (see ``pytest_runtest_setup``)."""
    users = {item.path.name for item in session.items if _uses(item, "phoenix")}
    if not users <= PHOENIX_FILES:
        raise pytest.UsageError(
            f"add {sorted(users - PHOENIX_FILES)} to backends.PHOENIX_FILES (one worker runs them)"
        )
    if not session.config.option.collectonly:
        for fixture in ("phoenix", "rotel"):
            _EARLY[fixture] = {str(item.path) for item in session.items if _uses(item, fixture)}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile``, with the ``PHOENIX_FILES`` as one unit of work (see the module)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class Scheduling(LoadFileScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            scope = str(super()._split_scope(nodeid))
            return "phoenix" if scope.rsplit("/", 1)[-1] in PHOENIX_FILES else scope

    return Scheduling(config, log)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """At the first test of a file that uses Phoenix, launch it in the background (installing
    it first if needed), so that it boots (about 11 s) while the tests before the first one
    that needs it run; install rotel likewise. Other files' tests run undisturbed."""
    path = str(item.path)
    if path in _EARLY.get("phoenix", ()):
        _EARLY["phoenix"] = set()  # once per session
        factory = getattr(item.config, "_tmp_path_factory", None)
        workdir = factory.mktemp("phoenix") if factory else Path(tempfile.mkdtemp())
        launch = Background(
            lambda: launch_phoenix(workdir / "phoenix-launch"),
            linger=lambda phoenix: phoenix.server.process.wait(),
        )
        _PHOENIX_LAUNCH.append((launch, workdir))
    if path in _EARLY.get("rotel", ()):
        _EARLY["rotel"] = set()
        _ROTEL_INSTALL.append(Background(ensure_rotel, linger=lambda _: None))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop whatever is still running (a launch no test used, an interrupted run); in a
    pytest-xdist worker, hand the timings to the controller, which prints the summary."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["otelstream_timings"] = dict(TIMINGS)
    for launch, _ in _PHOENIX_LAUNCH:
        with contextlib.suppress(BaseException):
            launch.result()
    _PHOENIX_LAUNCH.clear()
    for install in _ROTEL_INSTALL:
        with contextlib.suppress(BaseException):
            install.result()
    _ROTEL_INSTALL.clear()
    for server in list(RUNNING):
        server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the running servers' logs to the report of a failing test that uses them."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and (_uses(item, "phoenix") or _uses(item, "rotel")):
        for server in RUNNING:
            report.sections.append((f"{server.name} server", server.describe()))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist controller: collect a finished worker's timings."""
    TIMINGS.update(getattr(node, "workeroutput", {}).get("otelstream_timings", {}))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print install and start-up times of the backends, when any was measured."""
    if TIMINGS:
        terminalreporter.section("otelstream e2e backends")
        for what, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{seconds:7.1f}s  {what}")


# --- comparing what was sent with what arrived -------------------------------------------------
def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def _plain(value: Any) -> Any:
    """An SDK attribute value as JSON gives it back (tuples become lists)."""
    return list(value) if isinstance(value, tuple) else value


def _iso_ns(text: str) -> int:
    """Nanoseconds since the epoch of an ISO timestamp with microseconds."""
    from datetime import datetime

    moment = datetime.fromisoformat(text)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(f"{prefix}.{key}", item))
        return flat
    return {prefix: value}


def expected_attributes(attributes: Mapping[str, Any], span: bool = True) -> dict[str, Any]:
    """The attributes Phoenix should give back for these SDK span (or event) attributes.

    Phoenix stores span attributes as nested JSON; a ``*.metadata`` JSON object string (the
    OpenInference convention) comes back parsed, one dotted key per leaf, empty objects
    dropped. Everything else, and every event attribute, must come back unchanged.
    """
    expected: dict[str, Any] = {}
    for key, value in attributes.items():
        if span and key.endswith(".metadata") and isinstance(value, str):
            with contextlib.suppress(ValueError):
                parsed = json.loads(value)
                if isinstance(parsed, dict):
                    expected.update(_flatten(key, parsed))
                    continue
        expected[key] = _plain(value)
    return expected


def compare_spans(sent: Sequence[ReadableSpan], received: Sequence[dict[str, Any]]) -> list[str]:
    """What differs between the spans the SDK finished (``sent``) and what Phoenix stored
    (``received``): missing, duplicate or unexpected spans, wrong trace or parent links,
    times, statuses, attributes, events. Empty when everything arrived intact."""
    problems: list[str] = []
    by_id: dict[str, list[dict[str, Any]]] = {}
    for stored in received:
        by_id.setdefault(stored["context"]["span_id"], []).append(stored)
    sent_ids = {_hex(s.context.span_id, 16) for s in sent}
    for span_id, copies in by_id.items():
        if span_id not in sent_ids:
            problems.append(f"unexpected span {copies[0]['name']!r} ({span_id})")
        elif len(copies) > 1:
            problems.append(f"span {copies[0]['name']!r} ({span_id}) stored {len(copies)} times")
    missing = [s for s in sent if _hex(s.context.span_id, 16) not in by_id]
    if missing:
        names = Counter(s.name for s in missing)
        problems.append(f"{len(missing)} of {len(sent)} spans missing: {dict(names)}")
    for span in sent:
        if found := by_id.get(_hex(span.context.span_id, 16)):
            problems.extend(_compare_span(span, found[0]))
    sent_names, received_names = Counter(s.name for s in sent), Counter(r["name"] for r in received)
    if sent_names != received_names:
        problems.append(f"span names differ: sent {sent_names}, received {received_names}")
    return problems


def _compare_span(span: ReadableSpan, got: dict[str, Any]) -> list[str]:
    where = f"span {span.name!r} ({_hex(span.context.span_id, 16)})"
    problems: list[str] = []

    def check(what: str, want: Any, have: Any) -> None:
        if want != have:
            problems.append(f"{where}: {what}: sent {want!r}, received {have!r}")

    check("name", span.name, got["name"])
    check("trace id", _hex(span.context.trace_id, 32), got["context"]["trace_id"])
    parent = _hex(span.parent.span_id, 16) if span.parent else None
    check("parent id", parent, got["parent_id"])
    for which, sent_ns in (("start_time", span.start_time), ("end_time", span.end_time)):
        if abs(_iso_ns(got[which]) - (sent_ns or 0)) > 1000:  # Phoenix keeps microseconds
            check(which, sent_ns, got[which])
    check("status code", span.status.status_code.name, got["status_code"])
    check("status message", span.status.description or "", got.get("status_message") or "")
    have_attributes = got.get("attributes") or {}
    for key, value in expected_attributes(dict(span.attributes or {})).items():
        check(f"attribute {key}", value, have_attributes.get(key, "<missing>"))
    sent_events = [
        (e.name, expected_attributes(dict(e.attributes or {}), span=False)) for e in span.events
    ]
    got_events = [(e["name"], e.get("attributes") or {}) for e in got.get("events") or []]
    check("event names", [n for n, _ in sent_events], [n for n, _ in got_events])
    for (name, want), (_, have) in zip(sent_events, got_events, strict=False):
        for key, value in want.items():
            check(f"event {name} attribute {key}", value, have.get(key, "<missing>"))
    return problems
