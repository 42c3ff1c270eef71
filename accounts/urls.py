from django.urls import path

from accounts import sso_views, views

urlpatterns = [
    path("", views.profile, name="profile"),
    path("tokens/<int:pk>/revoke/", views.revoke_token, name="token-revoke"),
    path("no-access/", sso_views.no_access, name="no-access"),
]
