"""The REST API under /api/v1/, its OpenAPI schema, and the docs the portal serves itself."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from teams.api.errors import not_found

v1 = [
    path("", include("teams.api.urls")),
    path("", include("provisioning.api.urls")),
    path("", include("chargeback.api.urls")),
]

urlpatterns = [
    path("v1/", include((v1, "api"), namespace="v1")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("schema/swagger/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("schema/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    re_path(r"^", not_found),
]
