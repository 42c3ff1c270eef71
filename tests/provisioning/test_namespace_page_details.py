"""The namespace page's small things from issue 11: LimitRange as kubectl shows it, the Job, the way to change."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from provisioning.manifests import JOB_EXAMPLE_IMAGE, render_job_example
from teams.templatetags.portal_time import ago
from tests.requests import ask_for_gpus

KUBECTL_HEAD = (
    '<tr><th scope="col">Type</th><th scope="col">Resource</th><th scope="col">Min</th>'
    '<th scope="col">Max</th><th scope="col">Default Request</th><th scope="col">Default Limit</th>'
    '<th scope="col">Max Limit/Request Ratio</th></tr>'
)


def cells(type_: str, resource: str, *values: str) -> str:
    shown = "".join(f'<td class="mono">{value}</td>' for value in values)
    return f'<tr><th scope="row">{type_}</th><td class="mono">{resource}</td>{shown}</tr>'


def test_the_limit_range_reads_like_kubectl_describe(sign_in):
    html = sign_in("research-member").get(reverse("namespace-detail", args=["default", "ml-research"])).content.decode()

    assert KUBECTL_HEAD in html
    assert cells("Container", "cpu", "100m", "32", "1", "2", "-") in html
    assert cells("Container", "memory", "128Mi", "128Gi", "4Gi", "8Gi", "-") in html
    assert cells("Container", "nvidia.com/gpu", "-", "8", "0", "0", "-") in html
    assert cells("PersistentVolumeClaim", "storage", "1Gi", "500Gi", "-", "-", "-") in html
    assert "{&#x27;cpu&#x27;" not in html


def test_the_job_is_pinned_and_asks_for_what_the_limit_range_defaults_to(world):
    container = render_job_example(world.namespace("ml-research"))["spec"]["template"]["spec"]["containers"][0]

    assert container["image"] == JOB_EXAMPLE_IMAGE == "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"
    assert container["resources"] == {
        "requests": {"cpu": "1", "memory": "4Gi", "nvidia.com/gpu": 4},
        "limits": {"nvidia.com/gpu": 4},
    }


def test_without_default_requests_the_job_stays_within_min_and_max(world):
    namespace = world.namespace("ml-research")
    namespace.limit_range = {
        "name": "tight",
        "limits": [{"type": "Container", "min": {"cpu": "2"}, "max": {"memory": "2Gi"}}],
    }

    container = render_job_example(namespace)["spec"]["template"]["spec"]["containers"][0]

    assert container["resources"]["requests"] == {"cpu": "2", "memory": "2Gi", "nvidia.com/gpu": 4}


def test_the_job_has_a_copy_button_driven_by_a_static_script(sign_in):
    html = sign_in("research-member").get(reverse("namespace-detail", args=["default", "ml-research"])).content.decode()

    assert '<button type="button" data-copy="#job-yaml" aria-controls="job-yaml" hidden>Copy the Job</button>' in html
    assert '<script src="/static/portal/copy.js" defer></script>' in html
    assert "image: pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime" in html
    assert ":latest" not in html


def test_a_lead_changes_the_quota_from_the_namespace_page_a_member_does_not(sign_in):
    link = (
        '<a class="button primary" href="/requests/new/change_quota/?cluster=default&amp;namespace=ml-research">'
        "Change quota</a>"
    )

    lead = sign_in("research-lead").get(reverse("namespace-detail", args=["default", "ml-research"])).content.decode()
    member = (
        sign_in("research-member").get(reverse("namespace-detail", args=["default", "ml-research"])).content.decode()
    )

    assert link in lead
    assert link not in member


def test_ago_reads_just_now_for_the_last_minute():
    now = timezone.now()

    assert ago(now - timedelta(seconds=59), now) == "just now"
    assert ago(now - timedelta(minutes=3, seconds=5), now) == "3\xa0minutes ago"
    assert ago(None, now) == ""


def test_the_queue_says_just_now_for_a_request_sent_this_minute(world, sign_in):
    ask_for_gpus(world, world.namespace("ml-research"), "16")

    html = sign_in("approver").get(reverse("queue")).content.decode()

    assert "asked by research-lead · just now" in html
    assert "0\xa0minutes ago" not in html
