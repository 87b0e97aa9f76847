"""A real single-node Apache Kafka 4 broker (KRaft, combined broker+controller) on loopback."""

from __future__ import annotations

import base64
import functools
import itertools
import logging
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from string import Template

from . import _process
from ._process import DevstackError, DevstackUnavailable, PortTaken, ServerProcess
from .jars import ensure_kafka_jars, kafka_config_dir

log = logging.getLogger("cityops.devstack")

_CORRELATION = itertools.count(1)


@functools.lru_cache(maxsize=1)
def find_java() -> str:
    """Path of a Java >= 17 runtime (JAVA_HOME first, then PATH)."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise DevstackUnavailable(
            "Thiếu Java 17+ để chạy Kafka; cài `openjdk-17-jre-headless`. "
            "/ Java 17+ is needed for the Kafka broker; install openjdk-17-jre-headless."
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8" style
        major = int(match.group(2))
    if major < 17:
        raise DevstackUnavailable(f"Kafka 4 cần Java 17+ / needs Java 17+, found: {out.strip()}")
    return java


class KafkaBroker(ServerProcess):
    """One Kafka 4 broker in KRaft mode, its data and logs under run_dir.

    >>> broker = KafkaBroker(Path(".run/kafka")); broker.start(); broker.bootstrap
    '127.0.0.1:40123'

    start() blocks until the broker answers a Metadata request listing itself (that is, it is
    unfenced and can create topics). stop() is a controlled shutdown; kill() is a crash (SIGKILL);
    restart() brings the same broker back on the same ports with its data. Ports are free loopback
    ports unless given. The process dies with the Python process that started it.
    Logs: run_dir/logs/server.log (log4j) and run_dir/kafka.out (JVM stdout/stderr).

    ``sasl_admin=(user, password)`` makes the client listener SASL_PLAINTEXT with SCRAM-SHA-512 and
    turns on the StandardAuthorizer (deny when no ACL matches): that user is the super user (and the
    inter-broker identity); ``scram_users`` are created too, at storage format time, with no ACLs.
    """

    start_timeout = 90.0

    def __init__(
        self,
        run_dir: Path | str,
        port: int | None = None,
        *,
        controller_port: int | None = None,
        heap: str = "512m",
        num_partitions: int = 1,
        sasl_admin: tuple[str, str] | None = None,
        scram_users: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(run_dir, port)
        self.sasl_admin = sasl_admin
        self.scram_users = dict(scram_users or {})
        self.controller_port = controller_port
        self.heap = heap
        self.num_partitions = num_partitions
        self._server_log_offset = 0

    @property
    def bootstrap(self) -> str:
        """host:port for CITYOPS_KAFKA_BOOTSTRAP (valid after start())."""
        return f"127.0.0.1:{self._started_port()}"

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def log_path(self) -> Path:
        """The broker's main log (log4j server.log)."""
        return self.run_dir / "logs" / "server.log"

    @property
    def stdout_path(self) -> Path:
        return self.run_dir / "kafka.out"

    def start(self, timeout: float | None = None) -> KafkaBroker:
        """Start the broker (formatting storage on first use) and wait until it serves requests
        (within ``timeout`` seconds, default ``start_timeout``)."""
        if self.is_running:
            return self
        timeout = self.start_timeout if timeout is None else timeout
        java = find_java()
        classpath = f"{ensure_kafka_jars()}/*"
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        formatted_now = False

        def prepare() -> None:
            nonlocal formatted_now
            self._pick_ports()
            formatted_now = self._format_storage(java, classpath, self._write_config())

        def forget_ports() -> None:
            self.port = self.controller_port = None
            if formatted_now:  # nothing worth keeping; a clean slate avoids re-registration waits
                shutil.rmtree(self.data_dir, ignore_errors=True)
                self.data_dir.mkdir(parents=True)

        started = self._launch_until_ready(
            what="kafka", prepare=prepare, launch=lambda: self._launch(java, classpath), wait_ready=self._wait_ready,
            timeout=timeout, ports_chosen=self.port is None or self.controller_port is None, forget_ports=forget_ports,
        )
        assert self._proc is not None
        log.info("kafka ready on %s in %.1f s (pid %d)", self.bootstrap, time.monotonic() - started, self._proc.pid)
        return self

    def _pick_ports(self) -> None:
        if self.port is None:
            self.port = _process.free_port()
        while self.controller_port is None or self.controller_port == self.port:
            self.controller_port = _process.free_port()

    def _format_storage(self, java: str, classpath: str, config: Path) -> bool:
        if (self.data_dir / "meta.properties").exists():
            return False
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        tool = [java, "-Xmx256m", "-cp", classpath, "kafka.tools.StorageTool"]
        # "--cluster-id=<id>": an id starting with "-" (1 in 64) would otherwise parse as an option.
        args = ["format", f"--cluster-id={cluster_id}", "-c", str(config), "--ignore-formatted"]
        if self.sasl_admin is not None:
            for user, password in {self.sasl_admin[0]: self.sasl_admin[1], **self.scram_users}.items():
                args += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]"]
        _process.run_checked(tool + args, what="kafka-storage format")
        return True

    def _launch(self, java: str, classpath: str) -> None:
        jvm = [f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"]
        jvm += ["-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true"]
        jvm += [f"-Dlog4j2.configurationFile={kafka_config_dir() / 'log4j2.xml'}"]
        jvm += [f"-Dkafka.logs.dir={self.run_dir / 'logs'}"]
        argv = [java, *jvm, "-cp", classpath, "kafka.Kafka", str(self.run_dir / "server.properties")]
        self._log_offset = _process.size_of(self.stdout_path)
        self._server_log_offset = _process.size_of(self.log_path)
        self._proc = _process.spawn(argv, log_file=self.stdout_path, cwd=self.run_dir)
        _process.on_exit(self.stop)

    def _write_config(self) -> Path:
        template = Template((kafka_config_dir() / "server.properties.template").read_text())
        config = self.run_dir / "server.properties"
        config.write_text(
            template.substitute(
                port=self.port,
                controller_port=self.controller_port,
                data_dir=self.data_dir,
                num_partitions=self.num_partitions,
            )
            + self._sasl_properties()
        )
        return config

    def _sasl_properties(self) -> str:
        # Later keys win in a .properties file: these override the template's PLAINTEXT listener.
        if self.sasl_admin is None:
            return ""
        user, password = self.sasl_admin
        return (
            "\n# SASL/SCRAM and ACLs (KafkaBroker(sasl_admin=...))\n"
            f"listeners=SASL_PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}\n"
            f"advertised.listeners=SASL_PLAINTEXT://127.0.0.1:{self.port}\n"
            "inter.broker.listener.name=SASL_PLAINTEXT\n"
            "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT\n"
            "sasl.enabled.mechanisms=SCRAM-SHA-512\n"
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512\n"
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config="
            f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{user}" '
            f'password="{password}";\n'
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n"
            "allow.everyone.if.no.acl.found=false\n"
            # The loopback controller listener is PLAINTEXT, so its (broker) principal is ANONYMOUS.
            f"super.users=User:{user};User:ANONYMOUS\n"
        )

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None and self.port is not None
        while time.monotonic() < deadline:
            # A failed bind takes the JVM seconds to exit; the log says so at once.
            if "Address already in use" in _process.read_from(self.stdout_path, self._log_offset):
                raise PortTaken(self.bootstrap)
            if self._proc.poll() is not None:
                raise DevstackError(
                    f"Kafka dừng khi khởi động / exited during startup (code {self._proc.returncode}); "
                    f"logs: {self.stdout_path}, {self.log_path}\n{_process.tail(self.stdout_path)}\n"
                    f"{_process.tail(self.log_path)}"
                )
            if self.sasl_admin is not None:
                # The probe below speaks no SASL; the broker says when it is up instead.
                if "Kafka Server started" in _process.read_from(self.log_path, self._server_log_offset):
                    return
            elif metadata_broker_count("127.0.0.1", self.port) > 0:
                return
            time.sleep(0.1)
        raise DevstackError(
            f"Kafka không sẵn sàng / not ready in time; log: {self.log_path}\n{_process.tail(self.log_path)}"
        )


def metadata_broker_count(host: str, port: int, timeout: float = 2.0) -> int:
    """Send a real Metadata (v4) request and return how many live brokers the answer lists.

    0 means "not ready" (refused, closed, or no unfenced broker yet). A hand-rolled request keeps
    the readiness probe synchronous and free of client-library event loops.
    """
    client_id = b"cityops-devstack"
    correlation = next(_CORRELATION) & 0x7FFFFFFF
    # Request header v1 (api key 3 = Metadata, version 4), then: topics = [] (none),
    # allow_auto_topic_creation = false.
    body = struct.pack(">hhih", 3, 4, correlation, len(client_id)) + client_id + struct.pack(">ib", 0, 0)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            size = struct.unpack(">i", _recv_exact(sock, 4))[0]
            reply = _recv_exact(sock, size)
    except OSError:  # refused, reset, timed out: not serving yet
        return 0
    if len(reply) < 12:
        return 0
    # Response: correlation id, throttle_time_ms, brokers array length, ...
    got_correlation, _throttle, brokers = struct.unpack(">iii", reply[:12])
    return brokers if got_correlation == correlation else 0


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("closed")
        chunks.extend(chunk)
    return bytes(chunks)
