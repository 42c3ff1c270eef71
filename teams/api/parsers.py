import re

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

from teams.api.errors import NON_FIELD

#: No text column can store these: PostgreSQL refuses NUL, and a surrogate left unpaired
#: after decoding cannot be encoded as UTF-8 by any database driver.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class PortalJSONParser(JSONParser):
    """JSON, where a document nested deeper than Python recurses, or text no database can store,
    is bad input (400 naming the field), not a crash."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
            refuse_unstorable_text(data)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        return data


def refuse_unstorable_text(value: object, path: str = "") -> None:
    """Raise a ValidationError naming the first field whose text holds NUL or an unpaired surrogate."""
    if isinstance(value, dict):
        for key, item in value.items():
            if UNSTORABLE.search(key):  # the key itself is not named: it could not be shown either
                raise ValidationError({path or NON_FIELD: ["Keys must not contain NUL or unpaired surrogates."]})
            refuse_unstorable_text(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_unstorable_text(item, f"{path}[{index}]")
    elif isinstance(value, str) and UNSTORABLE.search(value):
        raise ValidationError({path or NON_FIELD: ["Must not contain NUL characters or unpaired surrogates."]})
