from django.urls import path, re_path

from provisioning import views

#: A namespace is named by its cluster and its name: the same name on two clusters is two namespaces.
NAMESPACE = "clusters/<slug:cluster>/namespaces/<str:name>/"

urlpatterns = [
    path(NAMESPACE, views.namespace_detail, name="namespace-detail"),
    path(f"{NAMESPACE}manifests.yaml", views.namespace_manifests, name="namespace-manifests"),
    path(f"{NAMESPACE}fit/", views.namespace_fit, name="namespace-fit"),
    path(f"{NAMESPACE}chart/", views.usage_chart, name="usage-chart"),
    path(f"{NAMESPACE}reapply/", views.namespace_reapply, name="namespace-reapply"),
    # Links from before namespaces named their cluster: the default cluster's namespace of that name.
    re_path(r"^namespaces/(?P<rest>[^/]+/.*)$", views.namespace_on_default_cluster, name="namespace-legacy"),
    path("requests/preview/<str:kind>/", views.request_preview, name="request-preview"),
    path("requests/<int:pk>/dry-run/", views.request_dry_run, name="request-dry-run"),
    path("requests/<int:pk>/evidence/", views.request_evidence, name="request-evidence"),
    path("cluster/", views.cluster_overview, name="cluster-overview"),
    path("clusters/connect/", views.cluster_connect, name="cluster-connect"),
    path("clusters/<slug:cluster>/connection/", views.cluster_connection, name="cluster-connection"),
    path("clusters/<slug:cluster>/connection/test/", views.cluster_connection_test, name="cluster-connection-test"),
    path("clusters/<slug:cluster>/remove/", views.cluster_remove, name="cluster-remove"),
]
