"""The Celery broker as the probes and metrics see it: reachable, and how many tasks wait.

Through kombu, the client Celery itself uses, so the same code serves Redis, RabbitMQ
and the embedded SQLAlchemy broker.
"""

from urllib.parse import urlsplit

from kombu import Connection


class BrokerUnreachable(Exception):
    """The broker did not answer within the timeout; the message never holds a password."""


def queue_length(url: str, queue: str, *, timeout: float) -> int:
    """Messages waiting in `queue`, asking the broker itself; raises BrokerUnreachable.

    Redis counts the messages no worker has taken yet (its priority lists); the SQLAlchemy
    transport counts those a worker holds unacknowledged too.
    """
    try:
        with Connection(url, connect_timeout=timeout, transport_options=_transport_options(url, timeout)) as connection:
            channel = connection.default_channel
            try:
                return channel.queue_declare(queue, passive=True).message_count
            except connection.channel_errors:
                # Redis and RabbitMQ answer "no such queue" for a queue nothing was ever sent to (or, for
                # Redis, one emptied): nothing waits in it.
                return 0
    except Exception as error:  # each transport raises its own kinds; all mean the same to a probe
        raise BrokerUnreachable(f"{describe(url)}: {type(error).__name__}: {error}") from None


def describe(url: str) -> str:
    """The broker's scheme, host and port, without its credentials."""
    parts = urlsplit(url)
    if parts.scheme.startswith("sqla+sqlite"):
        return f"{parts.scheme} file {parts.path}"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


def _transport_options(url: str, timeout: float) -> dict:
    # Only the Redis transport takes socket timeouts; the SQLAlchemy one hands its options to create_engine.
    if url.startswith(("redis", "rediss")):
        return {"socket_connect_timeout": timeout, "socket_timeout": timeout, "max_retries": 0}
    return {"max_retries": 0}
