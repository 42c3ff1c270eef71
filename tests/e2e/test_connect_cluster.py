"""An approver on a phone connects a second cluster from an uploaded kubeconfig, tests the connection
and is told it is ready; a kubeconfig without the chosen context is refused on the field. The pages
fit 390 px and axe finds no serious or critical violation."""

import pytest
from cryptography.fernet import Fernet

from provisioning.models import ClusterConnection
from tests.e2e.pages import scrolls_sideways
from tests.e2e.test_accessibility import axe_page, serious_violations  # noqa: F401  (axe_page: a fixture)
from tests.e2e.test_phone_width import PHONE
from tests.kube import K8S_VERSION, WORKER_CONTEXT

pytestmark = [pytest.mark.e2e, pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


def test_an_approver_connects_and_tests_a_cluster_on_a_phone(
    world,
    cluster,
    axe_page,  # noqa: F811
    live_server,
    settings,
    kubeconfig_path,
    screenshots,
) -> None:
    settings.CLUSTER_CREDENTIALS_KEY = [Fernet.generate_key().decode()]
    page = axe_page("approver")
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/cluster/")
    page.get_by_role("link", name="Connect a cluster").click()

    page.get_by_label("Name", exact=True).fill("gpu-phone")
    page.get_by_label("Upload a kubeconfig (stored encrypted, never shown again)").check()
    page.get_by_label("Kubeconfig file", exact=True).set_input_files(str(kubeconfig_path))
    page.get_by_label("Context", exact=True).fill("no-such-context")
    page.get_by_role("button", name="Connect the cluster").click()

    assert "The kubeconfig has no context 'no-such-context'" in page.locator("#id_context-error").inner_text()
    assert not scrolls_sideways(page)
    assert serious_violations(page) == []
    page.get_by_label("Kubeconfig file", exact=True).set_input_files(str(kubeconfig_path))
    page.get_by_label("Context", exact=True).fill(WORKER_CONTEXT)
    page.get_by_role("button", name="Connect the cluster").click()

    page.get_by_role("heading", name="Cluster gpu-phone").wait_for()
    assert "uploaded kubeconfig (stored encrypted)" in page.locator("main").inner_text()
    page.get_by_role("button", name="Test connection").click()
    verdict = page.locator("#connection-verdict")
    verdict.wait_for()
    assert verdict.inner_text().startswith("Ready: gpu-phone answers")
    assert K8S_VERSION in page.locator("#connection-check").inner_text()
    page.screenshot(path=screenshots / "width-390-approver-cluster-connection.png", full_page=True)
    assert not scrolls_sideways(page)
    assert serious_violations(page) == []
    assert ClusterConnection.objects.get(cluster__name="gpu-phone").context == WORKER_CONTEXT
