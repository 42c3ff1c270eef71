import codecs
import json

from django.conf import settings
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

from teams.api.errors import NON_FIELD
from teams.limits import MAX_BODY_BYTES, UNSTORABLE, UNSTORABLE_MESSAGE


class PortalJSONParser(JSONParser):
    """JSON, where what no Python or database can hold is bad input (a 400 naming the field), not a crash.

    The API reads the body itself, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE does not bound it:
    the parser reads at most MAX_BODY_BYTES. A key given twice is refused rather than
    silently last-wins: a body with two `kind`s or two limits for one resource is a mistake.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise ParseError(f"The request body is larger than the limit of {MAX_BODY_BYTES} bytes.")
        try:
            data = json.loads(
                codecs.decode(raw, encoding),
                object_pairs_hook=_Object.from_pairs,
                parse_constant=strict_constant if self.strict else None,
            )
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        except ValueError as error:  # also undecodable bytes and integers beyond Python's 4300 digits
            raise ParseError(f"JSON parse error - {error}") from None
        try:
            refuse_unstorable_text(data)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        return data


class _Object(dict):
    """A JSON object that remembers the keys it was given more than once."""

    duplicates: tuple[str, ...] = ()

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, object]]) -> "_Object":
        result = cls(pairs)
        if len(result) != len(pairs):
            seen: set[str] = set()
            result.duplicates = tuple(key for key, _ in pairs if key in seen or seen.add(key))
        return result


def refuse_unstorable_text(value: object, path: str = "") -> None:
    """Raise a ValidationError naming the first key given twice, or the first field whose text holds
    what no database can store (NUL, an unpaired surrogate)."""
    if isinstance(value, dict):
        if any(UNSTORABLE.search(key) for key in value):  # the key itself is not named: it could not be shown
            raise ValidationError({path or NON_FIELD: ["Keys must not contain NUL or unpaired surrogates."]})
        if duplicates := getattr(value, "duplicates", ()):
            key = duplicates[0]
            raise ValidationError({f"{path}.{key}" if path else key: ["Given more than once; give it once."]})
        for key, item in value.items():
            refuse_unstorable_text(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_unstorable_text(item, f"{path}[{index}]")
    elif isinstance(value, str) and UNSTORABLE.search(value):
        raise ValidationError({path or NON_FIELD: [UNSTORABLE_MESSAGE]})
