"""An error handled without raising is never silent: counted and logged, in one call.

``cityops_errors_logged_total{where=...}`` is what the alert rules watch; the log line carries
the error's repr (bounded), so the two always agree.
"""

from __future__ import annotations

import logging
from typing import Any

from cityops_platform import metrics


def count_and_log(
    where: str, logger: logging.Logger, message: str, exc: BaseException | None = None, *,
    level: int = logging.WARNING, **fields: Any,
) -> None:
    """Count the swallowed error under ``where`` and log ``message`` with ``fields`` and the error."""
    metrics.ERRORS_SWALLOWED.labels(where).inc()
    if exc is not None:
        fields["error"] = repr(exc)[:300]
    logger.log(level, message, extra=fields)
