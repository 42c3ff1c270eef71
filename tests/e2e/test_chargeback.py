"""Finance and a team lead read chargeback in a real browser in the first hour: this month so far, provisional."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from provisioning.models import UsageSample
from teams.models import Cluster
from tests.e2e.pages import scrolls_sideways
from tests.e2e.test_phone_width import DESKTOP, PHONE

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GPU = "requests.nvidia.com/gpu"


@pytest.fixture
def first_hour(world):
    """Two raw samples of ml-research this month and nothing rolled up: what a fresh demo has."""
    cluster = Cluster.objects.get_default()
    now = timezone.now()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for moment, used in ((max(now - timedelta(minutes=50), month_start), "4"), (now - timedelta(seconds=1), "6")):
        UsageSample.objects.create(
            cluster=cluster,
            namespace=world.namespace("ml-research"),
            quota_name="ml-research-quota",
            resource=GPU,
            time=moment,
            hard=Decimal(8),
            used=Decimal(used),
        )
    return world


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "desktop"])
def test_finance_sees_this_month_provisional_groups_by_namespace_and_downloads_the_csv(
    first_hour, sign_in, live_server, screenshots, viewport
):
    finance = sign_in("finance")
    finance.set_viewport_size(viewport)
    finance.goto(f"{live_server.url}/")
    finance.wait_for_url("**/chargeback/")  # finance in no team lands on chargeback
    assert not scrolls_sideways(finance)

    today = timezone.now().date()
    assert finance.get_by_label("From").input_value() == today.replace(day=1).isoformat()
    assert finance.get_by_label("To (inclusive)").input_value() == today.isoformat()
    assert "Provisional:" in finance.locator(".provisional").inner_text()
    assert "GPU-hours reserved" in finance.locator("#grand-totals + p").inner_text()
    finance.get_by_label("Group by").select_option("namespace")
    finance.get_by_role("button", name="Show").click()
    finance.wait_for_url("**group_by=namespace**")
    assert [" ".join(row.split()) for row in finance.locator("tbody th[scope=row]").all_inner_texts()] == [
        "ml-research (research) ml-research"
    ]
    assert not scrolls_sideways(finance)
    finance.locator(".chargeback-chart rect.reserved").first.focus()
    finance.screenshot(path=screenshots / f"chargeback-finance-{viewport['width']}.png", full_page=True)

    with finance.expect_download() as download:
        finance.get_by_role("link", name="Download all as CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert [(row["group"], row["cost_center"]) for row in rows] == [("ml-research", "rd-001")]
    assert Decimal(rows[0]["gpu_reserved_hours"]) > 0


def test_a_lead_sees_their_own_teams_costs_only(first_hour, sign_in, live_server, screenshots):
    lead = sign_in("platform-lead")
    lead.goto(f"{live_server.url}/chargeback/")
    assert lead.get_by_text("No usage was recorded in this period.").is_visible()

    lead = sign_in("research-lead")
    lead.get_by_role("link", name="Chargeback").click()
    lead.wait_for_url("**/chargeback/")
    assert lead.locator("section.card h2").all_inner_texts() == ["Grand total", "rd-001 Research & Development"]
    assert "Data Science" not in lead.content()
    lead.screenshot(path=screenshots / "chargeback-lead.png", full_page=True)
