"""The Django admin loads for every model, never offers to edit the audit trail nor a billed price."""

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from accounts.actions import create_api_token
from accounts.models import ApiToken
from teams.groups import ensure_groups
from teams.models import AuditEvent, CostCenter, GpuTier, Membership, Rate, Request, TeamNamespace
from tests.requests import ask_for_namespace

MODELS = list(apps.get_app_config("teams").get_models())


@pytest.fixture
def admin_client_with_world(world, admin_client):
    return admin_client


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_changelist_and_change_pages_load(admin_client_with_world, model, world):
    info = (model._meta.app_label, model._meta.model_name)
    changelist = admin_client_with_world.get(reverse("admin:{}_{}_changelist".format(*info)), {"q": "ml"})
    assert changelist.status_code == 200
    row = model.objects.first()
    if row is not None:
        change = admin_client_with_world.get(reverse("admin:{}_{}_change".format(*info), args=[row.pk]))
        assert change.status_code == 200


def test_audit_events_are_read_only_in_the_admin(admin_client_with_world):
    event = AuditEvent.objects.first()

    page = admin_client_with_world.get(reverse("admin:teams_auditevent_change", args=[event.pk]))
    post = admin_client_with_world.post(reverse("admin:teams_auditevent_change", args=[event.pk]), {"verb": "x"})
    delete = admin_client_with_world.get(reverse("admin:teams_auditevent_delete", args=[event.pk]))

    assert page.status_code == 200
    assert b'name="verb"' not in page.content
    assert post.status_code == 403
    assert delete.status_code == 403
    assert admin_client_with_world.get(reverse("admin:teams_auditevent_add")).status_code == 403


def test_admin_bulk_approval_goes_through_the_workflow(world, client):
    request = ask_for_namespace(world)
    client.force_login(world.approver)

    response = client.post(
        reverse("admin:teams_request_changelist"),
        {"action": "approve_selected", "_selected_action": [request.pk]},
        follow=True,
    )

    assert response.status_code == 200
    request.refresh_from_db()
    assert request.state == Request.State.APPROVED
    assert f"Request #{request.pk} approved." in response.content.decode()


def test_approvers_manage_teams_in_the_admin_but_never_change_audit_events(world, client):
    client.force_login(world.approver)

    index = client.get(reverse("admin:index")).content.decode()

    assert client.get(reverse("admin:teams_team_add")).status_code == 200
    assert client.get(reverse("admin:teams_request_changelist")).status_code == 200
    assert "Audit events" in index
    assert client.get(reverse("admin:teams_auditevent_add")).status_code == 403


def test_finance_is_read_only_and_not_staff(world, client):
    assert world.finance.has_perm("teams.view_request")
    assert not world.finance.has_perm("teams.change_request")

    client.force_login(world.finance)

    assert client.get(reverse("admin:index")).status_code == 302


def namespace_row(name: str) -> dict:
    return TeamNamespace.objects.filter(name=name).values().get()


@pytest.mark.parametrize("user", ["approver", "superuser"])
def test_nobody_changes_a_namespaces_desired_state_in_the_admin(world, client, admin_user, user):
    namespace = world.namespace("ml-research")
    client.force_login(world.approver if user == "approver" else admin_user)
    url = reverse("admin:teams_teamnamespace_change", args=[namespace.pk])
    before, events = namespace_row("ml-research"), AuditEvent.objects.count()

    page = client.get(url)
    post = client.post(
        url,
        {
            "name": "kube-system",
            "team": world.platform.pk,
            "tier": namespace.tier.pk,
            "quotas": '[{"name": "ml-research-quota", "hard": {"requests.nvidia.com/gpu": "5000"}}]',
            "limit_range": "{}",
            "labels": "{}",
            "adopted_at_0": "2026-01-01",
            "adopted_at_1": "00:00:00",
        },
    )

    assert page.status_code == 200
    assert 'name="quotas"' not in page.content.decode()
    assert 'name="name"' not in page.content.decode()
    assert post.status_code == 403
    assert namespace_row("ml-research") == before
    assert AuditEvent.objects.count() == events
    assert client.get(reverse("admin:teams_teamnamespace_add")).status_code == 403
    assert (
        client.post(reverse("admin:teams_teamnamespace_delete", args=[namespace.pk]), {"post": "yes"}).status_code
        == 403
    )


def test_nobody_changes_a_requests_state_or_spec_in_the_admin(world, client):
    request = ask_for_namespace(world)
    client.force_login(world.approver)
    url = reverse("admin:teams_request_change", args=[request.pk])
    before = Request.objects.filter(pk=request.pk).values().get()
    events = AuditEvent.objects.count()

    page = client.get(url)
    post = client.post(url, {"state": "approved", "proposed_spec": '{"tier": "critical"}', "justification": "x"})

    assert page.status_code == 200
    assert 'name="proposed_spec"' not in page.content.decode()
    assert post.status_code == 403
    assert Request.objects.filter(pk=request.pk).values().get() == before
    assert AuditEvent.objects.count() == events


def test_approvers_may_view_but_not_change_namespaces_and_requests(world):
    group = world.approver.groups.get()
    group.permissions.add(Permission.objects.get(codename="change_teamnamespace"))  # granted by an earlier version

    ensure_groups()

    approver = get_user_model().objects.get(pk=world.approver.pk)
    assert approver.has_perm("teams.view_teamnamespace")
    assert approver.has_perm("teams.view_request")
    assert not approver.has_perm("teams.change_teamnamespace")
    assert not approver.has_perm("teams.change_request")
    assert approver.has_perm("teams.change_team")


def test_a_cost_center_change_in_the_admin_writes_one_audit_row_with_what_changed(world, client):
    team = world.research
    client.force_login(world.approver)
    url = reverse("admin:teams_team_change", args=[team.pk])
    form = {
        "slug": team.slug,
        "name": team.name,
        "cost_center": CostCenter.objects.get(code="prod-001").pk,
        "default_tier": team.default_tier_id,
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }

    changed = client.post(url, form)
    unchanged = client.post(url, form)

    assert (changed.status_code, unchanged.status_code) == (302, 302)
    [event] = AuditEvent.objects.filter(verb="team.changed")
    assert (event.actor, event.target) == (world.approver, "team:research")
    assert (event.before, event.after) == ({"cost_center": "rd-001"}, {"cost_center": "prod-001"})


def test_memberships_added_and_removed_in_the_admin_are_audited(world, client):
    client.force_login(world.approver)
    newcomer = get_user_model().objects.create_user("newcomer")

    added = client.post(
        reverse("admin:teams_membership_add"), {"user": newcomer.pk, "team": world.research.pk, "role": "lead"}
    )
    membership = Membership.objects.get(user=newcomer)
    removed = client.post(reverse("admin:teams_membership_delete", args=[membership.pk]), {"post": "yes"})

    assert (added.status_code, removed.status_code) == (302, 302)
    created, deleted = AuditEvent.objects.filter(verb__startswith="membership.").order_by("pk")
    assert (created.verb, created.actor, created.after["role"], created.after["user"]) == (
        "membership.created",
        world.approver,
        "lead",
        "newcomer",
    )
    assert (deleted.verb, deleted.before["team"]) == ("membership.deleted", "research")
    assert not Membership.objects.filter(user=newcomer).exists()


def test_the_admins_re_apply_action_goes_through_the_workflow_and_is_audited(world, client):
    namespace = world.namespace("ml-research")
    TeamNamespace.objects.filter(pk=namespace.pk).update(
        reconcile_state=TeamNamespace.ReconcileState.FAILED, reconcile_error="422 invalid", reconcile_failed_digest="x"
    )
    client.force_login(world.approver)

    response = client.post(
        reverse("admin:teams_teamnamespace_changelist"),
        {"action": "reapply_selected", "_selected_action": [namespace.pk]},
        follow=True,
    )

    assert "Namespace ml-research is being re-applied." in response.content.decode()
    [event] = AuditEvent.objects.filter(verb="namespace.reapply_requested")
    assert (event.actor, event.target, event.before) == (
        world.approver,
        "namespace:default/ml-research",
        {"drift": {}, "reconcile_error": "422 invalid"},
    )
    assert TeamNamespace.objects.get(pk=namespace.pk).reconcile_failed_digest == ""


def test_only_approvers_are_offered_the_admins_workflow_actions(world, client):
    world.finance.is_staff = True
    world.finance.save()
    ask_for_namespace(world)
    client.force_login(world.finance)
    finance_requests = client.get(reverse("admin:teams_request_changelist")).content.decode()
    finance_namespaces = client.get(reverse("admin:teams_teamnamespace_changelist")).content.decode()
    client.force_login(world.approver)
    approver_requests = client.get(reverse("admin:teams_request_changelist")).content.decode()
    approver_namespaces = client.get(reverse("admin:teams_teamnamespace_changelist")).content.decode()

    assert 'value="approve_selected"' not in finance_requests
    assert 'value="reapply_selected"' not in finance_namespaces
    assert 'value="approve_selected"' in approver_requests
    assert 'value="reapply_selected"' in approver_namespaces


def test_api_token_hashes_are_never_edited_in_the_admin(world, admin_client):
    token, _ = create_api_token(user=world.research_lead, name="ci", read_only=False, expires_at=None)
    url = reverse("admin:accounts_apitoken_change", args=[token.pk])
    before = ApiToken.objects.filter(pk=token.pk).values().get()

    page = admin_client.get(url)
    post = admin_client.post(url, {"key_hash": "0" * 64, "name": "changed", "read_only": "on"})

    assert page.status_code == 200
    assert token.key_hash not in page.content.decode()
    assert post.status_code == 403
    assert ApiToken.objects.filter(pk=token.pk).values().get() == before


def test_rejecting_in_the_admin_asks_for_a_note_then_goes_through_the_workflow(world, client):
    request = ask_for_namespace(world)
    client.force_login(world.approver)
    url = reverse("admin:teams_request_changelist")
    selected = {"action": "reject_selected", "_selected_action": [request.pk]}

    asked = client.post(url, selected)
    without_note = client.post(url, {**selected, "confirm": "yes", "note": "  "})
    rejected = client.post(url, {**selected, "confirm": "yes", "note": "Use the shared namespace."}, follow=True)

    assert 'name="note"' in asked.content.decode()
    assert "Say why the requests are rejected" in without_note.content.decode()
    assert f"Request #{request.pk} rejected." in rejected.content.decode()
    request.refresh_from_db()
    assert (request.state, request.decision_note, request.reviewed_by) == (
        Request.State.REJECTED,
        "Use the shared namespace.",
        world.approver,
    )
    [event] = AuditEvent.objects.filter(request=request, verb="request.rejected")
    assert (event.actor, event.after) == (world.approver, {"state": "rejected", "note": "Use the shared namespace."})


def test_a_membership_added_on_the_teams_page_is_audited_like_one_added_on_its_own(world, client):
    team = world.research
    newcomer = get_user_model().objects.create_user("newcomer")
    client.force_login(world.approver)

    response = client.post(
        reverse("admin:teams_team_change", args=[team.pk]),
        {
            "slug": team.slug,
            "name": team.name,
            "cost_center": team.cost_center_id,
            "default_tier": team.default_tier_id,
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-user": newcomer.pk,
            "memberships-0-role": "member",
        },
    )

    assert response.status_code == 302
    assert [
        (e.verb, e.actor, e.after["user"], e.after["team"])
        for e in AuditEvent.objects.filter(verb__contains=".")
        if e.verb.startswith(("membership.", "team."))
    ] == [("membership.created", world.approver, "newcomer", "research")]


# The tier catalog in the admin: billed prices are history, every change is audited.


def rate_form(rate: Rate, **changes) -> dict:
    values = {
        "tier": rate.tier_id,
        "resource": rate.resource,
        "kind": rate.kind,
        "effective_from": rate.effective_from.isoformat(),
        "price": str(rate.price),
        "note": rate.note,
    }
    return {**values, **changes}


def test_an_approver_cannot_change_or_delete_a_billed_rate_in_the_admin(world, client):
    rate = Rate.objects.get(tier__slug="high-priority", resource="gpu", kind="reserved")
    events_before = AuditEvent.objects.count()
    client.force_login(world.approver)

    page = client.get(reverse("admin:teams_rate_change", args=[rate.pk]))
    changed = client.post(reverse("admin:teams_rate_change", args=[rate.pk]), rate_form(rate, price="0.01"))
    deleted = client.post(reverse("admin:teams_rate_delete", args=[rate.pk]), {"post": "yes"})
    bulk = client.post(
        reverse("admin:teams_rate_changelist"), {"action": "delete_selected", "_selected_action": [rate.pk]}
    )

    assert page.status_code == 200
    assert b'name="price"' not in page.content  # shown read-only
    assert changed.status_code == 403
    assert deleted.status_code == 403
    assert bulk.status_code == 200  # no such action: the changelist says so
    rate.refresh_from_db()
    assert (rate.price, rate.effective_from) == (Decimal("2.400000"), date(2000, 1, 1))
    assert AuditEvent.objects.count() == events_before


def test_a_new_price_from_tomorrow_is_added_and_audited_and_a_backdated_one_refused(world, client):
    rate = Rate.objects.get(tier__slug="high-priority", resource="gpu", kind="reserved")
    today = timezone.now().date()
    tomorrow = today + timedelta(days=1)
    client.force_login(world.approver)

    backdated = client.post(
        reverse("admin:teams_rate_add"), rate_form(rate, effective_from=today.isoformat(), price="2.9")
    )
    added = client.post(
        reverse("admin:teams_rate_add"), rate_form(rate, effective_from=tomorrow.isoformat(), price="2.9", note="")
    )

    assert backdated.status_code == 200
    assert (
        "Prices up to today may be billed already and are never changed: a new price takes effect from "
        f"{tomorrow.isoformat()} on at the earliest."
    ) in backdated.content.decode()
    assert added.status_code == 302
    new = Rate.objects.get(tier__slug="high-priority", kind="reserved", effective_from=tomorrow)
    assert new.price == Decimal("2.9")
    assert Rate.objects.filter(effective_from=today).count() == 0
    event = AuditEvent.objects.get(verb="rate.created")
    assert (event.actor, event.target, event.before) == (world.approver, f"rate:{new.pk}", {})
    assert event.after == {
        "tier": "high-priority",
        "resource": "gpu",
        "kind": "reserved",
        "effective_from": tomorrow.isoformat(),
        "price": "2.9",
        "note": "",
    }


def test_a_future_price_may_still_change_and_the_change_is_audited(world, client):
    tomorrow = timezone.now().date() + timedelta(days=1)
    rate = Rate.objects.create(
        tier=GpuTier.objects.get(slug="critical"), resource="gpu", kind="burst", effective_from=tomorrow, price="3.5"
    )
    client.force_login(world.approver)

    response = client.post(reverse("admin:teams_rate_change", args=[rate.pk]), rate_form(rate, price="3.4"))

    assert response.status_code == 302
    rate.refresh_from_db()
    assert rate.price == Decimal("3.4")
    event = AuditEvent.objects.get(verb="rate.changed")
    assert (event.actor, event.before, event.after) == (world.approver, {"price": "3.500000"}, {"price": "3.4"})


def test_a_tier_change_in_the_admin_is_audited_as_its_user(world, client):
    tier = GpuTier.objects.get(slug="best-effort")
    data = {
        field: getattr(tier, field)
        for field in (
            "slug",
            "name",
            "priority_class_name",
            "priority_value",
            "preemption_policy",
            "description",
            "max_guaranteed_gpus",
            "max_gpu_limit",
        )
    }
    data.update(
        {
            "allows_guaranteed_gpus": "",
            "proposes_downsizes": "on",
            "default_quota_hard": json.dumps(tier.default_quota_hard),
            "default_limit_range": json.dumps(tier.default_limit_range),
            # As the page sends them: fields with a callable default carry their initial value.
            "initial-default_quota_hard": json.dumps(tier.default_quota_hard),
            "initial-default_limit_range": json.dumps(tier.default_limit_range),
            "max_gpu_limit": 24,
        }
    )
    client.force_login(world.approver)

    response = client.post(reverse("admin:teams_gputier_change", args=[tier.pk]), data)

    assert response.status_code == 302
    event = AuditEvent.objects.get(verb="tier.changed")
    assert (event.actor, event.target) == (world.approver, "tier:best-effort")
    assert (event.before, event.after) == ({"max_gpu_limit": 16}, {"max_gpu_limit": 24})
