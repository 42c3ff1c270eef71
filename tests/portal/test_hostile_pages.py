"""Property: no hostile form on any page gives a 500, and no refused form stores a row.

The request forms (submit, live validation, YAML preview), the decisions of the queue, the fit
checker, the token form and the chargeback query, each with the review's hostile text: control
characters and NUL, far beyond every bound, and quantities beyond what a Decimal context holds.
"""

from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from teams import workflow
from teams.constants import QUOTA_KEYS
from teams.models import Request
from tests.hostile import HOSTILE, assert_no_500_and_nothing_stored_when_refused, form_texts, quantity_texts, row_counts
from tests.requests import ask_for_gpus, ask_for_namespace

form_values = st.one_of(form_texts, quantity_texts, st.integers(-(10**60), 10**60).map(str))
QUOTA_INPUTS = [f"quota|0|{key}" for key, _ in QUOTA_KEYS]
LIMIT_INPUTS = [
    f"limit|{kind}|{field}|{resource}"
    for kind, resource in (("Container", "cpu"), ("Container", "nvidia.com/gpu"), ("PersistentVolumeClaim", "storage"))
    for field in ("min", "defaultRequest", "default", "max")
]
request_forms = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(Request.Kind.values),
        "name": st.from_regex(r"\Aml-[a-z]{8}\Z"),
        "overrides": st.dictionaries(
            st.one_of(
                st.sampled_from(["namespace_name", "tier", "justification", "team", "namespace", "force"]),
                st.sampled_from(QUOTA_INPUTS + LIMIT_INPUTS),
                st.text(st.characters(exclude_categories=["Cs"]), max_size=10),
            ),
            form_values,
            max_size=6,
        ),
    }
)


def form_data(drawn: dict) -> dict:
    data = {"justification": "Hostile, but well-formed around the inputs.", "quota|0|requests.nvidia.com/gpu": "4"}
    if drawn["kind"] == Request.Kind.CREATE_NAMESPACE:
        data.update({"namespace_name": drawn["name"], "tier": "high-priority", "team": "research"})
    else:
        data["namespace"] = "ml-research"
    return {**data, **drawn["overrides"]}


@settings(HOSTILE, max_examples=HOSTILE.max_examples * 3)
@given(drawn=request_forms, page=st.sampled_from(["request-new", "request-validate", "request-preview"]))
def test_the_request_forms(world, sign_in, drawn, page):
    client = sign_in("research-lead")
    before = row_counts()

    response = client.post(reverse(page, args=[drawn["kind"]]), form_data(drawn), HTTP_HX_REQUEST="true")

    assert_no_500_and_nothing_stored_when_refused(response, before)


GRANT = "grant|quotas[ml-research-quota].hard[requests.nvidia.com/gpu]"


@HOSTILE
@given(
    action=st.sampled_from(
        ["request-approve", "request-reject", "request-changes", "request-cancel", "request-retry", "request-comment"]
    ),
    data=st.dictionaries(
        st.one_of(
            st.sampled_from(["note", "override_capacity", "next", "body", GRANT, "grant|tier"]),
            st.text(max_size=12).map("grant|".__add__),
        ),
        form_values,
        max_size=4,
    ),
)
def test_the_decisions_and_the_conversation(world, sign_in, action, data):
    pending = Request.objects.filter(state=Request.State.PENDING).last() or ask_for_namespace(
        world, f"ml-hostile-{Request.objects.count()}"
    )
    client = sign_in("research-lead" if action == "request-cancel" else "approver")
    before = row_counts()

    response = client.post(reverse(action, args=[pending.pk]), data, HTTP_HX_REQUEST="true")

    assert_no_500_and_nothing_stored_when_refused(response, before)


@HOSTILE
@given(data=st.dictionaries(st.sampled_from(["gpus", "cpu", "memory", "count"]), form_values, max_size=4))
def test_the_fit_checker(world, sign_in, data):
    before = row_counts()

    response = sign_in("research-lead").post(reverse("namespace-fit", args=["default", "ml-research"]), data)

    assert_no_500_and_nothing_stored_when_refused(response, before)


@HOSTILE
@given(
    data=st.fixed_dictionaries(
        {
            "name": form_texts,
            "access": st.one_of(st.sampled_from(["read", "write"]), form_texts),
            "lifetime": st.one_of(st.sampled_from(["0", "30", "90", "365"]), form_values),
        }
    )
)
def test_the_token_form(world, sign_in, data):
    before = row_counts()

    response = sign_in("finance").post(reverse("profile"), data)

    assert_no_500_and_nothing_stored_when_refused(response, before)


@HOSTILE
@given(
    query=st.dictionaries(
        st.sampled_from(["start", "end"]),
        st.one_of(st.sampled_from(["2000-01-01", "2099-12-30", "2026-10-01", "0001-01-01", "9999-12-31"]), form_values),
        max_size=2,
    )
)
def test_the_chargeback_query(world, sign_in, query):
    before = row_counts()

    response = sign_in("finance").get(reverse("chargeback:report"), query)

    assert_no_500_and_nothing_stored_when_refused(response, before)


@HOSTILE
@given(drawn=request_forms)
def test_the_change_form_of_a_request_sent_back(world, sign_in, drawn):
    """The next version of a request goes through the same form and policy as the first."""
    asked = ask_for_gpus(world, world.namespace("ml-research"), "16")
    workflow.request_changes(asked.pk, actor=world.approver, note="12?")
    data = {**form_data(drawn), "namespace": "ml-research"}
    before = row_counts()

    response = sign_in("research-lead").post(reverse("request-edit", args=[asked.pk]), data)

    assert_no_500_and_nothing_stored_when_refused(response, before)


@HOSTILE
@given(
    data=st.dictionaries(
        st.sampled_from(["name", "url", "team"]),
        st.one_of(form_values, st.sampled_from(["https://hooks.example/x", "http://[::1]:80/", "1", "99999"])),
        max_size=3,
    )
)
def test_the_webhook_form(world, sign_in, data):
    before = row_counts()

    response = sign_in("approver").post(reverse("webhooks"), data)

    assert_no_500_and_nothing_stored_when_refused(response, before)
