"""Every policy rule, with the seed's namespaces as the main fixtures."""

import copy

import pytest

from teams.demo import SEED_LIMIT_RANGE, SEED_PRODUCTION_QUOTA, SEED_RESEARCH_QUOTA, demo_world
from teams.models import Cluster, GpuTier, Request, Team
from teams.policy import check_namespace_spec, check_request

Kind = Request.Kind
GPU_LIMIT_WARNING = (
    "Kubernetes never counts or enforces limits.nvidia.com/gpu: for extended resources it tracks only "
    "requests.nvidia.com/gpu, and a pod's GPU request must equal its limit. This line states an intent (32 GPUs) "
    "that no pod is held to; use the tier's enforced burst mode to make a burst limit real."
)


def create(team: Team, name: str, **proposed):
    return check_request(Kind.CREATE_NAMESPACE, team=team, namespace_name=name, proposed=proposed)


def errors(report) -> dict[str, list[str]]:
    return report.error_dict()


def research_spec(**changes) -> dict:
    spec = {
        "tier": "high-priority",
        "quotas": [copy.deepcopy(SEED_RESEARCH_QUOTA)],
        "limitRange": copy.deepcopy(demo_world()[0].corrected["limitRange"]),
    }
    spec.update(changes)
    return spec


def gpu_quota(count: str, name: str = "q", **extra) -> dict:
    return {"name": name, "hard": {"requests.nvidia.com/gpu": count, **extra}}


# The seed, corrected and as written.


@pytest.mark.parametrize("seed", demo_world(), ids=lambda seed: seed.name)
def test_the_seeds_corrected_namespaces_pass(world, seed):
    team = Team.objects.get(slug=seed.team)

    report = create(team, f"{seed.name}-copy", **copy.deepcopy(seed.corrected))

    assert report.errors == []


def test_the_corrected_research_namespace_warns_that_gpu_limits_are_not_enforced(world):
    report = create(world.research, "research-2", **research_spec())

    assert [(w.field, w.message) for w in report.warnings] == [
        ("quotas[ml-research-quota].hard[limits.nvidia.com/gpu]", GPU_LIMIT_WARNING)
    ]


def test_the_seeds_limit_range_as_written_fails_with_the_gpu_default_error(world):
    report = create(world.research, "research-2", **research_spec(limitRange=copy.deepcopy(SEED_LIMIT_RANGE)))

    assert errors(report) == {
        "limitRange.limits[Container].default[nvidia.com/gpu]": [
            "max of nvidia.com/gpu is 8 with no default: the API server then gives every container that names no "
            "GPU a default limit and request of 8, so a CPU-only pod takes 8 GPUs of the quota. Set default and "
            'defaultRequest of nvidia.com/gpu to "0".'
        ]
    }


def test_the_seeds_production_quota_as_written_fails_with_scope_name_and_scoped_key_errors(world):
    report = create(world.platform, "production-2", tier="critical", quotas=[copy.deepcopy(SEED_PRODUCTION_QUOTA)])

    values = "quotas[ml-production-quota].scopeSelector.matchExpressions[0].values"
    known = "The portal's PriorityClasses are ml-critical, ml-high, ml-low."
    assert errors(report) == {
        values: [
            'PriorityClass "critical" does not exist, so this quota matches no pod and leaves the namespace '
            f'unconstrained. Did you mean "ml-critical"? {known}',
            'PriorityClass "high" does not exist, so this quota matches no pod and leaves the namespace '
            f'unconstrained. Did you mean "ml-high"? {known}',
        ],
        "quotas[ml-production-quota].hard[services]": [
            "services cannot be limited by a quota with a PriorityClass scope: the API server rejects the whole "
            'object ("unsupported scope applied to resource"). A scoped quota may hold only cpu, limits.cpu, '
            "limits.memory, memory, pods, requests.cpu, requests.memory and extended resources such as "
            "requests.nvidia.com/gpu; put services in a second quota without a scopeSelector."
        ],
    }


def test_the_seed_can_be_checked_without_its_name(world):
    report = check_namespace_spec(team=world.research, spec=research_spec())

    assert report.errors == []
    assert report.proposed["quotas"][0]["hard"]["requests.memory"] == "256Gi"


# Namespace names.


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "This field is required."),
        ("a" * 64, "Must be at most 63 characters (a DNS-1123 label); it has 64."),
        (
            "ML_Research",
            "'ML_Research' is not a DNS-1123 label: use lower-case letters, digits and '-', starting and ending with "
            "a letter or digit.",
        ),
        (
            "-research",
            "'-research' is not a DNS-1123 label: use lower-case letters, digits and '-', starting and ending with "
            "a letter or digit.",
        ),
        ("default", "'default' is reserved for the cluster itself (default, kube-*, openshift-*)."),
        ("kube-system", "'kube-system' is reserved for the cluster itself (default, kube-*, openshift-*)."),
        ("kube-node-lease", "'kube-node-lease' is reserved for the cluster itself (default, kube-*, openshift-*)."),
        ("kube-anything", "'kube-anything' is reserved for the cluster itself (default, kube-*, openshift-*)."),
        ("openshift-gpu", "'openshift-gpu' is reserved for the cluster itself (default, kube-*, openshift-*)."),
        ("ml-research", "A namespace named 'ml-research' already exists on cluster default."),
    ],
)
def test_namespace_names_follow_dns_1123_and_avoid_reserved_and_taken_ones(world, name, message):
    report = create(world.research, name, **research_spec())

    assert errors(report) == {"namespace_name": [message]}


def test_a_name_already_asked_for_by_an_open_request_is_taken(world):
    Request.objects.create(
        kind=Kind.CREATE_NAMESPACE,
        cluster=Cluster.objects.get_default(),
        team=world.platform,
        namespace_name="ml-shared",
        justification="x",
        requested_by=world.platform_lead,
    )

    report = create(world.research, "ml-shared", **research_spec())

    # Whose request it is, and its id, belong to another team: the message says only that the name is taken.
    taken = "'ml-shared' on cluster default is already asked for by another open request."
    assert errors(report) == {"namespace_name": [taken]}


# Quantities and quota keys.


def test_every_quantity_must_parse_and_is_stored_canonical(world):
    quota = gpu_quota("4", **{"requests.memory": "1.5Gi", "requests.cpu": "lots"})

    report = create(world.research, "r2", tier="high-priority", quotas=[quota])

    assert errors(report) == {
        "quotas[q].hard[requests.cpu]": [
            "Not a valid quantity: 'lots' is not a quantity: expected a number with an optional suffix such as m, "
            "Gi or k."
        ]
    }
    report = create(world.research, "r2", tier="high-priority", quotas=[gpu_quota("4", **{"requests.memory": "1.5Gi"})])
    assert report.proposed["quotas"][0]["hard"]["requests.memory"] == "1536Mi"


def test_negative_and_fractional_counts_are_refused(world):
    report = create(world.research, "r2", tier="high-priority", quotas=[gpu_quota("1.5", pods="-1")])

    assert errors(report) == {
        "quotas[q].hard[requests.nvidia.com/gpu]": [
            "requests.nvidia.com/gpu counts whole units; '1.5' is not a whole number."
        ],
        "quotas[q].hard[pods]": ["Not a valid quantity: '-1' is negative; a quantity here must be zero or more."],
    }


def test_unknown_quota_keys_are_refused(world):
    report = create(world.research, "r2", tier="high-priority", quotas=[gpu_quota("1", gpus="4")])

    assert errors(report) == {"quotas[q].hard[gpus]": ["'gpus' is not a resource a ResourceQuota can limit."]}


def test_requests_must_not_exceed_limits(world):
    quota = gpu_quota("4", **{"requests.cpu": "64", "limits.cpu": "32"})

    report = create(world.research, "r2", tier="high-priority", quotas=[quota])

    message = "requests.cpu (64) must not exceed limits.cpu (32)."
    assert errors(report) == {"quotas[q].hard[requests.cpu]": [message], "quotas[q].hard[limits.cpu]": [message]}


def test_a_namespace_needs_a_quota(world):
    report = create(world.research, "r2", tier="high-priority", quotas=[])

    assert errors(report) == {
        "quotas": ["A namespace needs at least one ResourceQuota, or its team could take every GPU of the cluster."]
    }


def test_quota_names_are_unique(world):
    report = create(world.research, "r2", tier="high-priority", quotas=[gpu_quota("1"), gpu_quota("2")])

    assert errors(report) == {"quotas[1].name": ["Two quotas are named 'q'."]}


# LimitRange.


def test_limit_range_order_min_default_request_default_max(world):
    limit_range = research_spec()["limitRange"]
    limit_range["limits"][0]["defaultRequest"]["cpu"] = "4"

    report = create(world.research, "r2", **research_spec(limitRange=limit_range))

    assert errors(report) == {
        "limitRange.limits[Container].defaultRequest[cpu]": [
            "defaultRequest of cpu (4) must not exceed default (2); a LimitRange needs min ≤ defaultRequest ≤ "
            "default ≤ max."
        ]
    }


def test_pvc_min_must_not_exceed_max(world):
    limit_range = research_spec()["limitRange"]
    limit_range["limits"][1]["min"]["storage"] = "1Ti"

    report = create(world.research, "r2", **research_spec(limitRange=limit_range))

    assert errors(report) == {
        "limitRange.limits[PersistentVolumeClaim].min[storage]": [
            "min of storage (1Ti) must not exceed max (500Gi); a LimitRange needs min ≤ defaultRequest ≤ default ≤ max."
        ]
    }


def test_gpu_default_and_default_request_must_be_equal(world):
    limit_range = research_spec()["limitRange"]
    limit_range["limits"][0]["default"]["nvidia.com/gpu"] = "1"

    report = create(world.research, "r2", **research_spec(limitRange=limit_range))

    assert errors(report) == {
        "limitRange.limits[Container].defaultRequest[nvidia.com/gpu]": [
            "default (1) and defaultRequest (0) of nvidia.com/gpu must be equal: a GPU cannot be overcommitted, so "
            "the API server refuses a pod whose GPU request differs from its limit."
        ]
    }


def test_limit_range_gpu_max_must_fit_the_gpu_quota(world):
    quota = copy.deepcopy(SEED_RESEARCH_QUOTA)
    quota["hard"]["requests.nvidia.com/gpu"] = "4"

    report = create(world.research, "r2", **research_spec(quotas=[quota]))

    assert errors(report) == {
        "limitRange.limits[Container].max[nvidia.com/gpu]": [
            "max of nvidia.com/gpu (8) exceeds the namespace's GPU quota (4): a pod that size would pass the "
            "LimitRange only to be refused by the quota."
        ]
    }


def test_default_request_applies_only_to_containers(world):
    limit_range = research_spec()["limitRange"]
    limit_range["limits"][1]["default"] = {"storage": "10Gi"}

    report = create(world.research, "r2", **research_spec(limitRange=limit_range))

    assert errors(report) == {
        "limitRange.limits[PersistentVolumeClaim].default": ["default applies only to type Container."]
    }


# Tiers and GPUs.


def scoped(quota: dict, operator: str, *classes: str) -> dict:
    quota["scopeSelector"] = {
        "matchExpressions": [{"scopeName": "PriorityClass", "operator": operator, "values": list(classes)}]
    }
    return quota


def no_other_gpus() -> dict:
    """The cap that keeps a best-effort namespace's GPUs for its preemptible pods."""
    return scoped(gpu_quota("0", name="others"), "NotIn", "ml-low")


def best_effort_refusal(gpus: int) -> str:
    return (
        f"Best effort namespaces get 0 guaranteed GPUs, but this quota holds {gpus} GPUs for pods at a PriorityClass "
        "that is never preempted (a quota counts pods of every class its scopeSelector does not exclude). Scope the "
        "quota to the tier's preemptible PriorityClass: a scopeSelector with scopeName PriorityClass, operator In, "
        'values [ml-low], and add a quota with requests.nvidia.com/gpu "0" scoped NotIn [ml-low] so that no other '
        "pod takes GPUs."
    )


def test_best_effort_namespaces_get_no_guaranteed_gpus(world):
    quota = scoped(gpu_quota("2"), "In", "ml-high")

    report = create(world.data_science, "ds-2", tier="best-effort", quotas=[quota, no_other_gpus()])

    assert errors(report) == {"quotas[q].hard[requests.nvidia.com/gpu]": [best_effort_refusal(2)]}


@pytest.mark.parametrize(
    "scope", [None, ("NotIn", "ml-low"), ("In", "ml-low", "ml-high")], ids=["unscoped", "not-in", "in-mixed"]
)
def test_a_best_effort_gpu_quota_that_admits_other_classes_is_refused_naming_the_quota_key(world, scope):
    quota = gpu_quota("8", name="ml-experiments-quota")
    if scope:
        scoped(quota, *scope)

    report = create(world.data_science, "ds-2", tier="best-effort", quotas=[quota])

    assert errors(report) == {"quotas[ml-experiments-quota].hard[requests.nvidia.com/gpu]": [best_effort_refusal(8)]}
    assert [finding.code for finding in report.errors] == ["tier_no_guaranteed"]


def test_best_effort_gpus_for_preemptible_pods_need_a_cap_for_every_other_pod(world):
    quota = scoped(gpu_quota("8"), "In", "ml-low")

    uncapped = create(world.data_science, "ds-2", tier="best-effort", quotas=[quota])
    capped = create(world.data_science, "ds-2", tier="best-effort", quotas=[quota, no_other_gpus()])

    assert errors(uncapped) == {
        "quotas[q].hard[requests.nvidia.com/gpu]": [
            "Best effort namespaces get 0 guaranteed GPUs, but this quota bounds only pods at preemptible "
            "PriorityClasses: a pod naming any other class (or none) takes GPUs without bound. Add a quota with "
            'requests.nvidia.com/gpu "0" scoped to PriorityClass NotIn [ml-low].'
        ]
    }
    assert capped.errors == []


def test_an_enforced_burst_tier_renders_the_cap_itself(world):
    GpuTier.objects.filter(slug="best-effort").update(enforces_gpu_burst=True)

    report = create(world.data_science, "ds-2", tier="best-effort", quotas=[scoped(gpu_quota("8"), "In", "ml-low")])

    assert report.errors == []


def test_best_effort_gpus_count_against_the_tier_limit_not_the_guarantee(world):
    quota = scoped(gpu_quota("17"), "In", "ml-low")

    report = create(world.data_science, "ds-2", tier="best-effort", quotas=[quota, no_other_gpus()])

    assert errors(report) == {
        "quotas[q].hard[requests.nvidia.com/gpu]": [
            "A GPU limit of 17 exceeds the Best effort tier's maximum of 16 per namespace."
        ]
    }


def test_guaranteed_gpus_within_the_tier_maximum(world):
    report = create(world.research, "r2", tier="high-priority", quotas=[gpu_quota("17")])

    assert errors(report) == {
        "quotas[q].hard[requests.nvidia.com/gpu]": [
            "17 guaranteed GPUs exceed the High priority tier's maximum of 16 per namespace."
        ]
    }


def test_gpu_limit_within_the_tier_maximum(world):
    report = create(
        world.research, "r2", tier="high-priority", quotas=[gpu_quota("8", **{"limits.nvidia.com/gpu": "65"})]
    )

    assert errors(report) == {
        "quotas[q].hard[limits.nvidia.com/gpu]": [
            "A GPU limit of 65 exceeds the High priority tier's maximum of 64 per namespace."
        ]
    }


def test_unknown_tier_is_refused(world):
    report = create(world.research, "r2", tier="platinum", quotas=[gpu_quota("1")])

    assert errors(report) == {"tier": ["Unknown tier 'platinum'; choose one of critical, high-priority, best-effort."]}


# Warnings.


def test_quota_decrease_below_current_usage_is_a_warning(world):
    namespace = world.namespace("ml-research")
    namespace.observed_quotas = {"ml-research-quota": {"hard": {}, "used": {"requests.nvidia.com/gpu": "6"}}}
    namespace.save()
    quota = copy.deepcopy(namespace.quotas[0])
    quota["hard"]["requests.nvidia.com/gpu"] = "4"
    limit_range = copy.deepcopy(namespace.limit_range)
    limit_range["limits"][0]["max"]["nvidia.com/gpu"] = "4"
    report = check_request(
        Kind.CHANGE_QUOTA,
        team=world.research,
        namespace_name="ml-research",
        namespace=namespace,
        proposed={"quotas": [quota]},
    )

    assert "gpu_max_above_quota" in [e.code for e in report.errors]  # the LimitRange still allows 8
    below = [w for w in report.warnings if w.code == "below_usage"]
    assert [(w.field, w.message) for w in below] == [
        (
            "quotas[ml-research-quota].hard[requests.nvidia.com/gpu]",
            "The new hard requests.nvidia.com/gpu (4) is below what the namespace uses now (6): running pods keep "
            "running, but nothing new is admitted until usage falls below it.",
        )
    ]


def test_compute_quota_without_limit_range_defaults_is_a_warning(world):
    report = create(world.research, "r2", tier="high-priority", quotas=[gpu_quota("1", **{"requests.cpu": "8"})])

    assert report.errors == []
    assert [(w.field, w.message) for w in report.warnings] == [
        (
            "quotas[q].hard[requests.cpu]",
            "The quota constrains requests.cpu but no LimitRange gives containers a defaultRequest for cpu: every "
            "pod here must then declare it, or the API server refuses the pod.",
        )
    ]


# Request shapes.


def test_a_kind_may_propose_only_its_own_sections(world):
    namespace = world.namespace("ml-research")

    report = check_request(
        Kind.CHANGE_LIMIT_RANGE,
        team=world.research,
        namespace_name="ml-research",
        namespace=namespace,
        proposed={"quotas": []},
    )

    assert errors(report) == {
        "quotas": ["A change limitrange request cannot change quotas; it may propose limitRange, removeLimits."],
        "limitRange": ["This field is required."],
    }


def test_a_change_must_target_a_namespace_of_the_team(world):
    namespace = world.namespace("ml-production")

    report = check_request(
        Kind.CHANGE_QUOTA,
        team=world.research,
        namespace_name=namespace.name,
        namespace=namespace,
        proposed={"quotas": namespace.quotas},
    )

    assert errors(report) == {"namespace": ["ml-production does not belong to team research."]}


def test_a_tier_change_must_change_the_tier(world):
    namespace = world.namespace("ml-research")

    report = check_request(
        Kind.CHANGE_TIER,
        team=world.research,
        namespace_name=namespace.name,
        namespace=namespace,
        proposed={"tier": "high-priority"},
    )

    assert errors(report) == {"tier": ["Nothing to change: the namespace is already in the high-priority tier."]}


def test_a_tier_change_is_checked_against_the_new_tiers_rules(world):
    namespace = world.namespace("ml-research")

    report = check_request(
        Kind.CHANGE_TIER,
        team=world.research,
        namespace_name=namespace.name,
        namespace=namespace,
        proposed={"tier": "best-effort"},
    )

    # The limit of 32 is declared on limits.nvidia.com/gpu: that key is the one to change.
    assert errors(report) == {
        "quotas[ml-research-quota].hard[requests.nvidia.com/gpu]": [best_effort_refusal(8)],
        "quotas[ml-research-quota].hard[limits.nvidia.com/gpu]": [
            "A GPU limit of 32 exceeds the Best effort tier's maximum of 16 per namespace."
        ],
    }


def test_delete_force_must_be_a_boolean(world):
    namespace = world.namespace("ml-experiments")

    report = check_request(
        Kind.DELETE_NAMESPACE,
        team=world.data_science,
        namespace_name=namespace.name,
        namespace=namespace,
        proposed={"force": "yes"},
    )

    assert errors(report) == {"force": ["Must be true or false."]}


def test_a_proposal_that_is_not_an_object_is_refused(world):
    report = check_request(Kind.CREATE_NAMESPACE, team=world.research, namespace_name="r2", proposed=["x"])

    assert errors(report) == {"proposed_spec": ["Must be an object with the sections to change."]}


def test_a_nonzero_gpu_default_is_a_warning(world):
    limit_range = research_spec()["limitRange"]
    limit_range["limits"][0]["default"]["nvidia.com/gpu"] = "8"
    limit_range["limits"][0]["defaultRequest"]["nvidia.com/gpu"] = "8"

    report = create(world.research, "r2", **research_spec(limitRange=limit_range))

    assert report.errors == []
    assert [(w.field, w.message) for w in report.warnings if w.code == "gpu_default_nonzero"] == [
        (
            "limitRange.limits[Container].default[nvidia.com/gpu]",
            "Every container that names no GPU is given 8 of them: sidecars and CPU-only pods take GPUs of the "
            'quota. A default of "0" lets pods ask for GPUs explicitly.',
        )
    ]
