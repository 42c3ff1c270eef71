"""The main menu, built once per page from what the signed-in user may open."""

from django.http import HttpRequest
from django.urls import reverse

from teams.roles import can_decide, can_read_chargeback


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    items = [("dashboard", "Dashboard"), ("request-list", "Requests")]
    if can_decide(user):
        items += [
            ("queue", "Approval queue"),
            ("rule-list", "Rules"),
            ("cluster-overview", "Cluster"),
            ("webhooks", "Webhooks"),
        ]
    if can_read_chargeback(user):
        items.append(("chargeback:report", "Chargeback"))
    items += [("profile", "API tokens"), ("swagger-ui", "API")]
    entries = []
    for name, label in items:
        url = reverse(name)
        entries.append({"url": url, "label": label, "active": request.path.startswith(url) and url != "/"})
    return {"navigation": entries}
