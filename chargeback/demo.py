"""The demo's fortnight of history: usage that makes the chargeback page, the auto-approval rule and the
downsize scan show something on first start, written as sync would have written it.

ml-production held its 16 guaranteed GPUs and used at most 3 (in working hours, 1 at night): the daily scan
proposes 4. ml-research used 7 of its 8: the demo's rule finds a busy team there.
"""

from datetime import datetime, timedelta
from decimal import Decimal

from chargeback import idle, rollups
from provisioning.models import Cluster, UsageSample
from teams.constants import GUARANTEED_GPU_KEY
from teams.models import TeamNamespace

HISTORY = timedelta(days=15)
#: namespace -> (GPU hard, GPUs used in working hours (08:00-18:00 UTC), GPUs used otherwise)
DEMO_USAGE = {"ml-production": ("16", "3", "1"), "ml-research": ("8", "7", "7")}


def seed_history(now: datetime) -> list[str]:
    """Write the fortnight once (not again while any sample older than a day exists), roll it up, scan it."""
    if UsageSample.objects.filter(time__lt=now - timedelta(days=1)).exists():
        return ["usage history: already there"]
    cluster = Cluster.objects.get_default()
    namespaces = TeamNamespace.objects.live().filter(cluster=cluster, name__in=DEMO_USAGE)
    start = rollups.floor_hour(now - HISTORY)
    samples = []
    for namespace in namespaces:
        hard, working, night = DEMO_USAGE[namespace.name]
        quota = next(quota["name"] for quota in namespace.quotas if GUARANTEED_GPU_KEY in quota.get("hard", {}))
        moment = start
        while moment < now:
            used = working if 8 <= moment.hour < 18 else night
            samples.append(
                UsageSample(
                    cluster=cluster,
                    namespace=namespace,
                    quota_name=quota,
                    resource=GUARANTEED_GPU_KEY,
                    time=moment,
                    hard=Decimal(hard),
                    used=Decimal(used),
                )
            )
            moment += timedelta(hours=1)
    UsageSample.objects.bulk_create(samples, batch_size=2000)
    result = rollups.roll_up(now=now, max_hours=int(HISTORY / rollups.HOUR) + 1)
    proposed = idle.propose_downsizes(now)
    return [
        f"usage history: {len(samples)} samples over {HISTORY.days} days, {result.hours} hours rolled up",
        f"downsize proposals: {', '.join(f'#{pk}' for pk in proposed) or 'none'}",
    ]
