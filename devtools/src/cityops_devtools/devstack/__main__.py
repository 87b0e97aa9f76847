"""`python -m cityops_devtools.devstack up|fetch-jars`: the devstack as a foreground command."""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from ._process import DevstackError
from .jars import ensure_kafka_jars
from .stack import Devstack


def _up(args: argparse.Namespace) -> int:
    stopping = threading.Event()

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        if not started.is_set():
            raise KeyboardInterrupt  # unwinds start(), which kills what it already launched
        stopping.set()

    started = threading.Event()
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    stack = Devstack(Path(args.run_dir), kafka_port=args.kafka_port, postgres_port=args.postgres_port)
    began = time.monotonic()
    try:
        stack.start()
    except KeyboardInterrupt:
        stack.stop()
        return 130
    started.set()
    env_file = stack.run_dir / "env"
    lines = [f"export {key}={shlex.quote(value)}" for key, value in stack.env().items()]
    env_file.write_text("\n".join(lines) + "\n")
    print(
        f"# devstack sẵn sàng / ready in {time.monotonic() - began:.1f} s "
        f"(Kafka pid {stack.kafka.pid}, Postgres pid {stack.postgres.pid})",
        file=sys.stderr,
    )
    print(f"# logs: {stack.kafka.log_path}, {stack.postgres.log_path}", file=sys.stderr)
    print(f"# source {env_file}   — Ctrl-C để dừng / to stop", file=sys.stderr)
    print("\n".join(lines), flush=True)
    code = 0
    while not stopping.wait(1.0):
        if not (stack.kafka.is_running and stack.postgres.is_running):
            print("# một server đã dừng bất ngờ / a server exited unexpectedly", file=sys.stderr)
            code = 1
            break
    print("# đang dừng / stopping ...", file=sys.stderr)
    stack.stop()
    return code


def _fetch_jars(_args: argparse.Namespace) -> int:
    print(ensure_kafka_jars())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cityops_devtools.devstack",
        description="Kafka + Postgres thật cho máy dev / real local Kafka + Postgres",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start Kafka and Postgres in the foreground")
    up.add_argument("--run-dir", default=".run/devstack")
    up.add_argument("--kafka-port", type=int, default=None)
    up.add_argument("--postgres-port", type=int, default=None)
    up.set_defaults(func=_up)
    fetch = commands.add_parser("fetch-jars", help="download the Kafka broker jars (Maven)")
    fetch.set_defaults(func=_fetch_jars)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        return int(args.func(args))
    except DevstackError as exc:
        print(f"lỗi / error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
