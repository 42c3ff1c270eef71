"""The Django admin loads for every model, never offers to edit the audit trail nor a billed price."""

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import timezone

from teams.models import AuditEvent, GpuTier, Rate, Request
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
        "tier": rate.tier_id,
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
