"""Settings, read from the environment with working local defaults.

Unset variables give a development setup that needs nothing installed: SQLite under var/, a
filesystem Celery broker and a file cache. Set DATABASE_URL, CELERY_BROKER_URL and CACHE_URL for
Postgres and Redis.
"""

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from config.cache_url import cache_from_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("APP_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_days(name: str, default: int) -> int:
    """A whole number of days, 0 or more; anything else stops the start with a clear message."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ImproperlyConfigured(
            f"{name} must be a whole number of days, 0 or more (0 keeps forever), not {raw!r}."
        )
    return value


def _local_secret_key(path: Path) -> str:
    """A random key kept in var/ for local runs (never for production, see below)."""
    import secrets

    try:
        return path.read_text().strip() or ""
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race: use its key
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key


DEBUG = env_bool("DJANGO_DEBUG", False)

# Production (DJANGO_PRODUCTION=1, set by docker-compose) must be given DJANGO_SECRET_KEY.
# Anywhere else an unset key means a local checkout: a random key is generated once into
# var/secret_key (mode 600), so every manage.py command works on a fresh checkout.
PRODUCTION = env_bool("DJANGO_PRODUCTION", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it (any long random string) in the environment "
            "or .env; DJANGO_PRODUCTION=1 refuses a generated local key."
        )
    SECRET_KEY = _local_secret_key(VAR_DIR / "secret_key")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "axes",
    "csp",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guide",
    "experiments",
    "workers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.RejectHostileInputMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes requires: turns a lockout into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Date formats per language (config/formats/<lang>/formats.py) over Django's own.
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# plotly.js is served from the pinned plotly package itself (vendor/plotly.min.js): no CDN.
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "config.staticfinders.PlotlyFinder",
]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
# Hashed, compressed static files in production; plain finders in development and tests.
STATIC_MANIFEST = env_bool("DJANGO_STATIC_MANIFEST", not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_MANIFEST
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST

# --- Files of datasets, jobs and uploads (experiments.storage) ---
# Unset S3_ENDPOINT_URL: folders under MEDIA_ROOT (datasets/, jobs/, predict/, uploads/), the
# `make run` default. Set: one S3 bucket (SeaweedFS, MinIO, AWS...) with the prefixes datasets/,
# jobs/, predict/ and uploads/, so workers on other hosts need no shared disk.
S3_ENDPOINT_URL = os.environ.get("S3_ENDPOINT_URL", "").strip()
S3_BUCKET = os.environ.get("S3_BUCKET", "").strip() or "moocguide"
S3_REGION = os.environ.get("S3_REGION", "").strip() or "us-east-1"
# Downloads redirect to a presigned URL on this endpoint when set; else the web streams them.
S3_PUBLIC_ENDPOINT_URL = os.environ.get("S3_PUBLIC_ENDPOINT_URL", "").strip()


def storages_for(endpoint: str, bucket: str) -> dict:
    """The named file storages: prefixes of `bucket` on the S3 `endpoint`, or folders under
    MEDIA_ROOT when `endpoint` is empty."""

    def storage(prefix: str) -> dict:
        if not endpoint:
            return {
                "BACKEND": "experiments.storage.MediaFolderStorage",
                "OPTIONS": {"folder": prefix},
            }
        options = {
            "bucket_name": bucket,
            "endpoint_url": endpoint,
            "access_key": os.environ.get("S3_ACCESS_KEY_ID", ""),
            "secret_key": os.environ.get("S3_SECRET_ACCESS_KEY", ""),
            "region_name": S3_REGION,
            "addressing_style": "path",
            "signature_version": "s3v4",
            "location": prefix,
            "file_overwrite": True,
            "default_acl": None,
        }
        return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}

    return {
        # Dataset images, content-addressed: <sha256[:2]>/<sha256> (see experiments.storage).
        "datasets": storage("datasets"),
        # A job's model, log and manifest under jobs/<id>-<random>/, "try the model" images
        # and heatmaps under predict/<uuid>/: keys equal to the paths the database records.
        "artifacts": storage(""),
        # Uploaded dataset zips, until their import has run.
        "uploads": storage("uploads"),
    }


STORAGES = {**STORAGES, **storages_for(S3_ENDPOINT_URL, S3_BUCKET)}
# A worker keeps the dataset images it fetched here (by content hash), oldest evicted first
# once they take more than WORKER_CACHE_MAX_MB; jobs' scratch folders live beside them.
WORKER_CACHE_DIR = Path(os.environ.get("WORKER_CACHE_DIR", VAR_DIR / "worker-cache"))
WORKER_CACHE_MAX_MB = float(os.environ.get("WORKER_CACHE_MAX_MB", "20000"))

# Image folders may only be imported from under these roots (colon-separated).
DATA_ROOTS = [
    Path(p)
    for p in os.environ.get(
        "DATA_ROOTS", f"{BASE_DIR.parent / 'shared' / 'data'}:{VAR_DIR / 'datasets'}"
    ).split(":")
    if p
]

# Images over this many pixels are skipped at import (decompression bombs included).
IMPORT_MAX_PIXELS = int(os.environ.get("IMPORT_MAX_PIXELS", "50000000"))

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "experiments:run_list"
LOGOUT_REDIRECT_URL = "guide:home"

# --- Authentication and abuse ---
# django-axes locks a (username, IP address) pair out after AXES_FAILURE_LIMIT wrong passwords
# on every login view (site, admin, API token, and any later one that calls authenticate()).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "0.25"))  # hours
# A pair (name, address) is locked after AXES_FAILURE_LIMIT failures; so is an account whose
# guesses come from many addresses (the same limit, counted over all of them).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username"]
# Guesses during a lockout do not restart it: it ends AXES_COOLOFF_TIME after it began.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_COOLOFF_MESSAGE = format_lazy(
    _("Account locked: too many failed logins. Try again in {minutes} minutes."),
    minutes=f"{AXES_COOLOFF_TIME * 60:g}",
)
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "config.auth.axes_username"
AXES_VERBOSE = False
# The real client address: NUM_PROXIES trusted proxies in front (each appends to
# X-Forwarded-For); 0 (gunicorn exposed directly) uses REMOTE_ADDR and ignores the header, so a
# client cannot name another address. The API throttles use the same number (REST_FRAMEWORK).
NUM_PROXIES = int(os.environ.get("NUM_PROXIES", "0"))
if NUM_PROXIES:
    AXES_IPWARE_PROXY_COUNT = NUM_PROXIES
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

# API tokens expire this many hours after they were issued (and on a password change).
API_TOKEN_TTL_HOURS = float(os.environ.get("API_TOKEN_TTL_HOURS", "24"))
# DRF throttles (per IP for anonymous clients, per user otherwise).
API_THROTTLE_RATES = {
    "anon": os.environ.get("API_THROTTLE_ANON", "120/minute"),
    "user": os.environ.get("API_THROTTLE_USER", "600/minute"),
}

# The cache holds the throttles' counts, so every web process (gunicorn worker) must share it,
# or each one allows the full rate. CACHE_URL=redis://host:6379/1 (docker-compose); unset: files
# under var/cache, shared by the processes of one host; locmem:// is one cache per process.
CACHES = {
    "default": cache_from_url(os.environ.get("CACHE_URL"), VAR_DIR / "cache"),
    # Search results and pages: a per-process speed-up that each restart empties, so a cached
    # page never outlives the templates, static file names and code it was made with.
    "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "local"},
}

# Mail: the console backend by default (the message is printed in the web server's log).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "webmaster@localhost")

# Content-Security-Policy (django-csp): scripts only from this site (the pages load their JS
# from static/js; data travels in json_script blocks). Styles allow inline attributes, which
# Plotly sets on its charts.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Security (production: DJANGO_DEBUG unset or 0) ---
# Trust X-Forwarded-Proto only when a proxy that sets it is configured in front of gunicorn:
# DJANGO_SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO (unset: the header is ignored).
if os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = (os.environ["DJANGO_SECURE_PROXY_SSL_HEADER"], "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- REST API ---
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "config.auth.ExpiringTokenAuthentication",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["config.auth.AnonThrottle", "config.auth.UserThrottle"],
    # DRF's messages in the request's language, a missing object's included.
    "EXCEPTION_HANDLER": "config.api_errors.api_exception_handler",
    # JSON with a size and depth limit (config.parsers): a 400/413 with a message, never a 500.
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.LimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "config.parsers.SafeJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # Proxies in front of gunicorn that append to X-Forwarded-For (0: none, the client's own
    # address is REMOTE_ADDR and the header is ignored). Throttles and the login lockout both
    # key on the address this gives (see AXES_IPWARE_PROXY_COUNT).
    "NUM_PROXIES": NUM_PROXIES,
}
# Largest JSON body the API parses (bytes).
API_JSON_MAX_BYTES = int(os.environ.get("API_JSON_MAX_BYTES", 1024 * 1024))
SPECTACULAR_SETTINGS = {
    "TITLE": "Deep learning MOOC guide and experiments API",
    "DESCRIPTION": "The MOOC guide (read-only: courses, programmes, lessons, topics, "
    "cross-references, glossary, search) and the experiments (datasets, training jobs and their "
    "metrics; researchers launch, cancel and clone jobs with token authentication: "
    "`Authorization: Token <key>`, key from POST /api/token/).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery ---
# Default: a filesystem broker under var/ so `make run` needs no Redis. Production: redis://...
# Uploads: an image to try a model on, and datasets as zip files (extracted under a data root).
PREDICT_UPLOAD_MAX_BYTES = int(os.environ.get("PREDICT_UPLOAD_MAX_BYTES", 10 * 1024 * 1024))
# A `predict` worker starts its TensorFlow and torch children at once (the first answer is fast).
PREDICT_WARM_CHILDREN = env_bool("PREDICT_WARM_CHILDREN", True)
UPLOAD_MAX_IMAGE_PIXELS = int(os.environ.get("UPLOAD_MAX_IMAGE_PIXELS", 40_000_000))
# "Try the model" images and their heatmaps are deleted after this many days (0: kept forever).
PREDICTION_RETENTION_DAYS = env_days("PREDICTION_RETENTION_DAYS", 30)
DATASET_UPLOAD_MAX_BYTES = int(os.environ.get("DATASET_UPLOAD_MAX_BYTES", 1024 * 1024 * 1024))
DATASET_UPLOAD_MAX_EXTRACTED_BYTES = int(
    os.environ.get("DATASET_UPLOAD_MAX_EXTRACTED_BYTES", 4 * 1024 * 1024 * 1024)
)
DATASET_UPLOAD_ROOT = Path(os.environ.get("DATASET_UPLOAD_ROOT", VAR_DIR / "datasets" / "uploads"))

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_FOLDER = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (CELERY_BROKER_FOLDER / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_FOLDER / "queue"),
        "data_folder_out": str(CELERY_BROKER_FOLDER / "queue"),
        "processed_folder": str(CELERY_BROKER_FOLDER / "processed"),
        # Broadcast/control messages (worker pings) also under var/, not ./control.
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
        "store_processed": False,
    }
else:
    # Redis redelivers a message not acknowledged within the visibility timeout (tasks are
    # acknowledged when they end). Set above the longest job (24 h by default): a job still
    # running at that point gets a second delivery, which claim() turns away harmlessly; for
    # jobs longer than a day raise it or use RabbitMQ (README, "Reliability").
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 24 * 3600))
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Training runs on the `gpu` queue (one worker per GPU, concurrency 1); the rest on `default`.
CELERY_TASK_ROUTES = {
    "workers.run_training_job": {"queue": "gpu"},
    # Trying a model on an image: its own queue, never behind a training job.
    "workers.predict_image": {"queue": "predict"},
}
CELERY_BEAT_SCHEDULE = {
    "reap-stale-jobs": {"task": "workers.reap_stale_jobs", "schedule": 15.0},
    "reconcile-queued-jobs": {
        "task": "workers.reconcile_queued_jobs",
        "schedule": float(os.environ.get("JOB_RECONCILE_INTERVAL", "30")),
    },
    # Daily at 03:30 UTC (a fixed time survives beat restarts): predictions older than
    # PREDICTION_RETENTION_DAYS go, with their files.
    "prune-predictions": {
        "task": "workers.prune_predictions",
        "schedule": crontab(hour=3, minute=30),
    },
}
# A launch while the broker is down: a couple of quick tries, then the job is saved as queued
# and the reconciler sends it (no 500, no duplicate on retry).
JOB_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("CELERY_BROKER_CONNECTION_TIMEOUT", "3"))
# --- Reliability of jobs (seconds) ---
# Queued jobs not claimed within this long are re-sent by the reconciler (claim() makes a
# second delivery harmless).
JOB_RESEND_AFTER = float(os.environ.get("JOB_RESEND_AFTER", "120"))
# A running job whose heartbeat (database time) is older than this is reaped, with the reason.
JOB_STALE_AFTER = float(os.environ.get("JOB_STALE_AFTER", "30"))
# Predictions and imports (experiments.background): a prediction not answered within this long
# after it was asked, or an import with no progress for this long, was left by a dead worker.
PREDICTION_DEADLINE = float(os.environ.get("PREDICTION_DEADLINE", "900"))
IMPORT_STALE_AFTER = float(os.environ.get("IMPORT_STALE_AFTER", "900"))
# A job child that reports no progress (no batch) for this long is killed as hung.
JOB_STALL_SECONDS = float(os.environ.get("JOB_STALL_SECONDS", "1800"))
# ...and one that has not reported at all within this long after it started (imports, data).
JOB_START_SECONDS = float(os.environ.get("JOB_START_SECONDS", "3600"))
# How long a worker / supervisor / job waits for an unreachable database before giving up.
JOB_DB_OUTAGE_SECONDS = float(os.environ.get("JOB_DB_OUTAGE_SECONDS", "300"))
# Likewise for the object store (S3): a worker fetching a dataset or storing a model waits.
JOB_STORE_OUTAGE_SECONDS = float(os.environ.get("JOB_STORE_OUTAGE_SECONDS", "300"))
# Free space (MB) a job needs on the media disk to start and before each save.
JOB_MIN_FREE_MB = float(os.environ.get("JOB_MIN_FREE_MB", "200"))
# The job process runs at this nice level (0-19) and with this many CPU threads (0 = the
# libraries' default), so training on the web's host leaves the web responsive.
JOB_NICE = int(os.environ.get("JOB_NICE", "10"))
JOB_THREADS = int(os.environ.get("JOB_THREADS", "0"))
# Only the launcher or staff may cancel a job (default: any researcher, as before).
JOBS_CANCEL_OWN_ONLY = env_bool("JOBS_CANCEL_OWN_ONLY", False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_WORKER_SEND_TASK_EVENTS = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # django-axes logs every login attempt at INFO; lockouts are WARNINGs.
    "loggers": {"axes": {"level": "WARNING"}},
}

VAR_DIR.mkdir(parents=True, exist_ok=True)
