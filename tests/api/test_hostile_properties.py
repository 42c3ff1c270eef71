"""Property: no hostile body gives a 500 on any write endpoint of the API, and no refused body stores a row."""

from hypothesis import given, settings
from hypothesis import strategies as st

from teams.models import Request
from tests.hostile import (
    HOSTILE,
    assert_no_500_and_nothing_stored_when_refused,
    decision_bodies,
    duplicate_in,
    encode,
    json_values,
    request_bodies,
    row_counts,
    spec_bodies,
)
from tests.requests import ask_for_namespace

URL = "/api/v1/requests/"


def pending_request(world) -> Request:
    """A pending request to decide: the last one if no example decided it yet, else a new one."""
    last = Request.objects.filter(namespace_name__startswith="ml-hostile-").order_by("pk").last()
    if last is not None and last.state == Request.State.PENDING:
        return last
    return ask_for_namespace(world, f"ml-hostile-{Request.objects.count()}")


@HOSTILE
@given(body=request_bodies, duplicate=duplicate_in)
def test_submitting_a_request(world, clients, body, duplicate):
    before = row_counts()

    response = clients.lead_a.post(URL, encode(body, duplicate_in=duplicate), content_type="application/json")

    assert_no_500_and_nothing_stored_when_refused(response, before)


@settings(HOSTILE, max_examples=HOSTILE.max_examples * 3)
@given(body=spec_bodies(), duplicate=duplicate_in)
def test_submitting_a_request_around_a_hostile_spec(world, clients, body, duplicate):
    before = row_counts()

    response = clients.lead_a.post(URL, encode(body, duplicate_in=duplicate), content_type="application/json")

    assert_no_500_and_nothing_stored_when_refused(response, before)


@HOSTILE
@given(
    action=st.sampled_from(["approve", "reject", "cancel", "retry", "dry-run"]),
    body=st.one_of(decision_bodies, json_values),
    duplicate=duplicate_in,
    persona=st.sampled_from(["approver", "lead_a", "token_read_write"]),
)
def test_deciding_a_request(world, clients, action, body, duplicate, persona):
    # dry-run asks the API server only for an approver; the others are refused before it.
    if action == "dry-run" and persona == "approver":
        persona = "lead_a"
    pending = pending_request(world)
    before = row_counts()

    response = clients[persona].post(
        f"{URL}{pending.pk}/{action}/", encode(body, duplicate_in=duplicate), content_type="application/json"
    )

    assert_no_500_and_nothing_stored_when_refused(response, before)


@HOSTILE
@given(
    path=st.one_of(
        st.from_regex(r"\A[0-9]{1,30}\Z"), st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=20)
    )
)
def test_a_request_id_of_any_shape(world, clients, path):
    before = row_counts()

    response = clients.approver.post(f"{URL}{path}/approve/", b"{}", content_type="application/json")

    assert_no_500_and_nothing_stored_when_refused(response, before)


@HOSTILE
@given(
    query=st.fixed_dictionaries(
        {},
        optional={
            key: st.one_of(
                st.sampled_from(
                    ["2000-01-01", "2099-12-31", "2026-10-01T00:00:00Z", "day", "week", "month", "team", "cluster"]
                ),
                st.sampled_from(["default", "gpu-a", "-", "x" * 64]),
                st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
            )
            for key in ("start", "end", "step", "group_by", "cost_center", "cluster", "format")
        },
    )
)
def test_a_chargeback_query(world, clients, query):
    before = row_counts()

    response = clients.finance.get("/api/v1/chargeback/", query)

    assert_no_500_and_nothing_stored_when_refused(response, before)


@HOSTILE
@given(
    query=st.fixed_dictionaries(
        {},
        optional={
            key: st.one_of(
                st.sampled_from(
                    ["2000-01-01", "2099-12-31", "2026-10-01T00:00:00Z", "2026-10-02", "rd-001", "default"]
                ),
                st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
            )
            for key in ("start", "end", "cost_center", "cluster")
        },
    )
)
def test_a_focus_export_query(world, clients, query):
    before = row_counts()

    response = clients.finance.get("/api/v1/chargeback/focus/", query)
    if response.status_code == 200:
        b"".join(response.streaming_content)  # the rows are written while the response streams

    assert_no_500_and_nothing_stored_when_refused(response, before)
