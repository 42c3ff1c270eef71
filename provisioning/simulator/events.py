"""Concise event-style log lines (``pod.running namespace=a pod=b``) for the simulator."""

from __future__ import annotations

import logging


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: object) -> None:
    """Logs one stable event name with key=value fields, also passed as ``extra``."""
    text = " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
    logger.log(level, "%s %s", event, text, extra={"event": event, **{f"sim_{k}": v for k, v in fields.items()}})
