from django import forms

from notifications.models import Channel, Topic, Webhook, chosen
from teams.limits import MAX_TOKEN_NAME_LENGTH
from teams.models import Team

#: The channels a person chooses per topic; webhooks are a team's, configured by approvers.
PERSONAL_CHANNELS = [Channel.PORTAL, Channel.EMAIL]


class WebhookForm(forms.ModelForm):
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        help_text="An incoming-webhook address (Slack, Mattermost, Teams, or your own receiver).",
    )

    class Meta:
        model = Webhook
        fields = ["name", "url", "team"]
        labels = {"team": "Team (empty: every team's events)"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].max_length = MAX_TOKEN_NAME_LENGTH
        self.fields["team"].queryset = Team.objects.order_by("slug")
        self.fields["team"].required = False

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url.lower().startswith(("https://", "http://")):
            raise forms.ValidationError("Use an http:// or https:// address.")
        return url


def preference_key(topic: str, channel: str) -> str:
    return f"{topic}|{channel}"


def preference_grid(choices: dict[tuple[str, str], bool]) -> list[dict]:
    """One row per topic, one checkbox per channel, as the person chose (the topic's default where they did not)."""
    return [
        {
            "topic": topic,
            "label": label,
            "cells": [
                {
                    "channel": channel,
                    "name": preference_key(topic, channel),
                    "on": chosen(topic, choices, (topic, channel)),
                }
                for channel in PERSONAL_CHANNELS
            ],
        }
        for topic, label in Topic.choices
    ]
