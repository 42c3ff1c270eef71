"""Celery tasks of the ground floor: time-boxed grants warned about and ended on time (teams.grants).

The task only finds what is due: every change goes through teams.workflow (end_grant), whose
conditional update ends a grant at most once however many beats or redeliveries run it. A
worker killed mid-run loses only an uncommitted transaction, which the next beat does again;
a reversion approved before the kill is sent on by provisioning.resume_requests.
"""

import logging

from celery import shared_task
from django.utils import timezone

from teams import grants, workflow
from teams.models import Grant

logger = logging.getLogger(__name__)


@shared_task(name="teams.end_grants", acks_late=True, reject_on_worker_lost=True, max_retries=0)
def end_grants() -> dict:
    """Warn of grants ending soon and end those due; beat runs it every GRANT_CHECK_INTERVAL_SECONDS."""
    now = timezone.now()
    warned = grants.warn_expiring(now)
    ended = 0
    for grant_id in Grant.objects.active().filter(ends_at__lte=now).values_list("pk", flat=True):
        try:
            workflow.end_grant(grant_id, now=now)
        except Exception:
            # One grant that cannot end (a database error) must not hold back the others; the next beat tries again.
            logger.exception("grant.end_failed", extra={"grant": grant_id})
        else:
            ended += 1
    return {"warned": warned, "ended": ended}
