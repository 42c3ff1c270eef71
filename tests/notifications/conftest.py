"""Real peers for the notifications: an SMTP server (aiosmtpd) and an HTTP webhook receiver, run by the test."""

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from notifications import signing


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Mailbox:
    """What the SMTP server accepted; it answers the first attempt to `refuse_once` with a 451."""

    refuse_once: str = ""
    refused: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.refuse_once and address not in self.refused:
            self.refused.append(address)
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        return [message for message in self.messages if address in message["X-Envelope-To"]]


@pytest.fixture
def smtp_server(settings) -> Iterator[Mailbox]:
    """A real SMTP server on a free port, and the portal's mail settings pointing at it."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.NOTIFICATIONS_RETRY_BACKOFF_SECONDS = 1
    try:
        yield mailbox
    finally:
        controller.stop()


@dataclass
class Receiver:
    """A webhook receiver that checks each body's signature; `answers` maps an event verb to the status
    codes of its first deliveries, in turn (200 after them)."""

    secret: str = ""
    answers: dict[str, list[int]] = field(default_factory=dict)
    hang: bool = False
    received: list[dict] = field(default_factory=list)
    url: str = ""

    def accepted(self) -> list[dict]:
        return [item for item in self.received if item["status"] == 200 and item["signed"]]


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    settings.NOTIFICATIONS_RETRY_BACKOFF_SECONDS = 1
    settings.NOTIFICATIONS_WEBHOOK_TIMEOUT_SECONDS = 2
    state = Receiver()
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state.hang:
                release.wait(30)  # never answers in time; freed when the test ends
                return
            verb = json.loads(body)["event"]["verb"]
            pending = state.answers.get(verb) or []
            status = pending.pop(0) if pending else 200
            state.received.append(
                {
                    "status": status,
                    "signed": signing.verify(
                        state.secret,
                        body,
                        self.headers.get(signing.TIMESTAMP_HEADER, ""),
                        self.headers.get(signing.SIGNATURE_HEADER, ""),
                    ),
                    "delivery": self.headers.get(signing.DELIVERY_HEADER),
                    "body": json.loads(body),
                }
            )
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/hooks/portal"
    try:
        yield state
    finally:
        release.set()
        server.shutdown()
        server.server_close()
