"""Reaching the API server: clients from a kubeconfig, and retrying through
API server restarts with bounded exponential backoff."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from kubernetes import config
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from .events import log_event
from .options import SimulatorOptions

logger = logging.getLogger(__name__)

T = TypeVar("T")

STRATEGIC_MERGE = "application/strategic-merge-patch+json"
MERGE_PATCH = "application/merge-patch+json"


def new_api_client(options: SimulatorOptions) -> ApiClient:
    """One ApiClient per loop: they run in separate threads."""
    return config.new_client_from_config(config_file=options.kubeconfig, context=options.context)


def is_transient(error: BaseException) -> bool:
    """Errors worth retrying: connection trouble, timeouts, 5xx and 429."""
    if isinstance(error, ApiException):
        return error.status is None or error.status == 429 or error.status >= 500
    return isinstance(error, OSError | TimeoutError) or type(error).__module__.startswith("urllib3")


class Backoff:
    """Exponential backoff between reconnection attempts, reset after a success."""

    def __init__(self, stop: threading.Event, initial: float = 0.5, maximum: float = 5.0) -> None:
        self._stop = stop
        self._initial = initial
        self._maximum = maximum
        self._delay = initial

    def reset(self) -> None:
        self._delay = self._initial

    def wait(self, what: str, error: BaseException) -> None:
        """Logs the failure once per attempt and sleeps (returns early on shutdown)."""
        log_event(
            logger,
            "api.unavailable",
            logging.WARNING,
            loop=what,
            error=describe(error),
            retry_in=f"{self._delay:.1f}s",
        )
        self._stop.wait(self._delay)
        self._delay = min(self._delay * 2, self._maximum)


def describe(error: BaseException) -> str:
    """A one-line description of an API error, without the response headers."""
    if isinstance(error, ApiException):
        return f"{error.status} {api_message(error)}"
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:200]


def api_message(error: ApiException) -> str:
    """The Status message the API server sent with a refusal."""
    import json

    try:
        return str(json.loads(error.body or "{}").get("message", error.reason))
    except ValueError:
        return str(error.reason)


def run_forever(what: str, stop: threading.Event, step: Callable[[], None]) -> None:
    """Runs ``step`` until shutdown; a transient failure waits and retries, and
    an unexpected one is logged and retried too, so one bad object never ends
    the simulation."""
    backoff = Backoff(stop)
    while not stop.is_set():
        try:
            step()
            backoff.reset()
        except Exception as error:  # the loop must survive anything
            if not is_transient(error):
                logger.exception("loop.error loop=%s", what)
            backoff.wait(what, error)
