"""Deliveries on a real Celery worker to a real SMTP server and a real HTTP receiver: exactly once, retried."""

import pytest

from notifications.models import Channel, Delivery, Webhook
from teams import workflow
from teams.models import AuditEvent
from tests.kube import wait_until
from tests.requests import ask_for_gpus

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("cluster"),
]


def approve_sixteen(world, namespace) -> AuditEvent:
    asked = ask_for_gpus(world, namespace, "16")
    workflow.approve_request(asked.pk, actor=world.approver)
    return AuditEvent.objects.get(verb="request.approved", request=asked)


def settled(event: AuditEvent, channel: str) -> list[Delivery]:
    deliveries = list(Delivery.objects.filter(event=event, channel=channel))
    return deliveries if deliveries and all(d.state in ("sent", "failed") for d in deliveries) else []


def test_an_approval_sends_one_email_to_the_requester_even_when_the_server_refuses_the_first_try(
    world, research, smtp_server, worker
):
    smtp_server.refuse_once = "research-lead@gpu-portal.example"

    event = approve_sixteen(world, research)

    [sent] = wait_until(lambda: settled(event, Channel.EMAIL), timeout=60, what="the e-mail delivered")
    assert (sent.state, sent.attempts, sent.address) == ("sent", 2, "research-lead@gpu-portal.example")
    assert smtp_server.refused == ["research-lead@gpu-portal.example"]
    [mail] = [m for m in smtp_server.to("research-lead@gpu-portal.example") if "approved" in m["Subject"]]
    assert "approved request #" in mail["Subject"]
    assert mail["Message-ID"] == f"<delivery-{sent.pk}@gpu-portal>"
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in mail.walk()
        if not part.is_multipart()
    }
    assert f"/requests/{event.request_id}/" in parts["text/plain"]
    assert f'href="http://127.0.0.1:8000/requests/{event.request_id}/"' in parts["text/html"]


def test_a_teams_webhook_gets_one_signed_message_after_a_500(world, research, receiver, worker):
    hook = Webhook.objects.create(name="research", url=receiver.url, team=world.research, created_by=world.approver)
    receiver.secret = hook.secret
    receiver.answers = {"request.approved": [500]}

    event = approve_sixteen(world, research)

    [sent] = wait_until(lambda: settled(event, Channel.WEBHOOK), timeout=60, what="the webhook delivered")
    assert (sent.state, sent.attempts) == ("sent", 2)
    assert [item["status"] for item in receiver.received if item["body"]["event"]["id"] == event.pk] == [500, 200]
    [accepted] = [item for item in receiver.accepted() if item["body"]["event"]["id"] == event.pk]
    assert accepted["delivery"] == str(sent.pk)
    assert accepted["body"]["event"]["verb"] == "request.approved"
    assert accepted["body"]["text"].startswith("approver approved request #")


def test_a_receiver_that_never_answers_is_given_up_on_without_holding_the_worker(
    world, research, receiver, smtp_server, worker, settings
):
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 2
    hook = Webhook.objects.create(name="stuck", url=receiver.url, created_by=world.approver)
    receiver.secret, receiver.hang = hook.secret, True

    event = approve_sixteen(world, research)

    [failed] = wait_until(lambda: settled(event, Channel.WEBHOOK), timeout=60, what="the webhook given up")
    assert (failed.state, failed.attempts) == ("failed", 2)
    assert "timed out" in failed.last_error
    [mail] = wait_until(lambda: settled(event, Channel.EMAIL), timeout=30, what="the e-mail delivered meanwhile")
    assert mail.state == "sent"


def test_a_signature_over_another_body_or_an_old_timestamp_is_refused():
    from notifications import signing

    body = b'{"text":"hello"}'
    fresh = signing.headers("s3cret", body)
    old = signing.headers("s3cret", body, now=1_000_000)

    assert signing.verify("s3cret", body, fresh[signing.TIMESTAMP_HEADER], fresh[signing.SIGNATURE_HEADER])
    assert not signing.verify(
        "s3cret", b'{"text":"hell0"}', fresh[signing.TIMESTAMP_HEADER], fresh[signing.SIGNATURE_HEADER]
    )
    assert not signing.verify("other", body, fresh[signing.TIMESTAMP_HEADER], fresh[signing.SIGNATURE_HEADER])
    assert not signing.verify("s3cret", body, old[signing.TIMESTAMP_HEADER], old[signing.SIGNATURE_HEADER])
