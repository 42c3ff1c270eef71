"""A failed reconcile, as the people who must act on it see it: the namespace page, the cluster page, the API."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from teams.models import TeamNamespace

ERROR = 'ResourceQuota "ml-high-quota" is invalid: unsupported scope applied to resource'
FAILED_AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def failed(world) -> TeamNamespace:
    TeamNamespace.objects.filter(name="ml-research").update(
        reconcile_state=TeamNamespace.ReconcileState.FAILED,
        reconcile_error=ERROR,
        reconcile_failed_at=FAILED_AT,
        reconcile_failed_digest="0" * 64,
    )
    return world.namespace("ml-research")


def test_the_namespace_page_shows_the_failure_and_offers_approvers_a_retry(world, failed, client):
    client.force_login(world.approver)
    approver = client.get(reverse("namespace-detail", args=["default", "ml-research"])).content.decode()
    client.force_login(world.research_member)
    member = client.get(reverse("namespace-detail", args=["default", "ml-research"])).content.decode()

    for page in (approver, member):
        assert "Reconciling failed" in page
        assert "unsupported scope applied to resource" in page
    assert "Retry reconcile" in approver
    assert "Retry reconcile" not in member


def test_the_cluster_page_counts_and_flags_failed_reconciles(world, failed, client):
    client.force_login(world.approver)

    page = client.get(reverse("cluster-overview")).content.decode()

    assert '<span class="stat">1</span> failed to reconcile' in page
    assert page.count("Retry reconcile") == 1


def test_the_api_shows_the_failure(world, failed, client):
    client.force_login(world.research_member)

    body = client.get(f"/api/v1/namespaces/{failed.pk}/").json()

    assert (body["reconcile_state"], body["reconcile_error"], body["reconcile_failed_at"]) == (
        "failed",
        ERROR,
        "2026-12-01T09:30:00Z",
    )
    assert "reconcile_failed_digest" not in body
