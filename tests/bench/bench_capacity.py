"""The approval's capacity check at scale: what `approve_request` computes while it holds the row lock.

In a scratch PostgreSQL database, grows the seed's world to `--sizes` live namespaces
(100, 2,000 and 10,000 by default), in the shapes of the seed's three namespaces, each
with an observed state as a sync leaves it. At each size, alternating over `--rounds`
rounds, it times `capacity_impact` of a pending quota change against the one read it
needs (every live namespace's tier and quotas), and against loading whole rows, which is
what the check did before it read only those two columns. No cluster is involved.
"""

import argparse
import copy
import time
import uuid

from django.contrib.auth import get_user_model

from teams import workflow
from teams.capacity import capacity_impact
from teams.demo import seed_demo
from teams.models import Request, TeamNamespace
from tests.bench._database import scratch_database
from tests.bench._report import heading, median, ms, table


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench --only capacity", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,2000,10000", help="live namespace counts (default 100,2000,10000)")
    parser.add_argument("--rounds", type=int, default=9, help="alternating rounds per size (default 9)")
    options, _ = parser.parse_known_args(argv)
    sizes = sorted({int(size) for size in options.sizes.split(",")})
    with scratch_database("capacity"):
        seed_demo()
        shapes = list(TeamNamespace.objects.select_related("team", "tier").order_by("name"))
        research = TeamNamespace.objects.select_related("team").get(name="ml-research")
        quotas = copy.deepcopy(research.quotas)
        quotas[0]["hard"]["requests.nvidia.com/gpu"] = "12"
        request = workflow.submit_request(
            actor=get_user_model().objects.get(username="research-lead"),
            team=research.team,
            kind=Request.Kind.CHANGE_QUOTA,
            namespace=research,
            proposed={"quotas": quotas},
            justification="Benchmark: the capacity check of a quota increase.",
        )
        rows = []
        for size in sizes:
            grow_to(size, shapes)
            rows.append((size, *measure(request, options.rounds)))
    heading("capacity check of one approval, by live namespaces")
    print(
        table(
            [
                "live namespaces",
                "read: tier and quotas of every row",
                "capacity_impact",
                "ratio (median of rounds)",
                "whole rows with their tier",
            ],
            rows,
        ),
        flush=True,
    )


def grow_to(size: int, shapes: list[TeamNamespace]) -> None:
    run = uuid.uuid4().hex[:6]
    missing = size - TeamNamespace.objects.live().count()
    copies = []
    for index in range(missing):
        shape = shapes[index % len(shapes)]
        observed = {
            quota["name"]: {"hard": dict(quota["hard"]), "used": {key: "0" for key in quota["hard"]}}
            for quota in shape.quotas
        }
        copies.append(
            TeamNamespace(
                name=f"cap-{run}-{index:05d}",
                cluster=shape.cluster,
                team=shape.team,
                tier=shape.tier,
                labels=copy.deepcopy(shape.labels),
                quotas=copy.deepcopy(shape.quotas),
                limit_range=copy.deepcopy(shape.limit_range),
                guaranteed_gpus=shape.guaranteed_gpus,
                phase=TeamNamespace.Phase.ACTIVE,
                observed_quotas=observed,
            )
        )
    TeamNamespace.objects.bulk_create(copies, batch_size=2000)


def measure(request, rounds: int) -> tuple[str, str, str, str]:
    variants = {
        "read": lambda: list(TeamNamespace.objects.live().values_list("pk", "tier_id", "quotas")),
        "impact": lambda: capacity_impact(request),
        "whole": lambda: list(TeamNamespace.objects.live().select_related("tier")),
    }
    for function in variants.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for index in range(rounds):
        order = names[index % len(names) :] + names[: index % len(names)]
        for name in reversed(order) if index % 2 else order:
            started = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - started)
    ratios = [impact / read for impact, read in zip(times["impact"], times["read"], strict=True)]
    return ms(median(times["read"])), ms(median(times["impact"])), f"{median(ratios):.2f}x", ms(median(times["whole"]))
