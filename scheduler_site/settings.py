"""Settings for the scheduler service: read only from the environment.

Every variable is documented in `.env.example`. Values come from the process
environment and, for variables not set there, from an optional `.env` file in
the project root (`ENV_FILE` names another file; `ENV_FILE=` disables it).

Parsing is strict: a malformed value stops start-up with one line per bad
variable (see `scheduler_site.env`), because a scheduler that silently reads
`DEBUG=maybe` as False, or a typo'd token lifetime as the default, is worse
than one that refuses to start.
"""

from __future__ import annotations

import os
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path

from csp import constants as csp

from jobs.execution.egress import parse_allowed
from scheduler_site.env import ConfigReader, databases_from_env

BASE_DIR = Path(__file__).resolve().parent.parent

env = ConfigReader(BASE_DIR)

# --- Core -------------------------------------------------------------------
DEBUG = env.bool("DEBUG", False)
SECRET_KEY = env.str("SECRET_KEY", "")
if not SECRET_KEY and DEBUG:
    # Only with DEBUG on: a fixed, obviously insecure key so every local
    # process signs tokens alike. With DEBUG off a missing key is an error.
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", [])
TIME_ZONE = "UTC"
USE_TZ = True
USE_I18N = False
LANGUAGE_CODE = "en-us"

# --- HTTPS enforcement (off by default so DEBUG=0 works over plain HTTP on
# localhost; production behind TLS turns these on, see README "Production").
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", False)
if env.bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
# Probes and scrapers call these over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^(healthz|readyz|metrics)$"]
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp) on every answer: scripts only from this site, or inline with the
# request's nonce (django-celery-beat's crontab help, templates/admin/djcelery/); the API docs load their
# init script as a file (SpectacularSwaggerSplitView). Styles may be inline: the admin and Swagger UI use
# style attributes, and a style cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF, csp.NONCE],
        "style-src": [csp.SELF, csp.UNSAFE_INLINE],
        "img-src": [csp.SELF, "data:"],
        "font-src": [csp.SELF, "data:"],
        "connect-src": [csp.SELF],
        "object-src": [csp.NONE],
        "base-uri": [csp.SELF],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
    }
}

# --- Storage ----------------------------------------------------------------
MONGODB_URI = env.str("MONGODB_URI", "")
MONGODB_NAME = env.str("MONGODB_NAME", "scheduler")
DATABASE_URL = env.str("DATABASE_URL", "")
SQLITE_PATH = env.path("SQLITE_PATH", BASE_DIR / "var" / "db.sqlite3")
USE_MONGODB = bool(MONGODB_URI)
DATABASES = databases_from_env(
    mongodb_uri=MONGODB_URI,
    mongodb_name=MONGODB_NAME,
    database_url=DATABASE_URL,
    sqlite_path=SQLITE_PATH,
)
if USE_MONGODB:
    # MongoDB needs ObjectId keys for the contrib apps (see
    # scheduler_site/mongo_apps.py); the project's own models use UUIDs.
    DEFAULT_AUTO_FIELD = "django_mongodb_backend.fields.ObjectIdAutoField"
    DATABASE_ROUTERS = ["django_mongodb_backend.routers.MongoRouter"]
    MIGRATION_MODULES = {
        "admin": "scheduler_site.mongo_migrations.admin",
        "auth": "scheduler_site.mongo_migrations.auth",
        "contenttypes": "scheduler_site.mongo_migrations.contenttypes",
        "django_celery_beat": "scheduler_site.mongo_migrations.django_celery_beat",
    }
    _CONTRIB_APPS = [
        "scheduler_site.mongo_apps.MongoAdminConfig",
        "scheduler_site.mongo_apps.MongoAuthConfig",
        "scheduler_site.mongo_apps.MongoContentTypesConfig",
    ]
    _BEAT_APP = "scheduler_site.mongo_apps.MongoBeatConfig"
else:
    DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
    _CONTRIB_APPS = [
        "scheduler_site.apps.SchedulerAdminConfig",
        "django.contrib.auth",
        "django.contrib.contenttypes",
    ]
    _BEAT_APP = "django_celery_beat"

# --- Shared state between processes (cache) ----------------------------------
# Response cache, throttle counters, revoked token ids (a copy: accounts.revocation) and short locks must be
# shared by every web, worker and beat process, so a per-process memory cache
# is never used. Without Redis, the database cache on the embedded SQLite file
# is what all local processes share.
REDIS_URL = env.str("REDIS_URL", "")
CACHE_TIMEOUT_SECONDS = env.float("CACHE_TIMEOUT_SECONDS", 0.5, minimum=0.05)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", "scheduler"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # Short timeouts: a stopped Redis must degrade a request, not hang it.
                "SOCKET_CONNECT_TIMEOUT": CACHE_TIMEOUT_SECONDS,
                "SOCKET_TIMEOUT": CACHE_TIMEOUT_SECONDS,
            },
        }
    }
elif USE_MONGODB:
    env.fail("REDIS_URL", "is required when MONGODB_URI is set (MongoDB has no shared cache backend)")
    CACHES = {}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "scheduler_cache",
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", "scheduler"),
        }
    }
API_CACHE_TTL_SECONDS = env.int("API_CACHE_TTL_SECONDS", 60, minimum=0)
# A response larger than this is not cached (a page of 200 jobs of ordinary size is ~150 KB).
API_CACHE_MAX_ENTRY_BYTES = env.int("API_CACHE_MAX_ENTRY_BYTES", 512 * 1024, minimum=1024)
# The largest request body the API and the admin read (Django's own limit, applied to
# the API too: a larger one is a 413 there). A job with its largest allowed action is
# well under 1 MiB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BODY_BYTES", 1024 * 1024, minimum=64 * 1024)

# --- Applications --------------------------------------------------------------
INSTALLED_APPS = [
    *_CONTRIB_APPS,
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    _BEAT_APP,
    "accounts",
    "jobs",
]

MIDDLEWARE = [
    # First: counts and times every answer, including those of the middleware below.
    "scheduler_site.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "scheduler_site.middleware.PrivateApiResponsesMiddleware",
]

ROOT_URLCONF = "scheduler_site.urls"
WSGI_APPLICATION = "scheduler_site.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

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
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Static files (served by WhiteNoise, also with DEBUG off) -------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", BASE_DIR / "var" / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Tests and `runserver` work before collectstatic has run.
WHITENOISE_USE_FINDERS = DEBUG

# --- REST API ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # JWT first, so an anonymous call is answered 401 with
        # `WWW-Authenticate: Bearer`; the admin's own calls use the session.
        "accounts.authentication.RevocableJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["scheduler_site.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "scheduler_site.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "scheduler_site.openapi.SchedulerAutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "UNAUTHENTICATED_USER": None,
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

# Token obtain counts failed logins (accounts/throttles.py): this many lock a
# (username, address) pair, an address, or a username for the addresses that
# failed on it; a lock lasts LOGIN_LOCKOUT_SECONDS and doubles with each further
# failure up to LOGIN_LOCKOUT_MAX_SECONDS; counters are forgotten that long
# after their latest failure.
LOGIN_FAILURES_PER_PAIR = env.int("LOGIN_FAILURES_PER_PAIR", 5, minimum=1)
LOGIN_FAILURES_PER_ADDRESS = env.int("LOGIN_FAILURES_PER_ADDRESS", 100, minimum=1)
LOGIN_FAILURES_PER_USERNAME = env.int("LOGIN_FAILURES_PER_USERNAME", 20, minimum=1)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", 60, minimum=1)
LOGIN_LOCKOUT_MAX_SECONDS = env.int("LOGIN_LOCKOUT_MAX_SECONDS", 900, minimum=1)
LOGIN_FAILURES_FORGOTTEN_AFTER_SECONDS = env.int("LOGIN_FAILURES_FORGOTTEN_AFTER_SECONDS", 3600, minimum=1)
if LOGIN_LOCKOUT_MAX_SECONDS < LOGIN_LOCKOUT_SECONDS:
    env.fail(
        "LOGIN_LOCKOUT_MAX_SECONDS",
        f"must be at least LOGIN_LOCKOUT_SECONDS ({LOGIN_LOCKOUT_SECONDS}), got {LOGIN_LOCKOUT_MAX_SECONDS}",
    )
if LOGIN_FAILURES_FORGOTTEN_AFTER_SECONDS < LOGIN_LOCKOUT_MAX_SECONDS:
    # A counter forgotten while still locked would end its lock early.
    env.fail(
        "LOGIN_FAILURES_FORGOTTEN_AFTER_SECONDS",
        f"must be at least LOGIN_LOCKOUT_MAX_SECONDS ({LOGIN_LOCKOUT_MAX_SECONDS}), "
        f"got {LOGIN_FAILURES_FORGOTTEN_AFTER_SECONDS}",
    )
# Per user: creates, replaces, changes and deletes of jobs; run-now requests.
API_RATE_JOB_WRITES = env.rate("API_RATE_JOB_WRITES", "120/min")
API_RATE_RUN_NOW = env.rate("API_RATE_RUN_NOW", "30/min")
# Number of proxies in front of the app whose X-Forwarded-For is trusted for
# the client address (0: use REMOTE_ADDR).
NUM_PROXIES = env.int("NUM_PROXIES", 0, minimum=0)
REST_FRAMEWORK["NUM_PROXIES"] = NUM_PROXIES

SPECTACULAR_SETTINGS = {
    "TITLE": "Scheduler API",
    "DESCRIPTION": "Recurring jobs: create, schedule, pause, run and watch them.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc assets come from drf-spectacular-sidecar (served as
    # static files), so the docs page fetches nothing from the internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per choice set shared by several fields.
    "ENUM_NAME_OVERRIDES": {
        "ScheduleKindEnum": "jobs.models.ScheduleKind",
        "RunStatusEnum": "jobs.models.RunStatus",
        "EventKindEnum": "jobs.models.EventKind",
        "ChannelKindEnum": "jobs.models.ChannelKind",
        "AlertKindEnum": "jobs.models.AlertKind",
        "DeliveryStatusEnum": "jobs.models.DeliveryStatus",
        "HttpActionTypeEnum": ["http"],
        "TaskActionTypeEnum": ["task"],
        "IntervalKindEnum": ["interval"],
        "CronKindEnum": ["cron"],
        "OnceKindEnum": ["once"],
    },
}

# --- JWT ----------------------------------------------------------------------
JWT_ALGORITHMS = ("HS256", "HS384", "HS512")
ALGORITHM = env.choice("ALGORITHM", "HS256", JWT_ALGORITHMS)
ACCESS_TOKEN_EXPIRE_MINUTES = env.int("ACCESS_TOKEN_EXPIRE_MINUTES", 60, minimum=1)
REFRESH_TOKEN_EXPIRE_MINUTES = env.int("REFRESH_TOKEN_EXPIRE_MINUTES", 24 * 60, minimum=1)
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=ACCESS_TOKEN_EXPIRE_MINUTES),
    "REFRESH_TOKEN_LIFETIME": timedelta(minutes=REFRESH_TOKEN_EXPIRE_MINUTES),
    "ALGORITHM": ALGORITHM,
    "SIGNING_KEY": SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "UPDATE_LAST_LOGIN": False,
    "TOKEN_OBTAIN_SERIALIZER": "accounts.serializers.TokenObtainSerializer",
    "TOKEN_REFRESH_SERIALIZER": "accounts.serializers.TokenRefreshSerializer",
    # Refresh returns a new refresh token and revokes the old one; accounts.services.token_refresh
    # does it (revocations in accounts.RevokedToken, copied into Redis: the blacklist app cannot run on MongoDB).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": False,
}

# --- Jobs -------------------------------------------------------------------
JOBS_MIN_INTERVAL_SECONDS = env.int("JOBS_MIN_INTERVAL_SECONDS", 10, minimum=1)
RUNS_RETENTION_DAYS = env.int("RUNS_RETENTION_DAYS", 30, minimum=1)

# --- Egress (see docs/design.md, "Egress policy") -------------------------------
# Networks (CIDR or single addresses) and host names http actions may reach
# beyond the public internet. A network allows every address in it, loopback
# included (the demo allows 127.0.0.1); a host name allows the private
# addresses it resolves to. The service's own database, cache and broker
# ports stay refused whatever is listed.
JOBS_HTTP_ALLOWED_NETWORKS = env.list("JOBS_HTTP_ALLOWED_NETWORKS", [])
_egress_problems = parse_allowed(JOBS_HTTP_ALLOWED_NETWORKS)[2]
if _egress_problems:
    env.fail("JOBS_HTTP_ALLOWED_NETWORKS", "has " + "; ".join(_egress_problems))

# --- Execution (see docs/design.md, "Execution: who is authoritative") ---------
# How often beat re-reads due jobs at most; edits, pauses and resumes are seen
# within this time (beat also wakes exactly at the earliest next_run_at).
JOBS_BEAT_POLL_SECONDS = env.float("JOBS_BEAT_POLL_SECONDS", 1.0, minimum=0.05)
# A slot that beat reaches later than this passed while no scheduler ran: the
# job's catchup_policy applies (recorded `missed`, or one `catchup` run).
JOBS_MISFIRE_GRACE_SECONDS = env.int("JOBS_MISFIRE_GRACE_SECONDS", 10, minimum=1)
# Beat claims a slot up to this many seconds before it and publishes it with
# the slot as its ETA, so thousands of jobs due in the same second (every
# `*/5` cron at once) start on time instead of one publish after another.
# An edit, pause or delete before the slot withdraws such a claim; overlap
# (policy `skip`) is decided when the run starts. 0 claims each slot when due.
# 30 s because 10 s was too short for a */5 boundary at 100,000 jobs: beat
# publishes the boundary's slots on top of the steady load, and a restart
# within the lookahead finds its first seconds already published
# (bench/README.md, "session 11").
JOBS_BEAT_LOOKAHEAD_SECONDS = env.float("JOBS_BEAT_LOOKAHEAD_SECONDS", 30.0, minimum=0.0)
if JOBS_BEAT_LOOKAHEAD_SECONDS > 60:
    # Workers hold a claimed-ahead message until its ETA; a minute is plenty.
    env.fail("JOBS_BEAT_LOOKAHEAD_SECONDS", f"must be at most 60 (got {JOBS_BEAT_LOOKAHEAD_SECONDS:g})")
# Several beats may run; one is active (jobs/beat/lease.py). A standby takes
# over when the active beat has not renewed its lease for this long by the
# standby's own clock (about this plus 1 s after the active beat dies).
# Under the misfire grace, so a takeover never records slots as missed.
JOBS_BEAT_LEASE_SECONDS = env.float("JOBS_BEAT_LEASE_SECONDS", 3.0, minimum=1.0)
if JOBS_BEAT_LEASE_SECONDS >= JOBS_MISFIRE_GRACE_SECONDS:
    env.fail(
        "JOBS_BEAT_LEASE_SECONDS",
        f"must be less than JOBS_MISFIRE_GRACE_SECONDS ({JOBS_MISFIRE_GRACE_SECONDS}), "
        f"or a takeover records slots as missed (got {JOBS_BEAT_LEASE_SECONDS:g})",
    )
if JOBS_BEAT_POLL_SECONDS > JOBS_BEAT_LEASE_SECONDS / 3:
    # The active beat renews its lease at every tick, and ticks at least every poll.
    env.fail(
        "JOBS_BEAT_POLL_SECONDS",
        f"must be at most a third of JOBS_BEAT_LEASE_SECONDS ({JOBS_BEAT_LEASE_SECONDS:g}), "
        f"or the active beat's lease lapses between its ticks (got {JOBS_BEAT_POLL_SECONDS:g})",
    )
# Beats share the jobs by partition (jobs/beat/partitions.py): partition k of P
# covers a range of job ids, each under a lease of its own, balanced among the
# running beats; a dead beat's partitions are taken over like the single lease.
# 1 (the default): one lease, one active beat, the others stand by.
JOBS_BEAT_PARTITIONS = env.int("JOBS_BEAT_PARTITIONS", 1, minimum=1)
if JOBS_BEAT_PARTITIONS > 64:
    # Every beat reads all partition leases twice a second: a few dozen rows at most.
    env.fail("JOBS_BEAT_PARTITIONS", f"must be at most 64 (got {JOBS_BEAT_PARTITIONS})")
# At most this many `missed` runs are recorded per job after a downtime.
JOBS_MISSED_RECORD_LIMIT = env.int("JOBS_MISSED_RECORD_LIMIT", 100, minimum=1)
# The most jobs one user may own; a create past it answers 409.
JOBS_MAX_PER_USER = env.int("JOBS_MAX_PER_USER", 10_000, minimum=1)
# The reaper: how often it runs, how long past its timeout (+1 s hard stop) a
# `running` run may stay before it is failed as `worker lost`, and how long
# past its due time a `queued` run may wait for a worker.
JOBS_REAPER_INTERVAL_SECONDS = env.int("JOBS_REAPER_INTERVAL_SECONDS", 30, minimum=1)
JOBS_REAPER_GRACE_SECONDS = env.int("JOBS_REAPER_GRACE_SECONDS", 30, minimum=1)
JOBS_QUEUED_LOST_AFTER_SECONDS = env.int("JOBS_QUEUED_LOST_AFTER_SECONDS", 600, minimum=1)

# --- Celery -------------------------------------------------------------------
# Redis in production. Without a broker URL the embedded default uses kombu's
# filesystem transport in folders every local process shares: fit for trying
# the service on one machine, not for production.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", "")
BROKER_DIR = env.path("BROKER_DIR", BASE_DIR / "var" / "broker")
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Fan-out (worker remote control) tables; kombu's default is ./control.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
    # kombu does not create them, and every process (web, worker, beat) must
    # find them: made here like the SQLite file's folder.
    for _folder in ("queue", "processed", "control"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# At most once per attempt: a message is acknowledged when a worker takes it,
# so a broker redelivery can never silently re-run a slot.
CELERY_TASK_ACKS_LATE = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Worker and beat log through LOGGING below (LOG_FORMAT=json applies to them too).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# The project's scheduler: jobs are timed by jobs.schedules and Job.next_run_at;
# the system tasks below go through django-celery-beat's stock machinery.
CELERY_BEAT_SCHEDULER = "jobs.beat.scheduler:JobScheduler"
CELERY_BEAT_MAX_LOOP_INTERVAL = 5
# Each stock entry's run is saved as soon as it is sent (celery's default: every
# 3 minutes), so a beat that takes over finds it and does not run it again.
CELERY_BEAT_SYNC_EVERY = 1
CELERY_BEAT_SCHEDULE = {
    "system:reap-lost-runs": {
        "task": "jobs.reap_lost_runs",
        "schedule": timedelta(seconds=JOBS_REAPER_INTERVAL_SECONDS),
        "options": {"expire_seconds": JOBS_REAPER_INTERVAL_SECONDS},
    },
    "system:prune-runs": {
        "task": "jobs.prune_runs",
        "schedule": timedelta(hours=1),
        "options": {"expire_seconds": 3600},
    },
    "system:resend-alerts": {
        "task": "jobs.resend_alerts",
        "schedule": timedelta(seconds=60),
        "options": {"expire_seconds": 60},
    },
    "system:prune-revocations": {
        "task": "accounts.prune_revocations",
        "schedule": timedelta(hours=1),
        "options": {"expire_seconds": 3600},
    },
}

# --- Alerts (jobs/alerts/, docs/design.md "Alerts") ---------------------------
# Email: SMTP when EMAIL_HOST is set, else the console backend (the embedded default prints them).
EMAIL_HOST = env.str("EMAIL_HOST", "")
EMAIL_PORT = env.int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    env.fail("EMAIL_USE_SSL", "cannot be on together with EMAIL_USE_TLS (choose one)")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", 10, minimum=1)
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "scheduler@localhost")
# Links in alerts (the job's admin page, `explain` for the slot) start with this, e.g. https://scheduler.example.com
ALERTS_BASE_URL = env.str("ALERTS_BASE_URL", "http://localhost:8000").rstrip("/")
# A delivery is tried this many times, the n-th retry ALERTS_RETRY_BACKOFF_SECONDS x 2^(n-1) after the one before.
ALERTS_DELIVERY_ATTEMPTS = env.int("ALERTS_DELIVERY_ATTEMPTS", 5, minimum=1)
ALERTS_RETRY_BACKOFF_SECONDS = env.float("ALERTS_RETRY_BACKOFF_SECONDS", 30.0, minimum=0.0)
# Connect and read timeouts of one webhook or Slack post, seconds.
ALERTS_HTTP_TIMEOUT_SECONDS = env.float("ALERTS_HTTP_TIMEOUT_SECONDS", 10.0, minimum=0.1)
# Flapping: at most one alert of a kind (failed, recovered, ...) per job within this many seconds (0: off).
ALERTS_DAMPING_SECONDS = env.int("ALERTS_DAMPING_SECONDS", 300, minimum=0)
# A burst of alerts to one channel is grouped: at most one message per channel per this many seconds
# (the first at once, the rest in one message when the window ends). 0: every alert is its own message.
ALERTS_GROUP_SECONDS = env.int("ALERTS_GROUP_SECONDS", 60, minimum=0)
# A channel whose deliveries have all failed for this long is marked broken and its owner told elsewhere.
ALERTS_BROKEN_AFTER_SECONDS = env.int("ALERTS_BROKEN_AFTER_SECONDS", 86400, minimum=60)

# --- Operations: readiness and metrics (scheduler_site.health, scheduler_site.metrics) ---
READYZ_TIMEOUT_SECONDS = env.float("READYZ_TIMEOUT_SECONDS", 2.0, minimum=0.1)
# /metrics: a bearer token and/or the addresses (IPs or CIDR networks) allowed
# to scrape. With both set a scrape needs both; with neither, /metrics is off.
METRICS_TOKEN = env.str("METRICS_TOKEN", "")
METRICS_ALLOW_IPS = env.list("METRICS_ALLOW_IPS", [])
for _network in METRICS_ALLOW_IPS:
    try:
        ip_network(_network, strict=False)
    except ValueError:
        env.fail("METRICS_ALLOW_IPS", f"has {_network!r}, which is not an IP address or CIDR network")
# Set for gunicorn with several workers: prometheus_client's multiprocess
# mode (read by prometheus_client and gunicorn.conf.py too, from the environment).
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", "")
if PROMETHEUS_MULTIPROC_DIR:
    try:
        Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as _exc:
        env.fail("PROMETHEUS_MULTIPROC_DIR", f"names a folder that cannot be created ({_exc.strerror})")
else:
    # prometheus_client turns multiprocess mode on when the variable merely
    # exists, even empty (e.g. copied from .env.example), and would then
    # write its files into the working directory.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

# --- Logging ------------------------------------------------------------------
LOG_LEVEL = env.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOG_FORMAT = env.choice("LOG_FORMAT", "text", ("text", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "scheduler_site.logging.JsonFormatter"},
    },
    # On every handler: a handler filter sees records of every logger.
    "filters": {
        "request_context": {"()": "scheduler_site.logging.RequestContextFilter"},
        "redact_secrets": {"()": "scheduler_site.logging.RedactSecretsFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_context", "redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Requests that fail are logged once by our exception handler.
        "django.request": {"level": "ERROR"},
    },
}

# Fail after every variable was read, so all problems are reported at once.
env.finish(debug=DEBUG, secret_key=SECRET_KEY)
