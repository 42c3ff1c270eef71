"""The namespace's usage chart on day one: the window fits the data, real ticks, values on focus, and a table."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from provisioning.charts import gpu_chart, nice_axis
from provisioning.models import UsageSample
from teams.constants import GUARANTEED_GPU_KEY
from teams.models import Cluster

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("maximum", "top", "ticks"),
    [
        ("4.5", "6", ["0", "2", "4", "6"]),
        ("13", "15", ["0", "5", "10", "15"]),
        ("7920", "8000", ["0", "2000", "4000", "6000", "8000"]),
        ("0", "1", ["0", "1"]),
    ],
)
def test_an_axis_ends_at_a_round_value_above_the_largest(maximum, top, ticks):
    end, values = nice_axis(Decimal(maximum))

    assert (f"{end:f}", [f"{value:f}" for value in values]) == (top, ticks)


def record_first_half_hour(world, now: datetime):
    """ml-research's first samples, 30 minutes before `now`: 4 of 8 GPUs, then 6, then an hourly heartbeat."""
    cluster = Cluster.objects.get_default()
    namespace = world.namespace("ml-research")
    for minutes, used in ((30, "4"), (10, "6"), (5, "6")):
        UsageSample.objects.create(
            cluster=cluster,
            namespace=namespace,
            quota_name="ml-research-quota",
            resource=GUARANTEED_GPU_KEY,
            time=now - timedelta(minutes=minutes),
            hard=Decimal(8),
            used=Decimal(used),
        )
    return namespace


@pytest.fixture
def first_half_hour(world):
    return record_first_half_hour(world, NOW)


def test_a_24h_chart_of_half_an_hour_of_data_shows_that_half_hour(first_half_hour):
    chart = gpu_chart(first_half_hour, "24h", now=NOW)

    assert (chart.start, chart.end) == (NOW - timedelta(minutes=30), NOW)
    assert [label for _, label in chart.y_ticks] == ["0", "2", "4", "6", "8"]
    assert [label for _, label in chart.x_ticks] == ["09:30", "09:35", "09:40", "09:45", "09:50", "09:55", "10:00"]
    assert [(step.start.strftime("%H:%M"), step.end.strftime("%H:%M"), step.used) for step in chart.steps] == [
        ("09:30", "09:50", Decimal(4)),
        ("09:50", "10:00", Decimal(6)),
    ]
    assert chart.steps[0].x == 28.0


def test_the_partial_gives_each_stretch_a_focusable_title_and_the_same_data_as_a_table(world, client):
    """The page charts up to the real clock, so its samples are recorded relative to it, not to NOW."""
    namespace = record_first_half_hour(world, timezone.now())
    client.force_login(namespace.team.memberships.get(role="lead").user)

    page = client.get(reverse("usage-chart", args=["default", "ml-research"]), {"range": "24h"}).content.decode()

    assert len(re.findall(r'<rect class="hit"[^>]* tabindex="0"><title>', page)) == 2
    assert re.findall(r"<title>([^<]+)</title>", page)[1].endswith(": 6 used of 8")
    table = page[page.index("<details") :]
    assert re.findall(r'<td class="num">([^<]+)</td>', table) == ["4", "8", "6", "8"]
