"""The README's screenshots, taken in Debian's chromium from a demo that ran long enough to show real usage.

`make screenshots` starts a demo of its own (the Procfile: web, worker, beat and the simulated
workloads, on the local cluster) on a free port with its own SQLite database and broker under
var/screenshots-demo/, waits until the simulated jobs have run for a few minutes and the lead's
dashboard shows GPUs in use, then visits the pages as the seed's users would and stops the demo.
`--url` takes them from a demo that is already running instead (one request is sent there: the
form's and the queue's subject).
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
DESKTOP = {"width": 1280, "height": 900}
PASSWORD = os.environ.get("DEMO_PASSWORD", "gpu-portal-demo")
#: The seed's namespaces: the demo's workloads go there only, never into others' namespaces on a shared cluster.
SEED_NAMESPACES = ["ml-research", "ml-production", "ml-experiments"]
GPU = "requests.nvidia.com/gpu"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running demo's address; without it, a demo of its own is started")
    parser.add_argument(
        "--warm-up", type=int, default=300, help="seconds the simulated workloads run before the first screenshot"
    )
    parser.add_argument("--port", type=int, default=0, help="port of the demo started here (default: a free one)")
    options = parser.parse_args()
    if not shutil.which(CHROMIUM):
        sys.exit(f"no chromium at {CHROMIUM}: `make browser` installs Debian's chromium package")
    if options.url:
        take(options.url.rstrip("/"), warm_up=0)
        return 0
    with demo(options.port or free_port()) as url:
        take(url, warm_up=options.warm_up)
    return 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def demo(port: int) -> Iterator[str]:
    """`make demo`'s steps on a database and broker of its own, stopped (its process group) on the way out."""
    data = ROOT / "var" / "screenshots-demo"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    env = {
        **os.environ,
        "DEBUG": "1",
        "PORTAL_DATA_DIR": str(data),
        "DATABASE_URL": f"sqlite:///{data / 'portal.sqlite3'}",
        "CELERY_BROKER_URL": f"sqla+sqlite:///{data / 'celery-broker.sqlite3'}",
        "DEMO_WORKLOAD_ARGS": " ".join(f"--workload-namespace {name}" for name in SEED_NAMESPACES),
    }
    for step in (
        ["migrate", "--no-input"],
        ["seed_demo"],
        ["seed_demo_history"],
        ["apply_namespace", *SEED_NAMESPACES],
    ):
        subprocess.run([PYTHON, "manage.py", *step], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    log = (data / "demo.log").open("w")
    honcho = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "honcho"), "start", "-f", "Procfile", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    print(f"demo on {url} (log: {data / 'demo.log'})", flush=True)
    try:
        wait_for(lambda: answers(f"{url}/accounts/login/"), "the demo's web server", timeout=120)
        yield url
    finally:
        os.killpg(honcho.pid, signal.SIGTERM)
        honcho.wait(timeout=60)
        log.close()
        remove_workloads()


def remove_workloads() -> None:
    """Delete what the demo's workload stream started, so the GPUs it held are free for whatever runs next."""
    kubeconfig = os.environ.get("KUBECONFIG") or str(ROOT / ".cluster" / "kubeconfig")
    kubectl = [str(ROOT / ".venv" / "bin" / "kubectl"), "--kubeconfig", kubeconfig, "--context", "gpu-portal-admin"]
    for namespace in SEED_NAMESPACES:
        subprocess.run(
            [*kubectl, "delete", "deployments,jobs,pods", "-n", namespace, "-l", "sim.gpu-portal/generated=true"],
            check=False,
            stdout=subprocess.DEVNULL,
            timeout=120,
        )


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def wait_for(condition, what: str, *, timeout: float, every: float = 2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def take(url: str, *, warm_up: int) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        lead = signed_in(browser, url, "research-lead")
        if warm_up:
            print(f"letting the simulated workloads run for {warm_up} s", flush=True)
            time.sleep(warm_up)
        wait_for(lambda: gpus_in_use(lead, url), "GPUs in use on research-lead's dashboard", timeout=600, every=15)

        shoot(lead, f"{url}/teams/", "dashboard")
        shoot(lead, f"{url}/namespaces/ml-research/", "namespace")

        lead.goto(f"{url}/requests/new/change_quota/?namespace=ml-research")
        gpus = lead.locator(f'[name="quota|0|{GPU}"]')
        gpus.fill(str(int(gpus.input_value()) + 8))
        lead.get_by_label("Justification").fill("ICML deadline: 8 more GPUs for three weeks of ablations.")
        lead.locator("tr.changed", has_text=GPU).wait_for()
        lead.locator("#yaml-preview pre").first.wait_for()
        shoot(lead, None, "request-form")
        lead.get_by_role("button", name="Send to the approvers").click()
        lead.wait_for_url("**/requests/*/")
        request_id = lead.url.rstrip("/").rsplit("/", 1)[1]

        approver = signed_in(browser, url, "approver")
        approver.goto(f"{url}/queue/")
        approver.locator(f"#request-{request_id} .dry-run", has_text="Dry run").wait_for()
        approver.locator(f"#request-{request_id} .evidence figure").first.wait_for()
        shoot(approver, None, "approval-queue")

        finance = signed_in(browser, url, "finance")
        shoot(finance, f"{url}/chargeback/", "chargeback")
        browser.close()


def signed_in(browser: Browser, url: str, username: str) -> Page:
    page = browser.new_context(viewport=DESKTOP).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{url}/accounts/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return page


def gpus_in_use(page: Page, url: str) -> bool:
    """Whether a GPU row of the lead's dashboard shows a used number above 0 (synced, not unknown)."""
    page.goto(f"{url}/teams/")
    used = page.locator(".usage tr", has_text=GPU).locator("td:nth-child(2)").all_inner_texts()
    return any(re.fullmatch(r"[1-9]\d*", cell.strip()) for cell in used)


def shoot(page: Page, address: str | None, name: str) -> None:
    if address:
        page.goto(address)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=OUT / f"{name}.png", full_page=True)
    print(f"{OUT / name}.png", flush=True)


if __name__ == "__main__":
    sys.exit(main())
