"""The cluster page follows each sync: its stats and table poll as one fragment at the sync interval."""

from django.urls import reverse
from django.utils import timezone

from tests.clusters import connect

GPU = "requests.nvidia.com/gpu"


def test_the_cluster_fragment_shows_the_latest_sync_and_polls_at_the_sync_interval(world, sign_in, settings):
    settings.PROVISIONING_SYNC_INTERVAL = 9
    cluster = connect("local", is_default=True, gpu_capacity=64, capacity_synced_at=timezone.now())
    client = sign_in("approver")
    page = client.get(reverse("cluster-overview"), {"sort": "name"}).content.decode()
    assert '<div id="cluster-live" hx-get="/cluster/?sort=name" hx-trigger="every 9s" hx-swap="outerHTML">' in page
    # A sync: ml-research now uses 6 of its 8 GPUs, and a node went away.
    namespace = world.namespace("ml-research")
    namespace.observed_quotas = {"ml-research-quota": {"hard": {GPU: "8"}, "used": {GPU: "6"}}}
    namespace.save()
    cluster.connection.gpu_capacity = 56
    cluster.connection.save()

    fragment = client.get(
        reverse("cluster-overview"), {"sort": "name"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="cluster-live"
    ).content.decode()

    assert fragment.startswith('<div id="cluster-live"')
    assert '<td class="num capacity">56 on 0 nodes</td>' in fragment
    assert '<span class="stat">6</span> GPUs in use' in fragment
    assert f"{GPU}: 6/8" in fragment
    assert "<html" not in fragment
