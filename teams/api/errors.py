"""One error body for the whole API, and the workflow's exceptions mapped to status codes.

    {"status": 409, "code": "capacity_exceeded", "detail": "...", "fields": {}, "capacity": {...}}

`fields` maps each field to its messages, named exactly as the policy or the serializer
names them (`quotas[ml-research-quota].hard[requests.nvidia.com/gpu]`); it is empty
when the error is about the request as a whole.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from teams.workflow import CapacityExceeded, InvalidTransition

NON_FIELD = "non_field_errors"


def exception_handler(exc, context) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        # PolicyError is one: its message_dict already names each field as the policy does.
        fields = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD: exc.messages}
        return error_response(400, "invalid", _summary(fields), fields)
    if isinstance(exc, CapacityExceeded):
        return error_response(409, "capacity_exceeded", str(exc), capacity=exc.impact.as_dict())
    if isinstance(exc, InvalidTransition):
        return error_response(409, "invalid_transition", str(exc))
    if isinstance(exc, DjangoPermissionDenied):
        # The workflow's own message says who may do this; keep it rather than DRF's generic one.
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: let it be a 500 with a traceback in the log
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten(exc.detail)
        response.data = body(response.status_code, "invalid", _summary(fields), fields)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        response.data = body(response.status_code, code if isinstance(code, str) else "error", str(detail))
    return response


@csrf_exempt
def not_found(request, *args, **kwargs) -> JsonResponse:
    """Any /api/ path no route matches: the same 404 body as every other, never an HTML page."""
    return JsonResponse(body(404, "not_found", "Not found."), status=404)


def error_response(status_code: int, code: str, detail: str, fields: dict | None = None, **extra) -> Response:
    set_rollback()
    return Response(body(status_code, code, detail, fields, **extra), status=status_code)


def body(status_code: int, code: str, detail: str, fields: dict | None = None, **extra) -> dict:
    return {"status": status_code, "code": code, "detail": detail, "fields": fields or {}, **extra}


def flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error details as {"field": [...], "parent.child": [...], "items[0].name": [...]}."""
    if isinstance(detail, dict):
        result: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            result.update(flatten(value, name))
        return result
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {prefix or NON_FIELD: [str(item) for item in detail]}
        result = {}
        for index, item in enumerate(detail):
            result.update(flatten(item, f"{prefix}[{index}]"))
        return result
    return {prefix or NON_FIELD: [str(detail)]}


def _summary(fields: dict[str, list[str]]) -> str:
    if list(fields) == [NON_FIELD]:
        return " ".join(fields[NON_FIELD])
    names = ", ".join(fields)
    return f"Fix the fields named in `fields`: {names}." if names else "The request is invalid."
