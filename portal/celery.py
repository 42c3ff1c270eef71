"""The Celery app; workers and beat read their configuration from Django settings.

Logging stays Django's (settings.LOGGING): Celery neither replaces the root logger's handlers
nor redirects stdout, so a worker's lines have the same format and fields as the web's. Each
task message carries the request id of whatever sent it (a web request, or a task retrying or
enqueueing another), so a task's lines name the request they come from.
"""

import logging.config
import os

from celery import Celery
from celery.signals import before_task_publish, setup_logging

from portal import logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def configure_logging(**kwargs) -> None:
    """Connected, this signal stops Celery from configuring logging itself; Django's LOGGING applies."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@before_task_publish.connect
def send_request_id(headers: dict, **kwargs) -> None:
    request_id = logs.current_request_id()
    if request_id is not None:
        headers.setdefault(logs.REQUEST_ID_HEADER, request_id)
