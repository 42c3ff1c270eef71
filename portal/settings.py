"""Django settings, read from the environment (every variable: docs/operations.md, "Settings reference").

The embedded defaults run the whole portal on one machine with no servers: an SQLite
file and a Celery broker on SQLite, both under `var/`. Production sets DATABASE_URL,
CELERY_BROKER_URL, SECRET_KEY and ALLOWED_HOSTS.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

from portal import env
from teams.limits import MAX_BODY_BYTES
from teams.thresholds import parse_thresholds

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env.get_str("PORTAL_DATA_DIR", str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.get_bool("DEBUG", False)

# A random key per start only under DEBUG; production's is checked (env.get_secret_key) before anything runs.
SECRET_KEY = env.get_str("SECRET_KEY", get_random_secret_key()) if DEBUG else env.get_secret_key("SECRET_KEY")

ALLOWED_HOSTS = env.get_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.get_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "axes",
    "teams",
    "provisioning",
    "chargeback",
    "accounts",
    "notifications",
    "monitoring",
]

MIDDLEWARE = [
    # First, so that every line logged while serving a request carries its id.
    "portal.request_id.RequestIdMiddleware",
    # Before the host and HTTPS checks: the kubelet's probes and Prometheus reach pods by IP over plain
    # HTTP (monitoring/middleware.py).
    "monitoring.middleware.ProbeEndpoints",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "teams.middleware.RefuseHostileInput",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a lockout flagged during sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

#: Forms are bounded like API bodies (the API's parser reads its own, with the same bound).
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES

ROOT_URLCONF = "portal.urls"

# HTTPS. Production defaults pass `manage.py check --deploy`; a plain-HTTP lab turns off SECURE_SSL_REDIRECT,
# SECURE_COOKIES and SECURE_HSTS_SECONDS (docs/operations.md). Behind a proxy that ends TLS, TRUST_PROXY_HEADERS lets
# its X-Forwarded-Proto say the request was HTTPS and its X-Forwarded-For name the client; never set it without
# such a proxy, or any client could claim either.
TRUST_PROXY_HEADERS = env.get_bool("TRUST_PROXY_HEADERS", False)
if TRUST_PROXY_HEADERS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.get_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.get_bool("SECURE_COOKIES", not DEBUG)
SECURE_HSTS_SECONDS = env.get_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.get_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env.get_bool("SECURE_HSTS_PRELOAD", True)

# Content-Security-Policy, with DEBUG too so that the browser tests see what production enforces: every
# script and style comes from the portal's own static files; no inline script, style or eval.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.navigation.navigation",
                "portal.live.live_updates",
                "notifications.context.unread",
            ],
        },
    },
]

WSGI_APPLICATION = "portal.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        env.get_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'portal.sqlite3'}"),
        conn_max_age=env.get_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while a Celery worker writes.
    DATABASES["default"]["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    # A file, not memory, so that a Celery worker process in the tests sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-portal.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# English only, no catalogs ship: without the translation machinery every number and date a page
# renders skips a lookup of the language (BENCHMARKS.md, Load).
USE_I18N = False
USE_TZ = True

# Every asset is served by the portal itself (WhiteNoise): GPU clusters are often air-gapped.
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# Sign-in throttling (django-axes): SIGNIN_FAILURE_LIMIT failed sign-ins for one user name, or from one
# address, lock further sign-ins of that name or address for SIGNIN_LOCKOUT_MINUTES (each failure during the
# lock starts it again). Admins see the attempts in the admin and can delete one to lift its lock.
AUTHENTICATION_BACKENDS = [
    "accounts.signin.SignInThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.get_int("SIGNIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.get_int("SIGNIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.signin.lockout_response"
AXES_CLIENT_IP_CALLABLE = "accounts.signin.client_address"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Log lines carry their context (request id, user; in tasks the task and the portal request it serves):
# JSON lines for a log pipeline in production, readable `key=value` lines for people in the demo and DEBUG.
LOG_FORMAT = env.get_choice("LOG_FORMAT", ("plain", "json"), "plain" if DEBUG else "json")
# --- Single sign-on (OpenID Connect, mozilla-django-oidc; docs/operations.md "Single sign-on") -------------------
# Off by default: the demo keeps local accounts. The pieces below are always installed and look at OIDC_ENABLED on
# each request, so that turning it on needs nothing but the environment. The provider's endpoints are not settings:
# they come from its discovery document, fetched when first needed and cached (accounts/provider.py).
OIDC_ENABLED = env.get_bool("OIDC_ENABLED", False)
OIDC_ISSUER = env.get_str("OIDC_ISSUER", "").rstrip("/")
OIDC_DISCOVERY_URL = env.get_str(
    "OIDC_DISCOVERY_URL", f"{OIDC_ISSUER}/.well-known/openid-configuration" if OIDC_ISSUER else ""
)
OIDC_DISCOVERY_CACHE_SECONDS = env.get_int("OIDC_DISCOVERY_CACHE_SECONDS", 3600, minimum=0)
OIDC_RP_CLIENT_ID = env.get_str("OIDC_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = env.get_str("OIDC_CLIENT_SECRET", "")
OIDC_RP_SCOPES = env.get_str("OIDC_SCOPES", "openid email profile")
OIDC_RP_SIGN_ALGO = env.get_str("OIDC_SIGN_ALGORITHM", "RS256")
# Pick the provider's signing key by the ID token's key id; turn off only for a provider whose tokens name none.
OIDC_VERIFY_KID = env.get_bool("OIDC_VERIFY_KID", True)
OIDC_PROVIDER_NAME = env.get_str("OIDC_PROVIDER_NAME", "single sign-on")
OIDC_GROUPS_CLAIM = env.get_str("OIDC_GROUPS_CLAIM", "groups")
OIDC_USERNAME_CLAIM = env.get_str("OIDC_USERNAME_CLAIM", "preferred_username")
# A provider that sends this claim as false has deactivated the person: the sign-in is refused and their API tokens
# stop. A provider that never sends it changes nothing.
OIDC_ACTIVE_CLAIM = env.get_str("OIDC_ACTIVE_CLAIM", "active")
OIDC_LOCAL_SIGNIN = env.get_bool("OIDC_LOCAL_SIGNIN", True)
# The API tokens of a person who signs in through the provider work while the provider confirmed them (a sign-in, a
# session renewal or a refresh of their tokens) at most this long ago; past it a token check asks the provider again.
OIDC_PROVIDER_CHECK_SECONDS = env.get_int("OIDC_PROVIDER_CHECK_SECONDS", 3600, minimum=60)
# A browser session is renewed at the provider when its ID token expires, or after this long if that comes first.
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = env.get_int("OIDC_SESSION_RENEW_SECONDS", 900, minimum=60)
OIDC_TIMEOUT = env.get_int("OIDC_TIMEOUT_SECONDS", 10, minimum=1)
OIDC_USE_PKCE = env.get_bool("OIDC_USE_PKCE", True)
OIDC_STORE_ID_TOKEN = True  # the logout's id_token_hint, and the session's lifetime (accounts/sso_views.py)
OIDC_CALLBACK_CLASS = "accounts.sso_views.CallbackView"
OIDC_AUTHENTICATE_CLASS = "accounts.sso_views.SignInView"
if OIDC_ENABLED:
    for _name in ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"):
        env.get_str(_name)  # required once single sign-on is on: names the missing variable at start-up
    # The sign-out form posts to the portal, which redirects to the provider's end-session page: browsers hold that
    # redirect to the form's form-action.
    _provider = urlsplit(OIDC_DISCOVERY_URL)
    if _provider.scheme not in ("http", "https") or not _provider.netloc:
        raise ImproperlyConfigured(f"OIDC_ISSUER or OIDC_DISCOVERY_URL must be an http(s) URL: {OIDC_DISCOVERY_URL!r}")
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(f"{_provider.scheme}://{_provider.netloc}")
AUTHENTICATION_BACKENDS.append("accounts.backends.ProviderBackend")
MIDDLEWARE.insert(MIDDLEWARE.index("axes.middleware.AxesMiddleware"), "accounts.middleware.ProviderSessionRefresh")
# --- end of single sign-on ----------------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "portal.logs.ContextFilter"}},
    "formatters": {
        "plain": {"()": "portal.logs.KeyValueFormatter"},
        "json": {"()": "portal.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": env.get_str("LOG_LEVEL", "INFO")},
    # django-axes logs every sign-in at INFO; its lockouts (WARNING) are the lines worth reading.
    "loggers": {"axes": {"level": "WARNING"}},
}

REST_FRAMEWORK = {
    # Token first: its authenticate_header makes a request without credentials a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.permissions.TokenScopePermission",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "teams.api.pagination.PagePagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.ApiTokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_token": env.get_str("API_TOKEN_THROTTLE_RATE", "1200/min")},
    "DEFAULT_SCHEMA_CLASS": "teams.api.schema.PortalAutoSchema",
    "EXCEPTION_HANDLER": "teams.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "teams.api.renderers.PortalBrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["teams.api.parsers.PortalJSONParser"],
    "COERCE_DECIMAL_TO_STRING": True,
}
# The cache holds the API tokens' throttle counts: with several web processes, only a shared
# cache (Redis) makes API_TOKEN_THROTTLE_RATE hold for the whole portal.
CACHES = {"default": env.get_cache("CACHE_URL", "locmem://")}
SPECTACULAR_SETTINGS = {
    "TITLE": "GPU Quota Portal API",
    "DESCRIPTION": "Namespaces, GPU quotas, requests and chargeback for ML teams sharing a Kubernetes cluster.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # validatorUrl: no badge fetched from validator.swagger.io, the portal works air-gapped. deepLinking off:
    # it puts a link inside each operation's expand button, which screen readers cannot reach (nested-interactive).
    "SWAGGER_UI_SETTINGS": {"deepLinking": False, "validatorUrl": None},
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "COMPONENT_SPLIT_REQUEST": True,
}
# The schema and Swagger UI need a signed-in user (teams.roles.can_see_api_schema) unless this is on.
API_SCHEMA_PUBLIC = env.get_bool("API_SCHEMA_PUBLIC", DEBUG)

# Celery: the embedded default is kombu's SQLAlchemy transport on an SQLite file.
CELERY_BROKER_URL = env.get_str("CELERY_BROKER_URL", f"sqla+sqlite:///{DATA_DIR / 'celery-broker.sqlite3'}")
CELERY_RESULT_BACKEND = env.get_str("CELERY_RESULT_BACKEND", "") or None
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
# Celery keeps its hands off logging (portal/celery.py): the worker logs through LOGGING above.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Provisioning: how often usage is read back, and how long a failing cluster is retried. A transient
# error is retried with capped exponential backoff until the deadline; a successful sync of the cluster
# sends the waiting applies at once. An apply not heard of this long after it was due is re-sent.
PROVISIONING_SYNC_INTERVAL = env.get_int("SYNC_INTERVAL_SECONDS", 30, minimum=1)
PROVISIONING_RETRY_DEADLINE = env.get_int("PROVISIONING_RETRY_DEADLINE_SECONDS", 3600, minimum=1)
PROVISIONING_RETRY_BACKOFF = env.get_int("PROVISIONING_RETRY_BACKOFF_SECONDS", 2, minimum=1)
PROVISIONING_RETRY_BACKOFF_MAX = env.get_int("PROVISIONING_RETRY_BACKOFF_MAX_SECONDS", 60, minimum=1)
PROVISIONING_STUCK_AFTER = env.get_int("PROVISIONING_STUCK_AFTER_SECONDS", 300, minimum=1)
# Each cluster's tasks on a queue of its own (`cluster.<name>`), so a worker can run near its cluster.
PROVISIONING_QUEUE_PER_CLUSTER = env.get_bool("PROVISIONING_QUEUE_PER_CLUSTER", False)
if CELERY_BROKER_URL.startswith(("redis", "rediss", "sqs")):
    # These brokers redeliver an unacknowledged task after this long; acks_late tasks rely on it. A retry
    # waits out its countdown in a worker, unacknowledged: a shorter timeout would deliver it twice.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.get_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
    if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= PROVISIONING_RETRY_BACKOFF_MAX:
        raise ImproperlyConfigured(
            "CELERY_VISIBILITY_TIMEOUT must be longer than the longest retry countdown, "
            f"PROVISIONING_RETRY_BACKOFF_MAX_SECONDS ({PROVISIONING_RETRY_BACKOFF_MAX} s)."
        )
USAGE_HEARTBEAT_SECONDS = env.get_int("USAGE_HEARTBEAT_SECONDS", 3600)
AUTO_RECONCILE = env.get_bool("AUTO_RECONCILE", False)
# Beat's record of when each task last ran; in a pod it goes to /tmp, the one writable directory.
CELERY_BEAT_SCHEDULE_FILENAME = env.get_str("CELERY_BEAT_SCHEDULE_FILE", str(DATA_DIR / "celerybeat-schedule"))
# Warnings before a team hits its quota (provisioning.quota_warnings): percents of hard, overridable per
# tier and per team; once warned, a threshold warns again only after usage fell below it by the margin.
try:
    QUOTA_WARNING_THRESHOLDS = parse_thresholds(env.get_str("QUOTA_WARNING_THRESHOLDS", "80,95"))
except ValueError as error:
    raise ImproperlyConfigured(f"QUOTA_WARNING_THRESHOLDS: {error}") from None
QUOTA_WARNING_MARGIN = env.get_int("QUOTA_WARNING_MARGIN", 5, minimum=0)
CELERY_BEAT_SCHEDULE = {
    "sync-usage": {"task": "provisioning.sync_usage", "schedule": PROVISIONING_SYNC_INTERVAL},
    "sync-capacity": {"task": "provisioning.sync_capacity", "schedule": 60},
    "resume-requests": {"task": "provisioning.resume_requests", "schedule": 60},
}

# Probes and metrics (docs/metrics.md). /readyz gives each dependency this long to answer; a probe's
# timeoutSeconds must allow for it. /metrics needs `Authorization: Bearer $METRICS_TOKEN` when the token is
# set; without one it is served only when METRICS_PUBLIC is on (the default under DEBUG, for the demo; in
# production only where a network policy lets nothing but Prometheus reach it), and refused (403) otherwise.
READINESS_TIMEOUT_SECONDS = env.get_int("READINESS_TIMEOUT_SECONDS", 2, minimum=1)
METRICS_TOKEN = env.get_str("METRICS_TOKEN", "")
METRICS_PUBLIC = env.get_bool("METRICS_PUBLIC", DEBUG)

# The cluster the worker provisions: any kubeconfig; the local control plane's by default. In a pod (the
# kubelet sets KUBERNETES_SERVICE_HOST) there is no default kubeconfig: a cluster without one connects as the
# pod's ServiceAccount, whose token and CA the kubelet mounts in KUBE_SERVICE_ACCOUNT_DIR (provisioning.cluster).
KUBE_IN_POD = bool(env.get_str("KUBERNETES_SERVICE_HOST", ""))
KUBE_SERVICE_ACCOUNT_DIR = env.get_str("KUBE_SERVICE_ACCOUNT_DIR", "/var/run/secrets/kubernetes.io/serviceaccount")
KUBECONFIG = env.get_str("KUBECONFIG", "" if KUBE_IN_POD else str(BASE_DIR / ".cluster" / "kubeconfig"))
KUBE_CONTEXT = env.get_str("KUBE_CONTEXT", "" if KUBE_IN_POD else "gpu-portal-worker")
# The name the default cluster gets when the first use creates it from KUBECONFIG and KUBE_CONTEXT.
DEFAULT_CLUSTER_NAME = env.get_str("DEFAULT_CLUSTER_NAME", "default")
# Fernet keys that encrypt kubeconfigs uploaded in the portal (provisioning.credentials), comma-separated: the
# first encrypts, every one decrypts, so a new key goes first and the old one stays until
# `manage.py rotate_cluster_credentials` has re-encrypted every connection. Empty: uploading is refused.
CLUSTER_CREDENTIALS_KEY = env.get_list("CLUSTER_CREDENTIALS_KEY", [])

# seed_demo's password for every demo user, so a demo can be scripted.
DEMO_PASSWORD = env.get_str("DEMO_PASSWORD", "gpu-portal-demo")

# Chargeback: GPU-hours and cost per cost center, team, namespace and tier (chargeback/integration.py).
CHARGEBACK_CURRENCY = env.get_str("CHARGEBACK_CURRENCY", "USD")
# A namespace without any sample for longer than this is unknown (not billed): two heartbeats.
CHARGEBACK_MAX_GAP_SECONDS = env.get_int("CHARGEBACK_MAX_GAP_SECONDS", 2 * USAGE_HEARTBEAT_SECONDS)
# An hour is rolled up this long after it ends, once the sync that closes it has surely written.
CHARGEBACK_ROLLUP_DELAY_SECONDS = env.get_int("CHARGEBACK_ROLLUP_DELAY_SECONDS", 300)
CHARGEBACK_ROLLUP_INTERVAL_SECONDS = env.get_int("CHARGEBACK_ROLLUP_INTERVAL_SECONDS", 300)
# At most this many hours per run, so that catching up after an outage happens in bounded steps.
CHARGEBACK_ROLLUP_MAX_HOURS = env.get_int("CHARGEBACK_ROLLUP_MAX_HOURS", 24 * 7)
# Raw samples older than this (and already rolled up) are deleted; 0 keeps them forever. The usage
# charts' 30 days (and the maximum gap before them) are kept whatever this says.
CHARGEBACK_RAW_RETENTION_DAYS = env.get_int("CHARGEBACK_RAW_RETENTION_DAYS", 35)
CHARGEBACK_COST_DECIMALS = env.get_int("CHARGEBACK_COST_DECIMALS", 2)
CELERY_BEAT_SCHEDULE["chargeback-rollup"] = {
    "task": "chargeback.rollup_usage",
    "schedule": CHARGEBACK_ROLLUP_INTERVAL_SECONDS,
}
CELERY_BEAT_SCHEDULE["chargeback-prune"] = {"task": "chargeback.prune_samples", "schedule": 3600}
# Downsize proposals (teams.proposals): once a day, a namespace whose peak GPU use over the window stayed below
# DOWNSIZE_IDLE_PERCENT of its guaranteed GPUs is proposed the peak plus DOWNSIZE_MARGIN_PERCENT; a team that
# declines hears no other proposal for that namespace for DOWNSIZE_QUIET_DAYS.
DOWNSIZE_WINDOW_DAYS = env.get_int("DOWNSIZE_WINDOW_DAYS", 14, minimum=1)
DOWNSIZE_IDLE_PERCENT = env.get_int("DOWNSIZE_IDLE_PERCENT", 50, minimum=1)
DOWNSIZE_MARGIN_PERCENT = env.get_int("DOWNSIZE_MARGIN_PERCENT", 25, minimum=0)
DOWNSIZE_QUIET_DAYS = env.get_int("DOWNSIZE_QUIET_DAYS", 30, minimum=0)
CELERY_BEAT_SCHEDULE["downsize-proposals"] = {"task": "chargeback.propose_downsizes", "schedule": 86400}

# Notifications (notifications/): the portal's inbox, e-mail through Django's mail framework, and
# signed Slack-compatible webhooks, sent by Celery after the event's transaction commits.
# Links in messages point here: the address people open the portal at.
PORTAL_URL = env.get_str("PORTAL_URL", "http://127.0.0.1:8000").rstrip("/")
# Without an SMTP host, e-mail is printed to the worker's log (the demo); set EMAIL_HOST to send it.
EMAIL_HOST = env.get_str("EMAIL_HOST", "")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env.get_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env.get_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.get_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.get_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env.get_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env.get_int("EMAIL_TIMEOUT_SECONDS", 10, minimum=1)
DEFAULT_FROM_EMAIL = env.get_str("DEFAULT_FROM_EMAIL", "GPU Quota Portal <gpu-portal@localhost>")
# A delivery that keeps failing for a transient reason is tried this often, backing off exponentially.
NOTIFICATIONS_MAX_ATTEMPTS = env.get_int("NOTIFICATIONS_MAX_ATTEMPTS", 8, minimum=1)
NOTIFICATIONS_RETRY_BACKOFF_SECONDS = env.get_int("NOTIFICATIONS_RETRY_BACKOFF_SECONDS", 5, minimum=1)
# A webhook receiver that does not answer within this many seconds is a failed attempt, not a held worker.
NOTIFICATIONS_WEBHOOK_TIMEOUT_SECONDS = env.get_int("NOTIFICATIONS_WEBHOOK_TIMEOUT_SECONDS", 5, minimum=1)
# API tokens are announced this many days before they expire, once.
TOKEN_EXPIRY_NOTICE_DAYS = env.get_int("TOKEN_EXPIRY_NOTICE_DAYS", 7, minimum=1)
CELERY_BEAT_SCHEDULE["token-expiry-notices"] = {"task": "notifications.announce_expiring_tokens", "schedule": 3600}

# Time-boxed grants (teams.grants): their teams are warned this many days before the end (each once), and
# beat looks for grants to warn about and to end this often.
try:
    GRANT_WARNING_DAYS = sorted({int(days) for days in env.get_list("GRANT_WARNING_DAYS", ["3", "1"])})
except ValueError:
    raise ImproperlyConfigured("GRANT_WARNING_DAYS: a comma-separated list of whole days, e.g. 3,1.") from None
if any(days < 1 for days in GRANT_WARNING_DAYS):
    raise ImproperlyConfigured("GRANT_WARNING_DAYS: every number of days must be at least 1.")
GRANT_CHECK_INTERVAL_SECONDS = env.get_int("GRANT_CHECK_INTERVAL_SECONDS", 300, minimum=10)
CELERY_BEAT_SCHEDULE["grants"] = {"task": "teams.end_grants", "schedule": GRANT_CHECK_INTERVAL_SECONDS}
