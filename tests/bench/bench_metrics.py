"""One Prometheus scrape of /metrics at scale, against the one read of every namespace it cannot avoid.

In a scratch PostgreSQL database, grows the seed's world to `--sizes` live namespaces (in the
shapes of the seed's three, each observed as a sync leaves it, as the capacity benchmark does).
At each size, alternating over `--rounds` rounds, it times a whole scrape (GET /metrics through
the portal's middleware and view, the broker asked for its queue length) against reading the
columns of every live namespace the per-namespace series come from, and counts the scrape's SQL
statements and bytes.
"""

import argparse
import time

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from teams.demo import seed_demo
from teams.models import TeamNamespace
from tests.bench._database import scratch_database
from tests.bench._report import heading, median, ms, table
from tests.bench.bench_capacity import grow_to


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench --only metrics", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,2000,10000", help="live namespace counts (default 100,2000,10000)")
    parser.add_argument("--rounds", type=int, default=9, help="alternating rounds per size (default 9)")
    options, _ = parser.parse_known_args(argv)
    sizes = sorted({int(size) for size in options.sizes.split(",")})
    client = Client()
    rows = []
    with scratch_database("metrics"):
        seed_demo()
        shapes = list(TeamNamespace.objects.select_related("team", "tier").order_by("name"))
        for size in sizes:
            grow_to(size, shapes)
            rows.append((size, *measure(client, options.rounds)))
    heading("one /metrics scrape, by live namespaces")
    print(
        table(
            [
                "live namespaces",
                "read: namespace columns",
                "scrape",
                "ratio (median of rounds)",
                "SQL statements",
                "exposition",
            ],
            rows,
        ),
        flush=True,
    )


def measure(client: Client, rounds: int) -> tuple[str, str, str, int, str]:
    def scrape() -> bytes:
        response = client.get("/metrics", HTTP_HOST="10.0.0.1:8000")
        assert response.status_code == 200, response.content[:200]
        return response.content

    def read() -> list:
        return list(
            TeamNamespace.objects.live().values_list(
                "name", "team__slug", "team__cost_center__code", "tier__slug", "observed_quotas"
            )
        )

    with CaptureQueriesContext(connection) as captured:
        body = scrape()
    statements = len(captured)  # now: the next request clears the connection's query log
    read()
    variants = {"scrape": scrape, "read": read}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for index in range(rounds):
        for name in ("scrape", "read") if index % 2 else ("read", "scrape"):
            started = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - started)
    ratios = [scrape / read for scrape, read in zip(times["scrape"], times["read"], strict=True)]
    size = f"{len(body) / 1024:.0f} KiB"
    return ms(median(times["read"])), ms(median(times["scrape"])), f"{median(ratios):.1f}x", statements, size
