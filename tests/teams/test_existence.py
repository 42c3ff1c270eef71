"""No existence leaks: every URL that names a team's object is a 404 to a member of another team.

The test walks every URL pattern of the portal (pages and API; the Django admin is for
staff only). Each pattern must be classified below, so a new URL cannot be added without
saying whose objects it shows: a pattern that names a team's object is then requested as
platform's lead (404, the same answer as for an object that does not exist) and as a
member of research, who sees the object (so it exists) but may not act on it (403).
"""

import inspect
from collections.abc import Callable, Iterator
from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.generics import GenericAPIView
from rest_framework.test import APIClient

import accounts.views
import chargeback.views
import provisioning.views
import teams.views
from accounts.actions import create_api_token
from notifications.models import Notification, Topic, Webhook
from provisioning.models import UsageSample
from teams import workflow
from teams.api.mixins import VisibleToUserMixin
from teams.events import system_actor
from teams.models import AuditEvent
from tests.clusters import connect
from tests.requests import ask_for_gpus

#: What the API answers for an object that does not exist at all.
API_NOT_FOUND = {"status": 404, "code": "not_found", "detail": "Not found.", "fields": {}}

# URL name -> (method, how to reach research's object from `objects`, the research member's status code).
Target = tuple[str, Callable[[dict], tuple[list, str, dict | None]], int]
TEAM_OBJECTS: dict[str, Target] = {
    # Pages
    "request-detail": ("get", lambda o: ([o["pending"]], "", None), 200),
    "request-cancel": ("post", lambda o: ([o["pending"]], "", {}), 403),
    "request-edit": ("get", lambda o: ([o["sent_back"]], "", None), 403),
    "request-changes": ("post", lambda o: ([o["pending"]], "", {"note": "12?"}), 403),
    # The request's team takes part in its conversation.
    "request-comment": ("post", lambda o: ([o["pending"]], "", {"body": "We need 16."}), 302),
    "request-approve": ("post", lambda o: ([o["pending"]], "", {"note": "ok"}), 403),
    "request-reject": ("post", lambda o: ([o["pending"]], "", {"note": "no"}), 403),
    "request-retry": ("post", lambda o: ([o["failed"]], "", {}), 403),
    "request-row": ("get", lambda o: ([o["pending"]], "", None), 403),
    "request-decision": ("get", lambda o: ([o["pending"]], "", None), 403),
    # A grant is extended by a lead of its team; its members see it on the request's page.
    "grant-extend": ("get", lambda o: ([o["grant"]], "", None), 403),
    "request-dry-run": ("get", lambda o: ([o["pending"]], "", None), 403),
    "request-evidence": ("get", lambda o: ([o["pending"]], "", None), 403),
    "request-new": ("get", lambda o: (["change_quota"], "?cluster=default&namespace=ml-research", None), 403),
    "request-validate": ("post", lambda o: (["change_quota"], "", {"namespace": "ml-research"}), 403),
    "request-preview": ("post", lambda o: (["change_quota"], "", {"namespace": "ml-research"}), 403),
    # Only the team's leads answer a downsize proposal.
    "proposal-accept": ("post", lambda o: ([o["pending"]], "", {}), 403),
    "proposal-decline": ("post", lambda o: ([o["pending"]], "", {"note": "We train in March."}), 403),
    "namespace-detail": ("get", lambda o: (["default", "ml-research"], "", None), 200),
    "namespace-manifests": ("get", lambda o: (["default", "ml-research"], "", None), 200),
    "namespace-fit": ("post", lambda o: (["default", "ml-research"], "", {"gpus": "1", "count": "1"}), 200),
    "namespace-usage": ("get", lambda o: (["default", "ml-research"], "", None), 200),
    "usage-chart": ("get", lambda o: (["default", "ml-research"], "", None), 200),
    "namespace-reapply": ("post", lambda o: (["default", "ml-research"], "", {}), 403),
    # A token is its owner's alone: the member revokes their own, nobody else sees it.
    "token-revoke": ("post", lambda o: ([o["token"]], "", {}), 302),
    # So is a notification: the member opens their own.
    "notification-open": ("get", lambda o: ([o["notification"]], "", None), 302),
    # Webhooks are the approvers': to a team's own members they do not exist either.
    "webhook-turn-off": ("post", lambda o: ([o["webhook"]], "", {}), 404),
    # API
    "v1:cost-center-detail": ("get", lambda o: (["rd-001"], "", None), 200),
    "v1:team-detail": ("get", lambda o: (["research"], "", None), 200),
    "v1:namespace-detail": ("get", lambda o: ([o["namespace"]], "", None), 200),
    "v1:request-detail": ("get", lambda o: ([o["pending"]], "", None), 200),
    "v1:request-approve": ("post", lambda o: ([o["pending"]], "", {"note": "ok"}), 403),
    "v1:request-reject": ("post", lambda o: ([o["pending"]], "", {"note": "no"}), 403),
    "v1:request-cancel": ("post", lambda o: ([o["pending"]], "", {}), 403),
    "v1:request-retry": ("post", lambda o: ([o["failed"]], "", {}), 403),
    "v1:request-request-changes": ("post", lambda o: ([o["pending"]], "", {"note": "12?"}), 403),
    "v1:request-resubmit": (
        "post",
        lambda o: ([o["sent_back"]], "", {"proposed_spec": {"quotas": []}, "justification": "Again."}),
        403,
    ),
    "v1:request-comments": ("get", lambda o: ([o["pending"]], "", None), 200),
    "v1:request-dry-run": ("post", lambda o: ([o["pending"]], "", {}), 403),
    "v1:request-extend": (
        "post",
        lambda o: ([o["granted"]], "", {"until": o["extended_until"], "justification": "Longer."}),
        403,
    ),
    "v1:usage-sample-detail": ("get", lambda o: ([o["sample"]], "", None), 200),
}
#: Objects that belong to no team: the tier catalogue (everyone's), clusters (approvers' and finance's).
#: Auto-approval rules are the approvers' own tool.
SHARED_OBJECTS = {
    "v1:tier-detail",
    "v1:cluster-detail",
    "cluster-connection",
    "cluster-connection-test",
    "cluster-remove",
    "rule-edit",
    "v1:autoapproval-rule-detail",
}
#: URLs that name no object: lists already scoped by visible_to, per-user pages, the API's own pages.
NO_OBJECT = {
    # Names a namespace, but only redirects to the default cluster's page of that name, which decides.
    "namespace-legacy",
    "home",
    "dashboard",
    "request-list",
    "queue",
    "queue-bulk-approve",
    "rule-list",
    "rule-new",
    "v1:autoapproval-rule-list",
    "cluster-overview",
    "cluster-connect",
    "profile",
    "chargeback:report",
    "chargeback:periods",
    "login",
    "logout",
    "v1:api-root",
    "v1:cost-center-list",
    "v1:tier-list",
    "v1:team-list",
    "v1:namespace-list",
    "v1:request-list",
    "v1:cluster-list",
    "v1:usage-sample-list",
    "v1:chargeback",
    "v1:chargeback-focus",
    "schema",
    "swagger-ui",
    "api-not-found",
    "favicon.ico",
    "notifications",
    "notification-preferences",
    "webhooks",
    "no-access",
    "oidc_authentication_init",
    "oidc_authentication_callback",
    "oidc_logout",
}


def url_patterns(resolver: URLResolver | None = None, namespace: str = "") -> Iterator[tuple[str, URLPattern]]:
    """(namespaced name, pattern) of every URL but the Django admin's; an unnamed one goes by its route."""
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                continue
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from url_patterns(pattern, inner)
        else:
            yield f"{namespace}{pattern.name or pattern.pattern}", pattern


def test_every_url_is_classified_by_whose_objects_it_names():
    names = [name for name, _ in url_patterns()]

    assert len(names) == len(set(names)), "two URL patterns share a name"
    assert set(names) == set(TEAM_OBJECTS) | SHARED_OBJECTS | NO_OBJECT


@pytest.mark.parametrize("module", [teams.views, provisioning.views, chargeback.views, accounts.views])
def test_every_page_view_is_routed(module):
    routed = {pattern.callback for _, pattern in url_patterns()}
    views = {
        name
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if function.__module__ == module.__name__ and not name.startswith("_")
    }

    assert {name for name in views if getattr(module, name) not in routed} == set()


def test_every_api_view_with_a_queryset_is_scoped_by_visible_to():
    views = {name: pattern.callback for name, pattern in url_patterns() if name.startswith("v1:")}
    generic = {name for name, view in views.items() if issubclass(getattr(view, "cls", object), GenericAPIView)}

    unscoped = {name for name in generic if not issubclass(views[name].cls, VisibleToUserMixin)}

    assert "v1:request-detail" in generic
    assert unscoped == set()


@pytest.fixture
def objects(world) -> dict:
    cluster = connect("default", is_default=True)
    namespace = world.namespace("ml-research")
    sample = UsageSample.objects.create(
        cluster=cluster,
        namespace=namespace,
        quota_name="ml-research-quota",
        resource="requests.nvidia.com/gpu",
        time="2026-11-30T12:00:00Z",
        hard=8,
        used=3,
    )
    pending = ask_for_gpus(world, namespace, "16")
    failed = ask_for_gpus(world, world.namespace("ml-research"), "12")
    workflow.approve_request(failed.pk, actor=world.approver)
    workflow.mark_applying(failed.pk, actor=system_actor())
    workflow.mark_failed(failed.pk, actor=system_actor(), error="403 Forbidden")
    token, _ = create_api_token(user=world.research_member, name="laptop", read_only=True, expires_at=None)
    sent_back = ask_for_gpus(world, world.namespace("ml-research"), "10")
    workflow.request_changes(sent_back.pk, actor=world.approver, note="9?")
    notification = Notification.objects.create(
        recipient=world.research_member,
        event=AuditEvent.objects.filter(request=sent_back).latest("pk"),
        topic=Topic.REQUESTS,
        text="approver asked for changes",
        link=f"/requests/{sent_back.pk}/",
    )
    granted = ask_for_gpus(world, world.namespace("ml-research"), "14", until=date.today() + timedelta(days=5))
    workflow.approve_request(granted.pk, actor=world.approver)
    webhook = Webhook.objects.create(
        name="research", url="https://hooks.example/r", team=world.research, created_by=world.approver
    )
    return {
        "sent_back": sent_back.pk,
        "notification": notification.pk,
        "webhook": webhook.pk,
        "namespace": namespace.pk,
        "sample": sample.pk,
        "pending": pending.pk,
        "failed": failed.pk,
        "token": token.pk,
        "granted": granted.pk,
        "grant": granted.grant.pk,
        "extended_until": (date.today() + timedelta(days=9)).isoformat(),
    }


def call(user, name: str, objects: dict):
    method, target, _ = TEAM_OBJECTS[name]
    args, query, body = target(objects)
    client = APIClient()
    client.force_login(user)
    url = reverse(name, args=args) + query
    if name.startswith("v1:"):
        return getattr(client, method)(url, body, format="json")
    return getattr(client, method)(url, body)


@pytest.mark.parametrize("name", sorted(TEAM_OBJECTS))
def test_another_teams_object_does_not_exist_for_a_member_of_another_team(world, objects, name):
    outsider = call(world.platform_lead, name, objects)
    insider = call(get_user_model().objects.get(username="research-member"), name, objects)

    assert outsider.status_code == 404
    if name.startswith("v1:"):
        assert outsider.json() == API_NOT_FOUND
    assert insider.status_code == TEAM_OBJECTS[name][2]
