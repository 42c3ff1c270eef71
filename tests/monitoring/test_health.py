"""/healthz and /readyz as the kubelet calls them: by pod IP, over plain HTTP, without signing in."""

import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from django.conf import settings as django_settings

from monitoring.broker import describe
from tests.kube import REPO_ROOT, wait_until
from tests.monitoring.conftest import free_port

pytestmark = pytest.mark.django_db

POD = {"HTTP_HOST": "10.244.1.17:8000"}
SERVE = (
    "from wsgiref.simple_server import make_server; from portal.wsgi import application; "
    "make_server('127.0.0.1', {port}, application).serve_forever()"
)


@pytest.fixture
def production_http(settings) -> None:
    """What production enforces on every other page: its own host name, HTTPS only."""
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    settings.SECURE_SSL_REDIRECT = True


def lines(response) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in response.content.decode().splitlines())


def test_healthz_answers_a_probe_by_pod_ip_over_http_without_signing_in(client, production_http):
    response = client.get("/healthz", **POD)

    assert (response.status_code, response.content) == (200, b"ok\n")
    assert client.get("/", **POD).status_code == 400  # every other page still refuses an unknown host


@pytest.mark.cluster
def test_readyz_is_200_when_database_broker_and_cluster_answer(client, cluster, production_http):
    response = client.get("/readyz", **POD)

    assert response.status_code == 200, response.content
    assert lines(response) == {
        "Database(alias='default')": "OK",
        f"Broker({broker_description()})": "OK",
        "Cluster(local)": "OK",
    }


@pytest.mark.cluster
def test_readyz_is_503_naming_a_stopped_cluster_and_200_once_it_is_started_again(client, throwaway_cluster):
    """A real control plane, stopped and started with cluster/stop.sh and cluster/up.sh (never the shared one)."""
    plane, _ = throwaway_cluster

    up = client.get("/readyz", **POD)
    plane.stop()
    down = client.get("/readyz", **POD)
    plane.up()
    back = client.get("/readyz", **POD)

    assert (up.status_code, lines(up)["Cluster(throwaway)"]) == (200, "OK")
    assert down.status_code == 503
    assert lines(down)["Cluster(throwaway)"].startswith("Unavailable: The API server did not answer")
    assert lines(down)["Database(alias='default')"] == "OK"
    assert (back.status_code, lines(back)["Cluster(throwaway)"]) == (200, "OK")


@pytest.mark.cluster
def test_readyz_gives_a_hung_api_server_only_its_timeout(client, proxy, settings):
    settings.READINESS_TIMEOUT_SECONDS = 1
    forwarder, _ = proxy
    forwarder.hang()

    response = client.get("/readyz", **POD)

    assert response.status_code == 503
    assert "timed out" in lines(response)["Cluster(proxied)"].lower()


def test_readyz_is_503_naming_the_broker_when_it_is_unreachable(client, cluster, settings, closed_port):
    settings.CELERY_BROKER_URL = f"redis://:broker-password@127.0.0.1:{closed_port}/6"

    response = client.get("/readyz", HTTP_ACCEPT="application/json", **POD)

    broker = response.json()[f"Broker(redis://127.0.0.1:{closed_port})"]
    assert response.status_code == 503
    assert broker.startswith(f"Unavailable: redis://127.0.0.1:{closed_port}: OperationalError")
    assert "broker-password" not in response.content.decode()


def test_readyz_is_503_naming_the_database_while_healthz_stays_200(tmp_path, closed_port):
    """A portal process whose PostgreSQL is gone: alive (no restart would help) but not ready."""
    port = free_port()
    environment = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed_port}/gone",
        "PORTAL_DATA_DIR": str(tmp_path),
    }
    server = subprocess.Popen(
        # The WSGI application itself: runserver would refuse to start without its database.
        [sys.executable, "-c", SERVE.format(port=port)],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        healthz = wait_until(lambda: _get(port, "/healthz"), timeout=30, what="the portal to answer")
        status, body = _get(port, "/readyz")
    finally:
        server.terminate()
        server.wait(timeout=10)

    assert healthz == (200, "ok\n")
    assert status == 503
    assert lines_of(body)["Database(alias='default')"].startswith("Unavailable: connection failed")


def broker_description() -> str:
    return describe(django_settings.CELERY_BROKER_URL)


def lines_of(body: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in body.splitlines())


def _get(port: int, path: str) -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return None
