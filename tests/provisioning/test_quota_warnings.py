"""Warnings before a team hits its quota: real pods on the real cluster, read back by the real sync."""

import os
import re
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from provisioning import applying
from provisioning.cluster import RefusalEvent
from provisioning.models import QuotaRefusal, QuotaWarning, UsageSample
from provisioning.quota_warnings import check_quota_warnings, next_level, suggested_hard, usage_history
from provisioning.refusals import store_refusals
from provisioning.sync import sync_usage
from teams.models import AuditEvent, Cluster, TeamNamespace
from teams.thresholds import parse_thresholds, warning_thresholds
from teams.usage import UsageRow
from tests.kube import pod_manifest, quota_used, wait_pods_allowed, wait_quota_synced, wait_until

pytestmark = pytest.mark.django_db

GPU = "requests.nvidia.com/gpu"
QUOTA = "ml-research-quota"


def warnings_of(namespace: TeamNamespace) -> list[dict]:
    events = AuditEvent.objects.filter(verb="namespace.quota_warning", target=namespace.audit_target)
    return [event.after for event in events.order_by("pk")]


@pytest.fixture
def twenty_gpus(world, cluster, core, unique_name) -> TeamNamespace:
    """ml-research under a fresh name with 20 guaranteed GPUs, applied: a GPU is 5% of its quota."""
    namespace = world.namespace("ml-research")
    namespace.pk = None
    namespace.name = unique_name("warned")
    namespace.quotas[0]["hard"][GPU] = "20"
    namespace.save()
    applying.apply_namespace(namespace)
    wait_quota_synced(core, namespace.name, QUOTA)
    wait_pods_allowed(core, namespace.name)
    return namespace


class Usage:
    """Pods asking for GPUs in one namespace; each change waits until the quota counts it."""

    def __init__(self, core, namespace: TeamNamespace) -> None:
        self.core, self.namespace, self.pods, self.count = core, namespace.name, {}, 0

    def add(self, gpus: int) -> str:
        self.count += 1
        name = f"gpu-{self.count}"
        self.core.create_namespaced_pod(self.namespace, pod_manifest(name, gpus=gpus))
        self.pods[name] = gpus
        self._wait()
        return name

    def remove(self, *names: str) -> None:
        for name in names:
            self.core.delete_namespaced_pod(name, self.namespace, grace_period_seconds=0)
            del self.pods[name]
        self._wait()

    def _wait(self) -> None:
        total = str(sum(self.pods.values()))
        wait_until(
            lambda: quota_used(self.core, self.namespace, QUOTA).get(GPU) == total,
            timeout=60,
            what=f"the quota to count {total} GPUs",
        )


@pytest.mark.cluster
def test_a_rise_across_80_and_95_warns_twice_hovering_warns_no_more_and_a_fall_rearms(twenty_gpus, cluster, core):
    usage = Usage(core, twenty_gpus)
    levels = []

    def sync() -> None:
        sync_usage(cluster)
        levels.append([(after["level"], after["used"]) for after in warnings_of(twenty_gpus)])

    big, seven = usage.add(8), usage.add(7)
    sync()  # 15 of 20: 75%
    usage.add(1)
    sync()  # 16: 80%
    two = usage.add(2)
    sync()  # 18: 90%
    one = usage.add(1)
    sync()  # 19: 95%
    usage.remove(one)
    sync()  # 18: 90%, not below 95 - 5
    usage.add(1)
    sync()  # 19: 95% again
    usage.remove(seven, two)
    sync()  # 10: 50%, below 75%: both thresholds re-armed
    usage.add(7)
    sync()  # 17: 85%

    first, second = [(80, "16")], [(80, "16"), (95, "19")]
    assert levels == [[], first, first, second, second, second, second, [*second, (80, "17")]]
    assert big in usage.pods
    warning = warnings_of(twenty_gpus)[0]
    link = urlsplit(warning.pop("link"))
    assert warning == {
        "namespace": twenty_gpus.name,
        "team": "research",
        "resource": GPU,
        "quota": QUOTA,
        "level": 80,
        "used": "16",
        "hard": "20",
        "percent": 80,
    }
    query = parse_qs(link.query)
    # 16 GPUs are under 80% of 21, not of 20.
    assert (link.path, query["namespace"], query[f"quota|0|{GPU}"]) == (
        "/requests/new/change_quota/",
        [twenty_gpus.name],
        ["21"],
    )
    lines = query["justification"][0].splitlines()
    assert lines[0].startswith(f"Guaranteed GPUs ({GPU}) in {QUOTA}: 16 used of 20 hard (80%) at ")
    assert re.fullmatch(r"Last 7 days: peak 16, average 1[56](\.\d)?\.", lines[1])
    assert lines[2:] == ["Asking for 21: today's use would be 76% of it, under the 80% warning."]
    state = QuotaWarning.objects.get(namespace=twenty_gpus)
    assert (state.resource, state.level, state.used, state.percent) == (GPU, 80, "17", 85)


@pytest.mark.cluster
def test_thresholds_of_the_team_win_over_those_of_the_tier(twenty_gpus, cluster, core):
    twenty_gpus.tier.quota_warning_thresholds = "40,90"
    twenty_gpus.tier.save()
    twenty_gpus.team.quota_warning_thresholds = "50"
    twenty_gpus.team.save()
    usage = Usage(core, twenty_gpus)

    usage.add(8)
    sync_usage(cluster)  # 40%: the tier's first threshold, but the team's is 50
    usage.add(2)
    sync_usage(cluster)  # 50%

    assert [(after["level"], after["percent"]) for after in warnings_of(twenty_gpus)] == [(50, 50)]


@pytest.mark.cluster
def test_drift_is_recorded_once_while_the_namespace_stays_drifted(applied, cluster, core):
    core.patch_namespaced_resource_quota(
        QUOTA, applied.name, {"spec": {"hard": {"pods": "500"}}}, field_manager="kubectl-edit"
    )
    sync_usage(cluster)
    core.create_namespaced_pod(applied.name, pod_manifest("moves-usage", gpus=1))  # the namespace is checked again
    wait_until(lambda: quota_used(core, applied.name, QUOTA).get(GPU) == "1", timeout=60, what="the quota to count")
    sync_usage(cluster)
    applied.refresh_from_db()
    seen_again = (applied.observed_quotas[QUOTA]["used"][GPU], applied.is_drifted)
    later = timezone.now() + timedelta(hours=1, minutes=1)
    sync_usage(cluster, now=later)  # the heartbeat checks it in full once more
    applied.refresh_from_db()

    events = AuditEvent.objects.filter(verb="namespace.drift_detected", target=applied.audit_target)
    assert seen_again == ("1", True)
    assert (applied.last_synced_at, applied.is_drifted) == (later, True)
    assert [(event.actor.username, event.after) for event in events] == [
        (
            "gpu-portal-system",
            {
                "namespace": applied.name,
                "team": "research",
                "drift": {"quotas": {QUOTA: {"pods": {"desired": "50", "observed": "500"}}}},
            },
        )
    ]


def observe(namespace: TeamNamespace, used: dict[str, str]) -> TeamNamespace:
    """The namespace as the sync hands it over after reading `used` (the seed's hard) from the cluster."""
    namespace = TeamNamespace.objects.select_related("team", "tier").get(pk=namespace.pk)
    namespace.observed_quotas = {QUOTA: {"hard": dict(namespace.quotas[0]["hard"]), "used": used}}
    return namespace


def test_memory_and_cpu_requests_warn_separately_and_unknown_usage_never_does(world):
    namespace = world.namespace("ml-research")  # 64 CPUs, 256Gi of memory requests
    now = timezone.now()

    unknown = check_quota_warnings([observe(namespace, None)], now)
    count = check_quota_warnings([observe(namespace, {"requests.cpu": "52", "requests.memory": "250Gi"})], now)

    assert (unknown, count) == (0, 2)
    assert [(a["resource"], a["level"], a["used"], a["hard"], a["percent"]) for a in warnings_of(namespace)] == [
        ("requests.cpu", 80, "52", "64", 81),
        ("requests.memory", 95, "250Gi", "256Gi", 97),
    ]
    memory = parse_qs(urlsplit(warnings_of(namespace)[1]["link"]).query)
    # 250Gi is under 80% of 313Gi (312.5Gi would be 80% exactly).
    assert memory["quota|0|requests.memory"] == ["313Gi"]


def test_the_justification_names_the_pods_the_quota_refused(world):
    namespace = world.namespace("ml-research")
    cluster = Cluster.objects.get_default()
    message = (
        'Error creating: pods "train-a" is forbidden: exceeded quota: ml-research-quota, '
        "requested: requests.nvidia.com/gpu=4, used: requests.nvidia.com/gpu=8, limited: requests.nvidia.com/gpu=8"
    )
    now = timezone.now()
    seen = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    event = RefusalEvent("event-1", namespace.name, "Job", "train", "job-uid", message, 3, seen, seen)
    store_refusals(cluster, [event], {namespace.name: namespace.pk}, now)
    UsageSample.objects.create(
        cluster=cluster,
        namespace=namespace,
        quota_name=QUOTA,
        resource=GPU,
        time=now - timedelta(days=7, minutes=30),
        hard=8,
        used=2,
    )
    UsageSample.objects.create(
        cluster=cluster,
        namespace=namespace,
        quota_name=QUOTA,
        resource=GPU,
        time=now - timedelta(days=1),
        hard=8,
        used=6,
    )

    check_quota_warnings([observe(namespace, {GPU: "8"})], now)

    justification = parse_qs(urlsplit(warnings_of(namespace)[0]["link"]).query)["justification"][0]
    # The heartbeat before the window holds at its start: 2 GPUs for 6 of the 7 days, 6 for the last: 18 / 7.
    assert justification.splitlines()[1:] == [
        "Last 7 days: peak 8, average 2.6.",
        "Pods this quota refused in the last 7 days: 3 (Job/train asked 4).",
        "Asking for 11: today's use would be 72% of it, under the 80% warning.",
    ]
    assert QuotaRefusal.objects.count() == 1


def test_the_namespace_page_shows_the_warning_with_its_one_click_request(world, sign_in):
    namespace = world.namespace("ml-research")
    check_quota_warnings([observe(namespace, {GPU: "8"})], timezone.now())
    link = warnings_of(namespace)[0]["link"]

    lead_page = sign_in("research-lead").get("/clusters/default/namespaces/ml-research/").content.decode()
    member_page = sign_in("research-member").get("/clusters/default/namespaces/ml-research/").content.decode()

    shown = re.search(r'<li class="quota-warning">(.*?)</li>', lead_page, re.S)[1]
    assert (
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", shown))
        .strip()
        .startswith(f"Guaranteed GPUs at 100% of hard: 8 of 8 in {QUOTA}, since ")
    )
    assert unescape(re.search(r'href="([^"]+)">Ask for more</a>', shown)[1]) == link
    assert "Close to the quota" in member_page
    assert "Ask for more" not in member_page
    form = sign_in("research-lead").get(link).content.decode()
    assert re.search(r'name="quota\|0\|requests\.nvidia\.com/gpu"[^>]*value="11"', form)
    assert "Guaranteed GPUs (requests.nvidia.com/gpu) in ml-research-quota: 8 used of 8 hard (100%)" in form


def test_hysteresis_holds_a_level_until_usage_falls_below_it_by_the_margin():
    thresholds = (80, 95)

    def level(previous: int, used: int) -> int:
        return next_level(previous, Decimal(used), Decimal(100), thresholds, 5)

    assert [level(0, 79), level(0, 80), level(0, 97), level(95, 90), level(95, 89), level(80, 75), level(80, 74)] == [
        0,
        80,
        95,
        95,
        80,
        80,
        0,
    ]


def test_suggestions_and_history_are_exact():
    start = timezone.now()

    assert str(suggested_hard(GPU, Decimal(16), 80)) == "21"
    assert str(suggested_hard("requests.cpu", Decimal("0.5"), 80)) == "1"
    assert usage_history([], start, start + timedelta(hours=1)) == (None, None)
    assert usage_history(
        [(start - timedelta(minutes=5), Decimal(4)), (start + timedelta(minutes=30), None)],
        start,
        start + timedelta(hours=1),
    ) == (Decimal(4), Decimal(4))


def test_thresholds_come_from_the_team_then_the_tier_then_the_environment(world, settings):
    settings.QUOTA_WARNING_THRESHOLDS = (70, 90)
    namespace = world.namespace("ml-research")
    team, tier = namespace.team, namespace.tier

    default = warning_thresholds(team, tier)
    tier.quota_warning_thresholds = "60, 85"
    of_tier = warning_thresholds(team, tier)
    team.quota_warning_thresholds = "50"
    of_team = warning_thresholds(team, tier)

    assert (default, of_tier, of_team) == ((70, 90), (60, 85), (50,))
    assert parse_thresholds("95,80,80") == (80, 95)
    team.quota_warning_thresholds = "80,120"
    with pytest.raises(ValidationError) as error:
        team.full_clean()
    assert error.value.message_dict == {
        "quota_warning_thresholds": ["'120' is not a whole percent from 1 to 100; write e.g. 80,95."]
    }


def settings_in_a_fresh_process(thresholds: str) -> subprocess.CompletedProcess:
    program = (
        "import django; django.setup(); from django.conf import settings; print(settings.QUOTA_WARNING_THRESHOLDS)"
    )
    return subprocess.run(
        [sys.executable, "-c", program],
        cwd=Path(__file__).resolve().parents[2],
        env={
            **os.environ,
            "DEBUG": "1",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "QUOTA_WARNING_THRESHOLDS": thresholds,
        },
        capture_output=True,
        text=True,
    )


def test_the_default_thresholds_come_from_the_environment_and_a_bad_one_stops_the_start():
    good = settings_in_a_fresh_process("90, 70")
    bad = settings_in_a_fresh_process("80,abc")

    assert good.stdout.strip() == "(70, 90)"
    assert bad.returncode != 0
    assert "QUOTA_WARNING_THRESHOLDS: 'abc' is not a whole percent from 1 to 100; write e.g. 80,95." in bad.stderr


def test_checking_namespaces_that_cross_nothing_costs_one_query_however_many_they_are(world, django_assert_num_queries):
    namespaces = list(TeamNamespace.objects.select_related("team", "tier"))
    for namespace in namespaces:
        namespace.observed_quotas = {quota["name"]: {"hard": quota["hard"], "used": {}} for quota in namespace.quotas}

    with django_assert_num_queries(1):
        recorded = check_quota_warnings(namespaces, timezone.now())

    assert (len(namespaces), recorded) == (3, 0)


def test_an_admin_sets_a_teams_thresholds_audited_and_a_bad_one_is_refused_naming_the_field(world, client):
    team = world.research
    client.force_login(world.approver)
    url = reverse("admin:teams_team_change", args=[team.pk])
    form = {
        "slug": team.slug,
        "name": team.name,
        "cost_center": team.cost_center_id,
        "default_tier": team.default_tier_id,
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }

    refused = client.post(url, {**form, "quota_warning_thresholds": "50,abc"})
    saved = client.post(url, {**form, "quota_warning_thresholds": "50,90"})

    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors == {
        "quota_warning_thresholds": ["'abc' is not a whole percent from 1 to 100; write e.g. 80,95."]
    }
    assert saved.status_code == 302
    event = AuditEvent.objects.get(verb="team.changed")
    assert (event.actor, event.before, event.after) == (
        world.approver,
        {"quota_warning_thresholds": ""},
        {"quota_warning_thresholds": "50,90"},
    )


def test_usage_bars_turn_amber_and_red_at_the_default_thresholds(settings):
    row = UsageRow(QUOTA, GPU, "17", "20", 85)

    settings.QUOTA_WARNING_THRESHOLDS = (80, 95)
    at_defaults = row.level
    settings.QUOTA_WARNING_THRESHOLDS = (70, 85)
    lowered = row.level
    settings.QUOTA_WARNING_THRESHOLDS = (90,)
    raised = row.level

    assert (at_defaults, lowered, raised) == ("warning", "critical", "ok")
