"""The profile page: a person's API tokens, created (the key shown once), listed and revoked."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache

from accounts.actions import create_api_token, revoke_api_token
from accounts.forms import ApiTokenForm
from accounts.models import ApiToken

#: The session slot that carries a new key across the redirect after its creation, read once and dropped.
NEW_KEY_SESSION = "accounts.new_api_token"


@never_cache
@login_required
def profile(request: HttpRequest) -> HttpResponse:
    """Post/redirect/get: reloading the page after creating a token shows it again, never creates a second."""
    if request.method == "POST":
        form = ApiTokenForm(request.POST)
        if form.is_valid():
            _, request.session[NEW_KEY_SESSION] = create_api_token(user=request.user, **form.token_values())
            return redirect("profile")
        status = 400
    else:
        form = ApiTokenForm()
        status = 200
    tokens = ApiToken.objects.visible_to(request.user)
    new_key = request.session.pop(NEW_KEY_SESSION, None)
    return render(request, "accounts/profile.html", {"form": form, "tokens": tokens, "new_key": new_key}, status=status)


@never_cache
@login_required
def revoke_token(request: HttpRequest, pk: int) -> HttpResponse:
    """A GET asks to confirm (no script needed); the POST from that page revokes."""
    token = get_object_or_404(ApiToken.objects.visible_to(request.user), pk=pk)
    if request.method != "POST":
        return render(request, "accounts/token_revoke.html", {"token": token})
    revoke_api_token(token, actor=request.user)
    messages.success(request, f"Token {token.display_prefix}… ({token.name}) revoked.")
    return redirect("profile")
