from rest_framework.routers import SimpleRouter

from teams.api import views

router = SimpleRouter()
router.register("cost-centers", views.CostCenterViewSet, basename="cost-center")
router.register("tiers", views.GpuTierViewSet, basename="tier")
router.register("teams", views.TeamViewSet, basename="team")
router.register("namespaces", views.NamespaceViewSet, basename="namespace")
router.register("requests", views.RequestViewSet, basename="request")
router.register("autoapproval-rules", views.AutoApprovalRuleViewSet, basename="autoapproval-rule")

urlpatterns = router.urls
