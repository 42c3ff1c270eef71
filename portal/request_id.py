"""Every web request gets a request id that its log lines, its tasks' lines and its response carry.

The id comes from the client's (or the proxy's) `X-Request-ID` when it is a plain token, so a
trace that began upstream goes on here; otherwise one is made up. It is returned in the
response's `X-Request-ID`. The context is released when the response is closed, after Django's
own response logging ("Not Found: ...") has run, so that line carries it too.
"""

import re
import uuid
from collections.abc import Callable

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

from portal import logs

HEADER = "X-Request-ID"
#: What an incoming id may be; anything else (too long, spaces, quotes) is replaced, never logged.
ACCEPTED = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")


def _release(**kwargs) -> None:
    logs.release()


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        request_finished.connect(_release, dispatch_uid="portal.request_id.release")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(HEADER, "")
        request.request_id = incoming if ACCEPTED.fullmatch(incoming) else uuid.uuid4().hex
        logs.serve(request)
        response = self.get_response(request)
        response[HEADER] = request.request_id
        return response
