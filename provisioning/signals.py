"""Provisioning's answer to the workflow's signals."""

import logging

logger = logging.getLogger(__name__)


def enqueue_on_apply_requested(sender, request_id: int, **kwargs) -> None:
    """Enqueue the apply task once an approval or a retry has committed.

    A broker that cannot be reached must not turn a committed approval into an error
    page: the request stays approved and `provisioning.resume_requests` sends it later.
    """
    from provisioning.tasks import enqueue_apply

    try:
        enqueue_apply(request_id)
    except Exception:
        logger.exception("request.enqueue_failed", extra={"request_id": request_id})
