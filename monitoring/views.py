"""/healthz, /readyz and /metrics: for the kubelet and Prometheus, not for people.

None of them needs a session or a signed-in user; /metrics takes a bearer token instead
(METRICS_TOKEN), or is open where METRICS_PUBLIC says so (the demo, or behind a network
policy). monitoring.middleware serves them ahead of the rest of the middleware.
"""

import asyncio
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers
from django.utils.crypto import constant_time_compare
from health_check.checks import Database
from health_check.views import HealthCheckView
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from monitoring.health import Broker, ClusterReachable
from monitoring.metrics import PortalCollector
from provisioning.models import ClusterConnection

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> HttpResponse:
    """The process answers: nothing else is checked, so a database outage restarts no pod."""
    return _text("ok\n")


class Readiness(HealthCheckView):
    """The database, the broker and the default cluster answer within READINESS_TIMEOUT_SECONDS.

    Every other cluster is checked and named too, without failing readiness (monitoring.health).

    django-health-check runs the checks side by side; this view answers 503 rather than the
    library's 500 when one fails (a 500 is a bug in this portal), and in plain text, one line
    per check naming what failed, unless JSON is asked for (`Accept: application/json`).
    """

    checks = (Database, Broker)

    async def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        self.connections = await sync_to_async(_connections)()
        with self.get_executor() as executor:
            self.results = await asyncio.gather(*(check.get_result(executor) for check in self.get_checks()))
        failed = [result for result in self.results if result.error and getattr(result.check, "required", True)]
        status = 503 if failed else 200
        if "application/json" in request.headers.get("Accept", "") or request.GET.get("format") == "json":
            return self.render_to_response_json(status)
        return self.render_to_response_text(status)

    def get_checks(self):
        yield from super().get_checks()
        for connection in self.connections:
            yield ClusterReachable(connection=connection)


def _connections() -> list[ClusterConnection]:
    """Without the database there is no list; its own check then names the failure."""
    try:
        return ClusterConnection.objects.every()
    except DatabaseError:
        return []


readyz = Readiness.as_view()


def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus exposition of monitoring.metrics, in the format the scraper asks for."""
    refusal = _refuse_metrics(request)
    if refusal is not None:
        return refusal
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PortalCollector())
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    try:
        body = encoder(registry)
    except DatabaseError as error:
        logger.warning("metrics.database_unavailable", extra={"error": str(error)})
        return _text(f"The database is unavailable: {error}\n", status=503)
    response = HttpResponse(body, content_type=content_type)
    add_never_cache_headers(response)
    return response


def _refuse_metrics(request: HttpRequest) -> HttpResponse | None:
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and constant_time_compare(given.strip(), token):
            return None
        response = _text("Metrics need the bearer token METRICS_TOKEN: `Authorization: Bearer <token>`.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if settings.METRICS_PUBLIC:
        return None
    return _text(
        "Metrics are not served: set METRICS_TOKEN (and give Prometheus the token), or METRICS_PUBLIC=1 where a "
        "network policy keeps /metrics from everyone but Prometheus.\n",
        status=403,
    )


def _text(body: str, *, status: int = 200) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")
    add_never_cache_headers(response)
    return response
