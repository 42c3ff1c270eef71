"""cluster/up.sh is idempotent and fast when the cluster is up, and stop.sh
stops exactly what up.sh started (checked on a second, throwaway control plane
that shares the built binaries but has its own state dir and ports)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from kubernetes import config
from kubernetes.client import VersionApi

from tests.control_plane import STOP, UP, ControlPlane, run_script
from tests.kube import K8S_VERSION, REPO_ROOT

pytestmark = pytest.mark.cluster

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


@pytest.fixture
def local_cluster(is_local_cluster: bool) -> Path:
    if not is_local_cluster:
        pytest.skip("KUBECONFIG names another cluster; these tests drive cluster/*.sh")
    return REPO_ROOT / ".cluster"


def pids(state_dir: Path) -> dict[str, int]:
    return {path.stem: int(path.read_text()) for path in sorted((state_dir / "run").glob("*.pid"))}


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains ``text``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(proc.name))
    return found


def test_up_twice_reuses_the_cache_and_the_running_processes(local_cluster: Path) -> None:
    before = pids(local_cluster)
    assert set(COMPONENTS) <= set(before)

    started = time.monotonic()
    result = run_script(UP, dict(os.environ), timeout=120)
    elapsed = time.monotonic() - started

    assert pids(local_cluster) == before
    for name in COMPONENTS:
        assert f"{name} already running (pid {before[name]})" in result.stderr
    assert "building" not in result.stderr
    assert f"export KUBECONFIG={local_cluster / 'kubeconfig'}" in result.stdout
    assert elapsed < 30


def test_a_second_control_plane_starts_and_stops_without_leftovers(tmp_path: Path, local_cluster: Path) -> None:
    # given a throwaway state dir and free ports, sharing the built binaries
    plane = ControlPlane.in_directory(tmp_path / "cluster")
    state_dir = plane.state_dir
    try:
        # when it is started
        plane.up()
        started = plane.pids()

        # then it answers on its own port with its own kubeconfig
        assert set(started) == set(COMPONENTS)
        client = config.new_client_from_config(config_file=str(plane.kubeconfig))
        try:
            assert client.configuration.host == f"https://127.0.0.1:{plane.apiserver_port}"
            assert VersionApi(client).get_code().git_version == K8S_VERSION
        finally:
            client.close()
        assert sorted(processes_mentioning(str(state_dir))) == sorted(started.values())

        # when it is stopped
        result = plane.stop()

        # then none of its processes is left, the shared cluster still runs, and a second stop is a no-op
        for name, pid in started.items():
            assert f"stopped {name} (pid {pid})" in result.stderr
        assert processes_mentioning(str(state_dir)) == []
        assert plane.pids() == {}
        assert all(Path(f"/proc/{pid}").exists() for pid in pids(local_cluster).values())
        assert plane.stop(timeout=30).stderr == ""
    finally:
        plane.tear_down()


def test_stop_leaves_alone_a_process_that_reused_a_recorded_pid(tmp_path: Path) -> None:
    # given a pid file whose pid now belongs to some other program
    state_dir = tmp_path / "cluster"
    (state_dir / "run").mkdir(parents=True)
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        (state_dir / "run" / "kube-apiserver.pid").write_text(str(stranger.pid))

        result = run_script(STOP, {**os.environ, "CLUSTER_STATE_DIR": str(state_dir)}, timeout=30)

        assert stranger.poll() is None
        assert "kube-apiserver not running (stale pid file removed)" in result.stderr
    finally:
        stranger.kill()
        stranger.wait()
