"""Readiness checks beside django-health-check's Database: the Celery broker and each cluster.

A check raises ServiceUnavailable with a message naming what failed; its repr names the
check in the /readyz body, so neither may hold a credential.
"""

import dataclasses
import datetime

from celery import current_app
from django.conf import settings
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

from monitoring.broker import BrokerUnreachable, describe, queue_length
from provisioning.cluster import ClusterError, ClusterGateway
from provisioning.models import ClusterConnection


def readiness_timeout() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.READINESS_TIMEOUT_SECONDS)


@dataclasses.dataclass
class Broker(HealthCheck):
    """The broker answers: approvals are enqueued there, so without it nothing gets applied."""

    url: str = dataclasses.field(repr=False, default="")
    timeout: datetime.timedelta = dataclasses.field(default_factory=readiness_timeout, repr=False)

    def __repr__(self) -> str:
        return f"Broker({describe(self.url or settings.CELERY_BROKER_URL)})"

    def run(self) -> None:
        try:
            queue_length(
                self.url or settings.CELERY_BROKER_URL,
                current_app.conf.task_default_queue,
                timeout=self.timeout.total_seconds(),
            )
        except BrokerUnreachable as error:
            raise ServiceUnavailable(str(error)) from None


@dataclasses.dataclass
class ClusterReachable(HealthCheck):
    """A cluster's API server answers: applies and syncs need it.

    Only the default cluster's answer is `required` for readiness: readiness takes a pod out of
    its Service, and one of several clusters being down must not take every cluster's pages
    down with it. The others are checked and named all the same. It holds the connection, read
    before the checks run: a check runs in a thread of its own, which must not need the database.
    """

    connection: ClusterConnection = dataclasses.field(repr=False)
    timeout: datetime.timedelta = dataclasses.field(default_factory=readiness_timeout, repr=False)

    @property
    def required(self) -> bool:
        return self.connection.cluster.is_default

    def __repr__(self) -> str:
        name = self.connection.cluster.name
        return f"Cluster({name})" if self.required else f"Cluster({name}, not required)"

    def run(self) -> None:
        try:
            with ClusterGateway(self.connection) as gateway:
                gateway.check_reachable(self.timeout.total_seconds())
        except ClusterError as error:
            raise ServiceUnavailable(str(error)) from None
