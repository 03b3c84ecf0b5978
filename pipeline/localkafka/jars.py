"""Kafka's jars from Maven Central and the Java that runs them: shared by one node and a cluster.

Maven resolves ``deploy/kafka/pom.xml`` once into ``<home>/libs`` (a marker file records the pom's
digest and the jar list, so a changed pom resolves again); every node started from that home runs the
same jars.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import structlog

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy" / "kafka"
DEFAULT_HOME = REPO_ROOT / ".wirepipe" / "kafka"
DEFAULT_POM = DEPLOY_DIR / "pom.xml"
DEFAULT_LOG_CONFIG = DEPLOY_DIR / "log4j2.properties"

_MIN_JAVA = 17
_MARKER = ".wirepipe-complete"
NO_BROKER_HINT = "or run a broker with `docker compose up` and point WIREPIPE_KAFKA_BOOTSTRAP at it"

log = structlog.get_logger(__name__)


class BrokerError(RuntimeError):
    """The local broker could not be prepared, started or reached."""


class BrokerSetupError(BrokerError):
    """A prerequisite (java, mvn, the jar cache) is missing or broken."""


def java_major_version(java: str = "java") -> int:
    """The major version of the ``java`` on PATH (17 for "17.0.15")."""
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False, timeout=30)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if match is None:
        raise BrokerSetupError(f"cannot read the Java version from `java -version`: {result.stderr.strip()}")
    major = int(match.group(1))
    # Java 8 and older report "1.8.0_x".
    return int(match.group(2) or 0) if major == 1 else major


_java_checked = False


def require_java() -> None:
    """Fail with what to install when there is no Java 17+ on PATH (checked once per process)."""
    global _java_checked  # noqa: PLW0603 - one `java -version` per process is enough
    if _java_checked:
        return
    if shutil.which("java") is None:
        raise BrokerSetupError(
            f"java not found on PATH: the local Kafka needs a Java {_MIN_JAVA}+ runtime "
            "(Debian: apt-get install openjdk-17-jre-headless), " + NO_BROKER_HINT
        )
    major = java_major_version()
    if major < _MIN_JAVA:
        raise BrokerSetupError(
            f"java on PATH is version {major}; Kafka 4.x needs {_MIN_JAVA}+ "
            "(Debian: apt-get install openjdk-17-jre-headless), " + NO_BROKER_HINT
        )
    _java_checked = True


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


class Jars:
    """The jar cache under ``home`` for one pom, and the java command line that runs a class from it."""

    def __init__(self, home: Path, pom: Path = DEFAULT_POM, log_config: Path = DEFAULT_LOG_CONFIG) -> None:
        self.home = Path(home)
        self.pom = pom
        self.log_config = log_config

    @property
    def libs_dir(self) -> Path:
        return self.home / "libs"

    @property
    def kafka_version(self) -> str:
        """The Kafka version of the cached jars, e.g. ``4.4.0``."""
        for jar in self.libs_dir.glob("kafka_2.13-*.jar"):
            return jar.name.removeprefix("kafka_2.13-").removesuffix(".jar")
        raise BrokerSetupError(f"no kafka_2.13 jar in {self.libs_dir}: call ensure() first")

    def ensure(self) -> Path:
        """Resolve Kafka's jars with Maven unless the cache is complete for the current pom. Returns it."""
        require_java()
        for needed in (self.pom, self.log_config):
            if not needed.is_file():
                raise BrokerSetupError(
                    f"{needed} is missing: the local broker runs from a source checkout of wirepipe, "
                    + NO_BROKER_HINT
                )
        digest = hashlib.sha256(self.pom.read_bytes()).hexdigest()
        if self._complete(digest):
            return self.libs_dir
        with _file_lock(self.home / ".libs.lock"):
            if self._complete(digest):  # another process resolved them while we waited
                return self.libs_dir
            self._resolve(digest)
        return self.libs_dir

    def _resolve(self, digest: str) -> None:
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerSetupError(
                "mvn not found on PATH: it resolves Kafka's jars once (Debian: apt-get install maven), "
                + NO_BROKER_HINT
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
            raise BrokerSetupError(f"`{' '.join(cmd)}` failed with exit code {result.returncode}:\n{output}")
        jars = sorted(p.name for p in staging.glob("*.jar"))
        (staging / _MARKER).write_text("\n".join([digest, *jars]) + "\n")
        shutil.rmtree(self.libs_dir, ignore_errors=True)
        staging.rename(self.libs_dir)
        log.info("kafka.jars.resolved", jars=len(jars), seconds=round(time.monotonic() - started, 1))

    def _complete(self, digest: str) -> bool:
        marker = self.libs_dir / _MARKER
        if not marker.is_file():
            return False
        recorded, *jars = marker.read_text().split()
        return recorded == digest and bool(jars) and all((self.libs_dir / jar).is_file() for jar in jars)

    def java_command(
        self, main_class: str, *, heap: str, jvm_args: Sequence[str], log_dir: Path, console_level: str
    ) -> list[str]:
        """``java ... <main_class>`` on the cached jars, logging into ``log_dir``."""
        return [
            "java",
            f"-Xmx{heap}",
            "-Xms64m",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.log_config}",
            f"-Dkafka.logs.dir={log_dir}",
            f"-Dwirepipe.console.level={console_level}",
            *jvm_args,
            "-cp",
            f"{self.libs_dir}/*",
            main_class,
        ]
