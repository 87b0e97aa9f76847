"""``cityops worker <service>``: run a service's Faust app as a worker process."""

from __future__ import annotations

import logging

import faust

from cityops_platform.logging import configure_logging
from cityops_platform.runtime import service_module
from cityops_platform.settings import Settings
from cityops_platform.tracing import configure_tracing

log = logging.getLogger("cityops.worker")


def run_worker(service: str, settings: Settings) -> int:
    """Build the service's app (``cityops_<service>.app:create_app``) and run it until signalled."""
    configure_tracing(f"{service}-worker")
    module = service_module(service, "app")
    app: faust.App = module.create_app(
        settings, web_port=settings.service_metrics_port(service, worker=True)
    )
    worker = faust.Worker(app, loglevel=settings.log_level.lower().replace("warning", "warn"),
                          quiet=True, redirect_stdouts=False)
    # Faust installs its own handlers; ours go last so every line on stdout is JSON.
    worker.on_setup_logging = lambda *a, **k: configure_logging(f"{service}-worker", settings.log_level)  # type: ignore[method-assign,assignment]
    worker.execute_from_commandline()
    return 0
