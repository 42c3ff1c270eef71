from datetime import timedelta

from django import forms
from django.utils import timezone

from teams.limits import MAX_TOKEN_NAME_LENGTH

#: (days, label) a new token may live; 0 never expires.
LIFETIMES = [(30, "30 days"), (90, "90 days"), (365, "1 year"), (0, "Never")]
ACCESS = [("read", "Read-only: read everything you can see, change nothing"), ("write", "Read and write")]


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=MAX_TOKEN_NAME_LENGTH, help_text="What the token is for, e.g. 'monthly finance export'."
    )
    access = forms.ChoiceField(choices=ACCESS, initial="read", widget=forms.RadioSelect)
    lifetime = forms.TypedChoiceField(choices=LIFETIMES, coerce=int, initial=90, label="Expires after")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Name the token after what uses it.")
        return name

    def token_values(self) -> dict:
        days = self.cleaned_data["lifetime"]
        return {
            "name": self.cleaned_data["name"],
            "read_only": self.cleaned_data["access"] == "read",
            "expires_at": timezone.now() + timedelta(days=days) if days else None,
        }
