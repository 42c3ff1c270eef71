"""Pages for team leads, members and approvers; thin: the rules live in policy and workflow."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from teams.models import Team, TeamNamespace


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Everyone lands on what matters to them."""
    return redirect("dashboard")


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    teams = Team.objects.visible_to(request.user).select_related("cost_center", "default_tier")
    namespaces = TeamNamespace.objects.live().filter(team__in=teams).select_related("team__cost_center", "tier")
    return render(request, "teams/dashboard.html", {"teams": teams, "namespaces": namespaces})
