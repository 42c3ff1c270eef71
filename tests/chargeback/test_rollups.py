"""Rollups: incremental, idempotent, carried across runs; retention; the beat task."""

from datetime import date, timedelta

from django.conf import settings
from django.core.management import call_command
from django.db.models import Sum

from chargeback import tasks
from chargeback.models import METRICS, DailyUsage, HourlyUsage, RollupState
from chargeback.rollups import prune_samples, restart_from, roll_up
from provisioning.models import UsageSample
from teams.models import GpuTier
from tests.chargeback.conftest import at, write_october
from tests.clusters import connect


def hourly_table() -> list[tuple]:
    return list(HourlyUsage.objects.order_by("namespace_id", "hour").values_list("namespace_id", "hour", *METRICS))


def test_rolling_up_hour_by_hour_equals_rolling_up_at_once_and_repeating_changes_nothing(world, settings):
    settings.CHARGEBACK_MAX_GAP_SECONDS = 7200
    write_october(world)
    roll_up(now=at(2, month=11), max_hours=10_000)
    at_once = hourly_table()
    RollupState.objects.all().delete()
    HourlyUsage.objects.all().delete()

    moment = at(1, 7)
    while moment <= at(2, month=11):  # a run every 7 hours: the state crosses each watermark in checkpoints
        roll_up(now=moment + timedelta(minutes=5), max_hours=7)
        moment += timedelta(hours=7)
    roll_up(now=at(2, month=11))

    assert hourly_table() == at_once
    assert len(at_once) == 31 * 24 * 2 + 23 * 2  # two namespaces, October and Nov 1 until 23:00


def test_a_steady_quota_sampled_once_is_billed_while_any_other_key_shows_sync_is_watching(world, settings):
    settings.CHARGEBACK_MAX_GAP_SECONDS = 7200
    cluster = connect("default", is_default=True)
    research = world.namespace("ml-research")
    UsageSample.objects.create(
        cluster=cluster, namespace=research, quota_name="q", resource="requests.nvidia.com/gpu",
        time=at(1), hard=8, used=8,
    )  # fmt: skip
    for hour in range(1, 48):
        UsageSample.objects.create(
            cluster=cluster, namespace=research, quota_name="q", resource="pods",
            time=at(1) + timedelta(hours=hour), hard=50, used=hour % 5,
        )  # fmt: skip

    for hour in range(1, 49):  # one run per hour: the GPU value crosses 47 watermarks in checkpoints
        roll_up(now=at(1) + timedelta(hours=hour, minutes=5), max_hours=1)

    totals = HourlyUsage.objects.aggregate(reserved=Sum("gpu_reserved"), unknown=Sum("gpu_unknown"))
    assert totals == {"reserved": 48 * 3600 * 8000, "unknown": 0}


def test_an_hour_is_rolled_up_only_once_the_delay_has_passed(world):
    write_october(world)

    early = roll_up(now=at(1, 1) + timedelta(seconds=settings.CHARGEBACK_ROLLUP_DELAY_SECONDS - 1))
    late = roll_up(now=at(1, 1) + timedelta(seconds=settings.CHARGEBACK_ROLLUP_DELAY_SECONDS))

    assert (early.hours, early.complete_until) == (0, None)
    assert (late.hours, late.complete_until) == (1, at(1, 1))


def test_daily_rows_are_the_sums_of_their_hours(october):
    daily = DailyUsage.objects.filter(namespace__name="ml-research", day=date(2026, 10, 21)).get()
    hourly = HourlyUsage.objects.filter(namespace__name="ml-research", day=date(2026, 10, 21)).aggregate(
        **{name: Sum(name) for name in METRICS}
    )

    assert {name: getattr(daily, name) for name in METRICS} == hourly
    assert (daily.week, daily.month) == (date(2026, 10, 19), date(2026, 10, 1))
    assert DailyUsage.objects.count() == 31 * 2 + 0  # Nov 1 is not complete until its last hour is rolled up


def test_restarting_from_a_moment_recomputes_the_same_rows(october):
    before = hourly_table()

    restart_from(at(20, 13))
    roll_up(now=at(2, month=11), max_hours=10_000)

    assert hourly_table() == before


def test_past_rows_keep_the_tier_they_were_billed_in(october):
    research = october.namespace("ml-research")
    research.tier = GpuTier.objects.get(slug="critical")
    research.save()

    tiers = set(HourlyUsage.objects.filter(namespace=research).values_list("tier__slug", flat=True))

    assert tiers == {"high-priority"}


def test_pruning_keeps_what_is_not_rolled_up_or_within_retention(october, settings):
    settings.CHARGEBACK_RAW_RETENTION_DAYS = 30
    RollupState.objects.filter(name=RollupState.HOURLY).update(complete_until=at(2))
    before = UsageSample.objects.count()

    deleted = prune_samples(now=at(2, month=11))

    assert UsageSample.objects.order_by("time").first().time == at(2)  # the watermark, not retention (Oct 3)
    assert deleted == before - UsageSample.objects.count() == 4 * 24 + 24


def test_the_beat_task_rolls_up_and_prunes_and_is_scheduled(world, settings):
    write_october(world)

    rolled = tasks.rollup_usage()
    pruned = tasks.prune_samples()

    assert rolled["hours"] == settings.CHARGEBACK_ROLLUP_MAX_HOURS
    assert rolled["complete_until"] == (at(1) + timedelta(hours=settings.CHARGEBACK_ROLLUP_MAX_HOURS)).isoformat()
    # Retention (35 days before today) is past October: the watermark (Oct 8) is the limit.
    assert pruned == {"deleted": 7 * 24 * 5}
    assert settings.CELERY_BEAT_SCHEDULE["chargeback-rollup"]["task"] == "chargeback.rollup_usage"
    assert settings.CELERY_BEAT_SCHEDULE["chargeback-prune"]["task"] == "chargeback.prune_samples"


def test_the_management_command_reports_what_it_did(world, capsys):
    write_october(world)

    call_command("rollup_usage", "--max-hours", "24")

    assert capsys.readouterr().out == (
        "24 hours (48 rows) and 1 days (2 rows) rolled up; complete until 2026-10-02 00:00:00+00:00.\n"
    )


def test_pruning_keeps_what_the_30_day_chart_reads_whatever_the_retention(october, settings):
    settings.CHARGEBACK_RAW_RETENTION_DAYS = 7
    now = at(31, hour=12)

    prune_samples(now=now)

    oldest = UsageSample.objects.order_by("time").first().time
    # 30 days and the chargeback's maximum gap (two hourly heartbeats) back: Oct 1, 10:00.
    assert oldest == now - timedelta(days=30, hours=2)
