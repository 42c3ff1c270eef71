"""Gunicorn's configuration, from the environment: `gunicorn --config python:portal.gunicorn portal.wsgi`.

The image's default command and `make serve` both use it, so a laptop and a pod run the same server.
Access lines go to stdout as one JSON object each (JsonAccessLogger), for log collectors that parse JSON.
"""

import json
from datetime import UTC, datetime

from gunicorn.glogging import Logger

from portal import env

bind = [env.get_str("WEB_BIND", "0.0.0.0:8000")]
#: Processes; each holds its own database connection and cluster clients.
workers = env.get_int("WEB_CONCURRENCY", 2, minimum=1)
#: Threads per process (gthread worker): pages wait on PostgreSQL and the API server, not on the CPU.
threads = env.get_int("WEB_THREADS", 4, minimum=1)
#: A request still running after this many seconds has its worker restarted.
timeout = env.get_int("WEB_TIMEOUT", 30, minimum=1)
#: On SIGTERM (a rolling update), requests in flight get this long to finish; below the pod's grace period.
graceful_timeout = env.get_int("WEB_GRACEFUL_TIMEOUT", 25, minimum=1)
keepalive = env.get_int("WEB_KEEPALIVE_SECONDS", 5, minimum=0)
#: A worker is replaced after about this many requests (0: never), which bounds slow memory growth.
max_requests = env.get_int("WEB_MAX_REQUESTS", 2000, minimum=0)
max_requests_jitter = max_requests // 10

accesslog = "-" if env.get_bool("WEB_ACCESS_LOG", True) else None
errorlog = "-"
loglevel = env.get_str("LOG_LEVEL", "INFO").lower()
logger_class = "portal.gunicorn.JsonAccessLogger"

#: The control socket (gunicornc) would be created under $HOME, which is read-only in the pod; nothing uses it.
control_socket_disable = True


class JsonAccessLogger(Logger):
    """One JSON object per request; json.dumps escapes what a format string would not (quotes in a user agent)."""

    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        headers = {name.lower(): value for name, value in resp.headers}
        line = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "INFO",
            "logger": "gunicorn.access",
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING", ""),
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "forwarded_for": environ.get("HTTP_X_FORWARDED_FOR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "referer": environ.get("HTTP_REFERER"),
            # The portal answers with the request id it logged under; the client's own when it sent one.
            "request_id": headers.get("x-request-id") or environ.get("HTTP_X_REQUEST_ID"),
        }
        self.access_log.info(json.dumps(line))
