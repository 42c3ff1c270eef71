"""The REST API under /api/v1/, its OpenAPI schema, and the docs the portal serves itself."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from teams.api.errors import not_found

v1 = [
    path("", include("teams.api.urls")),
    path("", include("provisioning.api.urls")),
    path("", include("chargeback.api.urls")),
]

urlpatterns = [
    path("v1/", include((v1, "api"), namespace="v1")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file of its own: no inline script.
    path(
        "schema/swagger/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/swagger_ui.html"),
        name="swagger-ui",
    ),
    # Redoc styles itself with <style> elements it writes at run time and searches in a blob: worker;
    # this page alone allows both.
    path(
        "schema/redoc/",
        csp_update({"style-src": [UNSAFE_INLINE], "worker-src": ["blob:"]})(
            SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html")
        ),
        name="redoc",
    ),
    re_path(r"^", not_found),
]
