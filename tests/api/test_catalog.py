"""The tier catalog through the API: tiers show today's prices from the rate table; a best-effort
namespace cannot hold guaranteed GPUs."""

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from teams.models import AuditEvent, GpuTier, Rate, Request

URL = "/api/v1/requests/"


def test_tiers_show_todays_gpu_prices_from_the_rate_table_not_tomorrows(world, clients):
    tomorrow = timezone.now().date() + timedelta(days=1)
    Rate.objects.create(
        tier=GpuTier.objects.get(slug="best-effort"), resource="gpu", kind="burst", effective_from=tomorrow, price="1.5"
    )

    response = clients.finance.get("/api/v1/tiers/best-effort/")

    assert response.status_code == 200
    assert (response.json()["reserved_gpu_hour_rate"], response.json()["used_gpu_hour_rate"]) == (
        "0.000000",
        "0.800000",
    )


def test_tier_prices_are_read_only_through_the_api(world, clients):
    response = clients.approver.patch("/api/v1/tiers/best-effort/", {"used_gpu_hour_rate": "0"}, format="json")

    assert response.status_code == 405
    assert Rate.objects.get(tier__slug="best-effort", kind="burst").price == Decimal("0.8")


def test_an_unscoped_gpu_quota_in_a_best_effort_namespace_is_a_400_naming_the_quota_key(world):
    client = APIClient()
    client.force_login(get_user_model().objects.get(username="data-science-lead"))
    events_before = AuditEvent.objects.count()
    body = {
        "kind": "create_namespace",
        "team": "data-science",
        "namespace_name": "ml-sweeps",
        "proposed_spec": {
            "tier": "best-effort",
            "quotas": [{"name": "ml-sweeps-quota", "hard": {"requests.nvidia.com/gpu": "8"}}],
        },
        "justification": "Hyperparameter sweeps.",
    }

    response = client.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {
        "quotas[ml-sweeps-quota].hard[requests.nvidia.com/gpu]": [
            "Best effort namespaces get 0 guaranteed GPUs, but this quota holds 8 GPUs for pods at a PriorityClass "
            "that is never preempted (a quota counts pods of every class its scopeSelector does not exclude). Scope "
            "the quota to the tier's preemptible PriorityClass: a scopeSelector with scopeName PriorityClass, "
            'operator In, values [ml-low], and add a quota with requests.nvidia.com/gpu "0" scoped NotIn [ml-low] '
            "so that no other pod takes GPUs."
        ]
    }
    assert Request.objects.count() == 0
    assert AuditEvent.objects.count() == events_before
