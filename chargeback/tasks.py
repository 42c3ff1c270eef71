"""Periodic chargeback work: roll raw samples up (then check budgets), prune the raw samples past retention,
propose downsizes."""

from dataclasses import asdict

from celery import shared_task
from django.utils import timezone

from chargeback import budgets, idle, rollups
from provisioning.locks import task_lock


@shared_task(name="chargeback.rollup_usage", acks_late=True, reject_on_worker_lost=True)
def rollup_usage() -> dict:
    """Idempotent: every run continues from the watermark, so a redelivery repeats nothing."""
    with task_lock("chargeback.rollup_usage") as held:
        if not held:
            return {"skipped": "another rollup holds the lock"}
        result = rollups.roll_up()
        alerts = budgets.check_budgets(now=timezone.now())
    summary = asdict(result)
    summary["budget_alerts"] = alerts
    summary["complete_until"] = result.complete_until.isoformat() if result.complete_until else None
    return summary


@shared_task(name="chargeback.prune_samples", acks_late=True, reject_on_worker_lost=True)
def prune_samples() -> dict:
    with task_lock("chargeback.prune_samples") as held:
        if not held:
            return {"skipped": "another prune holds the lock"}
        return {"deleted": rollups.prune_samples()}


@shared_task(name="chargeback.propose_downsizes", acks_late=True, reject_on_worker_lost=True)
def propose_downsizes() -> dict:
    """Daily; idempotent: a namespace with an open proposal, or a recently declined one, gets no other."""
    with task_lock("chargeback.propose_downsizes") as held:
        if not held:
            return {"skipped": "another scan holds the lock"}
        return {"proposed": idle.propose_downsizes(timezone.now())}
