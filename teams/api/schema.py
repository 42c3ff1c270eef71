"""The OpenAPI schema: every operation documents the one error body it can answer with."""

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class CapacitySerializer(serializers.Serializer):
    capacity = serializers.IntegerField(allow_null=True, help_text="Allocatable GPUs; null before the first sync.")
    guaranteed_now = serializers.IntegerField()
    guaranteed_after = serializers.IntegerField()


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx answer (teams.api.errors)."""

    status = serializers.IntegerField()
    code = serializers.CharField(help_text="Machine-readable: invalid, not_found, capacity_exceeded, ...")
    detail = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per field, named as the policy or the serializer names them.",
    )
    capacity = CapacitySerializer(required=False, help_text="Only with code capacity_exceeded.")


#: Answers any operation can give: bad input, no or bad credentials, not allowed, not found,
#: and a token over its rate.
COMMON_ERRORS = ("400", "401", "403", "404", "429")
#: Answers of operations that change something: a request in the wrong state, capacity.
WRITE_ERRORS = ("409",)


class PortalAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = COMMON_ERRORS + (WRITE_ERRORS if self.method in ("POST", "PUT", "PATCH", "DELETE") else ())
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ("415",)
        for code in codes:
            responses.setdefault(code, self._get_response_for_code(ErrorSerializer, code, direction=direction))
        return responses
