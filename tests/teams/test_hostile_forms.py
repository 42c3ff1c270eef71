"""The security review's hostile inputs through the pages: the same refusals as the API, nothing stored."""

import html

import pytest
from django.urls import reverse

from accounts.models import ApiToken
from teams.limits import MAX_BODY_BYTES
from teams.models import AuditEvent, Request
from tests.requests import ask_for_gpus

State = Request.State
UNSTORABLE = "Must not contain NUL characters or unpaired surrogates."
HUGE = "1234567890123456789012345678901234567890Gi"
HUGE_REFUSED = "Not a valid quantity: '1234567890123456789…67890Gi' is absurdly large: a quantity here is at most 8Ei."


@pytest.fixture
def pending(world) -> Request:
    return ask_for_gpus(world, world.namespace("ml-research"), "16")


def quota_form(world, **overrides) -> dict:
    namespace = world.namespace("ml-research")
    data = {f"quota|0|{key}": value for key, value in namespace.quotas[0]["hard"].items()}
    data.update({"namespace": "ml-research", "justification": "More GPUs for the deadline."})
    data.update(overrides)
    return data


def text(response) -> str:
    return html.unescape(response.content.decode())


def test_the_request_form_refuses_a_justification_over_its_limit_next_to_it(world, sign_in):
    response = sign_in("research-lead").post(
        reverse("request-new", args=["change_quota"]), quota_form(world, justification="Why?" * 1001)
    )

    assert response.status_code == 400
    assert 'id="f-justification-error"' in response.content.decode()
    assert "Must be at most 4000 characters; it has 4004." in text(response)
    assert Request.objects.count() == 0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"justification": "Deadline\x00"}, "justification"),
        ({"quota|0|requests.cpu": "4\x00"}, "quota|0|requests.cpu"),
        ({"namespace": "ml-research\x00"}, "namespace"),
        ({"\x00": "x"}, "parameter name"),
    ],
)
def test_the_request_form_refuses_text_no_database_stores_naming_the_field(world, sign_in, data, field):
    response = sign_in("research-lead").post(reverse("request-new", args=["change_quota"]), quota_form(world, **data))

    assert response.status_code == 400
    assert f"{field}: {UNSTORABLE}" in text(response)
    assert Request.objects.count() == 0


def test_the_request_form_and_live_validation_refuse_a_huge_quantity(world, sign_in):
    client = sign_in("research-lead")
    data = quota_form(world, **{"quota|0|requests.cpu": HUGE})

    submitted = client.post(reverse("request-new", args=["change_quota"]), data)
    live = client.post(reverse("request-validate", args=["change_quota"]), data, HTTP_HX_REQUEST="true")
    preview = client.post(reverse("request-preview", args=["change_quota"]), data, HTTP_HX_REQUEST="true")

    assert submitted.status_code == 400
    assert HUGE_REFUSED in text(submitted)
    assert live.status_code == 200
    assert HUGE_REFUSED in text(live)
    assert preview.status_code == 200
    assert Request.objects.count() == 0


def test_live_validation_shows_the_justification_limit_but_not_yet_that_it_is_required(world, sign_in):
    client = sign_in("research-lead")
    url = reverse("request-validate", args=["change_quota"])

    too_long = client.post(url, quota_form(world, justification="x" * 4001), HTTP_HX_REQUEST="true")
    empty = client.post(url, quota_form(world, justification=""), HTTP_HX_REQUEST="true")

    assert "Must be at most 4000 characters; it has 4001." in text(too_long)
    assert "Say why the team needs this" not in text(empty)


@pytest.mark.parametrize("action", ["request-reject", "request-approve"])
@pytest.mark.parametrize(
    ("note", "message"), [("No\x00", UNSTORABLE), ("n" * 2001, "Must be at most 2000 characters; it has 2001.")]
)
def test_a_decision_note_no_database_stores_is_refused(world, sign_in, pending, action, note, message):
    events = AuditEvent.objects.count()

    response = sign_in("approver").post(reverse(action, args=[pending.pk]), {"note": note}, HTTP_HX_REQUEST="true")

    assert response.status_code == 400
    assert message in text(response)
    pending.refresh_from_db()
    assert (pending.state, pending.decision_note) == (State.PENDING, "")
    assert AuditEvent.objects.count() == events


def test_the_fit_checker_refuses_a_huge_quantity_by_field(world, sign_in):
    response = sign_in("research-lead").post(
        reverse("namespace-fit", args=["default", "ml-research"]), {"gpus": "1", "cpu": HUGE, "count": "9" * 5000}
    )

    assert response.status_code == 200
    assert "'1234567890123456789…67890Gi' is absurdly large: a quantity here is at most 8Ei" in text(response)
    assert "Between 1 and 1000 pods." in text(response)


@pytest.mark.parametrize(
    ("name", "message"),
    [("export\x00", f"name: {UNSTORABLE}"), ("x" * 101, "at most 100 characters (it has 101)")],
)
def test_the_token_form_refuses_a_name_no_database_stores(world, sign_in, name, message):
    response = sign_in("finance").post(reverse("profile"), {"name": name, "access": "read", "lifetime": "30"})

    assert response.status_code == 400
    assert message in text(response)
    assert not ApiToken.objects.filter(user__username="finance").exists()


def test_the_chargeback_page_bounds_its_range(world, sign_in):
    century = sign_in("finance").get(reverse("chargeback:report"), {"start": "2000-01-01", "end": "2099-12-30"})
    last_day = sign_in("finance").get(reverse("chargeback:report"), {"start": "2000-01-01", "end": "9999-12-31"})

    assert century.status_code == 400
    assert "A report spans at most 1098 days; this one spans 36524." in text(century)
    assert last_day.status_code == 400
    assert "Choose a day between 2000 and 2099." in text(last_day)


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/requests/new/change_quota/?namespace=%00", "namespace"),
        ("/namespaces/ml%00research/", "path"),
        ("/namespaces/ml%00research/manifests.yaml", "path"),
        ("/queue/?team=%00&tier=x", "team"),
        ("/queue/?tier=%00", "tier"),
        ("/api/v1/namespaces/?name=%00", "name"),
    ],
)
def test_a_lookup_by_text_no_database_stores_is_a_400_not_a_500(world, sign_in, url, field):
    response = sign_in("approver").get(url)

    assert response.status_code == 400
    if url.startswith("/api/"):
        assert response.json()["fields"] == {field: [UNSTORABLE]}
    else:
        assert f"{field}: {UNSTORABLE}" in text(response)


def test_bulk_approval_ignores_selections_that_are_not_request_ids(world, sign_in, pending):
    response = sign_in("approver").post(reverse("queue-bulk-approve"), {"selected": ["²", "9" * 30, "-1"]}, follow=True)

    assert response.status_code == 200
    assert "Select the requests to approve." in text(response)
    assert Request.objects.get(pk=pending.pk).state == State.PENDING


def test_a_form_over_the_body_limit_is_a_400_naming_the_limit(world, sign_in):
    data = quota_form(world, justification="x" * MAX_BODY_BYTES)

    response = sign_in("research-lead").post(reverse("request-new", args=["change_quota"]), data)

    assert response.status_code == 400
    assert f"The request body is larger than the limit of {MAX_BODY_BYTES} bytes." in text(response)
    assert Request.objects.count() == 0


def test_a_form_of_too_many_fields_is_a_400_naming_the_limit(world, sign_in):
    data = {f"field{index}": "x" for index in range(1001)}

    response = sign_in("research-lead").post(reverse("request-new", args=["change_quota"]), data)

    assert response.status_code == 400
    assert "The form has more than the limit of 1000 fields." in text(response)
