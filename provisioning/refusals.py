"""Pods the quota refused: FailedCreate Events saying "exceeded quota", kept per involved object.

Read in the usage sync's one LIST of FailedCreate Events per cluster; stored so that a
second cycle over the same Events changes nothing, a repeat grows the count, and an Event
the API server expired (after an hour) keeps its count in the total.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from provisioning.cluster import RefusalEvent
from provisioning.models import QuotaRefusal
from teams import roles
from teams.constants import QUOTA_KEYS
from teams.models import Cluster, TeamNamespace
from teams.quantities import QuantityError, parse_quantity

#: Refusals a page lists per namespace, newest first.
RECENT = 10
QUOTA_KEY_NAMES = frozenset(key for key, _ in QUOTA_KEYS)

REFUSAL_FIELDS = [
    *("object_kind", "object_name", "quota_name", "resource", "requested", "used", "limited"),
    *("first_seen", "last_seen", "count", "settled_count", "live_counts"),
]
_MESSAGE = re.compile(
    r"exceeded quota: (?P<quota>[^,\s]+), requested: (?P<requested>\S*), used: (?P<used>\S*), limited: (?P<limited>\S*)"
)


def parse_message(message: str) -> dict | None:
    """The quota, and requested/used/limited per key, of the API server's "exceeded quota" message.

    e.g. "exceeded quota: q, requested: requests.nvidia.com/gpu=4, used: requests.nvidia.com/gpu=8,
    limited: requests.nvidia.com/gpu=8"; None when the message is not of that form.
    """
    match = _MESSAGE.search(message)
    if match is None:
        return None
    parsed = {"quota": match["quota"]}
    for part in ("requested", "used", "limited"):
        parsed[part] = dict(item.split("=", 1) for item in match[part].split(",") if "=" in item)
    parsed["resource"] = _exceeded_key(parsed)
    return parsed


def _exceeded_key(parsed: dict) -> str:
    """The first key (sorted) whose used + requested passes its limit; the first requested key otherwise."""
    for key in sorted(parsed["requested"]):
        try:
            total = parse_quantity(parsed["used"].get(key, "0")) + parse_quantity(parsed["requested"][key])
            if parse_quantity(parsed["limited"].get(key, "0")) < total:
                return key
        except QuantityError:
            continue
    return min(parsed["requested"], default="")


def store_refusals(cluster: Cluster, events: list[RefusalEvent], namespace_ids: dict[str, int], now: datetime) -> int:
    """Upsert one QuotaRefusal per involved object in a managed namespace; prune past retention.

    Returns how many rows were written. Runs inside the sync's transaction.
    """
    grouped: dict[tuple[int, str], list[RefusalEvent]] = {}
    for event in events:
        if event.namespace in namespace_ids:
            grouped.setdefault((namespace_ids[event.namespace], event.object_uid), []).append(event)
    existing = {
        (row.namespace_id, row.object_uid): row
        for row in QuotaRefusal.objects.filter(cluster=cluster)
        .filter(last_seen__gte=now - QuotaRefusal.RETENTION)
        .exclude(live_counts={})
    }
    missing = [key for key in grouped if key not in existing]
    for row in QuotaRefusal.objects.filter(cluster=cluster, object_uid__in={uid for _, uid in missing}):
        existing[(row.namespace_id, row.object_uid)] = row

    changed: list[QuotaRefusal] = []
    for key, row in existing.items():
        if key not in grouped and row.live_counts:  # its Events expired: their counts are final
            row.settled_count += sum(row.live_counts.values())
            row.live_counts = {}
            changed.append(row)
    created: list[QuotaRefusal] = []
    for (namespace_id, object_uid), object_events in grouped.items():
        latest = max(object_events, key=lambda event: (event.last_seen, event.uid))
        parsed = parse_message(latest.message)
        if parsed is None:
            continue
        row = existing.get((namespace_id, object_uid))
        if row is None:
            row = QuotaRefusal(cluster=cluster, namespace_id=namespace_id, object_uid=object_uid)
            created.append(row)
        else:
            changed.append(row)
        live = {event.uid: event.count for event in object_events}
        expired = {uid: count for uid, count in row.live_counts.items() if uid not in live}
        row.settled_count += sum(expired.values())
        row.live_counts = live
        row.count = row.settled_count + sum(live.values())
        first = min(_time(event.first_seen) for event in object_events)
        row.first_seen = min(first, row.first_seen) if row.first_seen else first
        row.last_seen = max(_time(event.last_seen) for event in object_events)
        row.object_kind, row.object_name = latest.object_kind[:63], latest.object_name[:253]
        row.quota_name, row.resource = parsed["quota"][:253], parsed["resource"][:253]
        row.requested, row.used, row.limited = parsed["requested"], parsed["used"], parsed["limited"]
    QuotaRefusal.objects.bulk_create(created)
    QuotaRefusal.objects.bulk_update(
        changed,
        REFUSAL_FIELDS,
        batch_size=500,
    )
    QuotaRefusal.objects.filter(cluster=cluster, last_seen__lt=now - QuotaRefusal.RETENTION).delete()
    return len(created) + len(changed)


def _time(value: str) -> datetime:
    moment = parse_datetime(value)
    return moment if moment is not None else timezone.now()


@dataclass(frozen=True)
class RefusalRow:
    refusal: QuotaRefusal
    #: A change_quota form with the refused key pre-filled at used + asked; empty when the quota is not
    #: one the portal manages or the user may not ask for this team.
    request_url: str


def recent_refusals(namespace: TeamNamespace, user, *, limit: int = RECENT) -> list[RefusalRow]:
    """The namespace's latest refusals as a page shows them, each with its one-click request for more."""
    refusals = QuotaRefusal.objects.visible_to(user).filter(namespace=namespace)[:limit]
    may_request = roles.can_request_for(user, namespace.team)
    indexes = {quota.get("name"): index for index, quota in enumerate(namespace.quotas or [])}
    rows = []
    for refusal in refusals:
        url = ""
        index = indexes.get(refusal.quota_name)
        if may_request and index is not None and refusal.resource in QUOTA_KEY_NAMES and refusal.suggested:
            query = urlencode(
                {
                    "cluster": namespace.cluster.name,
                    "namespace": namespace.name,
                    f"quota|{index}|{refusal.resource}": refusal.suggested,
                }
            )
            url = f"{reverse('request-new', args=['change_quota'])}?{query}"
        rows.append(RefusalRow(refusal, url))
    return rows
