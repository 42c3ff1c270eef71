"""GPU usage as sync would have stored it, rolled up as the beat task would: the evidence rules and proposals read."""

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from chargeback.rollups import roll_up
from provisioning.models import UsageSample
from teams.models import TeamNamespace

GPU = "requests.nvidia.com/gpu"
GPU_LIMIT = "limits.nvidia.com/gpu"


def seed_gpu_usage(
    namespace: TeamNamespace, start: datetime, end: datetime, used: Callable[[datetime], str], hard: str = "8"
) -> None:
    """An hourly sample of the namespace's first quota from `start` to `end`, GPUs used as `used(hour)` says."""
    cluster = namespace.cluster
    quota = namespace.quotas[0]["name"]
    samples = []
    moment = start
    while moment < end:
        samples.append(
            UsageSample(
                cluster=cluster,
                namespace=namespace,
                quota_name=quota,
                resource=GPU,
                time=moment,
                hard=Decimal(hard),
                used=Decimal(used(moment)),
            )
        )
        samples.append(
            UsageSample(
                cluster=cluster, namespace=namespace, quota_name=quota, resource=GPU_LIMIT, time=moment, hard=32
            )
        )
        moment += timedelta(hours=1)
    UsageSample.objects.bulk_create(samples)


def roll_up_until(now: datetime) -> None:
    roll_up(now=now, max_hours=100_000)
