"""Signals through which the workflow tells other apps what happened, without importing them.

`apply_requested` is sent after the commit that approved a request or retried a failed
one; provisioning connects to it in its AppConfig.ready() and enqueues the apply task.
"""

from django.dispatch import Signal

#: Sent with `request_id` once the transaction that made the request ready to apply commits.
apply_requested = Signal()
