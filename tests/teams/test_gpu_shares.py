"""MIG slices and time-sliced GPUs in the tier catalog: weights, what tiers allow, policy, capacity, the form.

The demo's catalog (teams.demo.GPU_RESOURCES): nvidia.com/gpu 1, mig-1g.10gb 0.142857,
mig-2g.20gb 0.285714, mig-3g.40gb 0.428571, gpu.shared 0.25; high-priority allows all of
them, best-effort whole and shared GPUs, critical whole GPUs only.
"""

from decimal import Decimal

import pytest
from django.contrib.admin.sites import site
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from teams import workflow
from teams.capacity import CapacityTotals, guaranteed_total
from teams.catalog import TierCatalog, tier_default_spec
from teams.forms import build_form
from teams.models import AuditEvent, GpuResource, GpuTier, Request
from teams.policy import check_request
from tests.clusters import connect

Kind = Request.Kind
MIG_1G = "requests.nvidia.com/mig-1g.10gb"
MIG_3G = "requests.nvidia.com/mig-3g.40gb"
SHARED = "requests.nvidia.com/gpu.shared"
GPU = "requests.nvidia.com/gpu"


def create(team, name: str, tier: str, hard: dict, limit_range: dict | None = None):
    proposed = {"tier": tier, "quotas": [{"name": "q", "hard": hard}]}
    if limit_range is not None:
        proposed["limitRange"] = limit_range
    return check_request(Kind.CREATE_NAMESPACE, team=team, namespace_name=name, proposed=proposed)


# Policy.


def test_a_tier_that_allows_slices_accepts_them_in_canonical_form(world):
    report = create(world.research, "mig-ok", "high-priority", {MIG_1G: "7", MIG_3G: "2", SHARED: "4", GPU: "1"})

    assert report.errors == []
    assert report.proposed["quotas"][0]["hard"] == {MIG_1G: "7", MIG_3G: "2", SHARED: "4", GPU: "1"}


def test_a_tier_that_does_not_allow_a_slice_refuses_it_naming_the_field(world):
    report = create(world.platform, "mig-critical", "critical", {GPU: "2", MIG_1G: "7"})

    assert report.error_dict() == {
        f"quotas[q].hard[{MIG_1G}]": [
            "The Critical tier does not allow nvidia.com/mig-1g.10gb; its GPU resources are nvidia.com/gpu. Ask "
            "for one of those, or for a tier that allows this one."
        ]
    }


def test_an_unknown_nvidia_resource_is_a_gpu_share_refused_until_a_tier_allows_it(world):
    report = create(world.research, "mig-unknown", "high-priority", {"requests.nvidia.com/mig-7g.80gb": "1"})

    assert [(finding.field, finding.code) for finding in report.errors] == [
        ("quotas[q].hard[requests.nvidia.com/mig-7g.80gb]", "gpu_resource_not_allowed")
    ]


def test_zero_of_a_share_the_tier_does_not_allow_is_a_cap_and_passes(world):
    assert create(world.platform, "mig-cap", "critical", {GPU: "2", MIG_1G: "0"}).errors == []


def test_a_limit_on_a_slice_is_refused_because_kubernetes_never_counts_it(world):
    report = create(world.research, "mig-limit", "high-priority", {"limits.nvidia.com/mig-1g.10gb": "7"})

    assert report.error_dict() == {
        "quotas[q].hard[limits.nvidia.com/mig-1g.10gb]": [
            "Kubernetes never counts or enforces limits.nvidia.com/mig-1g.10gb: for extended resources such as "
            "nvidia.com/mig-1g.10gb it tracks only requests.nvidia.com/mig-1g.10gb, and a pod's request must equal "
            "its limit. Use requests.nvidia.com/mig-1g.10gb."
        ]
    }


def test_slices_count_whole_units(world):
    report = create(world.research, "mig-half", "high-priority", {MIG_1G: "1500m"})

    assert report.error_dict() == {
        f"quotas[q].hard[{MIG_1G}]": [f"{MIG_1G} counts whole units; '1500m' is not a whole number."]
    }


def test_the_tiers_maximum_counts_slices_by_weight(world):
    # 8 GPUs and 36 quarter GPUs are 17 GPU-equivalents; high-priority guarantees at most 16.
    report = create(world.research, "mig-max", "high-priority", {GPU: "8", SHARED: "36"})

    assert report.error_dict() == {
        f"quotas[q].hard[{GPU}]": ["17 guaranteed GPUs exceed the High priority tier's maximum of 16 per namespace."]
    }
    assert create(world.research, "mig-max-2", "high-priority", {GPU: "8", SHARED: "32"}).errors == []


def test_a_best_effort_quota_of_shared_gpus_must_not_guarantee_them(world):
    report = create(world.data_science, "shared-be", "best-effort", {SHARED: "8"})

    assert [(finding.field, finding.code) for finding in report.errors] == [
        (f"quotas[q].hard[{SHARED}]", "tier_no_guaranteed")
    ]
    assert "holds 8 units of nvidia.com/gpu.shared for pods at a PriorityClass" in report.errors[0].message


def test_a_limit_range_max_of_slices_without_a_default_is_the_seeds_first_mistake_again(world):
    limit_range = {"name": "limits", "limits": [{"type": "Container", "max": {"nvidia.com/mig-1g.10gb": "7"}}]}

    report = create(world.research, "mig-lr", "high-priority", {MIG_1G: "7"}, limit_range)

    assert report.error_dict() == {
        "limitRange.limits[Container].default[nvidia.com/mig-1g.10gb]": [
            "max of nvidia.com/mig-1g.10gb is 7 with no default: the API server then gives every container that "
            "names no GPU a default limit and request of 7, so a CPU-only pod takes 7 units of "
            'nvidia.com/mig-1g.10gb of the quota. Set default and defaultRequest of nvidia.com/mig-1g.10gb to "0".'
        ]
    }


# The tier's defaults and the request form.


def test_a_new_namespace_starts_with_zero_of_every_share_and_container_defaults_of_zero(world):
    spec = tier_default_spec(GpuTier.objects.get(slug="high-priority"), "new")

    shares = ["nvidia.com/gpu.shared", "nvidia.com/mig-1g.10gb", "nvidia.com/mig-2g.20gb", "nvidia.com/mig-3g.40gb"]
    assert {key: spec["quotas"][0]["hard"][f"requests.{key}"] for key in shares} == dict.fromkeys(shares, "0")
    container = spec["limitRange"]["limits"][0]
    for bound in ("default", "defaultRequest"):
        assert {key: container[bound][key] for key in [*shares, "nvidia.com/gpu"]} == dict.fromkeys(
            [*shares, "nvidia.com/gpu"], "0"
        )


def test_a_best_effort_namespace_caps_the_shared_gpus_of_other_classes_at_zero(world):
    spec = tier_default_spec(GpuTier.objects.get(slug="best-effort"), "new")

    assert spec["quotas"][1]["hard"] == {GPU: "0", SHARED: "0"}
    assert (
        check_request(Kind.CREATE_NAMESPACE, team=world.data_science, namespace_name="new", proposed=spec).errors == []
    )


def test_the_request_form_offers_the_shares_the_tier_allows_with_their_weight(world):
    form = build_form(Kind.CREATE_NAMESPACE, team=world.research, namespace=None, data={"tier": "high-priority"})

    inputs = {item.name.split("|", 2)[2]: item for item in form.quotas[0].inputs}
    assert inputs[MIG_1G].label == f"GPU share ({MIG_1G})"
    assert inputs[MIG_1G].help == (
        "Each unit counts as 0.142857 of a GPU: in the namespace's guaranteed GPUs, against the cluster's "
        "capacity and in chargeback."
    )
    critical = build_form(Kind.CREATE_NAMESPACE, team=world.platform, namespace=None, data={"tier": "critical"})
    assert [i.name for i in critical.quotas[0].inputs if "nvidia.com/mig" in i.name] == []


# Capacity.


@pytest.fixture
def with_slices(world):
    """ml-research with 7 one-g slices and 4 quarter GPUs beside its 8 GPUs, approved through the workflow."""
    namespace = world.namespace("ml-research")
    request = workflow.submit_request(
        actor=world.research_lead,
        team=world.research,
        kind=Kind.CHANGE_QUOTA,
        namespace=namespace,
        proposed={"quotas": [{"name": "ml-research-quota", "hard": {MIG_1G: "7", SHARED: "4"}}]},
        justification="Notebooks on slices.",
    )
    workflow.approve_request(request.pk, actor=world.approver)
    return world.namespace("ml-research")


def test_guaranteed_gpus_count_slices_by_weight(with_slices):
    # 8 + 7 x 0.142857 + 4 x 0.25
    assert with_slices.guaranteed_gpus == Decimal("9.999999")
    # ml-production guarantees 16 more; ml-experiments is best effort.
    assert guaranteed_total(with_slices.cluster) == Decimal("25.999999")


def test_the_queue_weighs_a_slice_request_against_capacity_in_gpu_equivalents(world):
    connect("small", is_default=True, gpu_capacity=Decimal(25), capacity_synced_at=timezone.now())
    namespace = world.namespace("ml-research")
    request = workflow.submit_request(
        actor=world.research_lead,
        team=world.research,
        kind=Kind.CHANGE_QUOTA,
        namespace=namespace,
        proposed={"quotas": [{"name": "ml-research-quota", "hard": {MIG_3G: "3"}}]},
        justification="Three big slices.",
    )

    impact = CapacityTotals().impact(request)

    assert (impact.guaranteed_now, impact.guaranteed_after) == (Decimal(24), Decimal("25.285713"))
    assert impact.overcommits
    with pytest.raises(workflow.CapacityExceeded) as raised:
        workflow.approve_request(request.pk, actor=world.approver)
    assert str(raised.value) == (
        "Approving would guarantee 25.29 GPUs on a cluster with 25; confirm the override to approve anyway."
    )


def test_a_new_weight_in_the_admin_recounts_every_namespace_and_is_audited(with_slices, rf, admin_user):
    shared = GpuResource.objects.get(name="nvidia.com/gpu.shared")
    request = rf.post("/admin/")
    request.user = admin_user
    shared.weight = Decimal("0.5")

    site._registry[GpuResource].save_model(request, shared, form=None, change=True)

    assert with_slices.__class__.objects.get(pk=with_slices.pk).guaranteed_gpus == Decimal("10.999999")
    event = AuditEvent.objects.get(verb="gpu_resource.changed")
    assert (event.before, event.after) == ({"weight": "0.250000"}, {"weight": "0.5"})


def test_a_whole_gpu_weighs_one(world):
    gpu = GpuResource.objects.get(name="nvidia.com/gpu")
    gpu.weight = Decimal(2)

    with pytest.raises(ValidationError) as raised:
        gpu.full_clean()

    assert raised.value.message_dict == {"weight": ["nvidia.com/gpu is the GPU-equivalent itself: its weight is 1."]}


def test_the_catalog_reads_weights_and_allowed_resources_in_three_queries(world, django_assert_num_queries):
    with django_assert_num_queries(3):
        catalog = TierCatalog.load()

    assert catalog.weights["nvidia.com/mig-3g.40gb"] == Decimal("0.428571")
    assert catalog.allowed_gpu_resources(catalog.by_slug["best-effort"]) == ("nvidia.com/gpu", "nvidia.com/gpu.shared")


def test_slices_asked_for_on_the_form_become_a_pending_request_and_a_refusal_lands_next_to_its_input(world, client):
    client.force_login(world.research_lead)
    data = {
        "team": world.research.pk,
        "namespace_name": "ml-notebooks",
        "tier": "high-priority",
        f"quota|0|{MIG_1G}": "14",
        f"quota|0|{SHARED}": "8",
        "quota|0|pods": "20",
        "justification": "Notebooks for the reading group.",
    }

    refused = client.post(reverse("request-new", args=["create_namespace"]), {**data, f"quota|0|{SHARED}": "1.5"})
    accepted = client.post(reverse("request-new", args=["create_namespace"]), data)

    assert refused.status_code == 400
    html = refused.content.decode()
    assert 'id="f-quota-0-requests-nvidia-com-gpu-shared-error"' in html
    assert f"{SHARED} counts whole units; &#x27;1.5&#x27; is not a whole number." in html
    assert accepted.status_code == 302
    request = Request.objects.get()
    assert request.proposed_spec["quotas"] == [
        {"name": "ml-notebooks-quota", "hard": {MIG_1G: "14", SHARED: "8", "pods": "20"}}
    ]


def test_the_demo_catalog_weighs_the_local_clusters_shares_and_lets_research_use_them(world):
    weights = dict(GpuResource.objects.values_list("name", "weight"))
    allowed = {tier.slug: sorted(tier.gpu_resources.values_list("name", flat=True)) for tier in GpuTier.objects.all()}

    assert weights == {
        "nvidia.com/gpu": Decimal(1),
        "nvidia.com/mig-1g.10gb": Decimal("0.142857"),
        "nvidia.com/mig-2g.20gb": Decimal("0.285714"),
        "nvidia.com/mig-3g.40gb": Decimal("0.428571"),
        "nvidia.com/gpu.shared": Decimal("0.25"),
    }
    assert allowed == {
        "critical": ["nvidia.com/gpu"],
        "high-priority": sorted(weights),
        "best-effort": ["nvidia.com/gpu", "nvidia.com/gpu.shared"],
    }
