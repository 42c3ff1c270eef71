"""Every list endpoint runs the same number of SQL queries for 10 rows as for 500."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from chargeback.models import DailyUsage, RollupState
from provisioning.models import ClusterConnection, UsageSample
from teams.models import Cluster, CostCenter, GpuTier, Membership, Request, Team, TeamNamespace

GPU = "requests.nvidia.com/gpu"

#: endpoint -> the queries of one page of up to 500 rows for an approver signed in by session:
#: session and user, groups where visibility depends on them, then count, rows and prefetches.
EXPECTED = {
    "/api/v1/cost-centers/": 6,
    "/api/v1/tiers/": 6,  # and the rates, once, for every tier's prices today, and their GPU resources
    "/api/v1/teams/": 6,
    "/api/v1/namespaces/": 8,  # and the tier catalog (tiers, GPU resources, which tier allows which), once
    "/api/v1/requests/": 5,
    "/api/v1/clusters/": 5,
    "/api/v1/usage-samples/": 4,
    # and the adjustment lines booked for closed months, and the clusters' names, a query each
    "/api/v1/chargeback/?start=2026-10-01&end=2026-10-03&group_by=namespace": 10,
}


def populate(world, rows: int) -> None:
    """`rows` more of everything a list shows, written in bulk."""
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"bulk-user-{index}") for index in range(rows)]
    )
    centers = CostCenter.objects.bulk_create(
        [CostCenter(code=f"bulk-{index}", name=f"Bulk {index}") for index in range(rows)]
    )
    tier = GpuTier.objects.get(slug="high-priority")
    GpuTier.objects.bulk_create(
        [
            GpuTier(
                slug=f"bulk-{index}",
                name=f"Bulk {index}",
                priority_class_name=f"bulk-{index}",
                priority_value=index,
                preemption_policy="Never",
            )
            for index in range(rows)
        ]
    )
    teams = Team.objects.bulk_create(
        [
            Team(slug=f"bulk-{index}", name=f"Bulk {index}", cost_center=centers[index], default_tier=tier)
            for index in range(rows)
        ]
    )
    Membership.objects.bulk_create(
        [Membership(user=users[index], team=teams[index], role="lead") for index in range(rows)]
        + [Membership(user=world.research_member, team=teams[index], role="member") for index in range(rows)]
    )
    default = Cluster.objects.get_default()
    namespaces = TeamNamespace.objects.bulk_create(
        [
            TeamNamespace(
                name=f"bulk-{index}",
                cluster=default,
                team=teams[index],
                tier=tier,
                quotas=[{"name": "q", "hard": {GPU: "4"}}],
                observed_quotas={"q": {"hard": {GPU: "4"}, "used": {GPU: "1"}}},
            )
            for index in range(rows)
        ]
    )
    Request.objects.bulk_create(
        [
            Request(
                kind="change_quota",
                cluster=default,
                team=teams[index],
                namespace=namespaces[index],
                namespace_name=namespaces[index].name,
                justification="Bulk.",
                requested_by=users[index],
                reviewed_by=world.approver,
            )
            for index in range(rows)
        ]
    )
    clusters = Cluster.objects.bulk_create([Cluster(name=f"bulk-{index}") for index in range(rows)])
    ClusterConnection.objects.bulk_create([ClusterConnection(cluster=cluster) for cluster in clusters])
    start = datetime(2026, 10, 1, tzinfo=UTC)
    UsageSample.objects.bulk_create(
        [
            UsageSample(
                cluster=clusters[0],
                namespace=namespaces[index],
                quota_name="q",
                resource="requests.nvidia.com/gpu",
                time=start + timedelta(minutes=index),
                hard=4,
                used=1,
            )
            for index in range(rows)
        ]
    )
    DailyUsage.objects.bulk_create(
        [
            DailyUsage(
                namespace=namespaces[index],
                tier=tier,
                team=teams[index],
                cost_center=centers[index],
                cluster=default,
                day=start.date(),
                week=start.date() - timedelta(days=3),
                month=start.date(),
                gpu_reserved=4 * 86400 * 1000,
                gpu_used=86400 * 1000,
            )
            for index in range(rows)
        ]
    )
    RollupState.objects.create(name=RollupState.HOURLY, complete_until=start + timedelta(days=2))
    RollupState.objects.create(name=RollupState.DAILY, complete_until=start + timedelta(days=2))


@pytest.mark.parametrize("rows", [10, 500])
@pytest.mark.parametrize("endpoint", list(EXPECTED))
def test_a_list_costs_the_same_queries_for_10_and_500_rows(world, endpoint, rows, django_assert_num_queries):
    populate(world, rows)
    client = APIClient()
    client.force_login(world.approver)
    separator = "&" if "?" in endpoint else "?"

    with django_assert_num_queries(EXPECTED[endpoint]):
        response = client.get(f"{endpoint}{separator}page_size=500")

    assert response.status_code == 200
    body = response.json()
    listed = body["rows"] if "rows" in body else body["results"]
    assert len(listed) >= rows
