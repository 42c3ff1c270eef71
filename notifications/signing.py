"""How a webhook body is signed, so that its receiver can tell it came from the portal, and when.

    X-GPU-Portal-Timestamp: 1764681600
    X-GPU-Portal-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>" with the webhook's secret>

A receiver recomputes the signature over the raw body and refuses a timestamp older than a
few minutes, so that a captured request cannot be replayed later (`verify` does both).
"""

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-GPU-Portal-Timestamp"
SIGNATURE_HEADER = "X-GPU-Portal-Signature"
DELIVERY_HEADER = "X-GPU-Portal-Delivery"
VERSION = "v1"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, body, timestamp)}


def verify(secret: str, body: bytes, timestamp: str, signature: str, *, tolerance: int = 300) -> bool:
    """True if `signature` is the portal's over `body` at `timestamp`, and that time is recent."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, int(timestamp)), signature)
