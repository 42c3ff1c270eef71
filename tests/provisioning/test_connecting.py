"""Connecting a cluster: an approver adds one from an uploaded kubeconfig (stored encrypted), a path, or
in-cluster; bad input is refused naming the field with nothing stored; removal is refused while the
cluster holds namespaces. Against the shared local API server, nothing patched."""

import pytest
import yaml
from cryptography.fernet import Fernet
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection as database

from provisioning import credentials
from provisioning.cluster import ClusterGateway, PermanentError
from provisioning.connections import Source, change_connection, connect_cluster, remove_cluster
from provisioning.models import ClusterConnection
from teams.limits import MAX_KUBECONFIG_BYTES
from teams.models import AuditEvent, Cluster
from tests.kube import K8S_VERSION, WORKER_CONTEXT
from tests.provisioning.connecting import token_of

pytestmark = pytest.mark.cluster


@pytest.fixture
def key(settings) -> str:
    value = Fernet.generate_key().decode()
    settings.CLUSTER_CREDENTIALS_KEY = [value]
    return value


def upload(kubeconfig_path, context: str = WORKER_CONTEXT) -> Source:
    return Source(kubeconfig=kubeconfig_path.read_bytes(), context=context)


def stored_column(cluster: Cluster) -> str:
    """The column as the database holds it, past any model code."""
    with database.cursor() as cursor:
        cursor.execute(
            "SELECT kubeconfig_encrypted FROM provisioning_clusterconnection WHERE cluster_id = %s", [cluster.pk]
        )
        return cursor.fetchone()[0]


def errors_of(excinfo) -> dict[str, list[str]]:
    return excinfo.value.message_dict


def test_an_uploaded_kubeconfig_is_stored_encrypted_and_reaches_the_cluster(world, key, kubeconfig_path) -> None:
    cluster = connect_cluster(
        actor=world.approver, name="gpu-upload", description="lab", source=upload(kubeconfig_path)
    )

    stored = stored_column(cluster)
    token = token_of(kubeconfig_path)
    assert token not in stored
    assert "server" not in stored
    assert "certificate" not in stored
    assert yaml.safe_load(credentials.decrypt(stored)) == yaml.safe_load(kubeconfig_path.read_text())
    connection = ClusterConnection.objects.get(cluster=cluster)
    assert (connection.kubeconfig_path, connection.context, connection.in_cluster) == ("", WORKER_CONTEXT, False)
    with ClusterGateway(cluster) as gateway:
        assert gateway.check_reachable(5) == K8S_VERSION
    event = AuditEvent.objects.get(verb="cluster.connected")
    assert (event.actor, event.target) == (world.approver, "cluster:gpu-upload")
    assert event.after == {
        "name": "gpu-upload",
        "source": "uploaded kubeconfig (stored encrypted)",
        "context": WORKER_CONTEXT,
    }


def test_without_a_key_uploading_is_refused_naming_the_setting(world, settings, kubeconfig_path) -> None:
    settings.CLUSTER_CREDENTIALS_KEY = []

    with pytest.raises(ValidationError) as excinfo:
        connect_cluster(actor=world.approver, name="gpu-nokey", source=upload(kubeconfig_path))

    assert errors_of(excinfo)["kubeconfig"][0].startswith("CLUSTER_CREDENTIALS_KEY is not set")
    assert not Cluster.objects.filter(name="gpu-nokey").exists()
    assert not AuditEvent.objects.filter(verb__startswith="cluster.").exists()


def test_a_wrong_key_cannot_read_the_credentials_and_rotation_keeps_them(world, key, settings, kubeconfig_path):
    cluster = connect_cluster(actor=world.approver, name="gpu-keys", source=upload(kubeconfig_path))
    new_key = Fernet.generate_key().decode()

    settings.CLUSTER_CREDENTIALS_KEY = [new_key]
    with pytest.raises(PermanentError, match="None of the keys in CLUSTER_CREDENTIALS_KEY decrypts"):
        ClusterGateway(cluster)

    settings.CLUSTER_CREDENTIALS_KEY = [new_key, key]
    before = stored_column(cluster)
    call_command("rotate_cluster_credentials")
    settings.CLUSTER_CREDENTIALS_KEY = [new_key]
    assert stored_column(cluster) != before
    with ClusterGateway(cluster) as gateway:
        assert gateway.check_reachable(5) == K8S_VERSION


@pytest.mark.parametrize(
    ("content", "context", "field", "message"),
    [
        (None, "nowhere", "context", "The kubeconfig has no context 'nowhere'; its contexts: "),
        (b"clusters: [", "", "kubeconfig", "The kubeconfig is not valid YAML"),
        (b"- just\n- a list\n", "", "kubeconfig", "This is not a kubeconfig: it has no list of contexts."),
        (b"a: &x [1]\ncontexts: *x\n", "", "kubeconfig", "The kubeconfig is not valid YAML (line 2): aliases"),
        (b"\xff\xfe", "", "kubeconfig", "The kubeconfig is not UTF-8 text."),
        (b"x" * (MAX_KUBECONFIG_BYTES + 1), "", "kubeconfig", f"at most {MAX_KUBECONFIG_BYTES:,} are accepted"),
        (b"contexts: [{name: a, context: {cluster: c, user: u}}]\n", "a", "kubeconfig", "names cluster 'c'"),
        (b"contexts: []\n", "", "context", "The kubeconfig has no current context: name the context to use."),
    ],
)
def test_bad_kubeconfigs_are_refused_naming_the_field_and_nothing_is_stored(
    world, key, kubeconfig_path, content, context, field, message
) -> None:
    source = Source(kubeconfig=kubeconfig_path.read_bytes() if content is None else content, context=context)

    with pytest.raises(ValidationError) as excinfo:
        connect_cluster(actor=world.approver, name="gpu-bad", source=source)

    assert message in errors_of(excinfo)[field][0]
    assert not Cluster.objects.filter(name="gpu-bad").exists()
    assert not ClusterConnection.objects.filter(cluster__name="gpu-bad").exists()


def test_a_path_or_in_cluster_needs_no_key_and_a_missing_path_is_named(world, settings, kubeconfig_path) -> None:
    settings.CLUSTER_CREDENTIALS_KEY = []
    by_path = connect_cluster(
        actor=world.approver, name="gpu-path", source=Source(kubeconfig_path=str(kubeconfig_path))
    )
    in_pod = connect_cluster(actor=world.approver, name="gpu-pod", source=Source(in_cluster=True))

    # An empty context is the file's current one, stored as such.
    assert ClusterConnection.objects.get(cluster=by_path).context == "gpu-portal-admin"
    assert ClusterConnection.objects.get(cluster=in_pod).in_cluster
    with pytest.raises(ValidationError) as excinfo:
        connect_cluster(actor=world.approver, name="gpu-gone", source=Source(kubeconfig_path="/nonexistent/config"))
    assert errors_of(excinfo) == {"kubeconfig_path": ["Cannot read /nonexistent/config: No such file or directory."]}
    with pytest.raises(ValidationError) as excinfo:
        connect_cluster(actor=world.approver, name="gpu-two", source=Source(in_cluster=True, kubeconfig_path="/x"))
    assert list(errors_of(excinfo)) == ["source"]


def test_names_are_checked_like_every_cluster_name(world, settings) -> None:
    with pytest.raises(ValidationError) as excinfo:
        connect_cluster(actor=world.approver, name="Not A Label", source=Source(in_cluster=True))
    assert list(errors_of(excinfo)) == ["name"]
    connect_cluster(actor=world.approver, name="gpu-twice", source=Source(in_cluster=True))
    with pytest.raises(ValidationError) as excinfo:
        connect_cluster(actor=world.approver, name="gpu-twice", source=Source(in_cluster=True))
    assert errors_of(excinfo) == {"name": ["Cluster with this Name already exists."]}


def test_only_approvers_connect_clusters(world) -> None:
    with pytest.raises(PermissionDenied):
        connect_cluster(actor=world.research_lead, name="gpu-lead", source=Source(in_cluster=True))
    assert not Cluster.objects.filter(name="gpu-lead").exists()


def test_changing_a_connection_is_audited_without_the_credentials(world, key, kubeconfig_path) -> None:
    cluster = connect_cluster(actor=world.approver, name="gpu-change", source=Source(in_cluster=True))

    change_connection(cluster, actor=world.approver, source=upload(kubeconfig_path))

    event = AuditEvent.objects.get(verb="cluster.connection_changed")
    assert event.before == {"source": "in-cluster (the pod's ServiceAccount)", "context": ""}
    assert event.after == {"source": "uploaded kubeconfig (stored encrypted)", "context": WORKER_CONTEXT}
    assert token_of(kubeconfig_path) not in str(AuditEvent.objects.values_list("before", "after"))
    with ClusterGateway(cluster) as gateway:
        assert gateway.check_reachable(5) == K8S_VERSION


def test_removing_a_cluster_with_live_namespaces_is_refused_by_name(world) -> None:
    cluster = connect_cluster(actor=world.approver, name="gpu-busy", source=Source(in_cluster=True))
    namespace = world.namespace("ml-research")
    namespace.pk, namespace.cluster = None, cluster
    namespace.save()

    with pytest.raises(ValidationError) as excinfo:
        remove_cluster(cluster, actor=world.approver)

    assert errors_of(excinfo) == {
        "cluster": [
            "gpu-busy still has 1 managed namespace(s): ml-research. Delete them through requests first; the "
            "portal never leaves namespaces on a cluster it no longer reaches."
        ]
    }
    assert ClusterConnection.objects.filter(cluster=cluster).exists()
    with pytest.raises(ValidationError, match="is the default cluster"):
        remove_cluster(Cluster.objects.get_default(), actor=world.approver)


def test_removing_an_unused_cluster_removes_its_identity_and_connection(world) -> None:
    cluster = connect_cluster(actor=world.approver, name="gpu-spare", source=Source(in_cluster=True))

    remove_cluster(cluster, actor=world.approver)

    assert not Cluster.objects.filter(name="gpu-spare").exists()
    assert not ClusterConnection.objects.filter(cluster_id=cluster.pk).exists()
    event = AuditEvent.objects.get(verb="cluster.removed")
    assert (event.target, event.before["source"]) == ("cluster:gpu-spare", "in-cluster (the pod's ServiceAccount)")


def test_connect_cluster_command_uploads_and_refuses_clearly(world, key, kubeconfig_path, capsys) -> None:
    call_command("connect_cluster", "gpu-cmd", kubeconfig=kubeconfig_path, context=WORKER_CONTEXT, actor="approver")
    assert "Cluster gpu-cmd added." in capsys.readouterr().out
    assert stored_column(Cluster.objects.get(name="gpu-cmd"))

    with pytest.raises(CommandError, match="context: The kubeconfig has no context 'nope'"):
        call_command("connect_cluster", "gpu-cmd2", kubeconfig=kubeconfig_path, context="nope", actor="approver")
    with pytest.raises(CommandError, match="Only platform admins"):
        call_command("connect_cluster", "gpu-cmd3", in_cluster=True, actor="research-lead")
