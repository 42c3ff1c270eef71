"""Text no database can store, refused at the door for the URL, its query and every form field.

A NUL in a path, a filter or a form value would reach a lookup or a row and end in a 500 on
PostgreSQL; here it is a 400 naming the field, whatever view it was meant for. JSON bodies
are checked, key by key, by the API's parser with the same rule (teams.limits).
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils.html import escape

from teams.limits import UNSTORABLE, UNSTORABLE_MESSAGE


class RefuseUnstorableInput:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        field_name = unstorable_field(request)
        if field_name is None:
            return self.get_response(request)
        if request.path_info.startswith("/api/"):
            from teams.api.errors import body  # the API's one error body; imported late, it needs the apps

            detail = f"Fix the fields named in `fields`: {field_name}."
            return JsonResponse(body(400, "invalid", detail, {field_name: [UNSTORABLE_MESSAGE]}), status=400)
        return HttpResponseBadRequest(
            f"<!doctype html><title>Bad request</title><p>{escape(field_name)}: {UNSTORABLE_MESSAGE}</p>"
        )


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
