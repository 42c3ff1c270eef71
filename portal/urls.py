"""Root URLs: the pages, the REST API with its schema, sign-in, and the Django admin."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from accounts import sso_views

admin.site.site_header = "GPU Quota Portal administration"
admin.site.site_title = "GPU Quota Portal"

urlpatterns = [
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico whatever the page links; the icon is an SVG among the static files.
    path("favicon.ico", RedirectView.as_view(url=static("portal/favicon.svg"), permanent=True)),
    path("api/", include("portal.api_urls")),
    path("accounts/login/", sso_views.SignInPageView.as_view(), name="login"),
    path("accounts/logout/", sso_views.SignOutView.as_view(), name="logout"),
    path("oidc/", include("accounts.sso_urls")),
    path("profile/", include("accounts.urls")),
    path("notifications/", include("notifications.urls")),
    path("chargeback/", include("chargeback.urls")),
    path("", include("teams.urls")),
    path("", include("provisioning.urls")),
]
