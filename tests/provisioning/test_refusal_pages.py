"""The namespace page and the approval queue show the pods the quota refused."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.utils import timezone

from provisioning.cluster import RefusalEvent
from provisioning.models import QuotaRefusal, UsageSample
from provisioning.refusals import store_refusals
from teams.models import Cluster, Request
from tests.requests import ask_for_gpus, ask_for_namespace

pytestmark = pytest.mark.django_db

MESSAGE = (
    'Error creating: pods "train-a" is forbidden: exceeded quota: ml-research-quota, '
    "requested: requests.nvidia.com/gpu=4, used: requests.nvidia.com/gpu=8, limited: requests.nvidia.com/gpu=8"
)


@pytest.fixture
def refused(world) -> QuotaRefusal:
    """ml-research's Job `train` refused 3 times in one Event, as the sync stores it."""
    namespace = world.namespace("ml-research")
    cluster = Cluster.objects.get_default()
    event = RefusalEvent(
        "event-1", namespace.name, "Job", "train", "job-uid", MESSAGE, 3, "2026-12-01T10:00:00Z", "2026-12-01T10:04:00Z"
    )
    store_refusals(cluster, [event], {namespace.name: namespace.pk}, timezone.now())
    return QuotaRefusal.objects.get()


def refusal_rows(html: str) -> list[list[str]]:
    rows = re.findall(r'<tr class="refusal">(.*?)</tr>', html, re.S)
    return [
        [unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td.*?</td>", row, re.S)]
        for row in rows
    ]


def test_the_lead_sees_the_refusal_and_a_prefilled_request_for_more(refused, sign_in):
    page = sign_in("research-lead").get("/clusters/default/namespaces/ml-research/")

    html = page.content.decode()
    assert page.status_code == 200
    assert refusal_rows(html) == [
        [
            "2026-12-01 10:04",
            "Job/train",
            "ml-research-quota · requests.nvidia.com/gpu",
            "4",
            "8 / 8",
            "3",
            "Ask for 12",
        ]
    ]
    link = unescape(re.search(r'<a class="button" href="([^"]+)">Ask for 12</a>', html)[1])
    assert (
        link
        == "/requests/new/change_quota/?cluster=default&namespace=ml-research&quota%7C0%7Crequests.nvidia.com%2Fgpu=12"
    )

    form = sign_in("research-lead").get(link).content.decode()
    assert re.search(r'name="quota\|0\|requests\.nvidia\.com/gpu"[^>]*value="12"', form)


def test_a_member_sees_the_refusal_without_the_request_link(refused, sign_in):
    html = sign_in("research-member").get("/clusters/default/namespaces/ml-research/").content.decode()

    assert refusal_rows(html) == [
        ["2026-12-01 10:04", "Job/train", "ml-research-quota · requests.nvidia.com/gpu", "4", "8 / 8", "3", ""]
    ]
    assert "Ask for 12" not in html


def test_another_team_neither_sees_the_page_nor_the_refusal(refused, sign_in):
    assert sign_in("platform-lead").get("/clusters/default/namespaces/ml-research/").status_code == 404


def test_a_namespace_without_refusals_says_so(world, sign_in):
    html = sign_in("research-lead").get("/clusters/default/namespaces/ml-research/").content.decode()

    assert "No pod was refused by this namespace's quotas in the last 30 days." in html


def test_the_approver_sees_the_refusals_and_7_and_30_day_usage_of_the_requests_namespace(refused, world, sign_in):
    namespace = world.namespace("ml-research")
    UsageSample.objects.create(
        cluster=refused.cluster,
        namespace=namespace,
        quota_name="ml-research-quota",
        resource="requests.nvidia.com/gpu",
        time=timezone.now() - timedelta(days=3),
        hard=8,
        used=8,
    )
    item = ask_for_gpus(world, namespace, "12")
    approver = sign_in("approver")

    queue = approver.get("/queue/").content.decode()
    evidence = approver.get(f"/requests/{item.pk}/evidence/").content.decode()

    assert f'hx-get="/requests/{item.pk}/evidence/"' in queue
    assert refusal_rows(evidence) == [
        ["2026-12-01 10:04", "Job/train", "ml-research-quota · requests.nvidia.com/gpu", "4", "8 / 8", "3"]
    ]
    assert "Ask for" not in evidence
    captions = [re.sub(r"\s+", " ", c).strip() for c in re.findall(r"<figcaption>(.*?)<span", evidence, re.S)]
    # Both windows begin at the first sample (three days ago), as every usage chart does.
    since = timezone.localtime(timezone.now() - timedelta(days=3))
    assert [caption.split(":", 2)[-1] for caption in captions] == [" <strong>8</strong> used of 8"] * 2
    assert all(caption.startswith(f"Guaranteed GPUs since {since:%b} {since.day} ") for caption in captions)


def test_only_approvers_see_the_evidence_and_a_new_namespace_has_none(refused, world, sign_in):
    item = ask_for_gpus(world, world.namespace("ml-research"), "12")
    new = ask_for_namespace(world)

    assert sign_in("research-lead").get(f"/requests/{item.pk}/evidence/").status_code == 403
    assert sign_in("platform-lead").get(f"/requests/{item.pk}/evidence/").status_code == 404
    assert (
        "A new namespace: no refusals or usage yet."
        in sign_in("approver").get(f"/requests/{new.pk}/evidence/").content.decode()
    )


@pytest.mark.parametrize(
    "query",
    [
        "quota%7C0%7Crequests.nvidia.com%2Fgpu=" + "9" * 5000,
        "quota%7C0%7Crequests.nvidia.com%2Fgpu=-4",
        "quota%7Cx%7Cnot-a-key=1",
        "quota%7C99%7Crequests.nvidia.com%2Fgpu=12",
    ],
)
def test_a_hostile_prefill_is_only_shown_never_stored(world, sign_in, query):
    page = sign_in("research-lead").get(f"/requests/new/change_quota/?cluster=default&namespace=ml-research&{query}")

    assert page.status_code == 200
    assert not Request.objects.exists()
