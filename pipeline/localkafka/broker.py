"""A real single-node Apache Kafka (KRaft, broker + controller in one JVM) run from Maven Central jars.

No Docker needed: Java 17+ runs the broker, Maven resolves its jars once into a cache
(``deploy/kafka/pom.xml``). Used by ``wirepipe broker`` and by the integration tests.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Self

import structlog

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy" / "kafka"
DEFAULT_HOME = REPO_ROOT / ".wirepipe" / "kafka"
DEFAULT_POM = DEPLOY_DIR / "pom.xml"
DEFAULT_LOG_CONFIG = DEPLOY_DIR / "log4j2.properties"

# Kafka's own scripts use G1 with short pauses; pass other jvm_args to LocalBroker to replace them.
DEFAULT_JVM_ARGS = ("-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20")
# For short-lived brokers in tests: starts in about half the time with less memory, but the C1-only JIT
# lowers peak throughput, so not for load or soak tests.
QUICK_START_JVM_ARGS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
_MIN_JAVA = 17
_MARKER = ".wirepipe-complete"
_NODE_ID = 1
_BIND_RETRIES = 3
# The one SASL mechanism the optional authenticated listener offers (users are created at format time).
SCRAM_MECHANISM = "SCRAM-SHA-512"
_NO_BROKER_HINT = "or run a broker with `docker compose up` and point WIREPIPE_KAFKA_BOOTSTRAP at it"

log = structlog.get_logger(__name__)


class BrokerError(RuntimeError):
    """The local broker could not be prepared, started or reached."""


class BrokerSetupError(BrokerError):
    """A prerequisite (java, mvn, the jar cache) is missing or broken."""


@dataclass
class _Runtime:
    """What must be cleaned up even if the owning LocalBroker is never closed (kept apart from it
    so the finalizer does not hold the broker alive)."""

    proc: subprocess.Popen[bytes] | None = None
    stdout: IO[bytes] | None = None
    temp_dir: Path | None = None
    stop_timeout_s: float = 30.0


def _terminate(proc: subprocess.Popen[bytes], timeout_s: float) -> int:
    """SIGTERM (Kafka shuts down in order), then SIGKILL if it has not exited in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


def _cleanup(runtime: _Runtime) -> None:
    if runtime.proc is not None:
        _terminate(runtime.proc, runtime.stop_timeout_s)
        runtime.proc = None
    if runtime.stdout is not None:
        runtime.stdout.close()
        runtime.stdout = None
    if runtime.temp_dir is not None:
        shutil.rmtree(runtime.temp_dir, ignore_errors=True)
        runtime.temp_dir = None


def free_port(*, besides: tuple[int | None, ...] = ()) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, and not one of ``besides``
    (the kernel can hand the same free port out twice in a row)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in besides:
            return port


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID as 22 characters of unpadded base64url.

    Kafka's own generator rerolls ids starting with '-' so they never look like a CLI flag.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not text.startswith("-"):
            return text


def java_major_version(java: str = "java") -> int:
    """The major version of the ``java`` on PATH (17 for "17.0.15")."""
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False, timeout=30)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if match is None:
        raise BrokerSetupError(f"cannot read the Java version from `java -version`: {result.stderr.strip()}")
    major = int(match.group(1))
    # Java 8 and older report "1.8.0_x".
    return int(match.group(2) or 0) if major == 1 else major


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (pytest-xdist workers resolving the jars together)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = 25, since: int = 0) -> str:
    """The last lines of a log, from byte ``since`` on (a file appended to across restarts)."""
    try:
        with path.open("rb") as handle:
            handle.seek(since)
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:])


class LocalBroker:
    """One Kafka node (broker + controller) on 127.0.0.1, formatted and started on demand.

    ``home`` holds the jar cache (``home/libs``) and, for a fixed ``port``, the data
    (``home/data-<port>``, kept between runs). Without a port, free ports are picked and the data
    lives in a temporary folder removed by ``close()``. ``restart()`` keeps data and ports.

    ``scram_users`` (name -> password) adds a second, authenticated listener (SASL_PLAINTEXT with
    SCRAM-SHA-512) at ``sasl_bootstrap``; the users are written into the log dir when it is formatted.
    The plaintext listener stays (the readiness probe and inter-broker traffic use it).
    """

    def __init__(
        self,
        home: Path = DEFAULT_HOME,
        *,
        port: int | None = None,
        java_heap: str = "512m",
        jvm_args: Sequence[str] = DEFAULT_JVM_ARGS,
        data_dir: Path | None = None,
        partitions: int = 3,
        auto_create_topics: bool = False,
        console_level: str = "WARN",
        start_timeout_s: float = 90.0,
        stop_timeout_s: float = 30.0,
        pom: Path = DEFAULT_POM,
        log_config: Path = DEFAULT_LOG_CONFIG,
        scram_users: Mapping[str, str] | None = None,
    ) -> None:
        self.home = Path(home)
        self.java_heap = java_heap
        self.jvm_args = list(jvm_args)
        self.partitions = partitions
        self.auto_create_topics = auto_create_topics
        self.console_level = console_level
        self.start_timeout_s = start_timeout_s
        self.pom = pom
        self.log_config = log_config
        self._fixed_port = port
        self._port: int | None = port
        self._controller_port: int | None = None
        self.scram_users = dict(scram_users or {})
        self._sasl_port: int | None = None
        self._started_once = False
        self._launch_offset = 0
        self._data_dir = (
            data_dir if data_dir is not None else (self.home / f"data-{port}" if port is not None else None)
        )
        self._runtime = _Runtime(stop_timeout_s=stop_timeout_s)
        # Runs at garbage collection or interpreter exit, whichever comes first: no JVM outlives us.
        self._finalizer = weakref.finalize(self, _cleanup, self._runtime)

    # -- where things are -------------------------------------------------------------------------

    @property
    def libs_dir(self) -> Path:
        return self.home / "libs"

    @property
    def data_dir(self) -> Path:
        if self._data_dir is None:
            self._runtime.temp_dir = Path(tempfile.mkdtemp(prefix="wirepipe-kafka-"))
            self._data_dir = self._runtime.temp_dir
        return self._data_dir

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def log_file(self) -> Path:
        """The broker's own log (log4j2); ``stdout.log`` beside it has the JVM's output."""
        return self.log_dir / "server.log"

    @property
    def port(self) -> int:
        if self._port is None:
            raise BrokerError("the broker has no port yet: call start() first")
        return self._port

    @property
    def bootstrap(self) -> str:
        """``host:port`` for clients' bootstrap servers."""
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        """``host:port`` of the SCRAM-SHA-512 listener (SASL_PLAINTEXT); needs ``scram_users``."""
        if not self.scram_users:
            raise BrokerError("the broker has no SASL listener: pass scram_users to LocalBroker")
        if self._sasl_port is None:
            raise BrokerError("the broker has no SASL port yet: call start() first")
        return f"127.0.0.1:{self._sasl_port}"

    @property
    def pid(self) -> int | None:
        proc = self._runtime.proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def kafka_version(self) -> str:
        """The Kafka version of the cached jars, e.g. ``4.4.0``."""
        for jar in self.libs_dir.glob("kafka_2.13-*.jar"):
            return jar.name.removeprefix("kafka_2.13-").removesuffix(".jar")
        raise BrokerSetupError(f"no kafka_2.13 jar in {self.libs_dir}: call ensure_jars() first")

    def rss_bytes(self) -> int:
        """Resident memory of the broker's JVM (Linux /proc), 0 when it is not running."""
        pid = self.pid
        if pid is None:
            return 0
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    # -- jars -------------------------------------------------------------------------------------

    def ensure_jars(self) -> Path:
        """Resolve Kafka's jars with Maven unless the cache is complete for the current pom. Returns it."""
        _require_java()
        for needed in (self.pom, self.log_config):
            if not needed.is_file():
                raise BrokerSetupError(
                    f"{needed} is missing: the local broker runs from a source checkout of wirepipe, "
                    + _NO_BROKER_HINT
                )
        digest = hashlib.sha256(self.pom.read_bytes()).hexdigest()
        if self._jars_complete(digest):
            return self.libs_dir
        with _file_lock(self.home / ".libs.lock"):
            if self._jars_complete(digest):  # another process resolved them while we waited
                return self.libs_dir
            mvn = shutil.which("mvn")
            if mvn is None:
                raise BrokerSetupError(
                    "mvn not found on PATH: it resolves Kafka's jars once (Debian: apt-get install maven), "
                    + _NO_BROKER_HINT
                )
            staging = self.home / "libs.staging"
            shutil.rmtree(staging, ignore_errors=True)
            log.info("kafka.jars.resolving", pom=str(self.pom), into=str(self.libs_dir))
            started = time.monotonic()
            cmd = [
                mvn,
                "-q",
                "-B",
                "-Dstyle.color=never",
                "-f",
                str(self.pom),
                "dependency:copy-dependencies",
                f"-Dwirepipe.kafka.libs={staging}",
            ]
            result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900)
            if result.returncode != 0:
                output = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
                raise BrokerSetupError(
                    f"`{' '.join(cmd)}` failed with exit code {result.returncode}:\n{output}"
                )
            jars = sorted(p.name for p in staging.glob("*.jar"))
            (staging / _MARKER).write_text("\n".join([digest, *jars]) + "\n")
            shutil.rmtree(self.libs_dir, ignore_errors=True)
            staging.rename(self.libs_dir)
            log.info("kafka.jars.resolved", jars=len(jars), seconds=round(time.monotonic() - started, 1))
        return self.libs_dir

    def _jars_complete(self, digest: str) -> bool:
        marker = self.libs_dir / _MARKER
        if not marker.is_file():
            return False
        recorded, *jars = marker.read_text().split()
        return recorded == digest and bool(jars) and all((self.libs_dir / jar).is_file() for jar in jars)

    # -- format, start, stop ----------------------------------------------------------------------

    def format(self) -> str | None:
        """Format the KRaft log dir with a random cluster id, unless it already is. Returns the new id."""
        if (self._kraft_dir / "meta.properties").exists():
            return None
        cluster_id = new_cluster_id()
        props = self._write_properties()
        # KRaft stores SCRAM credentials in the metadata log: the format step seeds them.
        scram = [
            arg
            for name, password in self.scram_users.items()
            for arg in ("--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]")
        ]
        result = subprocess.run(
            [
                *self._java_command("kafka.tools.StorageTool"),
                "format",
                "-t",
                cluster_id,
                "-c",
                str(props),
                *scram,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            raise BrokerError(
                f"formatting {self._kraft_dir} failed: {(result.stdout + result.stderr).strip()}"
            )
        return cluster_id

    def start(self) -> Self:
        """Start the node and return once it answers a metadata request."""
        if self.running:
            return self
        self.ensure_jars()
        for attempt in range(1, _BIND_RETRIES + 1):
            if self._port is None:
                self._port = self._fixed_port or free_port()
            if self._controller_port is None:
                self._controller_port = free_port(besides=(self._port,))
            if self.scram_users and self._sasl_port is None:
                self._sasl_port = free_port(besides=(self._port, self._controller_port))
            self.format()
            try:
                self._launch()
            except _PortTakenError as taken:
                self._choose_ports_after(taken, last_try=attempt == _BIND_RETRIES)
                continue
            self._started_once = True
            return self
        raise AssertionError("unreachable")

    def _choose_ports_after(self, taken: _PortTakenError, *, last_try: bool) -> None:
        if taken.port == self._sasl_port and not self._started_once:
            self._sasl_port = None  # no client knows it yet: take another
        elif taken.port != self._port:
            self._controller_port = None  # clients never see the controller port: take another
        elif self._fixed_port is not None and not self._started_once:
            raise BrokerError(
                f"port {self._port} is in use on 127.0.0.1: is another broker (`wirepipe broker`) "
                "running? Stop it or choose another port."
            ) from taken
        elif not self._started_once:
            # Another process took the port between our probe and the JVM's bind: pick new ones.
            self._port = self._controller_port = self._sasl_port = None
        else:
            time.sleep(1.0)  # clients know this port: wait for whoever holds it to let go
        if last_try:
            raise taken

    def stop(self) -> int | None:
        """SIGTERM, wait for the orderly shutdown, SIGKILL after the timeout. Keeps data and ports."""
        proc = self._runtime.proc
        if proc is None:
            return None
        started = time.monotonic()
        code = _terminate(proc, self._runtime.stop_timeout_s)
        self._runtime.proc = None
        if self._runtime.stdout is not None:
            self._runtime.stdout.close()
            self._runtime.stdout = None
        log.info(
            "kafka.broker.stopped",
            port=self._port,
            exit_code=code,
            seconds=round(time.monotonic() - started, 1),
        )
        return code

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM killer would: no orderly shutdown. Keeps data and ports."""
        proc = self._runtime.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        self.stop()

    def restart(self, *, hard: bool = False) -> Self:
        """Stop (``hard``: kill) and start again on the same ports with the same data (for fault tests)."""
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start()

    def close(self) -> None:
        """Stop, and delete the data if it lived in a temporary folder."""
        self.stop()
        self._finalizer()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.bootstrap if self._port is not None else "no port yet"
        return f"LocalBroker({where}, running={self.running}, data_dir={self._data_dir})"

    # -- internals --------------------------------------------------------------------------------

    @property
    def _kraft_dir(self) -> Path:
        return self.data_dir / "kraft"

    def _java_command(self, main_class: str) -> list[str]:
        return [
            "java",
            f"-Xmx{self.java_heap}",
            "-Xms64m",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.log_config}",
            f"-Dkafka.logs.dir={self.log_dir}",
            f"-Dwirepipe.console.level={self.console_level}",
            *self.jvm_args,
            "-cp",
            f"{self.libs_dir}/*",
            main_class,
        ]

    def _write_properties(self) -> Path:
        port, cport = self.port, self._controller_port
        listeners = f"PLAINTEXT://127.0.0.1:{port}"
        protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        sasl: dict[str, object] = {}
        if self.scram_users:
            listeners += f",SASL_PLAINTEXT://127.0.0.1:{self._sasl_port}"
            protocols += ",SASL_PLAINTEXT:SASL_PLAINTEXT"
            sasl = {
                "sasl.enabled.mechanisms": SCRAM_MECHANISM,
                f"listener.name.sasl_plaintext.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": (
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                ),
            }
        settings = {
            "process.roles": "broker,controller",
            "node.id": _NODE_ID,
            "controller.quorum.voters": f"{_NODE_ID}@127.0.0.1:{cport}",
            "listeners": f"{listeners},CONTROLLER://127.0.0.1:{cport}",
            "advertised.listeners": listeners,
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": protocols,
            "log.dirs": self._kraft_dir,
            "num.partitions": self.partitions,
            "auto.create.topics.enable": str(self.auto_create_topics).lower(),
            "default.replication.factor": 1,
            "min.insync.replicas": 1,
            # One node: every internal topic must fit on it, and small ones are created fast.
            "offsets.topic.replication.factor": 1,
            "offsets.topic.num.partitions": 10,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "transaction.state.log.num.partitions": 10,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "share.coordinator.state.topic.num.partitions": 10,
            # Consumers in tests join one at a time: do not wait 3 s for more members.
            "group.initial.rebalance.delay.ms": 0,
            # After a crash the restarted controller waits out the dead incarnation's session before the
            # broker may register again: 9 s by default. Heartbeats stay in this one process.
            "broker.heartbeat.interval.ms": 1000,
            "broker.session.timeout.ms": 4000,
            "num.io.threads": 4,
            "num.network.threads": 2,
            **sasl,
        }
        self.log_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        return path

    def _launch(self) -> None:
        props = self._write_properties()
        stdout_path = self.log_dir / "stdout.log"
        stdout = stdout_path.open("ab")
        self._launch_offset = stdout.tell()
        command = [*self._java_command("kafka.Kafka"), str(props)]
        setpriv = shutil.which("setpriv")
        if setpriv is not None and threading.current_thread() is threading.main_thread():
            # The JVM gets SIGTERM if we die without cleaning up (SIGKILL, crash). Only from the main
            # thread: the signal fires when the *thread* that started the child exits.
            command = [setpriv, "--pdeathsig", "TERM", *command]
        started = time.monotonic()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop the broker in order
        )
        self._runtime.proc, self._runtime.stdout = proc, stdout
        try:
            self._wait_ready(proc, started + self.start_timeout_s)
        except BaseException:
            self.stop()
            raise
        log.info(
            "kafka.broker.started",
            bootstrap=self.bootstrap,
            pid=proc.pid,
            seconds=round(time.monotonic() - started, 2),
            log_file=str(self.log_file),
        )

    def _wait_ready(self, proc: subprocess.Popen[bytes], deadline: float) -> None:
        while not self._accepts_connections(proc, deadline):
            time.sleep(0.05)
        self._wait_metadata(proc, deadline)

    def _accepts_connections(self, proc: subprocess.Popen[bytes], deadline: float) -> bool:
        self._check_alive(proc)
        if time.monotonic() > deadline:
            raise BrokerError(
                f"Kafka did not open {self.bootstrap} within {self.start_timeout_s:.0f} s; "
                f"see {self.log_file}:\n{_tail(self.log_file)}"
            )
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def _check_alive(self, proc: subprocess.Popen[bytes]) -> None:
        code = proc.poll()
        if code is None:
            return
        output = _tail(self.log_dir / "stdout.log", since=self._launch_offset) + "\n" + _tail(self.log_file)
        bind = re.search(r"failed to bind to [^:\s]+:(\d+)", output)
        if bind is not None:
            raise _PortTakenError(int(bind.group(1)))
        raise BrokerError(
            f"Kafka exited with code {code} before it was ready; see {self.log_file} "
            f"and {self.log_dir / 'stdout.log'}:\n{output.strip()}"
        )

    def _wait_metadata(self, proc: subprocess.Popen[bytes], deadline: float) -> None:
        """One metadata round trip that lists this broker: the listener is up and the node unfenced."""
        from kafka.admin import KafkaAdminClient  # noqa: PLC0415 - kafka-python is only needed here
        from kafka.errors import KafkaError  # noqa: PLC0415

        last_error: Exception | None = None
        while time.monotonic() < deadline:
            self._check_alive(proc)
            try:
                admin = KafkaAdminClient(
                    bootstrap_servers=self.bootstrap,
                    request_timeout_ms=5000,
                    bootstrap_timeout_ms=5000,
                    client_id="wirepipe-broker-probe",
                )
                try:
                    brokers = admin.describe_cluster()["brokers"]
                finally:
                    admin.close()
                if brokers:
                    return
            except KafkaError as exc:
                last_error = exc
            time.sleep(0.1)
        raise BrokerError(f"Kafka at {self.bootstrap} accepted connections but no metadata: {last_error}")


class _PortTakenError(BrokerError):
    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} on 127.0.0.1 is already in use")
        self.port = port


_java_checked = False


def _require_java() -> None:
    global _java_checked  # noqa: PLW0603 - one `java -version` per process is enough
    if _java_checked:
        return
    if shutil.which("java") is None:
        raise BrokerSetupError(
            f"java not found on PATH: the local Kafka needs a Java {_MIN_JAVA}+ runtime "
            "(Debian: apt-get install openjdk-17-jre-headless), " + _NO_BROKER_HINT
        )
    major = java_major_version()
    if major < _MIN_JAVA:
        raise BrokerSetupError(
            f"java on PATH is version {major}; Kafka 4.x needs {_MIN_JAVA}+ "
            "(Debian: apt-get install openjdk-17-jre-headless), " + _NO_BROKER_HINT
        )
    _java_checked = True


def run_foreground(port: int = 9092, home: Path = DEFAULT_HOME) -> int:
    """``wirepipe broker``: start a node on ``port``, print its bootstrap, run until Ctrl-C or SIGTERM."""
    stop = threading.Event()

    def _request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with LocalBroker(home, port=port) as broker:
            log.info(
                "kafka.broker.ready",
                kafka=broker.kafka_version,
                bootstrap=broker.bootstrap,
                log_file=str(broker.log_file),
                data_dir=str(broker.data_dir),
            )
            print(broker.bootstrap, flush=True)
            while not stop.wait(0.5):
                if not broker.running:
                    log.error("kafka.broker.exited", log_file=str(broker.log_file))
                    return 1
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
