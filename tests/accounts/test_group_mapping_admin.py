"""Admins edit the group mappings in the Django admin; each edit is audited, and a mapping that cannot work is
refused naming its field."""

from django.urls import reverse

from accounts.models import GroupMapping, ProviderIdentity
from teams.models import AuditEvent

ADD = reverse("admin:accounts_groupmapping_add")


def test_an_admin_adds_a_mapping_and_the_audit_trail_says_so(world, admin_client):
    response = admin_client.post(
        ADD, {"provider_group": "gpu-research-leads", "role": "lead", "team": world.research.pk}
    )

    mapping = GroupMapping.objects.get()
    assert response.status_code == 302
    assert str(mapping) == "gpu-research-leads -> Team lead of research"
    event = AuditEvent.objects.get(verb="group_mapping.created")
    assert (event.actor.username, event.target) == ("admin", f"group_mapping:{mapping.pk}")
    assert event.after == {"provider_group": "gpu-research-leads", "role": "lead", "team": "research"}


def test_a_team_role_without_a_team_or_a_platform_role_with_one_is_refused_naming_the_team(world, admin_client):
    lead = admin_client.post(ADD, {"provider_group": "leads", "role": "lead", "team": ""})
    approver = admin_client.post(ADD, {"provider_group": "admins", "role": "approver", "team": world.research.pk})

    assert (lead.status_code, approver.status_code) == (200, 200)
    assert lead.context["adminform"].form.errors == {"team": ["Choose the team this group makes team leads of."]}
    assert approver.context["adminform"].form.errors == {
        "team": ["Approver holds across the portal: leave the team empty."]
    }
    assert not GroupMapping.objects.exists()


def test_identities_are_listed_for_looking_only(world, admin_client):
    ProviderIdentity.objects.create(user=world.research_lead, issuer="https://idp.example", subject="s-1")

    listing = admin_client.get(reverse("admin:accounts_provideridentity_changelist"))

    assert listing.status_code == 200
    assert "s-1" in listing.content.decode()
    assert admin_client.get(reverse("admin:accounts_provideridentity_add")).status_code == 403
