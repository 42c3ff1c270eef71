"""Test connection: the API server's version, its GPU nodes, and every permission the portal's identity
lacks, asked of the real local API server as the identity itself (SelfSubjectAccessReview)."""

from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError

from provisioning.cluster import REQUIRED_PERMISSIONS, Permission
from provisioning.connection_check import check_connection
from provisioning.connections import Source, connect_cluster
from provisioning.models import ClusterConnection
from tests.control_plane import free_ports
from tests.kube import K8S_VERSION, REPO_ROOT, WORKER_CONTEXT
from tests.provisioning.connecting import kubeconfig_for_token, service_account_with_rules, token_of

pytestmark = pytest.mark.cluster

#: What the limited identity may do: read nodes and pods, and nothing else the portal needs.
FEW_RULES = [{"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list", "watch"]}]


@pytest.fixture(autouse=True)
def key(settings) -> None:
    settings.CLUSTER_CREDENTIALS_KEY = [Fernet.generate_key().decode()]


def connected(world, name: str, kubeconfig: str, context: str = "") -> ClusterConnection:
    source = Source(kubeconfig=kubeconfig.encode(), context=context)
    cluster = connect_cluster(actor=world.approver, name=name, source=source)
    return ClusterConnection.objects.get(cluster=cluster)


def test_the_required_permissions_are_the_rules_of_cluster_rbac_yaml() -> None:
    documents = yaml.safe_load_all((REPO_ROOT / "cluster" / "rbac.yaml").read_text())
    role = next(document for document in documents if document["kind"] == "ClusterRole")
    granted = {
        Permission(verb, resource, group, name)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        for name in rule.get("resourceNames", [""])
    }

    assert set(REQUIRED_PERMISSIONS) == granted
    assert len(REQUIRED_PERMISSIONS) == len(granted)


def test_the_workers_identity_has_every_permission_and_sees_the_gpu_nodes(world, kubeconfig_path: Path) -> None:
    connection = connected(world, "gpu-worker", kubeconfig_path.read_text(), WORKER_CONTEXT)

    check = check_connection(connection)

    assert check.version == K8S_VERSION
    assert check.missing == []
    assert check.problems == []
    assert check.nodes
    assert all(node.gpus > 0 for node in check.nodes)
    assert check.is_complete


def test_an_identity_with_fewer_rules_is_told_each_missing_permission(
    world, admin_api, kubeconfig_path: Path, capsys
) -> None:
    with service_account_with_rules(admin_api, FEW_RULES) as token:
        connection = connected(world, "gpu-limited", kubeconfig_for_token(kubeconfig_path, token))

        check = check_connection(connection)
        with pytest.raises(CommandError, match="Cluster gpu-limited is not ready for the portal"):
            call_command("check_cluster", "gpu-limited")

    held = {p for p in REQUIRED_PERMISSIONS if p.group == "" and p.resource in ("nodes", "pods")}
    assert check.version == K8S_VERSION
    assert check.missing == [p for p in REQUIRED_PERMISSIONS if p not in held]
    assert check.nodes  # it may list nodes
    assert not check.is_complete
    out = capsys.readouterr().out
    assert f"Permissions: 6 of {len(REQUIRED_PERMISSIONS)} held; missing:\n  get namespaces\n" in out
    assert "\n  bind clusterroles.rbac.authorization.k8s.io/edit\n" in out
    assert "\n  list events.events.k8s.io\n" in out


def test_an_identity_without_bindings_cannot_list_nodes_and_is_told_so(world, admin_api, kubeconfig_path) -> None:
    with service_account_with_rules(admin_api, []) as token:
        check = check_connection(connected(world, "gpu-none", kubeconfig_for_token(kubeconfig_path, token)))

    assert check.missing == list(REQUIRED_PERMISSIONS)
    assert check.nodes == []
    assert check.problems[0].startswith('Could not list the nodes: nodes is forbidden: User "system:serviceaccount:')


def test_an_unreachable_api_server_is_named_and_the_command_fails(world, kubeconfig_path: Path, capsys) -> None:
    (port,) = free_ports(1)  # nothing listens there
    unreachable = kubeconfig_for_token(kubeconfig_path, token_of(kubeconfig_path), server=f"https://127.0.0.1:{port}")
    connection = connected(world, "gpu-away", unreachable)

    check = check_connection(connection)
    with pytest.raises(CommandError):
        call_command("check_cluster", "gpu-away")

    assert check.version == ""
    assert check.missing is None
    assert check.problems[0].startswith("The API server did not answer:")
    assert (
        "Cluster gpu-away: API server not reached\nProblem: The API server did not answer:" in capsys.readouterr().out
    )


def test_check_cluster_passes_for_the_default_cluster(cluster, capsys) -> None:
    call_command("check_cluster", cluster.name)

    out = capsys.readouterr().out
    assert out.startswith(f"Cluster {cluster.name}: API server {K8S_VERSION}\nGPU nodes: ")
    assert f"Permissions: {len(REQUIRED_PERMISSIONS)} of {len(REQUIRED_PERMISSIONS)} held\n" in out
