"""Finance closes October: the closed report stands to the cent, late usage is billed in November, reopening shows it.

The month is scripted as it happens: research-lead asks for 12 guaranteed GPUs and an
approver grants them on Oct 11 (the samples then follow the approved quota, as sync
stores them: tests/chargeback/conftest.py), the GPU price changes on Oct 16, the beat
task rolls October up, finance closes it; then the samples of the four hours that were
missing on Oct 21 arrive late.
"""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from chargeback.models import BillingPeriod, HourlyUsage, UsageAdjustment
from chargeback.periods import changes_since_closing, close_period, month_report, reopen_period
from chargeback.reports import ReportQuery, build_report
from chargeback.rollups import restart_from, roll_up
from provisioning.models import Cluster, UsageSample
from teams import workflow
from teams.admin import RateForm
from teams.models import AuditEvent, GpuTier, Rate
from tests.chargeback.conftest import GPU, at, write_october
from tests.requests import ask_for_gpus

OCTOBER = date(2026, 10, 1)
NOVEMBER = ReportQuery(start=at(1, month=11), end=at(1, month=12), group_by="namespace")
CLOSING_TIME = datetime(2026, 11, 2, 9, tzinfo=UTC)


@pytest.fixture
def closed_october(world, settings):
    settings.CHARGEBACK_MAX_GAP_SECONDS = 7200
    high = GpuTier.objects.get(slug="high-priority")
    Rate.objects.create(tier=high, resource="cpu", kind="reserved", effective_from=OCTOBER, price="0.05")
    Rate.objects.create(tier=high, resource="memory", kind="reserved", effective_from=OCTOBER, price="0.01")
    research = world.namespace("ml-research")
    request = ask_for_gpus(world, research, "12")
    workflow.approve_request(request.pk, actor=world.approver, note="For the deadline.")
    Rate.objects.create(tier=high, resource="gpu", kind="reserved", effective_from=at(16).date(), price="3.0")
    write_october(world)
    roll_up(now=at(2, month=11), max_hours=10_000)
    close_period(OCTOBER, actor=world.finance, now=CLOSING_TIME)
    return world


def write_late_samples(world) -> None:
    """The GPU samples of Oct 21 01:00-04:00, which sync could not store then: 12 guaranteed, 12 in use."""
    cluster = Cluster.objects.get(name="default")
    research = world.namespace("ml-research")
    UsageSample.objects.bulk_create(
        UsageSample(
            cluster=cluster, namespace=research, quota_name="ml-research-quota", resource=GPU,
            time=at(21, hour), hard=Decimal(12), used=Decimal(12),
        )
        for hour in range(1, 5)
    )  # fmt: skip


def test_closing_stores_the_report_with_who_and_when_and_audits_it(closed_october):
    period = BillingPeriod.objects.get(month=OCTOBER)

    assert (period.state, period.closed_by, period.closed_at) == ("closed", closed_october.finance, CLOSING_TIME)
    assert (
        period.snapshot["totals"]["cost_total"]
        == month_report(OCTOBER, viewer=closed_october.finance)["totals"]["cost_total"]
    )
    research = next(row for row in period.snapshot["rows"] if row["group"] == "ml-research")
    # 3,360 GPU-hours at 2.40 until Oct 16, 4,560 at 3.00 after.
    assert research["cost_gpu_reserved"] == "21744.00"
    event = AuditEvent.objects.get(verb="period.closed")
    assert (event.actor, event.target) == (closed_october.finance, "period:2026-10")
    assert event.after["cost_total"] == period.snapshot["totals"]["cost_total"]


def test_only_finance_closes_and_only_a_month_rolled_up_to_its_end(closed_october):
    with pytest.raises(PermissionDenied, match="finance"):
        close_period(date(2026, 9, 1), actor=closed_october.approver)
    with pytest.raises(ValidationError, match="November 2026 can be closed once it is over"):
        close_period(date(2026, 11, 1), actor=closed_october.finance)
    with pytest.raises(ValidationError, match="October 2026 is closed already"):
        close_period(OCTOBER, actor=closed_october.finance)


def test_a_rate_that_would_price_a_closed_day_is_refused_by_the_admin_form_and_by_any_other_writer(closed_october):
    high = GpuTier.objects.get(slug="high-priority")
    form = RateForm(
        data={"tier": high.pk, "resource": "gpu", "kind": "reserved", "effective_from": "2026-10-20", "price": "9"}
    )

    assert not form.is_valid()
    assert form.errors["effective_from"] == [
        "October 2026 is closed: its prices are part of a closed report and cannot change "
        "(a rate from 2026-10-20 would price it)."
    ]
    with pytest.raises(ValidationError, match="October 2026 is closed"), transaction.atomic():
        Rate.objects.create(tier=high, resource="gpu", kind="burst", effective_from=date(2026, 9, 1), price="9")
    with pytest.raises(ValidationError, match="October 2026 is closed"), transaction.atomic():
        Rate.objects.get(tier=high, resource="gpu", kind="reserved", effective_from=at(16).date()).delete()
    Rate.objects.create(tier=high, resource="gpu", kind="reserved", effective_from=date(2026, 11, 10), price="3.1")
    assert Rate.objects.filter(price=Decimal("9")).count() == 0


def test_late_samples_are_billed_in_november_and_october_stays_as_closed_to_the_cent(closed_october):
    closed = BillingPeriod.objects.get(month=OCTOBER).snapshot
    write_late_samples(closed_october)

    roll_up(now=at(2, 1, month=11), max_hours=10_000)

    october = month_report(OCTOBER, viewer=closed_october.finance)
    assert (october["rows"], october["totals"]) == (closed["rows"], closed["totals"])
    november = build_report(NOVEMBER, viewer=closed_october.finance, now=at(2, 1, month=11))
    adjustment = [row for row in november["rows"] if row["line"] == "adjustment"]
    assert [(row["group"], row["adjusts"], row["period_start"][:10]) for row in adjustment] == [
        ("ml-research", "2026-10", "2026-11-01")
    ]
    # The 4 unknown hours become 4 h x 12 GPUs reserved and used, at Oct 21's price (3.00).
    assert (
        adjustment[0]["gpu_reserved_hours"],
        adjustment[0]["gpu_used_hours"],
        adjustment[0]["gpu_unknown_hours"],
        adjustment[0]["cost_gpu_reserved"],
    ) == ("48.000000", "48.000000", "-4.000000", "144.00")
    usage = [row for row in november["rows"] if row["group"] == "ml-research" and row["line"] == "usage"]
    assert Decimal(november["totals"]["cost_total"]) == Decimal(usage[0]["cost_total"]) + Decimal(
        adjustment[0]["cost_total"]
    ) + sum(Decimal(row["cost_total"]) for row in november["rows"] if row["group"] == "ml-experiments")


def test_rolling_up_again_books_nothing_twice(closed_october):
    write_late_samples(closed_october)
    roll_up(now=at(2, 1, month=11), max_hours=10_000)
    booked = list(UsageAdjustment.objects.order_by("hour").values_list("hour", "gpu_reserved"))

    restart_from(at(20))
    roll_up(now=at(2, 2, month=11), max_hours=10_000)

    assert list(UsageAdjustment.objects.order_by("hour").values_list("hour", "gpu_reserved")) == booked
    assert [hour for hour, _ in booked] == [at(21, hour) for hour in range(1, 5)]


def test_reopening_brings_the_late_hours_home_shows_the_difference_and_is_audited(closed_october):
    write_late_samples(closed_october)
    roll_up(now=at(2, 1, month=11), max_hours=10_000)
    billed_in_november = build_report(NOVEMBER, viewer=closed_october.finance, now=at(2, 1, month=11))
    adjustment = next(row for row in billed_in_november["rows"] if row["line"] == "adjustment")

    period = reopen_period(OCTOBER, actor=closed_october.finance, now=at(3, month=11))

    assert period.state == "open"
    assert not UsageAdjustment.objects.exists()
    changes = changes_since_closing(period, viewer=closed_october.finance)
    assert [(change.namespace, change.differences["cost_total"]) for change in changes] == [
        ("ml-research", Decimal(adjustment["cost_total"]))
    ]
    assert changes[0].differences["gpu_reserved_hours"] == Decimal(48)
    event = AuditEvent.objects.get(verb="period.reopened")
    assert event.actor == closed_october.finance
    assert Decimal(event.after["cost_total"]) - Decimal(event.before["cost_total"]) == Decimal(adjustment["cost_total"])
    # What reopening made of October is what integrating it afresh with every sample makes of it.
    reopened = month_report(OCTOBER, viewer=closed_october.finance)
    restart_from(at(1))
    roll_up(now=at(3, month=11), max_hours=10_000)
    assert month_report(OCTOBER, viewer=closed_october.finance)["rows"] == reopened["rows"]


def test_a_month_whose_corrections_sit_in_a_closed_month_reopens_only_after_that_one(closed_october):
    write_late_samples(closed_october)
    roll_up(now=at(2, 1, month=11), max_hours=10_000)
    roll_up(now=at(2, month=12), max_hours=10_000)
    close_period(date(2026, 11, 1), actor=closed_october.finance)

    with pytest.raises(ValidationError, match="billed in November 2026, which is closed: reopen that month first"):
        reopen_period(OCTOBER, actor=closed_october.finance)
    reopen_period(date(2026, 11, 1), actor=closed_october.finance)
    reopen_period(OCTOBER, actor=closed_october.finance)


def test_a_late_sample_for_an_open_month_is_left_to_an_operators_restart_as_before(closed_october):
    """Late detection is for closed months only: an open month's hours are not integrated again on their own."""
    roll_up(now=at(2, 1, month=11), max_hours=10_000)
    research = closed_october.namespace("ml-research")
    noon = HourlyUsage.objects.get(namespace=research, hour=at(1, 0, month=11)).gpu_reserved
    UsageSample.objects.create(
        cluster=Cluster.objects.get(name="default"), namespace=research, quota_name="ml-research-quota",
        resource=GPU, time=at(1, 0, month=11), hard=Decimal(1), used=Decimal(1),
    )  # fmt: skip

    roll_up(now=at(2, 2, month=11), max_hours=10_000)

    assert HourlyUsage.objects.get(namespace=research, hour=at(1, 0, month=11)).gpu_reserved == noon
    assert not UsageAdjustment.objects.exists()
