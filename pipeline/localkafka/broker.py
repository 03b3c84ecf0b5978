"""A real Apache Kafka node (KRaft, broker + controller in one JVM) run from Maven Central jars.

No Docker needed: Java 17+ runs the broker, Maven resolves its jars once into a cache
(``deploy/kafka/pom.xml``, ``pipeline/localkafka/jars.py``). Alone it is a single-node cluster, used by
``wirepipe broker``, ``make run`` and the integration tests; ``LocalCluster`` (``cluster.py``) runs several
as one quorum.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import structlog

from pipeline.localkafka.jars import DEFAULT_HOME, DEFAULT_LOG_CONFIG, DEFAULT_POM, BrokerError, Jars
from pipeline.localkafka.process import (
    PortTakenError,
    Runtime,
    check_alive,
    cleanup,
    cpu_seconds,
    free_port,
    new_cluster_id,
    rss_bytes,
    terminate,
    wait_listed,
    wait_listening,
)
from pipeline.localkafka.properties import SCRAM_MECHANISM, Quorum, server_properties

# Kafka's own scripts use G1 with short pauses; pass other jvm_args to LocalBroker to replace them.
DEFAULT_JVM_ARGS = ("-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20")
# For short-lived brokers in tests: starts in about half the time with less memory, but the C1-only JIT
# lowers peak throughput, so not for load or soak tests.
QUICK_START_JVM_ARGS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
_BIND_RETRIES = 3

log = structlog.get_logger(__name__)


class LocalBroker:
    """One Kafka node (broker + controller) on 127.0.0.1, formatted and started on demand.

    ``home`` holds the jar cache (``home/libs``) and, for a fixed ``port``, the data
    (``home/data-<port>``, kept between runs). Without a port, free ports are picked and the data
    lives in a temporary folder removed by ``close()``. ``restart()`` keeps data and ports.

    Alone (no ``quorum``) it is a cluster of one. A ``LocalCluster`` gives each node a ``node_id``, its
    ports (``port``, ``controller_port``) and the shared ``quorum``.

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
        node_id: int = 1,
        controller_port: int | None = None,
        quorum: Quorum | None = None,
    ) -> None:
        self.home = Path(home)
        self.jars = Jars(self.home, pom, log_config)
        self.java_heap = java_heap
        self.jvm_args = list(jvm_args)
        self.partitions = partitions
        self.auto_create_topics = auto_create_topics
        self.console_level = console_level
        self.start_timeout_s = start_timeout_s
        self.node_id = node_id
        self.quorum = quorum
        self._fixed_port = port
        self._port: int | None = port
        self._controller_port: int | None = controller_port
        self.scram_users = dict(scram_users or {})
        self._sasl_port: int | None = None
        self._started_once = False
        self._launch_offset = 0
        self._launched_at = 0.0
        self._cpu_before = 0.0  # CPU of the JVMs that ran before the current one
        self._data_dir = (
            data_dir if data_dir is not None else (self.home / f"data-{port}" if port is not None else None)
        )
        self._runtime = Runtime(stop_timeout_s=stop_timeout_s)
        # Runs at garbage collection or interpreter exit, whichever comes first: no JVM outlives us.
        self._finalizer = weakref.finalize(self, cleanup, self._runtime)

    # -- where things are -------------------------------------------------------------------------

    @property
    def libs_dir(self) -> Path:
        return self.jars.libs_dir

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
    def controller_port(self) -> int | None:
        return self._controller_port

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
        return self.jars.kafka_version

    def rss_bytes(self) -> int:
        """Resident memory of the broker's JVM (Linux /proc), 0 when it is not running."""
        return rss_bytes(self.pid)

    def cpu_seconds(self) -> float:
        """CPU seconds of this node's JVMs so far: the running one, and those stopped or killed
        (counted up to their stop signal)."""
        return self._cpu_before + cpu_seconds(self.pid)

    def ensure_jars(self) -> Path:
        """Resolve Kafka's jars with Maven unless the cache is complete for the current pom. Returns it."""
        return self.jars.ensure()

    # -- format, start, stop ----------------------------------------------------------------------

    def format(self) -> str | None:
        """Format the KRaft log dir (with the quorum's cluster id, else a random one), unless it already
        is. Returns the id it was formatted with."""
        if (self._kraft_dir / "meta.properties").exists():
            return None
        cluster_id = self.quorum.cluster_id if self.quorum else new_cluster_id()
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
        """Start the node and return once it answers a metadata request that lists it."""
        if self.running:
            return self
        for attempt in range(1, _BIND_RETRIES + 1):
            self.launch()
            try:
                self.wait_ready()
            except PortTakenError as taken:
                self._choose_ports_after(taken, last_try=attempt == _BIND_RETRIES)
                continue
            return self
        raise AssertionError("unreachable")

    def launch(self) -> None:
        """Start the JVM without waiting for it (a cluster launches all its nodes, then waits)."""
        if self.running:
            return
        self.ensure_jars()
        if self._port is None:
            self._port = self._fixed_port or free_port()
        if self._controller_port is None:
            self._controller_port = free_port(besides=(self._port,))
        if self.scram_users and self._sasl_port is None:
            self._sasl_port = free_port(besides=(self._port, self._controller_port))
        self.format()
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
        self._launched_at = time.monotonic()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop the broker in order
        )
        self._runtime.proc, self._runtime.stdout = proc, stdout

    def wait_ready(self) -> None:
        """Wait until the launched node listens and a metadata request lists it as a live broker."""
        proc = self._runtime.proc
        if proc is None:
            raise BrokerError("the broker was not launched")
        deadline = self._launched_at + self.start_timeout_s

        def alive() -> None:
            check_alive(proc, self.log_dir / "stdout.log", self._launch_offset, self.log_file)

        try:
            wait_listening(self.port, deadline, alive, f"see {self.log_file}")
            wait_listed(self.bootstrap, self.node_id, deadline, alive)
        except BaseException:
            self.stop()
            raise
        self._started_once = True
        log.info(
            "kafka.broker.started",
            node_id=self.node_id,
            bootstrap=self.bootstrap,
            pid=proc.pid,
            seconds=round(time.monotonic() - self._launched_at, 2),
            log_file=str(self.log_file),
        )

    def _choose_ports_after(self, taken: PortTakenError, *, last_try: bool) -> None:
        if taken.port == self._sasl_port and not self._started_once:
            self._sasl_port = None  # no client knows it yet: take another
        elif self.quorum is not None:
            pass  # every voter knows this node's ports: its cluster decides (LocalCluster picks new ones)
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
        if last_try or self.quorum is not None:
            raise taken

    def stop(self) -> int | None:
        """SIGTERM, wait for the orderly shutdown, SIGKILL after the timeout. Keeps data and ports."""
        proc = self._runtime.proc
        if proc is None:
            return None
        started = time.monotonic()
        self._cpu_before += cpu_seconds(self.pid)
        code = terminate(proc, self._runtime.stop_timeout_s)
        self._runtime.proc = None
        if self._runtime.stdout is not None:
            self._runtime.stdout.close()
            self._runtime.stdout = None
        log.info(
            "kafka.broker.stopped",
            node_id=self.node_id,
            port=self._port,
            exit_code=code,
            seconds=round(time.monotonic() - started, 1),
        )
        return code

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM killer would: no orderly shutdown. Keeps data and ports."""
        proc = self._runtime.proc
        if proc is not None and proc.poll() is None:
            self._cpu_before += cpu_seconds(proc.pid)
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
        return f"LocalBroker(node {self.node_id}, {where}, running={self.running}, data_dir={self._data_dir})"

    # -- internals --------------------------------------------------------------------------------

    @property
    def _kraft_dir(self) -> Path:
        return self.data_dir / "kraft"

    def _java_command(self, main_class: str) -> list[str]:
        return self.jars.java_command(
            main_class,
            heap=self.java_heap,
            jvm_args=self.jvm_args,
            log_dir=self.log_dir,
            console_level=self.console_level,
        )

    def _write_properties(self) -> Path:
        properties = server_properties(
            node_id=self.node_id,
            port=self.port,
            controller_port=self._controller_port,
            sasl_port=self._sasl_port if self.scram_users else None,
            quorum=self.quorum,
            log_dirs=self._kraft_dir,
            partitions=self.partitions,
            auto_create_topics=self.auto_create_topics,
        )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
        return path
