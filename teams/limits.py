"""How much input the portal takes, and which text it can store: one set of bounds for every face.

The API serializers, the HTML forms, live validation, the workflow and the policy all read
their bounds here, so that an input refused on one face is refused on the other with the
same message naming the same limit.
"""

import re

from django.core.exceptions import ValidationError

#: A request body the API parses; a whole namespace spec is a few kilobytes.
MAX_BODY_BYTES = 256 * 1024

#: Free text a person writes and another reads.
MAX_JUSTIFICATION_LENGTH = 4000
MAX_NOTE_LENGTH = 2000
MAX_TOKEN_NAME_LENGTH = 100
#: A name that points at a namespace (a DNS-1123 label) or a team (a slug).
MAX_NAME_LENGTH = 63

#: The shape of a namespace spec.
MAX_QUOTAS = 16
MAX_QUOTA_KEYS = 64
MAX_SCOPE_EXPRESSIONS = 8
MAX_SCOPE_VALUES = 16
MAX_LIMIT_RANGE_ITEMS = 8
MAX_LIMIT_RESOURCES = 32
MAX_LABELS = 32

#: A kubeconfig uploaded to connect a cluster: a few certificates and tokens, even with many contexts.
MAX_KUBECONFIG_BYTES = 256 * 1024

#: A time-boxed grant (teams.grants) lasts at most this many days from the day it is asked for or extended.
MAX_GRANT_DAYS = 366

#: An auto-approval rule's conditions (teams.models.AutoApprovalRule).
MAX_RULE_NAME_LENGTH = 100
MAX_RULE_ORDER = 10_000
MAX_RULE_GPUS = 10_000
MAX_RULE_USAGE_DAYS = 90
MAX_RULE_PER_MONTH = 1_000
MAX_RULE_GRANT_DAYS = 366

#: A chargeback report: how many periods (rows per group) and how long a range.
MAX_REPORT_PERIODS = 400
MAX_REPORT_DAYS = 3 * 366

#: No text column can store these: PostgreSQL refuses NUL, and a surrogate left unpaired
#: after decoding cannot be encoded as UTF-8 by any database driver.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "Must not contain NUL characters or unpaired surrogates."


def text_problem(value: str, max_length: int) -> str | None:
    """What keeps `value` from being stored as text of at most `max_length` characters, or None."""
    if UNSTORABLE.search(value):
        return UNSTORABLE_MESSAGE
    if len(value) > max_length:
        return f"Must be at most {max_length} characters; it has {len(value)}."
    return None


def check_text(field_name: str, value: str, max_length: int) -> None:
    """Raise a ValidationError naming `field_name` when `value` cannot be stored as it is."""
    if problem := text_problem(value, max_length):
        raise ValidationError({field_name: [problem]})


def required_text(field_name: str, value: str, max_length: int, missing: str) -> str:
    """`value` stripped, or a ValidationError naming `field_name`: `missing` when blank, else why it cannot be kept."""
    if not (value or "").strip():
        raise ValidationError({field_name: missing})
    check_text(field_name, value, max_length)
    return value.strip()


def count_problem(what: str, count: int, maximum: int) -> str | None:
    """The message for a list or map of `count` items where at most `maximum` are allowed, or None."""
    if count > maximum:
        return f"At most {maximum} {what}; it has {count}."
    return None
