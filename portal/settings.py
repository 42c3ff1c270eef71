"""Django settings, read from the environment (see the table in README.md).

The embedded defaults run the whole portal on one machine with no servers: an SQLite
file and a Celery broker on SQLite, both under `var/`. Production sets DATABASE_URL,
CELERY_BROKER_URL, SECRET_KEY and ALLOWED_HOSTS.
"""

from datetime import timedelta
from pathlib import Path

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
]

MIDDLEWARE = [
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
# SECURE_COOKIES and SECURE_HSTS_SECONDS (README). Behind a proxy that ends TLS, TRUST_PROXY_HEADERS lets its
# X-Forwarded-Proto say the request was HTTPS and its X-Forwarded-For name the client; never set it without
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
USE_I18N = True
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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"()": "portal.logs.KeyValueFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
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
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "COMPONENT_SPLIT_REQUEST": True,
}
# The schema, Swagger UI and ReDoc need a signed-in user (teams.roles.can_see_api_schema) unless this is on.
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
if CELERY_BROKER_URL.startswith(("redis", "rediss", "sqs")):
    # These brokers redeliver an unacknowledged task after this long; acks_late tasks rely on it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.get_int("CELERY_VISIBILITY_TIMEOUT", 3600)}

# Provisioning: how often usage is read back, and how hard a failing cluster is retried.
PROVISIONING_SYNC_INTERVAL = env.get_int("SYNC_INTERVAL_SECONDS", 30)
PROVISIONING_MAX_RETRIES = env.get_int("PROVISIONING_MAX_RETRIES", 8)
PROVISIONING_RETRY_BACKOFF = env.get_int("PROVISIONING_RETRY_BACKOFF_SECONDS", 2)
USAGE_HEARTBEAT_SECONDS = env.get_int("USAGE_HEARTBEAT_SECONDS", 3600)
AUTO_RECONCILE = env.get_bool("AUTO_RECONCILE", False)
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

# The cluster the worker provisions: any kubeconfig; the local control plane's by default.
KUBECONFIG = env.get_str("KUBECONFIG", str(BASE_DIR / ".cluster" / "kubeconfig"))
KUBE_CONTEXT = env.get_str("KUBE_CONTEXT", "gpu-portal-worker")

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
