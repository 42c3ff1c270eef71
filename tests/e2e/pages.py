"""Every page of the portal, as the user of each journey opens it, for the tests that visit them all."""

from datetime import timedelta

from django.test import RequestFactory
from django.utils import timezone
from django.views.defaults import server_error
from playwright.sync_api import Locator, Page

from notifications import delivery
from teams import conversation, workflow
from teams.models import AuditEvent
from tests.requests import ask_for_gpus

#: (who, path, text the page must show): who is None for a visitor who has not signed in; `{pending}` is
#: a pending request of research-lead's, `{sent_back}` one an approver asked changes to, `{granted}` an approved
#: time-boxed one and `{grant}` its grant (journey_requests);
#: `/500/` is the portal's 500 page as the server sends it.
PAGES = [
    ("research-lead", "/teams/", "ml-research"),
    ("research-lead", "/namespaces/ml-research/", "ml-research-quota"),
    ("research-lead", "/requests/new/change_quota/?namespace=ml-research", "Justification"),
    ("research-lead", "/requests/new/create_namespace/", "Namespace name"),
    ("research-lead", "/requests/", "ml-research"),
    ("research-lead", "/requests/{pending}/", "Request"),
    ("research-lead", "/requests/{pending}/cancel/", "Cancel request"),
    ("research-lead", "/requests/{sent_back}/", "Changes requested"),
    ("research-lead", "/requests/{sent_back}/edit/", "Justification"),
    ("research-lead", "/requests/{granted}/", "Time-boxed grant"),
    ("research-lead", "/grants/{grant}/extend/", "Extend the grant"),
    ("research-lead", "/notifications/", "asked for changes"),
    ("research-lead", "/notifications/settings/", "What reaches you"),
    ("approver", "/queue/", "Guaranteed GPUs"),
    ("approver", "/cluster/", "guaranteed"),
    ("approver", "/requests/{pending}/", "Grant part of it"),
    ("approver", "/notifications/webhooks/", "Add a webhook"),
    ("approver", "/rules/", "Auto-approval rules"),
    ("approver", "/rules/new/", "Save the rule"),
    ("finance", "/chargeback/", "Chargeback"),
    ("finance", "/chargeback/periods/", "Month-end"),
    ("finance", "/profile/", "Create token"),
    ("research-member", "/teams/", "ml-research"),
    ("research-member", "/queue/", "Not allowed"),
    ("research-member", "/namespaces/ml-production/", "Not found"),
    ("research-member", "/500/", "Something went wrong"),
    ("approver", "/api/schema/swagger/", "GPU Quota Portal API"),
    (None, "/accounts/login/", "Sign in"),
]

#: Where a page's own text is: the portal's <main>, or the whole page for Swagger UI's.
CONTENT = {"/api/schema/swagger/": ".swagger-ui .info"}


def journey_requests(world) -> dict[str, int]:
    """The requests the pages show: one pending, one sent back for changes with a conversation, one granted until
    a date."""
    pending = ask_for_gpus(world, world.namespace("ml-research"), "12")
    sent_back = ask_for_gpus(world, world.namespace("ml-research"), "10")
    workflow.request_changes(sent_back.pk, actor=world.approver, note="Would 9 do until March?")
    conversation.add_comment(sent_back, actor=world.research_member, body="We run 10 jobs at once.")
    for event in AuditEvent.objects.filter(verb__in=["request.changes_requested", "request.commented"]):
        delivery.fan_out(event.pk)
    granted = ask_for_gpus(world, world.namespace("ml-research"), "14", until=timezone.localdate() + timedelta(days=9))
    workflow.approve_request(granted.pk, actor=world.approver)
    return {"pending": pending.pk, "sent_back": sent_back.pk, "granted": granted.pk, "grant": granted.grant.pk}


def open_page(page: Page, base_url: str, path: str) -> None:
    """Open `path`; `/500/` shows the bytes the portal's 500 handler sends, at the portal's origin."""
    if path == "/500/":
        body = server_error(RequestFactory().get("/teams/")).content
        page.route(f"{base_url}/500/", lambda route: route.fulfill(status=500, body=body, content_type="text/html"))
    page.goto(f"{base_url}{path}")
    page.wait_for_load_state("networkidle")


def page_text(page: Page, path: str) -> str:
    return page.locator(CONTENT.get(path, "main")).first.inner_text()


def scrolls_sideways(page: Page) -> bool:
    """Whether the page is wider than the window: a phone user would have to scroll it sideways."""
    return page.evaluate("document.documentElement.scrollWidth > window.innerWidth")


def open_decision(row: Locator) -> None:
    """Open a queue row's decision: the queue fetches its approve, changes and reject forms only then."""
    row.locator(".decision summary").click()
    row.locator(".decision-forms form").first.wait_for()
