"""Load: 50 people at once on gunicorn with the production settings, against a world of 10,000 namespaces.

In a scratch PostgreSQL database it seeds, in bulk, `--teams` teams (a lead and a member
each, one pending quota request each), approvers, finance users, `--small` namespaces and
a year of daily usage rollups (plus today's hourly ones); it counts the SQL statements of
each page in-process (Django's test client), grows the world to `--namespaces` namespaces
with their rollups and counts again: a page whose count moves with the number of namespaces
runs a query per row. Then it starts gunicorn (DEBUG off, static files collected and served
by WhiteNoise, as in production) and `--users` simulated people in locust's headless mode:
team leads and members (dashboard, namespace page, the usage charts in view, the request
form with its live policy check and YAML preview), approvers (the queue and the evidence of
its first rows) and finance (chargeback JSON and CSV through the API with a token). It
prints requests per second and p50/p95/p99 per page, and each page's p95 against that of a
static file served by the same gunicorn in the same run (the floor). No cluster is
involved: the pages read what the database holds.
"""

import argparse
import cProfile
import json
import os
import pstats
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import import_module
from pathlib import Path

import redis
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils.crypto import get_random_string

from accounts.actions import create_api_token
from chargeback.models import METRICS, DailyUsage, HourlyUsage, RollupState
from chargeback.rollups import floor_month, sum_months
from portal.celery import app as celery_app
from teams import workflow
from teams.capacity import CapacityTotals
from teams.constants import APPROVERS_GROUP, FINANCE_GROUP, GUARANTEED_GPU_KEY
from teams.demo import seed_demo
from teams.forms import build_form
from teams.models import CostCenter, Membership, Request, Team, TeamNamespace
from tests.bench._database import scratch_database
from tests.bench._report import heading, median, percentile, table
from tests.clusters import connect

ROOT = Path(__file__).resolve().parents[2]
USERS_FILE = Path(__file__).with_name("_load_users.py")
STATIC_PATH = "/static/portal/portal.css"
TEAMS_PER_COST_CENTER = 5
PLATFORM_USERS = 5  # approvers, and as many finance users
SESSION_BACKEND = "django.contrib.auth.backends.ModelBackend"
#: Pages in the order of the tables; the names the locustfile gives its requests.
PAGES = [
    "dashboard",
    "namespace page",
    "usage chart (htmx)",
    "request form",
    "policy check (htmx)",
    "YAML preview (htmx)",
    "approval queue",
    "queue evidence (htmx)",
    "chargeback API (JSON)",
    "chargeback API (CSV)",
    "static file (floor)",
]
FLOOR = PAGES[-1]
ALONE_ROUNDS = 4


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench --only load", description=__doc__.split("\n")[0])
    parser.add_argument("--namespaces", type=int, default=10_000, help="namespaces under load (default 10,000)")
    parser.add_argument("--small", type=int, default=1_000, help="namespaces of the first SQL count (default 1,000)")
    parser.add_argument("--teams", type=int, default=200, help="teams (default 200)")
    parser.add_argument("--users", type=int, default=50, help="simulated people at once (default 50)")
    parser.add_argument("--spawn-rate", type=float, default=10, help="people started per second (default 10)")
    parser.add_argument("--run-time", type=int, default=60, help="seconds measured once all run (default 60)")
    parser.add_argument("--warm-up", type=int, default=15, help="seconds not measured after the ramp-up (default 15)")
    parser.add_argument("--think", default="2,8", help="seconds a person reads before the next action (default 2,8)")
    # The image's defaults (WEB_CONCURRENCY, WEB_THREADS, DATABASE_CONN_MAX_AGE in deploy/), given here as options.
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn process, gthread (default 4)")
    parser.add_argument(
        "--conn-max-age", type=int, default=60, help="the server's DATABASE_CONN_MAX_AGE (default 60; 0: per request)"
    )
    options, _ = parser.parse_known_args(argv)
    if options.namespaces < options.small:
        parser.error("--namespaces must be at least --small")

    with scratch_database("load") as database_url:
        seeding: dict[str, float] = {}
        world = World(today=datetime.now(UTC).date())
        with timed(seeding, "seed_demo, teams, users, memberships"):
            seed_demo()
            world.seed_people(options.teams)
        with timed(seeding, f"{options.small:,} namespaces"):
            world.grow_to(options.small)
        with timed(seeding, f"{options.teams} pending requests (workflow.submit_request)"), own_queue():
            world.submit_pending_requests()
        with timed(seeding, f"a year of rollups for {options.small:,} namespaces (INSERT ... SELECT)"):
            world.write_rollups()
        world.settle()
        costs = {options.small: world.count_queries()}

        with timed(seeding, f"{options.namespaces - options.small:,} more namespaces"):
            world.grow_to(options.namespaces)
        with timed(seeding, f"a year of rollups for {options.namespaces - options.small:,} more (INSERT ... SELECT)"):
            world.write_rollups()
        with timed(seeding, "VACUUM ANALYZE"):
            world.settle()
        costs[options.namespaces] = world.count_queries()
        print_seeding(seeding, world)

        plan = world.plan(think=[float(part) for part in options.think.split(",")])
        with tempfile.TemporaryDirectory(prefix="bench-load-") as directory:
            scratch = Path(directory)
            with gunicorn(database_url, scratch, options) as base_url:
                result = run_locust(base_url, plan, scratch, options)
    print_results(result, costs, options)


@contextmanager
def timed(figures: dict[str, float], label: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    figures[label] = time.perf_counter() - started
    print(f"  seeded: {label}: {figures[label]:.1f} s", flush=True)


@contextmanager
def own_queue() -> Iterator[None]:
    """The tasks the workflow sends (notifications) go to a queue of this run's own, deleted after: no worker runs."""
    queue, default_queue = f"bench-load-{uuid.uuid4().hex[:6]}", celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    try:
        yield
    finally:
        celery_app.conf.task_default_queue = default_queue
        url = celery_app.conf.broker_url
        if url.startswith(("redis://", "rediss://")):  # the queue's messages, and kombu's binding of it
            with redis.Redis.from_url(url) as broker:
                broker.delete(queue, f"_kombu.binding.{queue}")


# The world.


@dataclass
class Costs:
    """Per page: SQL statements, median time alone (ms; the first of the rounds fills caches and is not
    counted), the htmx fragments its HTML makes the browser request as soon as it is loaded, and the
    Python function calls of one request: the same on a busy machine as on a quiet one."""

    queries: dict[str, int]
    calls: dict[str, int]
    alone: dict[str, float]
    on_load: dict[str, int]
    #: The queue's CapacityTotals() alone (ms): every live namespace's tier and quotas, read and summed.
    capacity: float


@dataclass
class World:
    """The seeded people and namespaces, and what the simulated people need to act as them."""

    today: date
    teams: list[Team] = field(default_factory=list)
    leads: list = field(default_factory=list)
    members: list = field(default_factory=list)
    approvers: list = field(default_factory=list)
    finance: list = field(default_factory=list)
    shapes: list[TeamNamespace] = field(default_factory=list)
    namespaces: list[TeamNamespace] = field(default_factory=list)
    rolled_up: int = 0  # namespaces[:rolled_up] have their rollups
    rows_written: int = 0

    def seed_people(self, team_count: int) -> None:
        """Cost centers, teams, a lead and a member per team, approvers and finance, in bulk."""
        tiers = {namespace.tier.slug: namespace.tier for namespace in TeamNamespace.objects.select_related("tier")}
        self.shapes = list(TeamNamespace.objects.select_related("tier").order_by("name"))
        centers = CostCenter.objects.bulk_create(
            [
                CostCenter(code=f"cc-{index:03d}", name=f"Cost center {index}")
                for index in range(max(1, team_count // TEAMS_PER_COST_CENTER))
            ]
        )
        tier_list = list(tiers.values())
        self.teams = Team.objects.bulk_create(
            [
                Team(
                    slug=f"team-{index:03d}",
                    name=f"Team {index}",
                    cost_center=centers[index % len(centers)],
                    default_tier=tier_list[index % len(tier_list)],
                )
                for index in range(team_count)
            ]
        )
        user_model = get_user_model()

        def users(prefix: str, count: int, **values) -> list:
            # No password: the simulated people come with a session or a token, never through the form.
            made = [user_model(username=f"{prefix}-{index:03d}", password="!", **values) for index in range(count)]
            return user_model.objects.bulk_create(made)

        self.leads = users("lead", team_count)
        self.members = users("member", team_count)
        self.approvers = users("approver", PLATFORM_USERS, is_staff=True)
        self.finance = users("finance", PLATFORM_USERS)
        Membership.objects.bulk_create(
            [Membership(user=lead, team=team, role="lead") for lead, team in zip(self.leads, self.teams, strict=True)]
            + [
                Membership(user=member, team=team, role="member")
                for member, team in zip(self.members, self.teams, strict=True)
            ]
        )
        in_group = user_model.groups.through
        approvers, finance = Group.objects.get(name=APPROVERS_GROUP), Group.objects.get(name=FINANCE_GROUP)
        in_group.objects.bulk_create(
            [in_group(user=user, group=approvers) for user in self.approvers]
            + [in_group(user=user, group=finance) for user in self.finance]
        )
        self.cluster = connect("default", is_default=True, gpu_capacity=100_000, capacity_synced_at=datetime.now(UTC))

    def grow_to(self, size: int) -> None:
        """Namespaces in the shapes of the seed's three, spread over the teams, as a sync leaves them."""
        now = datetime.now(UTC)
        made = []
        for index in range(len(self.namespaces), size):
            team = self.teams[index % len(self.teams)]
            shape = self.shapes[(index // len(self.teams)) % len(self.shapes)]
            observed = {}
            for quota in shape.quotas:
                used = {key: "0" for key in quota["hard"]}
                if GUARANTEED_GPU_KEY in quota["hard"]:
                    used[GUARANTEED_GPU_KEY] = str(index % (int(quota["hard"][GUARANTEED_GPU_KEY]) + 1))
                observed[quota["name"]] = {"hard": dict(quota["hard"]), "used": used}
            made.append(
                TeamNamespace(
                    name=f"{team.slug}-ns-{index // len(self.teams):03d}",
                    cluster=self.cluster,
                    team=team,
                    tier=shape.tier,
                    labels=dict(shape.labels),
                    quotas=shape.quotas,
                    limit_range=shape.limit_range,
                    guaranteed_gpus=shape.guaranteed_gpus,
                    phase=TeamNamespace.Phase.ACTIVE,
                    observed_quotas=observed,
                    last_applied_at=now,
                    last_synced_at=now,
                )
            )
        self.namespaces += TeamNamespace.objects.bulk_create(made, batch_size=2000)

    def submit_pending_requests(self) -> None:
        """One GPU quota increase per team, through the workflow: what approvers find in their queue."""
        for lead, team in zip(self.leads, self.teams, strict=True):
            namespace = next(namespace for namespace in self.namespaces if namespace.team_id == team.pk)
            quotas = [dict(quota, hard=dict(quota["hard"])) for quota in namespace.quotas]
            quotas[0]["hard"][GUARANTEED_GPU_KEY] = str(int(quotas[0]["hard"][GUARANTEED_GPU_KEY]) + 1)
            workflow.submit_request(
                actor=lead,
                team=team,
                kind=Request.Kind.CHANGE_QUOTA,
                namespace=namespace,
                proposed={"quotas": quotas},
                justification="Benchmark: one more GPU for the next training run.",
            )

    def write_rollups(self) -> None:
        """A year of daily rollups and today's hourly ones for the namespaces without any yet, and the
        monthly rollup of every complete month, as the beat task leaves them.

        PostgreSQL makes the daily and hourly rows itself (INSERT ... SELECT over generate_series):
        a row of 24 columns per namespace and day costs no round trip and no Python.
        """
        new_ids = [namespace.pk for namespace in self.namespaces[self.rolled_up :]]
        midnight = datetime.combine(self.today, datetime.min.time(), tzinfo=UTC)
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        daily = "SELECT %(today)s::date - n AS day, n AS moment, 86400 AS seconds FROM generate_series(1, 365) AS n"
        hourly = (
            "SELECT moment::date AS day, moment AS hour, extract(hour FROM moment)::int AS moment, 3600 AS seconds "
            "FROM generate_series(%(midnight)s::timestamptz, %(hour)s::timestamptz - interval '1 hour', "
            "interval '1 hour') AS moment"
        )
        parameters = {"today": self.today, "midnight": midnight, "hour": hour, "ids": new_ids}
        self.rows_written += _insert_rollups(DailyUsage._meta.db_table, daily, [], parameters)
        self.rows_written += _insert_rollups(HourlyUsage._meta.db_table, hourly, ["hour"], parameters)
        RollupState.objects.update_or_create(name=RollupState.DAILY, defaults={"complete_until": midnight})
        RollupState.objects.update_or_create(name=RollupState.HOURLY, defaults={"complete_until": hour})
        this_month = floor_month(midnight)
        self.rows_written += sum_months(floor_month(midnight - timedelta(days=365)), this_month)
        RollupState.objects.update_or_create(name=RollupState.MONTHLY, defaults={"complete_until": this_month})
        self.rolled_up = len(self.namespaces)

    def settle(self) -> None:
        """Fresh statistics, as autovacuum keeps them in service."""
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")

    # What the pages cost in SQL.

    def count_queries(self) -> "Costs":
        """What each page costs, for the first lead, approver and finance user, served alone in this process."""
        lead, team = self.leads[0], self.teams[0]
        form = self.forms(team)[0]
        name = form["namespace"]
        fields = {**form["fields"], form["gpu_field"]: "12", "justification": "More GPUs."}
        token = self.token(self.finance[0])
        first_pending = Request.objects.filter(state=Request.State.PENDING).order_by("created_at", "pk").first()
        htmx = {"HTTP_HX_REQUEST": "true"}
        requests = {
            "dashboard": (lead, "get", "/teams/", {}),
            "namespace page": (lead, "get", f"{self.namespace_prefix}{name}/", {}),
            "usage chart (htmx)": (lead, "get", f"{self.namespace_prefix}{name}/chart/?range=24h", htmx),
            "request form": (lead, "get", f"/requests/new/change_quota/?namespace={name}", {}),
            "policy check (htmx)": (lead, "post", "/requests/new/change_quota/validate/", {"data": fields, **htmx}),
            "YAML preview (htmx)": (lead, "post", "/requests/preview/change_quota/", {"data": fields, **htmx}),
            "approval queue": (self.approvers[0], "get", "/queue/", {}),
            "queue evidence (htmx)": (self.approvers[0], "get", f"/requests/{first_pending.pk}/evidence/", htmx),
            "chargeback API (JSON)": (None, "get", self.chargeback_url("json"), {"HTTP_AUTHORIZATION": token}),
            "chargeback API (CSV)": (None, "get", self.chargeback_url("csv"), {"HTTP_AUTHORIZATION": token}),
        }
        counts, alone, on_load, calls = {}, {}, {}, {}
        for page, (user, method, path, extra) in requests.items():
            client = Client(HTTP_HOST="localhost")
            if user is not None:
                client.force_login(user, backend=SESSION_BACKEND)
            times = []
            for _ in range(ALONE_ROUNDS):
                started = time.perf_counter()
                with CaptureQueriesContext(connection) as captured:
                    response = getattr(client, method)(path, secure=True, **extra)
                times.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{page}: {method.upper()} {path} answered {response.status_code}")
            counts[page] = len(captured.captured_queries)
            alone[page] = median(times[1:]) * 1000  # the first request fills caches
            on_load[page] = response.content.decode().count('hx-trigger="load')
            profile = cProfile.Profile()
            profile.runcall(getattr(client, method), path, secure=True, **extra)
            calls[page] = pstats.Stats(profile).total_calls
        times = []
        for _ in range(ALONE_ROUNDS):
            started = time.perf_counter()
            CapacityTotals()
            times.append(time.perf_counter() - started)
        return Costs(counts, calls, alone, on_load, capacity=median(times[1:]) * 1000)

    # What the simulated people need.

    @property
    def namespace_prefix(self) -> str:
        """Where the world's namespaces' pages are: every one is on its one cluster."""
        return f"/clusters/{self.cluster.name}/namespaces/"

    def plan(self, *, think: list[float]) -> dict:
        """The sessions, tokens, namespaces and form fields of every bench user, for the locustfile."""
        names_by_team: dict[int, list[str]] = {}
        for namespace in self.namespaces:
            names_by_team.setdefault(namespace.team_id, []).append(namespace.name)
        return {
            "think_seconds": think,
            "static_path": STATIC_PATH,
            "namespace_prefix": self.namespace_prefix,
            "chargeback_json": self.chargeback_url("json"),
            "chargeback_csv": self.chargeback_url("csv"),
            "lead": [
                {**self.session(lead), "namespaces": names_by_team[team.pk], "forms": self.forms(team)}
                for lead, team in zip(self.leads, self.teams, strict=True)
            ],
            "member": [
                {**self.session(member), "namespaces": names_by_team[team.pk]}
                for member, team in zip(self.members, self.teams, strict=True)
            ],
            "approver": [self.session(user) for user in self.approvers],
            "finance": [{"token": self.token(user).removeprefix("Bearer ")} for user in self.finance],
        }

    def session(self, user) -> dict:
        """A signed-in session as the login form leaves it, and a CSRF secret for the forms' POSTs."""
        store = import_module(settings.SESSION_ENGINE).SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = SESSION_BACKEND
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.save()
        csrf = get_random_string(32)
        return {
            "cookie": f"{settings.SESSION_COOKIE_NAME}={store.session_key}; {settings.CSRF_COOKIE_NAME}={csrf}",
            "csrf": csrf,
        }

    def token(self, user) -> str:
        if not hasattr(user, "bench_token"):
            _, key = create_api_token(user=user, name="load benchmark", read_only=True, expires_at=None)
            user.bench_token = f"Bearer {key}"
        return user.bench_token

    def forms(self, team: Team) -> list[dict]:
        """The change-quota form of the team's first namespace of each shape, as the page fills it."""
        forms = []
        for namespace in [namespace for namespace in self.namespaces if namespace.team_id == team.pk][:3]:
            form = build_form(Request.Kind.CHANGE_QUOTA, team=team, namespace=namespace)
            fields = {item.name: item.value for item in form.inputs()}
            forms.append(
                {
                    "namespace": namespace.name,
                    "fields": {**fields, "namespace": namespace.name},
                    "gpu_field": f"quota|0|{GUARANTEED_GPU_KEY}",
                }
            )
        return forms

    def chargeback_url(self, format_: str) -> str:
        """Last month: by cost center as JSON, by team as CSV (a finance export)."""
        end = self.today.replace(day=1)
        start = (end - timedelta(days=1)).replace(day=1)
        group = "cost_center" if format_ == "json" else "team"
        return f"/api/v1/chargeback/?start={start}&end={end}&group_by={group}&format={format_}"


#: One rollup row's integer columns (METRICS order) as SQL over `ns` (the namespace) and `period`
#: (moment, seconds): 4 to 8 GPUs held, some of them used, moving with the period.
_HARD = "(4 + ns.id %% 5)"  # %% for the driver
_USED = f"((ns.id * 7 + period.moment) %% ({_HARD} + 1))"
_GIB = 2**30
ROLLUP_VALUES = {
    "gpu_reserved": f"{_HARD}::bigint * period.seconds * 1000",
    "gpu_limit": f"{_HARD}::bigint * period.seconds * 1000",
    "gpu_used": f"{_USED}::bigint * period.seconds * 1000",
    "cpu_reserved": "32::bigint * period.seconds * 1000",
    "cpu_used": f"(8 + {_USED})::bigint * period.seconds * 1000",
    "memory_reserved": f"128::bigint * {_GIB} * period.seconds",
    "memory_used": f"(40 + {_USED})::bigint * {_GIB} * period.seconds",
}


def _insert_rollups(table_name: str, periods: str, extra_columns: list[str], parameters: dict) -> int:
    """Rows of `table_name` for every namespace in parameters["ids"] and every period of `periods`."""
    attribution = ["namespace_id", "tier_id", "team_id", "cost_center_id", "cluster_id"]
    columns = [*attribution, *extra_columns, "day", "week", "month"]
    values = [
        "ns.id",
        "ns.tier_id",
        "ns.team_id",
        "team.cost_center_id",
        "ns.cluster_id",
        *(f"period.{column}" for column in extra_columns),
        "period.day",
        "date_trunc('week', period.day)::date",
        "date_trunc('month', period.day)::date",
    ]
    metrics = [ROLLUP_VALUES.get(metric, "0") for metric in METRICS]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table_name} ({', '.join(columns + METRICS)}) "
            f"SELECT {', '.join(values + metrics)} "
            f"FROM {TeamNamespace._meta.db_table} AS ns JOIN {Team._meta.db_table} AS team ON team.id = ns.team_id "
            f"CROSS JOIN ({periods}) AS period WHERE ns.id = ANY(%(ids)s)",
            parameters,
        )
        return cursor.rowcount


# The server and the people.


@contextmanager
def gunicorn(database_url: str, directory: Path, options) -> Iterator[str]:
    """gunicorn serving the portal with DEBUG off on a free port, its static files collected first."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "0",
        # The key the bench's sessions were signed with; random per run (the runner's, under DEBUG).
        "SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": database_url,
        "DATABASE_CONN_MAX_AGE": str(options.conn_max_age),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Plain HTTP on the loopback, as behind a proxy that ends TLS (README: a plain-HTTP lab).
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_COOKIES": "0",
        "SECURE_HSTS_SECONDS": "0",
        "PORTAL_DATA_DIR": str(directory),
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "--verbosity=0"],
        cwd=ROOT,
        env=environment,
        check=True,
    )
    port = _free_port()
    log = open(directory / "gunicorn.log", "w")  # noqa: SIM115  closed below, after the server
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            f"--workers={options.workers}",
            "--worker-class=gthread",
            f"--threads={options.threads}",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(base_url + STATIC_PATH, server, directory / "gunicorn.log")
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        errors = [line for line in (directory / "gunicorn.log").read_text().splitlines() if "Traceback" in line]
        if errors:
            print((directory / "gunicorn.log").read_text()[-5000:], file=sys.stderr)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_serving(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not serve {url} within 60 s:\n{log.read_text()[-3000:]}")


@dataclass
class LoadResult:
    seconds: float
    timings: dict[str, list[float]]
    failures: dict[str, list[str]]


def run_locust(base_url: str, plan: dict, directory: Path, options) -> LoadResult:
    """locust, headless, in a process of its own (it patches the standard library with gevent)."""
    plan_file, timings_file = directory / "plan.json", directory / "timings.json"
    plan_file.write_text(json.dumps(plan))
    ramp = int(-(-options.users // options.spawn_rate))
    command = [
        sys.executable,
        "-m",
        "locust",
        f"--locustfile={USERS_FILE}",
        "--headless",
        f"--users={options.users}",
        f"--spawn-rate={options.spawn_rate}",
        f"--run-time={ramp + options.warm_up + options.run_time}s",
        f"--host={base_url}",
        "--only-summary",
        "--loglevel=WARNING",
        "--stop-timeout=10",
    ]
    environment = {
        **os.environ,
        "LOAD_PLAN": str(plan_file),
        "LOAD_TIMINGS": str(timings_file),
        "LOAD_WARMUP": str(options.warm_up),
    }
    print(
        f"\n  locust: {options.users} people, {ramp} s ramp-up, {options.warm_up} s warm-up, "
        f"{options.run_time} s measured",
        flush=True,
    )
    completed = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, check=False)
    if not timings_file.exists():
        raise RuntimeError(f"locust wrote no timings (exit {completed.returncode}):\n{completed.stderr[-3000:]}")
    recorded = json.loads(timings_file.read_text())
    window = recorded["window"]
    return LoadResult(window["end"] - window["start"], recorded["timings"], recorded["failures"])


# Output.


def print_seeding(seeding: dict[str, float], world: World) -> None:
    heading("seeding")
    rows = [(label, f"{seconds:.1f} s") for label, seconds in seeding.items()]
    rows.append(("total", f"{sum(seeding.values()):.1f} s"))
    print(table(["step", "time"], rows))
    people = len(world.leads) + len(world.members) + len(world.approvers) + len(world.finance)
    print(
        f"\n{len(world.teams)} teams, {people} bench users, "
        f"{len(world.namespaces):,} namespaces, {world.rows_written:,} rollup rows",
        flush=True,
    )


def print_results(result: LoadResult, costs: dict[int, Costs], options) -> None:
    floor = percentile(result.timings.get(FLOOR, []), 95)
    small, large = (costs[size] for size in sorted(costs))
    rows = []
    for page in PAGES:
        times = result.timings.get(page, [])
        errors = len(result.failures.get(page, []))
        ratio = percentile(times, 95) / floor if times and floor else float("nan")
        rows.append(
            (
                page,
                len(times) + errors,
                errors,
                f"{len(times) / result.seconds:.1f}",
                f"{percentile(times, 50):.1f}",
                f"{percentile(times, 95):.1f}",
                f"{percentile(times, 99):.1f}",
                "1.00x (floor)" if page == FLOOR else f"{ratio:.1f}x",
                f"{small.queries[page]} / {large.queries[page]}" if page in small.queries else "-",
                f"{small.on_load[page]} / {large.on_load[page]}" if page in small.on_load else "-",
                f"{large.alone[page]:.1f}" if page in large.alone else "-",
                f"{large.calls[page]:,}" if page in large.calls else "-",
            )
        )
    total = sum(len(times) for times in result.timings.values())
    heading(
        f"{options.users} people, {options.namespaces:,} namespaces, {result.seconds:.0f} s measured, "
        f"{total / result.seconds:.1f} requests/s in all, gunicorn {options.workers} x {options.threads} threads"
    )
    print(
        table(
            [
                "page",
                "requests",
                "errors",
                "req/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "p95 / floor's p95 (goal <= 10x)",
                f"SQL at {options.small:,} / {options.namespaces:,}",
                "htmx loads fired on load",
                "ms alone (in-process)",
                "Python calls (in-process)",
            ],
            rows,
        ),
        flush=True,
    )
    print(
        f"\napproval queue alone: {large.alone['approval queue']:.0f} ms at {options.namespaces:,} namespaces "
        f"({small.alone['approval queue']:.0f} ms at {options.small:,}); CapacityTotals() alone, which it "
        f"computes first: {large.capacity:.0f} ms ({small.capacity:.0f} ms)",
        flush=True,
    )
    for page, messages in result.failures.items():
        print(f"\nerrors of {page} (first 3 of {len(messages)}): {messages[:3]}", file=sys.stderr)
