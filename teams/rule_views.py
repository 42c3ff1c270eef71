"""Pages of the approval automation: auto-approval rules (approvers) and downsize proposals (team leads)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from teams import autoapproval, roles, workflow
from teams.forms import AutoApprovalRuleForm
from teams.models import AutoApprovalRule, Request


@login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    """Every rule in order, with how often each agreed with the people who decided the same requests."""
    roles.require_approver(request.user)
    agreement = {item.rule.pk: item for item in autoapproval.agreements()}
    rules = [(rule, agreement.get(rule.pk)) for rule in AutoApprovalRule.objects.visible_to(request.user)]
    return render(request, "teams/rule_list.html", {"rules": rules})


@login_required
def rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """A new rule (no pk) or a change to one; the model's checks name each field at fault."""
    roles.require_approver(request.user)
    rule = get_object_or_404(AutoApprovalRule.objects.visible_to(request.user), pk=pk) if pk else None
    before = autoapproval.rule_values(rule) if rule else None
    form = AutoApprovalRuleForm(request.POST if request.method == "POST" else None, instance=rule)
    if request.method == "POST":
        if form.is_valid():
            saved = autoapproval.save_rule(form.save(commit=False), actor=request.user, before=before)
            messages.success(request, f"Rule {saved.name} saved.")
            return redirect("rule-list")
        messages.error(request, "The rule was not saved: fix the fields marked below.")
        return render(request, "teams/rule_form.html", {"form": form, "rule": rule}, status=400)
    return render(request, "teams/rule_form.html", {"form": form, "rule": rule})


@login_required
@require_POST
def proposal_accept(request: HttpRequest, pk: int) -> HttpResponse:
    return _answer(request, pk, lambda: workflow.accept_proposal(pk, actor=request.user), "accepted: it is applied now")


@login_required
@require_POST
def proposal_decline(request: HttpRequest, pk: int) -> HttpResponse:
    note = request.POST.get("note", "")
    return _answer(request, pk, lambda: workflow.decline_proposal(pk, actor=request.user, note=note), "declined")


def _answer(request: HttpRequest, pk: int, answer, done: str) -> HttpResponse:
    get_object_or_404(Request.objects.visible_to(request.user), pk=pk)
    try:
        answer()
    except (workflow.InvalidTransition, workflow.CapacityExceeded, ValidationError) as error:
        text = "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        messages.error(request, f"Proposal #{pk}: {text}")
    else:
        messages.success(request, f"Proposal #{pk} {done}.")
    return redirect("request-detail", pk=pk)
