"""Kafka broker jars: resolved by Maven from deploy/kafka/pom.xml, cached in .cache/kafka-libs/."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ._process import DevstackError, DevstackUnavailable

log = logging.getLogger("cityops.devstack")

_STAMP = ".pom.sha256"
_DOWNLOADED = re.compile(r"^Downloaded from \S+: (\S+)")


def repo_root() -> Path:
    """The checkout holding deploy/kafka/pom.xml.

    CITYOPS_REPO_ROOT wins; otherwise we look upwards from this file (editable install) and
    then from the working directory.
    """
    env = os.environ.get("CITYOPS_REPO_ROOT")
    if env:
        return Path(env).resolve()
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for candidate in (start, *start.parents):
            if (candidate / "deploy" / "kafka" / "pom.xml").is_file():
                return candidate
    raise DevstackUnavailable(
        "Không tìm thấy deploy/kafka/pom.xml; hãy đặt CITYOPS_REPO_ROOT. "
        "/ deploy/kafka/pom.xml not found; set CITYOPS_REPO_ROOT to the CityOps checkout."
    )


def kafka_config_dir() -> Path:
    """deploy/kafka: the pom, the server.properties template and log4j2.xml."""
    return repo_root() / "deploy" / "kafka"


def kafka_libs_dir() -> Path:
    """Where the broker classpath lives (CITYOPS_KAFKA_LIBS overrides)."""
    env = os.environ.get("CITYOPS_KAFKA_LIBS")
    return Path(env).resolve() if env else repo_root() / ".cache" / "kafka-libs"


def _pom_hash(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def kafka_jars_ready() -> bool:
    """True when the cached jars match the current pom, so no Maven run is needed."""
    libs = kafka_libs_dir()
    stamp = libs / _STAMP
    pom = kafka_config_dir() / "pom.xml"
    return stamp.is_file() and stamp.read_text().strip() == _pom_hash(pom) and any(libs.glob("kafka_2.13-*.jar"))


def ensure_kafka_jars(progress: Callable[[str], None] | None = None) -> Path:
    """Return the directory of broker jars, running Maven first if they are missing or stale.

    Safe to call from several processes at once (a file lock serialises the download). The first
    run downloads ~90 jars from Maven Central (about a minute); later runs return at once.
    progress receives one human-readable line per step; by default lines go to stderr.
    """
    say = progress or _to_stderr
    libs = kafka_libs_dir()
    if kafka_jars_ready():
        return libs
    pom = kafka_config_dir() / "pom.xml"
    libs.parent.mkdir(parents=True, exist_ok=True)
    with open(libs.parent / "kafka-libs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if kafka_jars_ready():  # another process fetched them while we waited
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise DevstackUnavailable(
                "Thiếu Maven (mvn) để tải jar Kafka; cài gói `maven`. "
                "/ Maven (mvn) is needed to fetch the Kafka jars; install the `maven` package."
            )
        staging = libs.with_name(libs.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        say(f"Đang tải jar Kafka bằng Maven / fetching Kafka jars with Maven ({pom}) ...")
        started = time.monotonic()
        _run_maven(mvn, pom, staging, libs.parent / "kafka-libs.maven.log", say)
        (staging / _STAMP).write_text(_pom_hash(pom) + "\n")
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        count = len(list(libs.glob("*.jar")))
        say(f"Xong / done: {count} jars in {libs} ({time.monotonic() - started:.0f} s)")
        return libs


def _to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _run_maven(mvn: str, pom: Path, out_dir: Path, log_path: Path, say: Callable[[str], None]) -> None:
    argv = [
        mvn,
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={out_dir}",
    ]
    downloaded = 0
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            log_file.write(line)
            match = _DOWNLOADED.match(line.strip())
            if match and match.group(1).endswith(".jar"):
                downloaded += 1
                if downloaded % 10 == 0:
                    say(f"  ... {downloaded} jars downloaded")
        code = proc.wait()
    if code != 0:
        raise DevstackError(
            f"Maven thất bại / Maven failed (exit {code}); log: {log_path}\n"
            + "\n".join(log_path.read_text().splitlines()[-20:])
        )
