"""The REST API under /api/v1/ with its browsable root, its OpenAPI schema, and the docs the portal serves itself."""

from django.contrib.auth.views import redirect_to_login
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import APIRootView

from provisioning.api.urls import router as provisioning_router
from teams import roles
from teams.api.errors import not_found
from teams.api.permissions import CanSeeApiSchema
from teams.api.urls import router as teams_router


class PortalApiRootView(APIRootView):
    """The portal's REST API: one link per endpoint. Send an API token as `Authorization: Bearer <token>`."""

    name = "GPU Quota Portal API"


#: prefix -> URL name of every list endpoint, in the order the apps' routers register them.
ROOT = {
    **{
        prefix: f"{basename}-list"
        for router in (teams_router, provisioning_router)
        for prefix, _, basename in router.registry
    },
    "chargeback": "chargeback",
}

v1 = [
    path("", PortalApiRootView.as_view(api_root_dict=ROOT), name="api-root"),
    path("", include("teams.api.urls")),
    path("", include("provisioning.api.urls")),
    path("", include("chargeback.api.urls")),
]


def signed_in_unless_public(view):
    """The docs pages send a visitor the schema is not public to to sign in first, as every page does."""

    def page(request, *args, **kwargs):
        if not roles.can_see_api_schema(request.user):
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return page


urlpatterns = [
    path("v1/", include((v1, "api"), namespace="v1")),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[CanSeeApiSchema]), name="schema"),
    # The split view serves Swagger UI's start-up script as a file of its own: no inline script. Swagger UI is
    # the only docs page: ReDoc always fetches Redocly's logo from its CDN and needs inline styles and a blob:
    # worker, where Swagger UI (drf-spectacular-sidecar) needs nothing from outside the portal.
    path(
        "schema/swagger/",
        signed_in_unless_public(
            SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/swagger_ui.html")
        ),
        name="swagger-ui",
    ),
    re_path(r"^", not_found, name="api-not-found"),
]
