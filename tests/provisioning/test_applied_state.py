"""After an apply the portal shows what was applied at once, and the next sync still records the change."""

import copy

import pytest

from provisioning import applying
from provisioning.models import UsageSample
from provisioning.sync import sync_usage
from teams.models import TeamNamespace
from tests.kube import wait_quota_synced

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.cluster]

GPU = "requests.nvidia.com/gpu"


def synced_copy(world, cluster, core, name: str) -> TeamNamespace:
    """The seed's ml-research under a fresh name, applied and synced: its observed usage is known."""
    namespace = world.namespace("ml-research")
    namespace.pk, namespace.name = None, name
    namespace.save()
    applying.apply_namespace(namespace)
    wait_quota_synced(core, name, "ml-research-quota")
    sync_usage(cluster)
    return TeamNamespace.objects.select_related("team__cost_center", "tier").get(pk=namespace.pk)


def test_an_apply_shows_the_applied_hard_before_the_next_sync_which_then_samples_it(
    world, cluster, core, sign_in, unique_name
):
    namespace = synced_copy(world, cluster, core, unique_name("applied"))
    assert namespace.observed_quotas["ml-research-quota"]["hard"][GPU] == "8"
    assert namespace.observed_quotas["ml-research-quota"]["used"] is not None
    quotas = copy.deepcopy(namespace.quotas)
    quotas[0]["hard"][GPU] = "12"
    namespace.quotas = quotas
    namespace.save()

    applying.apply_namespace(namespace)

    namespace.refresh_from_db()
    assert namespace.observed_quotas["ml-research-quota"] == {"hard": quotas[0]["hard"], "used": None}
    page = sign_in("research-lead").get(namespace.get_absolute_url()).content.decode()
    gpu_row = page[page.index(f'<th scope="row" class="mono">{GPU}') :].split("</tr>")[0]
    assert '<td class="num">12</td>' in gpu_row
    assert "unknown" in gpu_row

    wait_quota_synced(core, namespace.name, "ml-research-quota")
    sync_usage(cluster)

    namespace.refresh_from_db()
    assert namespace.observed_quotas["ml-research-quota"]["hard"][GPU] == "12"
    assert namespace.observed_quotas["ml-research-quota"]["used"][GPU] == "0"
    latest = UsageSample.objects.filter(namespace=namespace, resource=GPU).latest("time")
    assert (latest.hard, latest.used) == (12, 0)
