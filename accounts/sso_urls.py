"""The round trip through the identity provider, under the URL names mozilla-django-oidc's middleware expects."""

from django.urls import path

from accounts import sso_views

urlpatterns = [
    path("authenticate/", sso_views.SignInView.as_view(), name="oidc_authentication_init"),
    path("callback/", sso_views.CallbackView.as_view(), name="oidc_authentication_callback"),
    path("logout/", sso_views.SignOutView.as_view(), name="oidc_logout"),
]
