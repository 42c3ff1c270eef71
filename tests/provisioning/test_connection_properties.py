"""Property: no input to the connect-a-cluster form gives a 500, a refusal stores nothing (no cluster,
no connection, no audit row), and what is stored is the upload, encrypted, with a context it holds."""

import string

import pytest
import yaml
from cryptography.fernet import Fernet
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import event, given
from hypothesis import strategies as st

from provisioning import credentials
from provisioning.models import ClusterConnection
from teams.limits import MAX_KUBECONFIG_BYTES
from teams.models import AuditEvent, Cluster
from tests.hostile import HOSTILE
from tests.kube import LOCAL_KUBECONFIG

KEY = Fernet.generate_key().decode()
KUBECONFIG = yaml.safe_load(LOCAL_KUBECONFIG.read_text()) if LOCAL_KUBECONFIG.exists() else {}

texts = st.one_of(st.text(max_size=80), st.sampled_from(["", "gpu-portal-worker", "gpu-portal-admin", "a" * 300]))
names = st.one_of(texts, st.text(alphabet=string.ascii_lowercase + "-0123456789", min_size=1, max_size=70))
yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@st.composite
def kubeconfigs(draw) -> bytes:
    """Bytes, YAML of anything, or the local kubeconfig with parts dropped or renamed."""
    kind = draw(st.sampled_from(["bytes", "yaml", "mutated", "huge"]))
    if kind == "bytes":
        return draw(st.binary(max_size=512))
    if kind == "yaml":
        return yaml.safe_dump(draw(yaml_values)).encode()
    if kind == "huge":
        return b"#" * (MAX_KUBECONFIG_BYTES + draw(st.integers(-1, 2)))
    document = {key: value for key, value in KUBECONFIG.items() if draw(st.booleans()) or key == "contexts"}
    if document.get("contexts") and draw(st.booleans()):
        document["contexts"] = [{**entry, "name": draw(texts)} for entry in document["contexts"]]
    return yaml.safe_dump(document).encode()


def row_counts() -> tuple[int, int, int]:
    return Cluster.objects.count(), ClusterConnection.objects.count(), AuditEvent.objects.count()


@pytest.fixture
def approver_client(world, client, settings):
    settings.CLUSTER_CREDENTIALS_KEY = [KEY]
    client.force_login(world.approver)
    return client


@HOSTILE
@given(
    name=names,
    description=texts,
    source=st.sampled_from(["upload", "path", "in_cluster", "", "nonsense"]),
    content=st.none() | kubeconfigs(),
    path=st.one_of(texts, st.just(str(LOCAL_KUBECONFIG)), st.just("/etc/hostname"), st.just("/proc/self/mem")),
    context=texts,
)
def test_connecting_a_cluster_from_any_input(approver_client, name, description, source, content, path, context):
    before = row_counts()
    body = {"name": name, "description": description, "source": source, "kubeconfig_path": path, "context": context}
    if content is not None:
        body["kubeconfig"] = SimpleUploadedFile("config", content)

    response = approver_client.post(reverse("cluster-connect"), body)

    assert response.status_code in (302, 400), response.content[:500]
    event(f"answered {response.status_code}")
    if response.status_code == 400:
        assert row_counts() == before
        return
    assert row_counts() == (before[0] + 1, before[1] + 1, before[2] + 1)
    connection = ClusterConnection.objects.select_related("cluster").get(cluster__name=name.strip())
    if connection.kubeconfig_encrypted:
        assert credentials.decrypt(connection.kubeconfig_encrypted).encode() == content
        assert connection.context in {entry.get("name") for entry in yaml.safe_load(content)["contexts"]}
