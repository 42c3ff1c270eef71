"""The Django admin loads for every model, and never offers to edit the audit trail."""

import pytest
from django.apps import apps
from django.urls import reverse

from teams.models import AuditEvent, Request
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
