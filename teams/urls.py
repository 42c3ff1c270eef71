from django.urls import path

from teams import rule_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("teams/", views.dashboard, name="dashboard"),
    path("requests/", views.request_list, name="request-list"),
    path("clusters/<slug:cluster>/namespaces/<str:name>/usage/", views.namespace_usage, name="namespace-usage"),
    path("requests/new/<str:kind>/", views.request_new, name="request-new"),
    path("requests/new/<str:kind>/validate/", views.request_validate, name="request-validate"),
    path("requests/<int:pk>/", views.request_detail, name="request-detail"),
    path("requests/<int:pk>/cancel/", views.request_cancel, name="request-cancel"),
    path("requests/<int:pk>/edit/", views.request_edit, name="request-edit"),
    path("requests/<int:pk>/comments/", views.request_comment, name="request-comment"),
    path("requests/<int:pk>/request-changes/", views.request_changes, name="request-changes"),
    path("requests/<int:pk>/approve/", views.request_approve, name="request-approve"),
    path("requests/<int:pk>/reject/", views.request_reject, name="request-reject"),
    path("requests/<int:pk>/retry/", views.request_retry, name="request-retry"),
    path("requests/<int:pk>/state/", views.request_row, name="request-row"),
    path("requests/<int:pk>/decision/", views.request_decision, name="request-decision"),
    path("grants/<int:pk>/extend/", views.grant_extend, name="grant-extend"),
    path("queue/", views.queue, name="queue"),
    path("queue/approve/", views.queue_bulk_approve, name="queue-bulk-approve"),
    path("rules/", rule_views.rule_list, name="rule-list"),
    path("rules/new/", rule_views.rule_edit, name="rule-new"),
    path("rules/<int:pk>/", rule_views.rule_edit, name="rule-edit"),
    path("requests/<int:pk>/accept/", rule_views.proposal_accept, name="proposal-accept"),
    path("requests/<int:pk>/decline/", rule_views.proposal_decline, name="proposal-decline"),
]
