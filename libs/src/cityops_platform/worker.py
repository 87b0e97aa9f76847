"""``cityops worker <service>``: run a service's Faust app as a worker process."""

from __future__ import annotations

import logging
from typing import NoReturn

import faust

from cityops_platform import heap
from cityops_platform.logging import configure_logging
from cityops_platform.runtime import service_module
from cityops_platform.settings import Settings
from cityops_platform.tracing import configure_tracing

log = logging.getLogger("cityops.worker")


class JsonLoggingWorker(faust.Worker):
    """A Faust worker whose every log line is our JSON (Faust would install plain text and a spinner)."""

    service_name = "worker"
    json_level = "INFO"

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None
        configure_logging(self.service_name, self.json_level)

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        # Agents, tables and resources are up: what is alive now lives as long as the process.
        log.info("start-up heap frozen", extra={"objects": heap.freeze_startup_heap()})


def make_worker(app: faust.App, service: str, level: str) -> faust.Worker:
    """A worker for ``app`` with JSON logs named ``<service>-worker`` at ``level``."""
    worker_cls = type("Worker", (JsonLoggingWorker,), {"service_name": f"{service}-worker", "json_level": level})
    worker: faust.Worker = worker_cls(
        app, loglevel=level.lower().replace("warning", "warn"), quiet=True, redirect_stdouts=False
    )
    return worker


def run_worker(service: str, settings: Settings) -> NoReturn:
    """Build the service's app (``cityops_<service>.app:create_app``) and run it until signalled."""
    settings.require_signing_key()
    heap.tune(settings.gc_young_threshold)
    configure_tracing(f"{service}-worker")
    module = service_module(service, "app")
    app: faust.App = module.create_app(
        settings, web_port=settings.service_metrics_port(service, worker=True)
    )
    # Runs until a signal stops the worker, then exits the process (mode's Worker calls sys.exit).
    make_worker(app, service, settings.log_level).execute_from_commandline()
