"""Log lines that say what they serve: readable `key=value` for people, JSON lines for machines.

Every line carries its context without the caller passing it. In a web request: the request id
(the client's `X-Request-ID`, or one made up) and the signed-in user. In a Celery task: the
task's id and name, the request id of whatever sent the task (a message header, set by
portal.celery), and the portal request (a teams Request) the task serves. So one approval can
be followed from the click to the API server's answer by its request id.
"""

import contextvars
import logging
from datetime import UTC, datetime

from celery import current_task
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject, empty
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

#: Attributes every LogRecord has; anything else was passed in `extra=` or added by ContextFilter.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}

#: The web request this thread serves, set by portal.request_id.RequestIdMiddleware.
_http_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("http_request", default=None)

#: The message header that carries the request id from the sender of a task to the task.
REQUEST_ID_HEADER = "x_request_id"


def serve(request: HttpRequest) -> None:
    """Make `request` (which carries `request_id`) the context of this thread's lines until `release()`."""
    _http_request.set(request)


def release() -> None:
    _http_request.set(None)


def current_request_id() -> str | None:
    """The request id of the web request or the task this thread serves, if any."""
    request = _http_request.get()
    if request is not None:
        return getattr(request, "request_id", None)
    return getattr(current_task.request, REQUEST_ID_HEADER, None) if current_task else None


def context() -> dict:
    """The fields every line logged now carries."""
    request = _http_request.get()
    if request is not None:
        return {"request_id": getattr(request, "request_id", None), "user": _user_name(request)}
    if not current_task or current_task.request.id is None:
        return {}
    task = current_task
    fields = {"task_id": task.request.id, "task": task.name}
    fields["request_id"] = getattr(task.request, REQUEST_ID_HEADER, None)
    # Tasks that serve a portal request take its primary key as the keyword `request_id`.
    if isinstance(task.request.kwargs, dict) and "request_id" in task.request.kwargs:
        fields["portal_request_id"] = task.request.kwargs["request_id"]
    return fields


def _user_name(request: HttpRequest) -> str | None:
    """The signed-in user's name once authentication has run; never a query from inside logging."""
    user = getattr(request, "user", None)
    if user is None or (isinstance(user, SimpleLazyObject) and user._wrapped is empty):
        return None
    return user.get_username() if user.is_authenticated else None


class ContextFilter(logging.Filter):
    """Adds the context's fields to each record; a field the caller passed in `extra=` wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in context().items():
            if value is not None and not hasattr(record, key):
                setattr(record, key, value)
        return True


class KeyValueFormatter(logging.Formatter):
    """`time level logger message key=value ...`: for the demo and DEBUG, read by people."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{key}={value}" for key, value in vars(record).items() if key not in _STANDARD)
        return f"{line} {fields}" if fields else line


class JsonFormatter(BaseJsonFormatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, then every field."""

    def __init__(self) -> None:
        super().__init__(
            "{levelname}{name}{message}", style="{", rename_fields={"levelname": "level", "name": "logger"}
        )

    def add_fields(self, log_data: dict, record: logging.LogRecord, message_dict: dict) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
        super().add_fields(log_data, record, message_dict)
