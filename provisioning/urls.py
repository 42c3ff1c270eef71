from django.urls import path

from provisioning import views

urlpatterns = [
    path("namespaces/<str:name>/", views.namespace_detail, name="namespace-detail"),
    path("namespaces/<str:name>/manifests.yaml", views.namespace_manifests, name="namespace-manifests"),
    path("namespaces/<str:name>/fit/", views.namespace_fit, name="namespace-fit"),
    path("namespaces/<str:name>/chart/", views.usage_chart, name="usage-chart"),
    path("namespaces/<str:name>/reapply/", views.namespace_reapply, name="namespace-reapply"),
    path("requests/preview/<str:kind>/", views.request_preview, name="request-preview"),
    path("requests/<int:pk>/dry-run/", views.request_dry_run, name="request-dry-run"),
    path("requests/<int:pk>/evidence/", views.request_evidence, name="request-evidence"),
    path("cluster/", views.cluster_overview, name="cluster-overview"),
]
