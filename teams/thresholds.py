"""At what share of its hard quota a namespace warns its team: the portal's default, a tier's, a team's.

Thresholds are whole percents written as "80,95". The most specific setting wins: the
team's, else its namespace's tier's, else QUOTA_WARNING_THRESHOLDS from the environment.
The sync (provisioning.quota_warnings) reads them from rows it has loaded anyway, so
resolving them costs no query.
"""

from django.conf import settings
from django.core.exceptions import ValidationError

#: At most this many thresholds: more would be noise, not warnings.
MAX_THRESHOLDS = 5


def parse_thresholds(text: str) -> tuple[int, ...]:
    """ "80, 95" -> (80, 95): distinct whole percents from 1 to 100, ascending; raise ValueError saying why."""
    values = set()
    for part in text.split(","):
        part = part.strip()
        if not (part.isascii() and part.isdigit()) or not 1 <= int(part) <= 100:
            raise ValueError(f"{part!r} is not a whole percent from 1 to 100; write e.g. 80,95.")
        values.add(int(part))
    if len(values) > MAX_THRESHOLDS:
        raise ValueError(f"At most {MAX_THRESHOLDS} thresholds; there are {len(values)}.")
    return tuple(sorted(values))


def validate_thresholds(text: str) -> None:
    """The model fields' validator: empty means "inherit", anything else must parse."""
    if not text.strip():
        return
    try:
        parse_thresholds(text)
    except ValueError as error:
        raise ValidationError(str(error)) from None


def warning_thresholds(team, tier) -> tuple[int, ...]:
    """The thresholds that apply to a namespace of `team` in `tier`: the team's, the tier's or the default."""
    for text in (team.quota_warning_thresholds, tier.quota_warning_thresholds):
        if text.strip():
            try:
                return parse_thresholds(text)
            except ValueError:  # written around the validators (a shell, a fixture): the next level applies
                continue
    return settings.QUOTA_WARNING_THRESHOLDS
