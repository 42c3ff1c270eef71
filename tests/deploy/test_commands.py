"""Every command the image and the manifests name starts from this checkout, with production's settings.

The commands are read from the Dockerfile (its CMD and its collectstatic step) and from the rendered
production overlay (container commands, init containers, probes), so a renamed module or a mistyped
option fails here rather than in a rollout. Each runs as the image runs it: the virtualenv first on PATH,
the repository as the working directory, the production ConfigMap's settings as the environment, plus
what the operator's Secret holds (a fresh database, a Redis broker of this test's own) and, where a
pod's path would be shared with other tests on this machine, a directory of the test's own.
"""

import http.client
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis
from django.core.management.utils import get_random_secret_key

from tests.deploy.conftest import render_overlay
from tests.kube import REPO_ROOT, wait_until

DOCKERFILE = REPO_ROOT / "Dockerfile"
#: The broker of these tests: Redis, as in production, whose broadcast answers the worker's liveness ping
#: (the embedded SQLite broker has none). Its own database number, apart from the suite's broker.
BROKER_URL = os.environ.get("DEPLOY_TEST_BROKER_URL", "redis://127.0.0.1:6379/5")
#: A user agent a format-string access log would turn into invalid JSON.
AWKWARD_AGENT = 'probe "quoted" \\ backslash'


def dockerfile_cmd() -> list[str]:
    (line,) = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD ")]
    return json.loads(line.removeprefix("CMD "))


def dockerfile_step(marker: str) -> str:
    """The shell command of the RUN step (continued lines joined) whose first command contains `marker`."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    (step,) = [line.removeprefix("RUN ") for line in text.splitlines() if line.startswith("RUN ") and marker in line]
    return step.split("&&")[0].strip()


@dataclass
class Workloads:
    """The production overlay's containers, by name, and the settings of its ConfigMap."""

    containers: dict[str, dict]
    settings: dict[str, str]


@pytest.fixture(scope="module")
def production(kustomize: Path, tmp_path_factory: pytest.TempPathFactory) -> Workloads:
    documents = render_overlay(kustomize, tmp_path_factory.mktemp("render"), "production")
    containers = {}
    for document in documents:
        if document["kind"] in ("Deployment", "Job"):
            spec = document["spec"]["template"]["spec"]
            for container in spec.get("initContainers", []) + spec["containers"]:
                containers[f"{document['metadata']['name']}/{container['name']}"] = container
    (config_map,) = [document for document in documents if document["kind"] == "ConfigMap"]
    return Workloads(containers=containers, settings=config_map["data"])


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database no other test uses, on the engine the suite runs on (PostgreSQL in CI)."""
    suite_url = os.environ.get("DATABASE_URL", "")
    if not suite_url.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{tmp_path_factory.mktemp('database') / 'portal.sqlite3'}"
        return
    name = f"gpq_deploy_{uuid.uuid4().hex[:8]}"
    server = urlunsplit(urlsplit(suite_url)._replace(path="/postgres"))
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(suite_url)._replace(path=f"/{name}"))
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    client = redis.Redis.from_url(BROKER_URL)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(f"no Redis at {BROKER_URL} ({error}); start it (.ci/run does) or set DEPLOY_TEST_BROKER_URL")
    client.flushdb()
    yield BROKER_URL
    client.flushdb()
    client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def pod_environment(
    production: Workloads, database_url: str, broker: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """What a container of the production overlay sees, on this machine."""
    scratch = tmp_path_factory.mktemp("pod")
    # The test run's own settings and DEBUG must not leak in (but its cluster, which /readyz checks); the
    # venv's tools come first, as in the image.
    inherited = {
        key: value
        for key, value in os.environ.items()
        if key in ("HOME", "KUBECONFIG", "LANG", "PATH", "TMPDIR") or key.startswith("LC_")
    }
    return {
        **inherited,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        **production.settings,
        "SECRET_KEY": get_random_secret_key(),
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "PORTAL_DATA_DIR": str(scratch / "var"),
        "CELERY_BEAT_SCHEDULE_FILE": str(scratch / "celerybeat-schedule"),
        "HOSTNAME": socket.gethostname(),
    }


def run(command: list[str], environment: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass
class Release:
    """What a release runs before the new pods start, and what their init containers saw around it."""

    waiting_before: subprocess.CompletedProcess
    migrate: subprocess.CompletedProcess
    waiting_after: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def release(production: Workloads, pod_environment: dict[str, str]) -> Release:
    """The image's collectstatic step, then the migrate Job's command, with the init containers' check around."""
    collect = run(["sh", "-c", dockerfile_step("collectstatic")], pod_environment)
    assert collect.returncode == 0, collect.stderr
    waiting = production.containers["gpu-portal-web/wait-for-migrations"]["command"]
    waiting_before = run(waiting, pod_environment)
    migrate = run(production.containers["gpu-portal-migrate/migrate"]["command"], pod_environment)
    assert migrate.returncode == 0, migrate.stderr
    return Release(waiting_before=waiting_before, migrate=migrate, waiting_after=run(waiting, pod_environment))


def test_the_init_containers_wait_until_the_migrate_job_has_run(production: Workloads, release: Release) -> None:
    waiting = production.containers["gpu-portal-web/wait-for-migrations"]["command"]

    assert production.containers["gpu-portal-worker/wait-for-migrations"]["command"] == waiting
    assert release.waiting_before.returncode == 1, release.waiting_before.stderr
    assert "Applying teams.0001_initial... OK" in release.migrate.stdout
    assert release.waiting_after.returncode == 0, release.waiting_after.stderr


class Started:
    """A long-running command, its output in a file; stopped with SIGTERM as the kubelet stops a pod."""

    def __init__(self, command: list[str], environment: dict[str, str], log: Path) -> None:
        self.log = log
        self.output = log.open("w")
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=environment, stdout=self.output, stderr=subprocess.STDOUT
        )

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, pattern: str, timeout: float = 90) -> None:
        def seen() -> bool:
            assert self.process.poll() is None, f"exited {self.process.returncode}:\n{self.text()[-3000:]}"
            return re.search(pattern, self.text()) is not None

        wait_until(seen, timeout=timeout, what=f"{pattern!r} in {self.log.name}")

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.output.close()


def get(port: int, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_the_images_default_command_serves_the_portal_and_logs_json(
    production: Workloads, pod_environment: dict[str, str], release: Release, tmp_path: Path
) -> None:
    port = free_port()
    container = production.containers["gpu-portal-web/web"]
    probe_paths = {container[probe]["httpGet"]["path"] for probe in ("startupProbe", "livenessProbe", "readinessProbe")}
    # What the Ingress sends: the portal's host name, and that the client used HTTPS.
    ingress = {"Host": production.settings["ALLOWED_HOSTS"].split(",")[0], "X-Forwarded-Proto": "https"}
    web = Started(dockerfile_cmd(), {**pod_environment, "WEB_BIND": f"127.0.0.1:{port}"}, tmp_path / "web.log")
    try:
        wait_until(lambda: answers(port), timeout=90, what="gunicorn to listen")
        # The kubelet asks by the pod's address, over plain HTTP.
        probes = {path: get(port, path, {}).status for path in sorted(probe_paths)}
        sign_in = get(port, "/accounts/login/", {**ingress, "User-Agent": AWKWARD_AGENT})
        stylesheet = get(port, "/static/portal/portal.css", ingress)
        by_pod_address = get(port, "/accounts/login/", {})
    finally:
        exit_code = web.stop()

    assert probes == {"/healthz": 200, "/readyz": 200}
    assert (sign_in.status, stylesheet.status) == (200, 200)
    assert stylesheet.getheader("Content-Type").startswith("text/css")
    assert by_pod_address.status == 400  # production's host check holds for everything but the probes
    assert exit_code == 0, web.text()[-3000:]
    logged = [json.loads(line) for line in web.text().splitlines() if line.startswith("{")]
    access = [entry for entry in logged if entry.get("logger") == "gunicorn.access"]  # beside the portal's own lines
    (line,) = [entry for entry in access if entry["user_agent"] == AWKWARD_AGENT]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/accounts/login/", 200)
    assert (line["logger"], line["remote_addr"]) == ("gunicorn.access", "127.0.0.1")
    assert line["bytes"] > 0
    assert len(access) == len(probe_paths) + 3


@pytest.mark.worker
def test_the_worker_starts_and_answers_its_liveness_probe(
    production: Workloads, pod_environment: dict[str, str], release: Release, tmp_path: Path
) -> None:
    container = production.containers["gpu-portal-worker/worker"]
    worker = Started(container["command"], pod_environment, tmp_path / "worker.log")
    try:
        worker.wait_for(r"celery@\S+ ready\.")
        probe = run(container["livenessProbe"]["exec"]["command"], pod_environment, timeout=60)
    finally:
        exit_code = worker.stop()

    assert probe.returncode == 0, probe.stdout + probe.stderr
    assert f"celery@{socket.gethostname()}: OK" in probe.stdout
    assert exit_code == 0, worker.text()[-3000:]


def test_the_liveness_probe_fails_without_the_worker(production: Workloads, pod_environment: dict[str, str]) -> None:
    probe = run(production.containers["gpu-portal-worker/worker"]["livenessProbe"]["exec"]["command"], pod_environment)

    assert probe.returncode != 0
    assert "No nodes replied" in probe.stdout + probe.stderr


def test_beat_starts_with_its_schedule_where_the_settings_say(
    production: Workloads, pod_environment: dict[str, str], release: Release, tmp_path: Path
) -> None:
    schedule = Path(pod_environment["CELERY_BEAT_SCHEDULE_FILE"])
    beat = Started(production.containers["gpu-portal-beat/beat"]["command"], pod_environment, tmp_path / "beat.log")
    try:
        beat.wait_for(r"beat: Starting\.\.\.")
        wait_until(lambda: list(schedule.parent.glob(f"{schedule.name}*")), timeout=30, what="the schedule file")
    finally:
        exit_code = beat.stop()

    assert exit_code == 0, beat.text()[-3000:]
    assert f"db -> {schedule}" in beat.text()


def test_production_settings_pass_djangos_deployment_checks(pod_environment: dict[str, str]) -> None:
    check = run(["python", "manage.py", "check", "--deploy", "--fail-level=WARNING"], pod_environment)

    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "System check identified no issues (0 silenced)."


def test_make_serve_runs_what_the_pods_run(production: Workloads) -> None:
    """`make serve` (Procfile.serve) starts the same commands from the virtualenv."""
    lines = (REPO_ROOT / "Procfile.serve").read_text().splitlines()
    processes = {name: shlex.split(command) for name, command in (line.split(": ", 1) for line in lines)}

    assert {name: [Path(argv[0]).name, *argv[1:]] for name, argv in processes.items()} == {
        "web": dockerfile_cmd(),
        "worker": production.containers["gpu-portal-worker/worker"]["command"],
        "beat": production.containers["gpu-portal-beat/beat"]["command"],
    }
    assert {Path(argv[0]).parent for argv in processes.values()} == {Path(".venv/bin")}
