"""``python -m loadtests.bench.city [--env-file F]``: a fresh bench city that stays up until Ctrl-C.

For pointing Locust (or anything) at the same stack the bench uses: prints, and optionally writes
to ``--env-file``, the ``CITYOPS_*`` variables of its endpoints (``export $(cat F)`` in a shell).
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from .stack import LocalCity

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench.city")
    parser.add_argument("--env-file", type=Path)
    parser.add_argument("--no-gateway", action="store_true")
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    city = LocalCity(ROOT / ".run" / "bench", gateway=not args.no_gateway)
    try:
        ep = city.start(say=lambda m: print(m, flush=True))
        lines = [f"{k}={v}" for k, v in ep.env().items()]
        lines.append(f"BENCH_SENSORS_WORKER_METRICS={city.worker_metrics('sensors') or ''}")
        if args.env_file:
            args.env_file.write_text("\n".join(lines) + "\n")
        print("READY", *lines, sep="\n", flush=True)
        while not stop.wait(1.0):
            if city.crashed():
                print("crashed:", city.crashed(), flush=True)
                return 1
        return 0
    finally:
        city.stop()


if __name__ == "__main__":
    raise SystemExit(main())
