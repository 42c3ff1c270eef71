"""October 2026, hand-computed: the samples sync would have stored, and the rates in force.

ml-research (high-priority: guaranteed), quota ml-research-quota, an hourly heartbeat:

    Oct  1 00:00 - Oct 11 00:00   GPU hard 8,  used 4      240 h
    Oct 11 00:00 - Oct 21 01:00   GPU hard 12, used 6      241 h   (the quota grew; the
                                                                   last sample before the
                                                                   gap, Oct 20 23:00, holds
                                                                   for the 2 h max gap)
    Oct 21 01:00 - Oct 21 05:00   unknown                    4 h   (no sample 00:00-04:00)
    Oct 21 05:00 - Nov  1 00:00   GPU hard 12, used 12     259 h
    all month                     CPU hard 64, used 16.5; memory hard 256Gi, used 100Gi

ml-experiments (best-effort: every GPU is burst), quota ml-experiments-quota, hourly:

    Oct  1 00:00 - Oct  1 03:00   GPU hard 8, used unknown   3 h   (quota controller lag)
    Oct  1 03:00 - Nov  1 00:00   GPU hard 8, used 2       741 h
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from chargeback.rollups import roll_up
from provisioning.models import UsageSample
from teams.models import Cluster, GpuTier, Rate

GPU = "requests.nvidia.com/gpu"
START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)
GAP = (datetime(2026, 10, 21, 0, tzinfo=UTC), datetime(2026, 10, 21, 5, tzinfo=UTC))


def at(day: int, hour: int = 0, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def hours(start: datetime, end: datetime):
    moment = start
    while moment < end:
        yield moment
        moment += timedelta(hours=1)


def write_october(world) -> None:
    cluster = Cluster.objects.get_default()
    research = world.namespace("ml-research")
    experiments = world.namespace("ml-experiments")
    samples = []

    def sample(namespace, time, quota, key, hard, used):
        samples.append(
            UsageSample(
                cluster=cluster,
                namespace=namespace,
                quota_name=quota,
                resource=key,
                time=time,
                hard=Decimal(hard),
                used=None if used is None else Decimal(used),
            )
        )

    for moment in hours(START, END):
        if not GAP[0] <= moment < GAP[1]:
            if moment < at(11):
                gpu = ("8", "4")
            elif moment < GAP[0]:
                gpu = ("12", "6")
            else:
                gpu = ("12", "12")
            sample(research, moment, "ml-research-quota", GPU, *gpu)
            sample(research, moment, "ml-research-quota", "requests.cpu", "64", "16.5")
            sample(research, moment, "ml-research-quota", "requests.memory", str(256 * 2**30), str(100 * 2**30))
            sample(research, moment, "ml-research-quota", "pods", "50", "7")
        sample(experiments, moment, "ml-experiments-quota", GPU, "8", None if moment < at(1, 3) else "2")
    UsageSample.objects.bulk_create(samples)


@pytest.fixture
def october(world, settings):
    """October's samples, rolled up as the beat task would by Nov 2, with CPU and memory prices added."""
    settings.CHARGEBACK_MAX_GAP_SECONDS = 7200
    high = GpuTier.objects.get(slug="high-priority")
    Rate.objects.create(tier=high, resource="cpu", kind="reserved", effective_from=at(1).date(), price="0.05")
    Rate.objects.create(tier=high, resource="memory", kind="reserved", effective_from=at(1).date(), price="0.01")
    write_october(world)
    roll_up(now=at(2, month=11), max_hours=10_000)
    return world
