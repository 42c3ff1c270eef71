"""One approval followed through the JSON logs of a real web server and a real worker by its request id."""

import json
import socket
import uuid

import pytest
import requests

from accounts.actions import create_api_token
from portal.celery import app as celery_app
from teams.models import Request
from tests.kube import wait_until
from tests.requests import ask_for_namespace
from tests.worker import web_process, worker_process

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.cluster, pytest.mark.worker]

#: Production's format (LOG_FORMAT's default without DEBUG), and retries a second apart.
ENVIRONMENT = {
    "LOG_FORMAT": "json",
    "PROVISIONING_RETRY_BACKOFF_SECONDS": "1",
    "PROVISIONING_RETRY_BACKOFF_MAX_SECONDS": "2",
}


def json_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_an_approval_is_followed_by_its_request_id_from_the_click_to_the_api_servers_answer(
    world, proxy, unique_name, tmp_path
):
    forwarder, _ = proxy
    request = ask_for_namespace(world, unique_name("traced"))
    _, key = create_api_token(user=world.approver, name="trace", read_only=False, expires_at=None)
    trace = f"trace-{uuid.uuid4().hex}"
    port = _free_port()
    web_log, worker_log = tmp_path / "web.log", tmp_path / "worker.log"
    celery_app.control.purge()
    forwarder.refuse()  # the first attempt meets an outage: its retry line must name the request and the error

    with web_process(web_log, port, **ENVIRONMENT), worker_process(worker_log, **ENVIRONMENT):
        response = requests.post(
            f"http://127.0.0.1:{port}/api/v1/requests/{request.pk}/approve/",
            json={},
            headers={"Authorization": f"Bearer {key}", "X-Request-ID": trace},
            timeout=30,
        )
        wait_until(
            lambda: any(line["message"] == "request.retrying" for line in json_lines(worker_log)),
            timeout=60,
            what="the worker to retry",
        )
        forwarder.forward()
        wait_until(
            lambda: Request.objects.get(pk=request.pk).state == Request.State.APPLIED,
            timeout=60,
            what="the request to be applied",
        )
        wait_until(
            lambda: any(line["message"] == "request.applied" for line in json_lines(worker_log)),
            timeout=10,
            what="the worker's applied line",
        )

    web = [line for line in json_lines(web_log) if line.get("request_id") == trace]
    worker = [line for line in json_lines(worker_log) if line.get("request_id") == trace]
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == trace
    approved = next(line for line in web if line["message"] == "request.approved")
    assert (approved["level"], approved["logger"], approved["user"], approved["portal_request_id"]) == (
        "INFO",
        "teams.workflow",
        "approver",
        request.pk,
    )
    assert approved["time"].endswith("+00:00")
    # The apply, and the notifications of what it did, which the approval's events sent on with its id.
    applying = [line for line in worker if line.get("task") == "provisioning.apply_request"]
    told = [line for line in worker if line.get("task", "").startswith("notifications.")]
    assert [line["message"] for line in applying if not line["logger"].startswith("celery.")] == [
        "request.applying",
        "request.retrying",
        "cluster.applied",
        "namespace.applied",
        "request.applied",
    ]
    assert len(applying) + len(told) == len(worker), worker  # nothing else carries the approval's id
    retrying = next(line for line in worker if line["message"] == "request.retrying")
    assert retrying["level"] == "WARNING"
    assert retrying["error"].startswith("The API server did not answer")
    for line in applying:
        assert line["portal_request_id"] == request.pk
        assert line["task_id"]
    assert {line["message"] for line in json_lines(worker_log) if line.get("portal_request_id") == request.pk} <= {
        line["message"] for line in worker
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
