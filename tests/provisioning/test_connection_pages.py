"""The portal's pages for connecting a cluster: an approver uploads a kubeconfig, tests the connection,
and removes a cluster; credentials are never shown again; others are refused."""

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from provisioning.cluster import REQUIRED_PERMISSIONS
from provisioning.connections import Source, connect_cluster
from provisioning.models import ClusterConnection
from teams.models import AuditEvent, Cluster
from tests.kube import K8S_VERSION, WORKER_CONTEXT
from tests.provisioning.connecting import token_of

pytestmark = pytest.mark.cluster


@pytest.fixture(autouse=True)
def key(settings) -> None:
    settings.CLUSTER_CREDENTIALS_KEY = [Fernet.generate_key().decode()]


def kubeconfig_upload(kubeconfig_path, name: str = "config") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, kubeconfig_path.read_bytes(), content_type="application/yaml")


def test_an_approver_uploads_a_kubeconfig_and_never_sees_it_again(sign_in, kubeconfig_path) -> None:
    client = sign_in("approver")

    response = client.post(
        reverse("cluster-connect"),
        {
            "name": "gpu-page",
            "description": "inference",
            "source": "upload",
            "kubeconfig": kubeconfig_upload(kubeconfig_path),
            "context": WORKER_CONTEXT,
        },
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("cluster-connection", args=["gpu-page"])
    page = client.get(response["Location"]).content.decode()
    assert "uploaded kubeconfig (stored encrypted)" in page
    assert "Cluster gpu-page is connected. Test the connection below." in page
    stored = ClusterConnection.objects.get(cluster__name="gpu-page").kubeconfig_encrypted
    api = client.get(reverse("v1:cluster-list")).content.decode()
    assert '"name":"gpu-page"' in api
    for shown in (page, client.get(reverse("cluster-overview")).content.decode(), api):
        assert token_of(kubeconfig_path) not in shown
        assert stored not in shown
        assert "certificate-authority-data" not in shown


def test_a_bad_upload_is_refused_on_the_page_naming_the_field(sign_in, kubeconfig_path) -> None:
    client = sign_in("approver")
    before = AuditEvent.objects.count()

    response = client.post(
        reverse("cluster-connect"),
        {"name": "gpu-bad", "source": "upload", "kubeconfig": kubeconfig_upload(kubeconfig_path), "context": "nope"},
    )

    assert response.status_code == 400
    assert response.context["form"].errors["context"][0].startswith("The kubeconfig has no context 'nope'")
    assert "The kubeconfig has no context" in response.content.decode()
    assert not Cluster.objects.filter(name="gpu-bad").exists()
    assert AuditEvent.objects.count() == before


def test_without_the_key_the_page_names_the_setting(sign_in, settings, kubeconfig_path) -> None:
    settings.CLUSTER_CREDENTIALS_KEY = []

    response = sign_in("approver").post(
        reverse("cluster-connect"),
        {"name": "gpu-nokey", "source": "upload", "kubeconfig": kubeconfig_upload(kubeconfig_path)},
    )

    assert response.status_code == 400
    assert response.context["form"].errors["kubeconfig"][0].startswith("CLUSTER_CREDENTIALS_KEY is not set")


def test_test_connection_shows_version_gpu_nodes_and_permissions(world, sign_in, kubeconfig_path) -> None:
    source = Source(kubeconfig=kubeconfig_path.read_bytes(), context=WORKER_CONTEXT)
    connect_cluster(actor=world.approver, name="gpu-tested", source=source)

    response = sign_in("approver").post(reverse("cluster-connection-test", args=["gpu-tested"]), HTTP_HX_REQUEST="true")

    page = response.content.decode()
    assert response.status_code == 200
    assert "<strong>Ready:</strong> gpu-tested answers" in page
    assert K8S_VERSION in page
    assert f"All {len(REQUIRED_PERMISSIONS)} permissions of" in page
    assert "Allocatable nvidia.com/gpu" in page


def test_only_approvers_reach_the_connection_pages(world, sign_in) -> None:
    connect_cluster(actor=world.approver, name="gpu-closed", source=Source(in_cluster=True))
    client = sign_in("research-lead")

    assert client.get(reverse("cluster-connect")).status_code == 403
    assert client.get(reverse("cluster-connection", args=["gpu-closed"])).status_code == 403
    assert client.post(reverse("cluster-connection-test", args=["gpu-closed"])).status_code == 403
    assert client.post(reverse("cluster-remove", args=["gpu-closed"])).status_code == 403
    assert Cluster.objects.filter(name="gpu-closed").exists()


def test_removing_on_the_page_is_refused_while_namespaces_live_there(world, sign_in) -> None:
    busy = connect_cluster(actor=world.approver, name="gpu-busy", source=Source(in_cluster=True))
    namespace = world.namespace("ml-research")
    namespace.pk, namespace.cluster = None, busy
    namespace.save()
    connect_cluster(actor=world.approver, name="gpu-idle", source=Source(in_cluster=True))
    client = sign_in("approver")

    refused = client.post(reverse("cluster-remove", args=["gpu-busy"]))
    removed = client.post(reverse("cluster-remove", args=["gpu-idle"]))

    assert refused.status_code == 409
    assert "gpu-busy still has 1 managed namespace(s): ml-research." in refused.content.decode()
    assert Cluster.objects.filter(name="gpu-busy").exists()
    assert removed.status_code == 302
    assert not Cluster.objects.filter(name="gpu-idle").exists()


def test_the_admin_shows_where_credentials_come_from_but_not_them(world, client, kubeconfig_path) -> None:
    source = Source(kubeconfig=kubeconfig_path.read_bytes(), context=WORKER_CONTEXT)
    cluster = connect_cluster(actor=world.approver, name="gpu-admin", source=source)
    stored = ClusterConnection.objects.get(cluster=cluster).kubeconfig_encrypted
    client.force_login(get_user_model().objects.create_superuser("root", password="x"))

    page = client.get(reverse("admin:provisioning_clusterconnection_change", args=[cluster.pk])).content.decode()

    assert "uploaded kubeconfig (stored encrypted)" in page
    assert stored not in page
    assert token_of(kubeconfig_path) not in page
