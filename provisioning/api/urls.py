from django.urls import re_path
from rest_framework.routers import SimpleRouter

from provisioning.api import views

router = SimpleRouter()
router.register("clusters", views.ClusterViewSet, basename="cluster")
router.register("usage-samples", views.UsageSampleViewSet, basename="usage-sample")

urlpatterns = [
    re_path(r"^requests/(?P<pk>[0-9]{1,18})/dry-run/$", views.RequestDryRunView.as_view(), name="request-dry-run"),
    *router.urls,
]
