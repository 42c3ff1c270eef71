"""Oversized forms and text no database can store, refused at the door with a 400 naming the limit or field.

A NUL in a path, a filter or a form value would reach a lookup or a row and end in a 500 on
PostgreSQL; a form beyond DATA_UPLOAD_MAX_MEMORY_SIZE (teams.limits.MAX_BODY_BYTES) would be
Django's bare 400. Here each is a 400 that says what to change, whatever view it was meant
for. JSON bodies are bounded and checked, key by key, by the API's parser with the same rules.
"""

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils.html import escape

from teams.limits import UNSTORABLE, UNSTORABLE_MESSAGE


class RefuseHostileInput:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            field_name = unstorable_field(request)
        except RequestDataTooBig:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return refusal(request, f"The request body is larger than the limit of {limit} bytes.")
        except TooManyFieldsSent:
            limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
            return refusal(request, f"The form has more than the limit of {limit} fields.")
        if field_name is None:
            return self.get_response(request)
        return refusal(request, f"Fix the fields named in `fields`: {field_name}.", field_name)


def unstorable_field(request: HttpRequest) -> str | None:
    """The first input (the path, a query parameter, a form field) holding NUL or a lone surrogate, or None."""
    if UNSTORABLE.search(request.path_info):
        return "path"
    for source in (request.GET, request.POST):
        for key, values in source.lists():
            if UNSTORABLE.search(key):
                return "parameter name"
            if any(UNSTORABLE.search(value) for value in values):
                return key
    return None


def refusal(request: HttpRequest, detail: str, field_name: str | None = None) -> HttpResponse:
    """The API's one error body under /api/, a short page elsewhere."""
    if request.path_info.startswith("/api/"):
        from teams.api.errors import body  # imported late: it needs the apps loaded

        fields = {field_name: [UNSTORABLE_MESSAGE]} if field_name else {}
        return JsonResponse(body(400, "invalid", detail, fields), status=400)
    text = f"{field_name}: {UNSTORABLE_MESSAGE}" if field_name else detail
    return HttpResponseBadRequest(f"<!doctype html><title>Bad request</title><p>{escape(text)}</p>")
