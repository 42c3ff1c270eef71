"""Serializer fields that take a JSON value only of their own type, never a coerced one.

DRF's CharField turns 123 into "123" and its BooleanField takes "yes" and 1: a client that
sends a number as a justification has a bug, and is told so, naming the field and the type.
"""

from rest_framework import serializers

from teams.limits import MAX_BODY_BYTES, text_problem


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type, as an error message says it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string"


class StrictCharField(serializers.CharField):
    """A string, bounded and storable by the same rule as the pages' text (teams.limits)."""

    default_error_messages = {"type": "Must be a string, not {given}."}

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("type", given=json_type(data))
        if problem := text_problem(data, self.max_length or MAX_BODY_BYTES):
            raise serializers.ValidationError(problem, code="invalid")
        return super().to_internal_value(data)


class StrictSlugRelatedField(serializers.SlugRelatedField):
    default_error_messages = {"type": "Must be a string, not {given}."}

    def to_internal_value(self, data: object):
        if not isinstance(data, str):
            self.fail("type", given=json_type(data))
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"type": "Must be true or false, not {given}."}

    def to_internal_value(self, data: object) -> bool:
        if not isinstance(data, bool):
            self.fail("type", given=json_type(data) if not isinstance(data, str) else f"the string {data[:20]!r}")
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: not a string of digits, a float or a boolean."""

    default_error_messages = {"type": "Must be an integer, not {given}."}

    def to_internal_value(self, data: object) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("type", given=json_type(data))
        return super().to_internal_value(data)
