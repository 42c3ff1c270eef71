"""Budgets: October's forecast against a hand computation, and each crossing told exactly once, to the right people."""

import re
from datetime import UTC, datetime
from decimal import Decimal

from django.urls import reverse

from chargeback.budgets import check_budgets, forecasts, grant_impacts
from chargeback.models import Budget
from notifications.routing import audience, message_for
from teams.models import AuditEvent, CostCenter, TeamNamespace
from tests.chargeback.conftest import at
from tests.requests import ask_for_gpus

OCT_16 = datetime(2026, 10, 16, tzinfo=UTC)


def budgets() -> tuple[Budget, Budget]:
    research = Budget.objects.create(
        cost_center=CostCenter.objects.get(code="rd-001"), gpu_hours=Decimal(7000), amount=Decimal(20000)
    )
    science = Budget.objects.create(cost_center=CostCenter.objects.get(code="ds-001"), gpu_hours=Decimal(2000))
    return research, science


def test_the_forecast_on_october_16_is_what_a_hand_computes(october):
    research, science = budgets()
    live = TeamNamespace.objects.live().filter(team__cost_center__code="rd-001", guaranteed_gpus__gt=0)
    assert list(live.values_list("name", "guaranteed_gpus")) == [("ml-research", 8)]

    by_budget = {forecast.budget: forecast for forecast in forecasts([research, science], now=OCT_16)}

    # rd-001, 360 h gone and 384 h left. Spent: 240 h x 8 + 120 h x 12 = 3,360 GPU-hours reserved (at 2.40:
    # 8,064.00), CPU 64 cores x 360 h x 0.05 = 1,152.00, memory 256 GiB x 360 h x 0.01 = 921.60.
    # Guaranteed now: 8 GPUs x 384 h = 3,072 GPU-hours, 7,372.80; the rest at its rate so far: 2,073.60 / 360 x 384.
    rd = by_budget[research]
    assert (rd.actual_gpu_hours, rd.forecast_gpu_hours) == (Decimal(3360), Decimal("6432.00"))
    assert (rd.actual_amount, rd.forecast_amount) == (Decimal("10137.60"), Decimal("19722.24"))
    assert (rd.percent("gpu_hours", "forecast"), rd.percent("amount", "forecast")) == (Decimal("91.9"), Decimal("98.6"))
    # ds-001: best effort, all burst: 2 GPUs used since Oct 1 03:00 = 714 GPU-hours at 0.80; nothing guaranteed,
    # so the forecast runs at 714 / 360 GPU-hours an hour for 384 more hours.
    ds = by_budget[science]
    assert (ds.actual_gpu_hours, ds.forecast_gpu_hours) == (Decimal(714), Decimal("1475.60"))
    assert (ds.actual_amount, ds.forecast_amount) == (Decimal("571.20"), Decimal("1180.48"))
    assert ds.percent("amount", "forecast") is None  # no amount set


def test_each_crossing_is_told_once_and_to_finance_and_the_cost_centers_leads(october):
    budgets()

    assert check_budgets(now=OCT_16) == 2  # rd-001 forecast past 80% in GPU-hours and in money
    assert check_budgets(now=at(16, 1)) == 0
    assert check_budgets(now=at(31, 23)) == 6  # reached 80% and 100%, forecast 100%, in both measures
    assert check_budgets(now=at(31, 23)) == 0

    told = AuditEvent.objects.filter(verb="budget.crossed").order_by("pk")
    assert [(e.after["measure"], e.after["basis"], e.after["threshold"]) for e in told] == [
        ("gpu_hours", "forecast", 80),
        ("amount", "forecast", 80),
        ("gpu_hours", "actual", 80),
        ("gpu_hours", "actual", 100),
        ("gpu_hours", "forecast", 100),
        ("amount", "actual", 80),
        ("amount", "actual", 100),
        ("amount", "forecast", 100),
    ]
    first = told[0]
    assert message_for(first).text == (
        "The monthly budget of cost center rd-001 is forecast to reach 91.9% "
        "(6432.00 of 7000.00 GPU-hours, period from 2026-10-01)"
    )
    assert {user.username for user in audience(first, message_for(first))} == {"finance", "research-lead"}
    assert first.actor.username == "gpu-portal-system"


def test_a_new_period_is_told_again(october):
    budgets()
    check_budgets(now=at(31, 23))

    # Nov 1 12:00: 8 guaranteed GPUs for the 708 h left are 5,664 GPU-hours, past 80% of 7,000 again.
    assert check_budgets(now=at(1, 12, month=11)) == 1

    november = AuditEvent.objects.filter(verb="budget.crossed").order_by("pk").last()
    assert (november.after["period_start"], november.after["basis"], november.after["threshold"]) == (
        "2026-11-01",
        "forecast",
        80,
    )


def test_the_queue_shows_what_a_grant_does_to_the_budget(october, client):
    budgets()
    request = ask_for_gpus(october, october.namespace("ml-research"), "16")

    # 8 more guaranteed GPUs for the 384 h left: 3,072 GPU-hours onto a forecast of 6,432, of 7,000.
    assert grant_impacts([(request, 8)], now=OCT_16) == {
        request.pk: "this grant adds 3,072 GPU-hours this month, forecast 136% of the Research & Development budget"
    }
    client.force_login(october.approver)
    page = client.get(reverse("queue")).content.decode()
    assert re.search(r"Budget impact: this grant adds [\d,]+ GPU-hours this month, forecast \d+% of the Research", page)
