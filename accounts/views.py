"""The profile page: a person's API tokens, created (the key shown once), listed and revoked."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.actions import create_api_token, revoke_api_token
from accounts.forms import ApiTokenForm
from accounts.models import ApiToken


@never_cache
@login_required
def profile(request: HttpRequest) -> HttpResponse:
    new_key = None
    status = 200
    if request.method == "POST":
        form = ApiTokenForm(request.POST)
        if form.is_valid():
            _, new_key = create_api_token(user=request.user, **form.token_values())
            form = ApiTokenForm()
            status = 201
        else:
            status = 400
    else:
        form = ApiTokenForm()
    tokens = ApiToken.objects.visible_to(request.user)
    return render(request, "accounts/profile.html", {"form": form, "tokens": tokens, "new_key": new_key}, status=status)


@login_required
@require_POST
def revoke_token(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken.objects.visible_to(request.user), pk=pk)
    revoke_api_token(token, actor=request.user)
    messages.success(request, f"Token {token.display_prefix}… ({token.name}) revoked.")
    return redirect("profile")
