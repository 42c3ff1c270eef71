"""The management commands an admin runs against the real cluster."""

import pytest
from django.core.management import CommandError, call_command

from teams.models import AuditEvent, TeamNamespace
from tests.kube import wait_quota_synced

pytestmark = [pytest.mark.django_db, pytest.mark.cluster]


def test_apply_namespace_applies_the_desired_state(world, cluster, core, unique_name, capsys):
    namespace = world.namespace("ml-experiments")
    namespace.name = unique_name("experiments")
    namespace.save()

    call_command("apply_namespace", namespace.name)

    assert core.read_namespaced_resource_quota("ml-experiments-quota", namespace.name).spec.hard == {
        "requests.nvidia.com/gpu": "8"
    }
    assert f"{namespace.name}: applied PriorityClass/ml-low, Namespace/{namespace.name}" in capsys.readouterr().out
    assert AuditEvent.objects.filter(verb="namespace.applied", target=namespace.audit_target).count() == 1


def test_apply_namespace_refuses_a_name_the_portal_does_not_manage(world, cluster):
    with pytest.raises(CommandError, match=r"The portal manages no namespace named nowhere\."):
        call_command("apply_namespace", "nowhere")


def test_adopting_imports_an_existing_namespace_then_the_portal_manages_it(world, cluster, core, unique_name, capsys):
    name = unique_name("legacy")
    core.create_namespace({"metadata": {"name": name}})
    core.create_namespaced_resource_quota(
        name, {"metadata": {"name": "legacy-quota"}, "spec": {"hard": {"requests.nvidia.com/gpu": "4", "pods": "20"}}}
    )
    wait_quota_synced(core, name, "legacy-quota")

    call_command("adopt_namespace", name, "--team", "research", "--actor", "approver", "--yes")
    call_command("apply_namespace", name)

    namespace = TeamNamespace.objects.get(name=name)
    assert namespace.quotas == [{"name": "legacy-quota", "hard": {"pods": "20", "requests.nvidia.com/gpu": "4"}}]
    assert namespace.adopted_at is not None
    adoption = namespace.requests.get()
    assert (adoption.kind, adoption.state, adoption.requested_by.username) == (
        "adopt_namespace",
        "approved",
        "approver",
    )
    approved = adoption.audit_events.get(verb="request.approved")
    assert approved.before["spec"]["quotas"] == [
        {"name": "legacy-quota", "hard": {"requests.nvidia.com/gpu": "4", "pods": "20"}}
    ]
    assert core.read_namespace(name).metadata.labels["app.kubernetes.io/managed-by"] == "gpu-portal"
    assert '"requests.nvidia.com/gpu": "4"' in capsys.readouterr().out


def test_adopting_a_namespace_that_does_not_exist_is_refused(world, cluster, unique_name):
    with pytest.raises(CommandError, match="does not exist on cluster local"):
        call_command("adopt_namespace", unique_name("ghost"), "--team", "research", "--actor", "approver", "--yes")


def test_adopting_needs_an_approver_named_as_the_actor(world, cluster, core, unique_name):
    name = unique_name("legacy")
    core.create_namespace({"metadata": {"name": name}})

    with pytest.raises(CommandError, match=r"Only platform admins in the approvers group can do this\."):
        call_command("adopt_namespace", name, "--team", "research", "--actor", "research-lead", "--yes")

    assert not TeamNamespace.objects.filter(name=name).exists()


def test_sync_usage_reports_what_it_read(world, cluster, capsys):
    call_command("sync_usage")

    output = capsys.readouterr().out
    assert output.startswith("local: 3 namespaces (3 changed or due a heartbeat), ")
    assert "GPUs on" in output
