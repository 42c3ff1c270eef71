"""Chargeback at scale (issue 6): report time against raw-sample volume, against its own SQL, and per size.

For each database (SQLite, and PostgreSQL through the runner's DATABASE_URL) and each
size (`--sizes`, 100 and 1,000 namespaces; `--large` adds 10,000), a child process
writes in bulk: cost centers, teams and namespaces, a year of daily rollups, the last
`--hourly-days` days of hourly rollups, and raw usage samples for the last 7 days at
5-minute resolution (one GPU series per namespace; `--no-raw` leaves them out where no raw
comparison needs them: reports read rollups only, and the samples are most of the fill). It then times, alternating over
`--rounds` rounds:

* report Y, the year grouped by cost center, report YT, the year by team, and report
  W, the last 7 days (to the hour) grouped by namespace, each against the raw SQL
  aggregate over the rollup tables it needs (the same sums and groups, no ORM, no
  pricing): the year reads the teams' monthly rollup, the week daily and hourly rows;
* the forecast of one monthly budget per cost center (chargeback.budgets), against the
  month-to-date report by cost center it is built on;
* at 1,000 namespaces, the same two reports on a copy of the database that also holds
  raw samples at 30-second resolution (10x the rows), the two databases measured in
  alternation: reports read rollups only, so this must not matter (goal <= 1.2x);
* the hourly rollup of one hour of raw samples at both resolutions (informative: the
  price of raw resolution is paid there, once, by the beat task).

Every figure printed is a ratio, a count, or a time measured beside its reference.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from django.core.management.utils import get_random_secret_key

ROOT = Path(__file__).resolve().parents[2]
#: The reports' "now": rolled up until 13:00, raw samples until 13:30.
DAILY_UNTIL = datetime(2026, 11, 1, tzinfo=UTC)
HOURLY_UNTIL = datetime(2026, 11, 1, 13, tzinfo=UTC)
RAW_UNTIL = datetime(2026, 11, 1, 13, 30, tzinfo=UTC)
YEAR_START = datetime(2025, 11, 1, tzinfo=UTC)
WEEK_START = HOURLY_UNTIL - timedelta(days=7)
PRICE_CHANGE = date(2026, 5, 1)
NAMESPACES_PER_TEAM, TEAMS_PER_COST_CENTER = 10, 5
GPU = "requests.nvidia.com/gpu"
#: The columns a rollup row is attributed by, before its period and its sums.
ATTRIBUTION = ["namespace_id", "tier_id", "team_id", "cost_center_id", "cluster_id"]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench --only chargeback", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000", help="namespace counts (default 100,1000)")
    parser.add_argument("--large", action="store_true", help="add 10,000 namespaces (several minutes per database)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds per comparison (default 7)")
    parser.add_argument("--hourly-days", type=int, default=31, help="days of hourly rollups kept (default 31)")
    parser.add_argument("--no-raw", action="store_true", help="no raw samples at sizes without the raw comparison")
    parser.add_argument("--engines", default="sqlite,postgresql", help="databases to run on (default both)")
    parser.add_argument("--raw-at", type=int, default=1000, help="size of the 30 s / 5 min raw comparison (1000)")
    options, _ = parser.parse_known_args(argv)
    sizes = sorted({int(size) for size in options.sizes.split(",")} | ({10_000} if options.large else set()))
    from tests.bench._report import heading, table

    results: dict[str, dict[int, dict]] = {}
    for engine in options.engines.split(","):
        results[engine] = {}
        for size in sizes:
            heading(f"{engine}, {size} namespaces")
            results[engine][size] = run_child(engine, size, options, raw_comparison=size == options.raw_at)
            print(json.dumps(results[engine][size], indent=1), flush=True)

    heading("summary")
    rows = []
    for engine, by_size in results.items():
        for size, figures in by_size.items():
            rows.append(
                (
                    engine,
                    size,
                    f"{figures['year_report_ms']:.0f} ms",
                    f"{figures['year_ratio']:.2f}x",
                    f"{figures['year_team_report_ms']:.0f} ms",
                    f"{figures['year_team_ratio']:.2f}x",
                    f"{figures['budgets']} in {figures['forecast_ms']:.0f} ms ({figures['forecast_ratio']:.2f}x)",
                    f"{figures['week_report_ms']:.0f} ms",
                    f"{figures['week_ratio']:.2f}x",
                    f"{figures['year_raw30_ratio']:.2f}x" if "year_raw30_ratio" in figures else "",
                    f"{figures['week_raw30_ratio']:.2f}x" if "week_raw30_ratio" in figures else "",
                    f"{figures['rollup_raw30_ratio']:.1f}x" if "rollup_raw30_ratio" in figures else "",
                )
            )
    print(
        table(
            [
                "database",
                "namespaces",
                "year by cost center",
                "/ its SQL (goal <= 1.5x)",
                "year by team",
                "/ its SQL (goal <= 1.5x)",
                "budget forecasts (/ month-to-date report)",
                "7 days by namespace",
                "/ its SQL (goal <= 2x)",
                "year, 30 s / 5 min raw (goal <= 1.2x)",
                "7 days, 30 s / 5 min raw (goal <= 1.2x)",
                "hourly rollup, 30 s / 5 min raw",
            ],
            rows,
        ),
        flush=True,
    )


def run_child(engine: str, size: int, options, *, raw_comparison: bool) -> dict:
    """Fill a fresh database (and, for the raw comparison, a copy with 10x raw samples), then measure.

    Each step runs in a process of its own: Django loads its settings once per process.
    """
    common = [f"--namespaces={size}", f"--rounds={options.rounds}", f"--hourly-days={options.hourly_days}"]
    if options.no_raw and not raw_comparison:
        common.append("--no-raw")
    # DEBUG off, as in production: no query log, no debug cursor.
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "LOG_LEVEL": "WARNING",
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or get_random_secret_key(),
    }
    with _database(engine, environment) as (environment, copy):
        figures = _run(["fill", *common], environment)
        if not raw_comparison:
            figures.update(_run(["measure", *common], environment))
            return figures
        with copy() as (copied_environment, copied_name):
            figures.update(_run(["fill-raw30", *common], copied_environment))
            figures.update(_run(["measure", *common, f"--other={copied_name}"], environment))
        return figures


@contextmanager
def _database(engine: str, environment: dict):
    """(environment, copy()) for a new database; copy() yields (environment, name) of a copy; all is dropped after."""
    if engine == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-chargeback-") as directory:
            path = f"{directory}/five-minutes.sqlite3"

            @contextmanager
            def copy():
                copied = f"{directory}/thirty-seconds.sqlite3"
                shutil.copyfile(path, copied)
                yield {**environment, "DATABASE_URL": f"sqlite:///{copied}"}, copied

            yield {**environment, "DATABASE_URL": f"sqlite:///{path}", "PORTAL_DATA_DIR": directory}, copy
        return
    from django.db import connection, connections

    from tests.bench._database import scratch_database

    with scratch_database("chargeback") as url:
        name = connection.settings_dict["NAME"]

        @contextmanager
        def copy():
            copied = f"{name}_raw30"
            connections.close_all()  # a template must have no session
            with connection._nodb_cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{copied}" TEMPLATE "{name}"')
            try:
                yield {**environment, "DATABASE_URL": url.rsplit("/", 1)[0] + f"/{copied}"}, copied
            finally:
                with connection._nodb_cursor() as cursor:
                    cursor.execute(f'DROP DATABASE IF EXISTS "{copied}" WITH (FORCE)')

        yield {**environment, "DATABASE_URL": url}, copy


def _run(arguments: list[str], environment: dict) -> dict:
    command = [sys.executable, "-m", "tests.bench.bench_chargeback", *arguments]
    completed = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{completed.stdout}\n{completed.stderr}")
    for line in completed.stdout.splitlines()[:-1]:
        print(f"  {line}", flush=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


# The child: one database, one size.


def child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=["fill", "fill-raw30", "measure"])
    parser.add_argument("--namespaces", type=int, required=True)
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--hourly-days", type=int, required=True)
    parser.add_argument("--no-raw", action="store_true")
    parser.add_argument("--other", help="measure: the database with 30-second raw samples, in alternation")
    options = parser.parse_args(argv)

    import django

    django.setup()
    from django.core.management import call_command

    bench = ChildBenchmark(options)
    if options.step == "fill":
        call_command("migrate", verbosity=0)
        bench.generate()
    elif options.step == "fill-raw30":
        bench.add_raw_30s()
    else:
        bench.measure()
    print(json.dumps(bench.figures), flush=True)


class ChildBenchmark:
    def __init__(self, options) -> None:
        from django.db import connection

        self.options = options
        self.connection = connection
        self.vendor = connection.vendor
        self.figures: dict = {"namespaces": options.namespaces}

    # Writing the data.

    def generate(self) -> None:
        from chargeback.models import RollupState
        from teams.demo import seed_demo
        from teams.models import CostCenter, GpuTier, Rate, Team, TeamNamespace
        from tests.clusters import connect

        started = time.perf_counter()
        if self.vendor == "sqlite":
            with self.connection.cursor() as cursor:
                cursor.execute("PRAGMA synchronous=OFF")
        seed_demo()
        TeamNamespace.objects.all().delete()
        tiers = list(GpuTier.objects.order_by("pk"))
        Rate.objects.create(tier=tiers[1], resource="gpu", kind="reserved", effective_from=PRICE_CHANGE, price="2.9")
        count = self.options.namespaces
        team_count = max(1, count // NAMESPACES_PER_TEAM)
        centers = CostCenter.objects.bulk_create(
            [CostCenter(code=f"cc-{index}", name=f"Cost center {index}") for index in range(max(1, team_count // 5))]
        )
        teams = Team.objects.bulk_create(
            [
                Team(
                    slug=f"team-{index}",
                    name=f"Team {index}",
                    cost_center=centers[index % len(centers)],
                    default_tier=tiers[0],
                )
                for index in range(team_count)
            ]
        )
        self.cluster = connect("bench", is_default=True)
        namespaces = TeamNamespace.objects.bulk_create(
            [
                TeamNamespace(
                    name=f"ns-{index}",
                    cluster=self.cluster,
                    team=teams[index % team_count],
                    tier=tiers[index % len(tiers)],
                )
                for index in range(count)
            ],
            batch_size=2000,
        )
        self.namespaces = [
            (namespace.pk, namespace.tier_id, namespace.team_id, teams[index % team_count].cost_center_id, index)
            for index, namespace in enumerate(namespaces)
        ]
        self.guaranteed_tiers = {tier.pk for tier in tiers if tier.allows_guaranteed_gpus}
        self.write_daily()
        self.write_monthly()
        self.write_hourly()
        if not self.options.no_raw:
            self.figures["raw_5min_rows"] = self.write_raw(step_seconds=300)
        RollupState.objects.create(name=RollupState.DAILY, complete_until=DAILY_UNTIL)
        RollupState.objects.create(name=RollupState.MONTHLY, complete_until=DAILY_UNTIL)
        RollupState.objects.create(name=RollupState.HOURLY, complete_until=HOURLY_UNTIL)
        self.settle()
        self.figures["generate_s"] = round(time.perf_counter() - started, 1)

    def add_raw_30s(self) -> None:
        """Raw samples every 30 s instead of every 5 min: 10x the rows, the rollups unchanged."""
        from teams.models import Cluster, TeamNamespace

        started = time.perf_counter()
        self.cluster = Cluster.objects.get(name="bench")
        self.namespaces = [
            (pk, None, None, None, index)
            for index, pk in enumerate(TeamNamespace.objects.order_by("pk").values_list("pk", flat=True))
        ]
        from provisioning.models import UsageSample

        self.write_raw(step_seconds=30, already_every=300)
        self.figures["raw_30s_rows"] = UsageSample.objects.count()
        self.settle()
        self.figures["raw_30s_write_s"] = round(time.perf_counter() - started, 1)

    def totals(self, tier_id: int, index: int, seconds: int, moment: int) -> list[int]:
        """One rollup row's 16 integer columns for a namespace over `seconds`."""
        hard = 4 + index % 5
        used = (index * 7 + moment) % (hard + 1)
        guaranteed = tier_id in self.guaranteed_tiers
        unknown = seconds // 24 if (index + moment) % 50 == 0 else 0
        gpu = [
            hard * seconds * 1000 if guaranteed else 0,
            hard * seconds * 1000,
            used * seconds * 1000,
            0 if guaranteed else used * seconds * 1000,
            unknown,
            unknown,
        ]
        cpu = [32 * seconds * 1000, (8 + used) * seconds * 1000, 0, unknown, unknown]
        memory = [128 * 2**30 * seconds, (40 + used) * 2**30 * seconds, 0, unknown, unknown]
        return gpu + cpu + memory

    def write_daily(self) -> None:
        from chargeback.models import METRICS, DailyUsage

        columns = [*ATTRIBUTION, "day", "week", "month", *METRICS]
        days = (DAILY_UNTIL - YEAR_START).days

        def rows():
            for offset in range(days):
                day = (YEAR_START + timedelta(days=offset)).date()
                week, month = day - timedelta(days=day.weekday()), day.replace(day=1)
                for namespace_id, tier_id, team_id, center_id, index in self.namespaces:
                    yield (namespace_id, tier_id, team_id, center_id, self.cluster.pk, day, week, month,
                           *self.totals(tier_id, index, 86400, offset))  # fmt: skip

        self.figures["daily_rows"] = self.copy(DailyUsage._meta.db_table, columns, rows())

    def write_monthly(self) -> None:
        """The monthly rollup of the daily rows, by the rollup's own code (one GROUP BY over the year)."""
        from chargeback.models import MonthlyUsage, TeamMonthlyUsage
        from chargeback.rollups import sum_months

        self.figures["monthly_rows"] = sum_months(YEAR_START, DAILY_UNTIL)
        assert self.figures["monthly_rows"] == MonthlyUsage.objects.count()
        self.figures["team_monthly_rows"] = TeamMonthlyUsage.objects.count()

    def write_hourly(self) -> None:
        from chargeback.models import METRICS, HourlyUsage

        columns = [*ATTRIBUTION, "hour", "day", "week", "month", *METRICS]
        start = DAILY_UNTIL - timedelta(days=self.options.hourly_days)
        hours = int((HOURLY_UNTIL - start) / timedelta(hours=1))

        def rows():
            for offset in range(hours):
                hour = start + timedelta(hours=offset)
                day = hour.date()
                week, month = day - timedelta(days=day.weekday()), day.replace(day=1)
                for namespace_id, tier_id, team_id, center_id, index in self.namespaces:
                    yield (namespace_id, tier_id, team_id, center_id, self.cluster.pk, self.moment(hour), day, week,
                           month, *self.totals(tier_id, index, 3600, offset // 24))  # fmt: skip

        self.figures["hourly_rows"] = self.copy(HourlyUsage._meta.db_table, columns, rows())

    def write_raw(self, *, step_seconds: int, already_every: int | None = None) -> int:
        """One GPU series per namespace from 7 days before the report's end until `RAW_UNTIL`.

        `already_every`: seconds between samples written before, which are skipped.
        """
        from provisioning.models import UsageSample

        columns = ["cluster_id", "namespace_id", "quota_name", "resource", "time", "hard", "used"]
        start = WEEK_START - timedelta(hours=1)
        steps = int((RAW_UNTIL - start).total_seconds()) // step_seconds

        def rows():
            for step in range(steps):
                if already_every and (step * step_seconds) % already_every == 0:
                    continue
                moment = self.moment(start + timedelta(seconds=step * step_seconds))
                for namespace_id, _, _, _, index in self.namespaces:
                    hard = 4 + index % 5
                    yield (self.cluster.pk, namespace_id, "q", GPU, moment, hard, (index + step) % (hard + 1))

        # Indexes built once after the load, not row by row: the end state is the same, the load faster.
        with self.connection.schema_editor() as editor:
            for index in UsageSample._meta.indexes:
                editor.remove_index(UsageSample, index)
        written = self.copy(UsageSample._meta.db_table, columns, rows())
        with self.connection.schema_editor() as editor:
            for index in UsageSample._meta.indexes:
                editor.add_index(UsageSample, index)
        return written

    def moment(self, value: datetime):
        return value.replace(tzinfo=None).isoformat(" ") if self.vendor == "sqlite" else value

    def copy(self, table: str, columns: list[str], rows) -> int:
        """Bulk insert: COPY on PostgreSQL, executemany in one transaction on SQLite."""
        from django.db import transaction

        written = 0
        with transaction.atomic(), self.connection.cursor() as cursor:
            if self.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                        written += 1
                return written
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
            batch: list = []
            for row in rows:
                batch.append(row)
                if len(batch) == 10_000:
                    cursor.executemany(sql, batch)
                    written += len(batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)
                written += len(batch)
        return written

    def settle(self) -> None:
        """Statistics fresh and nothing left for autovacuum or the WAL, so that measuring measures reports."""
        with self.connection.cursor() as cursor:
            if self.vendor == "postgresql":
                cursor.execute("VACUUM ANALYZE")
                cursor.execute("CHECKPOINT")
            else:
                cursor.execute("ANALYZE")
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # Measuring.

    def measure(self) -> None:
        """Report against its SQL on this database; with --other, the same on the 30-second copy, alternating."""
        queries = self.queries()
        databases = {"5min": self.connection.settings_dict["NAME"]}
        if self.options.other:
            databases["30s"] = self.options.other
        times: dict[tuple, list[float]] = {}
        rows: dict[str, int] = {}
        for round_number in range(self.options.rounds):
            for label, name in databases.items():
                self.use(name)
                for query_name, query in queries.items():
                    report, sql, count = self.time_report(query)
                    times.setdefault((label, query_name, "report"), []).append(report)
                    times.setdefault((label, query_name, "sql"), []).append(sql)
                    rows[query_name] = count
                if self.options.other and round_number < 3:
                    times.setdefault((label, "rollup", "hour"), []).append(self.time_rollup())
        median = {key: statistics.median(values) * 1000 for key, values in times.items()}
        for query_name in queries:
            report, sql = median["5min", query_name, "report"], median["5min", query_name, "sql"]
            self.figures.update(
                {
                    f"{query_name}_rows": rows[query_name],
                    f"{query_name}_report_ms": report,
                    f"{query_name}_sql_ms": sql,
                    f"{query_name}_ratio": report / sql,
                }
            )
            if self.options.other:
                self.figures[f"{query_name}_raw30_report_ms"] = median["30s", query_name, "report"]
                self.figures[f"{query_name}_raw30_ratio"] = median["30s", query_name, "report"] / report
        self.measure_budgets()
        if self.options.other:
            self.figures["rollup_hour_5min_ms"] = median["5min", "rollup", "hour"]
            self.figures["rollup_hour_30s_ms"] = median["30s", "rollup", "hour"]
            self.figures["rollup_raw30_ratio"] = median["30s", "rollup", "hour"] / median["5min", "rollup", "hour"]

    def measure_budgets(self) -> None:
        """The forecast of one monthly budget per cost center (200 at 10,000 namespaces) on Oct 16, beside its report.

        The forecast's one expensive part is the month-to-date report by cost center; the
        reference is that report alone, timed in alternation.
        """
        from chargeback.budgets import forecasts
        from chargeback.models import Budget
        from chargeback.reports import ReportQuery, build_report
        from teams.models import CostCenter

        self.use(self.connection.settings_dict["NAME"])
        if not Budget.objects.exists():
            Budget.objects.bulk_create(
                Budget(cost_center_id=pk, gpu_hours=50_000, amount=100_000)
                for pk in CostCenter.objects.filter(code__startswith="cc-").values_list("pk", flat=True)
            )
        budgets = list(Budget.objects.select_related("cost_center", "team"))
        now = datetime(2026, 10, 16, tzinfo=UTC)
        month_so_far = ReportQuery(start=datetime(2026, 10, 1, tzinfo=UTC), end=now, group_by="cost_center")
        forecast_times, report_times = [], []
        for _ in range(self.options.rounds):
            started = time.perf_counter()
            count = len(forecasts(budgets, now=now))
            forecast_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            build_report(month_so_far, viewer=self.reader, now=now)
            report_times.append(time.perf_counter() - started)
        forecast, report = statistics.median(forecast_times) * 1000, statistics.median(report_times) * 1000
        self.figures.update({"budgets": count, "forecast_ms": forecast, "forecast_report_ms": report})
        self.figures["forecast_ratio"] = forecast / report

    def use(self, name: str) -> None:
        """Point the connection at another database, and warm it: each is measured as it runs in service."""
        from django.contrib.auth import get_user_model

        from chargeback.reports import build_report

        self.connection.close()
        self.connection.settings_dict["NAME"] = name
        # Reports are read as finance reads them; the warm-up also caches the reader's roles.
        self.reader = get_user_model().objects.get(username="finance")
        for query in self.queries().values():
            build_report(query, viewer=self.reader)

    def time_report(self, query) -> tuple[float, float, int]:
        from chargeback.reports import build_report

        started = time.perf_counter()
        count = len(build_report(query, viewer=self.reader)["rows"])
        report = time.perf_counter() - started
        started = time.perf_counter()
        self.raw_aggregate(query)
        return report, time.perf_counter() - started, count

    def queries(self):
        from chargeback.reports import ReportQuery

        return {
            "year": ReportQuery(start=YEAR_START, end=DAILY_UNTIL, group_by="cost_center"),
            "year_team": ReportQuery(start=YEAR_START, end=DAILY_UNTIL, group_by="team"),
            "week": ReportQuery(start=WEEK_START, end=HOURLY_UNTIL, group_by="namespace"),
        }

    def raw_aggregate(self, query) -> list:
        """What the report needs from the database, written by hand: the same sums, groups and rate split."""
        from chargeback.reports import PLAIN_METRICS, SPLIT, SPLIT_METRICS

        group = f"{query.group_by}_id"
        keys = [group, "tier_id", "cluster_id"] + (
            ["cost_center_id"] if query.group_by in ("team", "namespace") else []
        )
        sums = [f"SUM({name})" for name in PLAIN_METRICS]
        sums += [f"SUM({name} / {SPLIT}), SUM({name} %% {SPLIT})" for name in SPLIT_METRICS]
        split = query.start.date() < PRICE_CHANGE < query.end.date() + timedelta(days=1)
        segment = ", CASE WHEN day >= %s THEN 1 ELSE 0 END AS segment" if split else ""
        select = f"SELECT {', '.join(keys)}{segment}, {', '.join(sums)}"
        group_by = f"GROUP BY {', '.join(keys)}{', segment' if split else ''}"
        prefix = [PRICE_CHANGE] if split else []
        first_day = query.start.date() if query.start.hour == 0 else query.start.date() + timedelta(days=1)
        last_day = query.end.date()
        results = []
        whole_months = all(moment == moment.replace(day=1, hour=0) for moment in (query.start, query.end))
        with self.connection.cursor() as cursor:
            if whole_months:  # the price changes on the 1st: every month is one row per team (or namespace)
                table = "chargeback_monthlyusage" if query.group_by == "namespace" else "chargeback_teammonthlyusage"
                cursor.execute(
                    f"{select} FROM {table} WHERE month >= %s AND month < %s {group_by}",
                    [*prefix, query.start.date(), query.end.date()],
                )
                return cursor.fetchall()
            cursor.execute(
                f"{select} FROM chargeback_dailyusage WHERE day >= %s AND day < %s {group_by}",
                [*prefix, first_day, last_day],
            )
            results += cursor.fetchall()
            cursor.execute(
                f"{select} FROM chargeback_hourlyusage WHERE (hour >= %s AND hour < %s) OR (hour >= %s AND hour < %s) "
                f"{group_by}",
                [
                    *prefix,
                    self.moment(query.start),
                    self.moment(datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)),
                    self.moment(datetime.combine(last_day, datetime.min.time(), tzinfo=UTC)),
                    self.moment(query.end),
                ],
            )
            results += cursor.fetchall()
        return results

    def time_rollup(self) -> float:
        """Integrating the last hour of raw samples for every namespace, once (seconds), then undone."""
        from django.db import transaction

        from chargeback.rollups import roll_up_hours

        started = time.perf_counter()
        with transaction.atomic():
            roll_up_hours(HOURLY_UNTIL - timedelta(hours=1), HOURLY_UNTIL)
            transaction.set_rollback(True)  # keep the data as generated for the next measurement
        return time.perf_counter() - started


if __name__ == "__main__":
    child(sys.argv[1:])
