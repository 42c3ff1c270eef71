"""Serves /healthz, /readyz and /metrics before any other middleware.

The kubelet and Prometheus reach a pod by its IP, over plain HTTP inside the cluster: through
the full stack, ALLOWED_HOSTS would refuse their Host header (a 400) and SECURE_SSL_REDIRECT
would send them to HTTPS (a 301 the probe counts as success, hiding a 503). These answers
build no URL and read no session or cookie, so neither check protects anything here; the
rest of the portal keeps both. Placed first in MIDDLEWARE.
"""

from collections.abc import Callable

from asgiref.sync import async_to_sync
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

from monitoring import views

ENDPOINTS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": views.healthz,
    "/readyz": async_to_sync(views.readyz),
    "/metrics": views.metrics,
}


class ProbeEndpoints:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = ENDPOINTS.get(request.path_info)
        if view is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        return view(request)
