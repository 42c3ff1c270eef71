"""Time-boxed grants in the workflow: what may be asked, what the approver may change, and what each end restores.

The cluster side (applies, a killed worker, the worker's beat task) is in tests/provisioning/test_grants_on_cluster.py;
here the desired state the workflow writes is checked, with the clock moved by time-machine.
"""

import copy
import io
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from notifications.routing import audience, message_for
from teams import workflow
from teams.demo import HOLIDAY_TRAFFIC
from teams.events import system_actor
from teams.models import AuditEvent, Grant, Request, TeamNamespace
from teams.policy import PolicyError
from teams.tasks import end_grants

Kind = Request.Kind
State = Request.State
GPU = "requests.nvidia.com/gpu"
GPU_FIELD = f"quotas[ml-research-quota].hard[{GPU}]"
CPU = "requests.cpu"
START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def ask(world, *, gpus: str | None = None, cpu: str | None = None, until=None, actor=None) -> Request:
    namespace = world.namespace("ml-research")
    quotas = copy.deepcopy(namespace.quotas)
    if gpus is not None:
        quotas[0]["hard"][GPU] = gpus
    if cpu is not None:
        quotas[0]["hard"][CPU] = cpu
    return workflow.submit_request(
        actor=actor or world.research_lead,
        team=world.research,
        kind=Kind.CHANGE_QUOTA,
        namespace=namespace,
        proposed={"quotas": quotas},
        justification="Paper deadline.",
        until=until,
    )


def approve(world, request: Request, **kwargs) -> Request:
    return workflow.approve_request(request.pk, actor=world.approver, override_capacity=True, **kwargs)


def hard(world, key: str = GPU) -> str | None:
    return world.namespace("ml-research").quotas[0]["hard"].get(key)


def end_at(moment: datetime) -> dict:
    """What beat does at `moment`."""
    with time_machine.travel(moment, tick=False):
        return end_grants()


def day(offset: int) -> date:
    return START.date() + timedelta(days=offset)


def midnight(of: date) -> datetime:
    return datetime.combine(of, datetime.min.time(), tzinfo=UTC)


@pytest.mark.parametrize(
    ("until", "message"),
    [
        ("2027-03-01", "Must be after today: a grant lasts at least until the end of tomorrow."),
        ("2027-02-10", "Must be after today: a grant lasts at least until the end of tomorrow."),
        ("2028-03-02", "At most 366 days from today: 2028-03-01 at the latest."),
        ("14 March", "Not a date: '14 March'; use YYYY-MM-DD."),
    ],
)
def test_an_end_date_today_in_the_past_too_far_or_not_a_date_is_refused_naming_until(world, clock, until, message):
    with pytest.raises(PolicyError) as refused:
        ask(world, gpus="16", until=until)

    assert refused.value.message_dict == {"until": [message]}
    assert not Request.objects.filter(kind=Kind.CHANGE_QUOTA).exists()


def test_only_an_increase_or_a_new_namespace_can_be_time_boxed(world, clock):
    namespace = world.namespace("ml-research")
    with pytest.raises(PolicyError) as decrease:
        ask(world, cpu="32", until="2027-03-10")
    with pytest.raises(PolicyError) as limits:
        workflow.submit_request(
            actor=world.research_lead,
            team=world.research,
            kind=Kind.CHANGE_LIMIT_RANGE,
            namespace=namespace,
            proposed={"limitRange": {"limits": [{"type": "PersistentVolumeClaim", "max": {"storage": "400Gi"}}]}},
            justification="Smaller volumes.",
            until="2027-03-10",
        )

    assert decrease.value.message_dict == {
        "until": ["A time-boxed grant must raise a quota amount; a decrease is for good, leave the date empty."]
    }
    assert limits.value.message_dict == {"until": ["Only a new namespace or a quota change can be time-boxed."]}


def test_an_approved_grant_records_what_it_raised_and_ends_at_midnight_after_its_last_day(world, clock):
    request = ask(world, gpus="16", until="2027-03-14")

    approved = approve(world, request)

    grant = Grant.objects.get(request=request)
    assert (approved.state, hard(world)) == (State.APPROVED, "16")
    assert (grant.until, grant.ends_at) == (date(2027, 3, 14), datetime(2027, 3, 15, tzinfo=UTC))
    assert grant.baseline == {GPU_FIELD: "8"}
    event = AuditEvent.objects.get(request=request, verb="request.approved")
    assert event.after["grant_until"] == "2027-03-14"
    assert event.after["capacity"]["until"] == "2027-03-14"


def test_the_approver_may_shorten_a_grant_but_never_lengthen_it(world, clock):
    request = ask(world, gpus="16", until="2027-03-14")

    with pytest.raises(ValidationError) as refused:
        approve(world, request, until="2027-03-20")
    approve(world, request, until="2027-03-05")

    assert refused.value.message_dict == {
        "until": ["An approver may shorten a grant, not lengthen it: 2027-03-14 at the latest."]
    }
    assert Grant.objects.get(request=request).until == date(2027, 3, 5)
    assert Request.objects.get(pk=request.pk).until == date(2027, 3, 14)


def test_a_grant_ends_once_as_the_system_actor_through_the_workflow_back_to_its_baseline(world, clock):
    grant_request = approve(world, ask(world, gpus="16", until="2027-03-05"))
    grant = Grant.objects.get(request=grant_request)

    before_end = end_at(datetime(2027, 3, 5, 23, 59, tzinfo=UTC))
    first = end_at(datetime(2027, 3, 6, 0, 1, tzinfo=UTC))
    second = end_at(datetime(2027, 3, 6, 0, 6, tzinfo=UTC))

    grant.refresh_from_db()
    reversion = grant.reversion
    assert (before_end["ended"], first["ended"], second["ended"]) == (0, 1, 0)
    assert hard(world) == "8"
    assert (reversion.kind, reversion.state, reversion.requested_by.username) == (
        Kind.CHANGE_QUOTA,
        State.APPROVED,
        "gpu-portal-system",
    )
    assert reversion.changes == [
        {
            "field": GPU_FIELD,
            "object": "ml-research-quota",
            "key": GPU,
            "current": "16",
            "proposed": "8",
            "change": "changed",
        }
    ]
    verbs = list(AuditEvent.objects.filter(request=reversion).values_list("verb", "actor__username"))
    assert verbs == [("request.submitted", "gpu-portal-system"), ("request.approved", "gpu-portal-system")]
    ended = AuditEvent.objects.get(verb="grant.ended")
    assert (ended.request_id, ended.after["restored"], ended.after["reversion"]) == (
        grant_request.pk,
        {GPU_FIELD: "8"},
        reversion.pk,
    )
    assert Request.objects.filter(requested_by__username="gpu-portal-system", kind=Kind.CHANGE_QUOTA).count() == 1


def test_overlapping_grants_end_in_the_defined_order_latest_decision_holds(world, clock):
    """8 GPUs; grant A to 12 until the 20th; grant B to 16 until the 10th; a permanent change of CPU in between.

    B ends first: back to A's 12. A ends: back to 8. The permanent CPU change is never undone.
    """
    grant_a = approve(world, ask(world, gpus="12", until=day(19)))
    grant_b = approve(world, ask(world, gpus="16", until=day(9)))
    approve(world, ask(world, cpu="80"))

    end_at(midnight(day(10)) + timedelta(minutes=1))
    after_b = hard(world)
    end_at(midnight(day(20)) + timedelta(minutes=1))

    assert (after_b, hard(world), hard(world, CPU)) == ("12", "8", "80")
    assert [grant.reversion.changes[0]["proposed"] for grant in Grant.objects.order_by("ends_at")] == ["12", "8"]
    assert {grant_a.pk, grant_b.pk} == set(Grant.objects.values_list("request_id", flat=True))


def test_a_later_grant_ending_last_restores_what_the_earlier_one_would_have(world, clock):
    """A to 12 until the 5th, B to 16 until the 20th: A's end changes nothing (B holds the key), B's restores 8."""
    approve(world, ask(world, gpus="12", until=day(4)))
    approve(world, ask(world, gpus="16", until=day(19)))

    end_at(midnight(day(5)) + timedelta(minutes=1))
    after_a = hard(world)
    end_at(midnight(day(20)) + timedelta(minutes=1))

    first, second = Grant.objects.order_by("ends_at")
    assert (after_a, hard(world)) == ("16", "8")
    assert first.reversion is None
    assert first.ended_at is not None
    assert AuditEvent.objects.get(verb="grant.ended", request=first.request).after["handed_over"] == {
        GPU_FIELD: second.request_id
    }


def test_a_permanent_change_approved_during_a_grant_is_kept_at_its_end(world, clock):
    approve(world, ask(world, gpus="16", until=day(9)))
    approve(world, ask(world, gpus="12"))

    end_at(midnight(day(10)) + timedelta(minutes=1))

    grant = Grant.objects.get()
    assert hard(world) == "12"
    assert grant.reversion is None
    assert AuditEvent.objects.get(verb="grant.ended").after["kept"] == [GPU_FIELD]


def test_warnings_reach_the_team_three_days_and_one_day_before_each_once(world, clock):
    request = approve(world, ask(world, gpus="16", until=day(9)))
    ends = Grant.objects.get(request=request).ends_at

    sent = [
        end_at(ends - timedelta(days=4))["warned"],
        end_at(ends - timedelta(days=3) + timedelta(minutes=1))["warned"],
        end_at(ends - timedelta(days=2))["warned"],
        end_at(ends - timedelta(hours=23))["warned"],
        end_at(ends - timedelta(hours=22))["warned"],
    ]

    warnings = AuditEvent.objects.filter(verb="grant.expiring").order_by("pk")
    assert sent == [0, 1, 0, 1, 0]
    assert [event.after["days"] for event in warnings] == [3, 1]
    message = message_for(warnings[0])
    assert message.text == (
        f"ml-research: the time-boxed grant of request #{request.pk} (Change quota ml-research) ends after "
        f"{day(9).isoformat()} (3 days left); its request page asks for an extension in one click"
    )
    assert {user.username for user in audience(warnings[0], message)} == {"research-lead", "research-member"}


def test_an_approved_extension_moves_the_end_and_warnings_start_again(world, clock):
    request = approve(world, ask(world, gpus="16", until=day(9)))
    grant = Grant.objects.get(request=request)
    end_at(grant.ends_at - timedelta(hours=12))

    extension = workflow.submit_extension(grant.pk, actor=world.research_lead, until=day(20), justification="More.")
    approve(world, extension)
    ended_at_old_end = end_at(grant.ends_at + timedelta(minutes=1))["ended"]

    grant.refresh_from_db()
    assert (extension.kind, extension.extends_id, extension.changes) == (Kind.CHANGE_QUOTA, grant.pk, [])
    assert (grant.until, grant.warned_days, ended_at_old_end, hard(world)) == (day(20), [], 0, "16")
    event = AuditEvent.objects.get(request=extension, verb="request.approved")
    assert (event.before["grant_until"], event.after["grant_until"]) == (day(9).isoformat(), day(20).isoformat())


def test_an_extension_must_end_later_and_only_a_lead_of_the_team_may_ask(world, clock):
    grant = Grant.objects.get(request=approve(world, ask(world, gpus="16", until=day(9))))

    with pytest.raises(PolicyError) as earlier:
        workflow.submit_extension(grant.pk, actor=world.research_lead, until=day(5), justification="Less?")
    with pytest.raises(PermissionDenied):
        workflow.submit_extension(grant.pk, actor=world.platform_lead, until=day(20), justification="Ours.")

    assert earlier.value.message_dict == {"until": [f"An extension must end after the grant does, on {day(9)}."]}
    assert not Request.objects.filter(extends=grant).exists()


def test_a_reversion_below_what_pods_use_is_still_made_and_says_so(world, clock):
    request = approve(world, ask(world, gpus="16", until=day(2)))
    TeamNamespace.objects.filter(name="ml-research").update(
        observed_quotas={"ml-research-quota": {"hard": {GPU: "16"}, "used": {GPU: "12"}}}
    )

    end_at(Grant.objects.get(request=request).ends_at + timedelta(minutes=1))

    reversion = Grant.objects.get(request=request).reversion
    assert hard(world) == "8"
    assert [warning["code"] for warning in reversion.warnings] == ["below_usage"]
    assert reversion.warnings[0]["message"].startswith(
        "Pods use 12 of requests.nvidia.com/gpu in ml-research-quota, more than the 8 restored: they keep running"
    )


def test_a_time_boxed_namespace_is_deleted_at_its_end_without_force(world, clock):
    research = world.namespace("ml-research")
    created = workflow.submit_request(
        actor=world.research_lead,
        team=world.research,
        kind=Kind.CREATE_NAMESPACE,
        namespace_name="ml-hackathon",
        proposed={"tier": "high-priority", "quotas": copy.deepcopy(research.quotas), "limitRange": {}},
        justification="A week of hackathon.",
        until=day(7),
    )
    approve(world, created)

    end_at(Grant.objects.get(request=created).ends_at + timedelta(minutes=1))

    reversion = Grant.objects.get(request=created).reversion
    assert (reversion.kind, reversion.proposed_spec, reversion.state) == (
        Kind.DELETE_NAMESPACE,
        {"force": False},
        State.APPROVED,
    )
    assert TeamNamespace.objects.get(name="ml-hackathon").deletion_requested_at is not None


def test_a_reversion_the_cluster_refused_waits_in_the_queue_with_the_api_servers_message(world, clock, sign_in):
    request = approve(world, ask(world, gpus="16", until=day(2)))
    grant = Grant.objects.get(request=request)
    end_at(grant.ends_at + timedelta(minutes=1))
    grant.refresh_from_db()
    workflow.mark_applying(grant.reversion_id, actor=system_actor())
    workflow.mark_failed(
        grant.reversion_id, actor=system_actor(), error='resourcequotas "ml-research-quota" is forbidden'
    )

    page = sign_in("approver").get("/queue/").content.decode()

    assert "Grants whose end failed to apply" in page
    assert f'<li id="grant-{grant.pk}">' in page
    assert (
        'The API server said: <span class="mono">resourcequotas &quot;ml-research-quota&quot; is forbidden</span>'
        in page
    )
    assert f'action="/requests/{grant.reversion_id}/retry/"' in page


def test_the_reversion_page_says_when_it_cuts_below_what_pods_use(world, clock, sign_in):
    request = approve(world, ask(world, gpus="16", until=day(2)))
    TeamNamespace.objects.filter(name="ml-research").update(
        observed_quotas={"ml-research-quota": {"hard": {GPU: "16"}, "used": {GPU: "12"}}}
    )
    end_at(Grant.objects.get(request=request).ends_at + timedelta(minutes=1))
    reversion = Grant.objects.get(request=request).reversion

    page = sign_in("research-member").get(f"/requests/{reversion.pk}/").content.decode()

    assert "This cuts below what pods use now." in page
    assert "pods keep running (a quota never evicts), but new pods beyond the quota are refused" in page
    assert "Policy warnings" not in page


def test_the_grants_page_offers_its_team_lead_an_extension_prefilled_with_usage(world, clock, sign_in):
    request = approve(world, ask(world, gpus="16", until=day(4)))
    grant = Grant.objects.get(request=request)
    TeamNamespace.objects.filter(name="ml-research").update(
        observed_quotas={"ml-research-quota": {"hard": {GPU: "16"}, "used": {GPU: "14"}}}
    )
    lead = sign_in("research-lead")

    detail = lead.get(f"/requests/{request.pk}/").content.decode()
    form = lead.get(f"/grants/{grant.pk}/extend/").content.decode()
    sent = lead.post(f"/grants/{grant.pk}/extend/", {"until": day(8).isoformat(), "justification": "Reviews."})

    assert f'href="/grants/{grant.pk}/extend/"' in detail
    assert f'value="{day(8).isoformat()}"' in form  # as long again as the grant was approved for
    assert "requests.nvidia.com/gpu in ml-research-quota: 14 used of 16 (87%)" in form
    extension = Request.objects.get(extends=grant)
    assert (sent.status_code, sent["Location"]) == (302, f"/requests/{extension.pk}/")
    assert (extension.until, extension.state, extension.justification) == (day(8), State.PENDING, "Reviews.")


def test_the_demo_seeds_holiday_traffic_as_a_pending_time_boxed_grant_once(world, clock):
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())

    holiday = Request.objects.get(justification=HOLIDAY_TRAFFIC)
    assert (holiday.state, holiday.kind, holiday.until, holiday.namespace_name) == (
        State.PENDING,
        Kind.CHANGE_QUOTA,
        date(2028, 1, 5),
        "ml-production",
    )
    assert [(row["key"], row["current"], row["proposed"]) for row in holiday.changes] == [
        (GPU, "16", "24"),
        ("limits.nvidia.com/gpu", "16", "24"),
    ]
