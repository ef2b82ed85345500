"""Settings for the customer portal.

Every value comes from the environment, with an embedded default that runs the portal on one
machine (SQLite, in-process Celery, console email and SMS, local files). Production sets
DJANGO_DEBUG=0 and the secrets; see README.md for the full list.
"""

import os
import sys
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from portal.formats.en_GB import formats as portal_formats
from portal.observability import init_sentry, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


# --- Environment ------------------------------------------------------------------------------
DEBUG = env_bool("DJANGO_DEBUG", True)
# Which deployment this is: "test" or "production". Shown on every page; part of cookie names.
PORTAL_ENVIRONMENT = os.environ.get("PORTAL_ENVIRONMENT", "test").strip().lower()
if PORTAL_ENVIRONMENT not in {"test", "production"}:
    raise ImproperlyConfigured("PORTAL_ENVIRONMENT must be 'test' or 'production'.")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "insecure-development-key-only-for-the-embedded-default-" + "x" * 20
# Key rotation: the new key in DJANGO_SECRET_KEY, the old ones here (comma-separated) until sessions,
# password-reset links and backup codes made with them may go; see docs/security.md.
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS", [])

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
PORTAL_BASE_URL = os.environ.get("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
REDIS_URL = os.environ.get("REDIS_URL", "")

# Production refuses to start on what it cannot guess, instead of running on an embedded default
# (SQLite, tasks in-process, a placeholder sender or support address that silently loses mail).
PRODUCTION_REQUIRED_ENV = [
    "DJANGO_ALLOWED_HOSTS",
    "PORTAL_BASE_URL",
    "DATABASE_URL",
    "VAULT_DATABASE_URL",
    "REDIS_URL",
    "DEFAULT_FROM_EMAIL",
    "SUPPORT_EMAIL",
]
if os.environ.get("EMAIL_BACKEND", "").endswith(".smtp.EmailBackend"):
    PRODUCTION_REQUIRED_ENV.append("EMAIL_HOST")
if not DEBUG:
    _missing = [name for name in PRODUCTION_REQUIRED_ENV if not os.environ.get(name, "").strip()]
    if _missing:
        raise ImproperlyConfigured(
            f"DJANGO_DEBUG=0 needs these environment variables: {', '.join(_missing)} (README.md, Configuration)."
        )
    if DATABASE_URL.startswith("sqlite"):
        raise ImproperlyConfigured("DJANGO_DEBUG=0 needs a PostgreSQL DATABASE_URL, not SQLite.")

# --- Applications -----------------------------------------------------------------------------
INSTALLED_APPS = [
    "portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp.plugins.otp_hotp",
    "django_otp.plugins.otp_email",
    "two_factor",
    "axes",
    "csp",
    "common",
    "accounts",
    "audit",
    "tokens",
    "signin",
    "platform_api",
    "dashboard",
    "whitelist",
    "files",
    "support",
    "billing",
    "extracts",
    "alarms",
    "apikeys",
    "demo",
]

MIDDLEWARE = [
    "portal.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "audit.context.AuditContextMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "accounts.middleware.IdleTimeoutMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.middleware.NoStoreWhenSignedInMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "portal.observability.RequestUserContextMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "signin.middleware.PortalAccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "portal.context_processors.portal",
                "accounts.permissions.abilities",  # `may.<permission>` (accounts/permissions.py)
            ],
        },
    },
]

# Persistent connections only where a fixed pool of workers reuses them (gunicorn): runserver starts
# a thread per request, and each would keep its own connection open (80 concurrent requests once
# used up PostgreSQL's 100). Hence 0 under runserver and by default with DEBUG on.
_RUNSERVER = sys.argv[1:2] == ["runserver"]
DATABASE_CONN_MAX_AGE = 0 if _RUNSERVER else env_int("DATABASE_CONN_MAX_AGE", 0 if DEBUG else 60)
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=DATABASE_CONN_MAX_AGE, conn_health_checks=True)
}
# The vault (read-only source of token extracts). Embedded default: a small SQLite file that
# seed_demo fills; in production the platform's vault replica.
VAULT_DATABASE_URL = os.environ.get("VAULT_DATABASE_URL", f"sqlite:///{BASE_DIR / 'vault.sqlite3'}")
DATABASES["vault"] = dj_database_url.parse(VAULT_DATABASE_URL)
# An optional streaming replica of DATABASE_URL: reads that tolerate lag (the dashboard's counters,
# the error log's pages and CSV, the audit trail's pages and CSV) go to it, by name
# (common/replica.py); logins, security decisions and every write stay on the primary. Unset:
# everything reads the primary. In tests it is a mirror of the test database, never a database
# of its own (pytest-django creates none on it).
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "").strip()
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(
        DATABASE_REPLICA_URL, conn_max_age=DATABASE_CONN_MAX_AGE, conn_health_checks=True
    )
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    if DATABASES["replica"]["ENGINE"] != DATABASES["default"]["ENGINE"]:
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must be a replica of DATABASE_URL (the same engine).")
# Every model is read and written on "default" unless a query names another alias: the vault is
# read by raw SQL only, and only lag-tolerant selectors name the replica.
DATABASE_ROUTERS = ["extracts.routers.VaultRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"portal-{PORTAL_ENVIRONMENT}",
        }
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SESSION_ENGINE = "django.contrib.sessions.backends.db"

# --- Accounts and authentication --------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "accounts.backends.LoginGateBackend",  # django-axes' backend, with the limits of accounts.lockout
    "accounts.backends.EmailBackend",
    "accounts.backends.TemporaryPasswordBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT_SECONDS", 60 * 60)
PASSWORD_RESETS_PER_IP_PER_HOUR = env_int("PASSWORD_RESETS_PER_IP_PER_HOUR", 10)
PASSWORD_RESETS_PER_EMAIL_PER_HOUR = env_int("PASSWORD_RESETS_PER_EMAIL_PER_HOUR", 3)

TEMPORARY_PASSWORD_VALID_HOURS = env_int("TEMPORARY_PASSWORD_VALID_HOURS", 24)
DEFAULT_ORGANISATION_USER_LIMIT = env_int("DEFAULT_ORGANISATION_USER_LIMIT", 4)
# Re-authentication ("sudo mode") window before security changes.
REAUTHENTICATION_VALID_SECONDS = env_int("REAUTHENTICATION_VALID_SECONDS", 5 * 60)

# Second-factor tokens (django-otp devices; see tokens/)
# The name authenticator apps show beside the code (the otpauth URI's issuer and label), also in
# texted and emailed codes. A test deployment's entries say so, so nobody types a test code into
# production or the other way round.
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "").strip() or "API Platform Portal"
if PORTAL_ENVIRONMENT == "test" and not OTP_TOTP_ISSUER.endswith("(test)"):
    OTP_TOTP_ISSUER += " (test)"
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_HOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
OTP_EMAIL_THROTTLE_FACTOR = 1
# No admin page shows a device's key, QR code or backup codes after enrolment (issue 13 #8); the
# raw device admins are unregistered too (portal/apps.py): support works through tokens' admin.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# Consecutive wrong codes after which a token locks until an admin unlocks it (NIST: <= 100).
TOKEN_LOCK_AFTER_FAILURES = min(env_int("TOKEN_LOCK_AFTER_FAILURES", 10), 100)
# Texted and e-mailed codes: valid for at most 10 minutes, once.
TOKEN_CODE_VALID_SECONDS = min(env_int("TOKEN_CODE_VALID_SECONDS", 600), 600)
TOKEN_SEND_COOLDOWN_SECONDS = env_int("TOKEN_SEND_COOLDOWN_SECONDS", 60)
TOKEN_SENDS_PER_USER_PER_HOUR = env_int("TOKEN_SENDS_PER_USER_PER_HOUR", 10)
TOKEN_SENDS_PER_ORGANISATION_PER_HOUR = env_int("TOKEN_SENDS_PER_ORGANISATION_PER_HOUR", 40)
HOTP_RESYNC_WINDOW = env_int("HOTP_RESYNC_WINDOW", 1000)
# Half-logged-in state between the password and the code step.
LOGIN_CODE_STEP_SECONDS = 600
PHONENUMBER_DEFAULT_REGION = os.environ.get("PHONENUMBER_DEFAULT_REGION", "GB")
PHONENUMBER_DB_FORMAT = "E164"

# Login locks (accounts/lockout.py): 5 wrong passwords lock the account (counted per account and
# per account + address), never the colleagues on the same address; many failures across accounts
# from one address (credential stuffing) lock that address. Both for the cool-off period.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_IP_FAILURE_LIMIT = env_int("AXES_IP_FAILURE_LIMIT", 50)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username"], ["username", "ip_address"]]
AXES_HANDLER = "accounts.lockout.PortalAxesHandler"
AXES_RESET_ON_SUCCESS = True
# A login refused during a lock is not a wrong password: it neither counts nor extends the lock.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_LOCKOUT_TEMPLATE = "accounts/lockout.html"
AXES_USERNAME_CALLABLE = "accounts.backends.axes_username"
# The key of the login email in authenticate()'s credentials (axes defaults to USERNAME_FIELD,
# "email", and then found no account when resetting after a login or counting a re-authentication).
AXES_USERNAME_FORM_FIELD = "username"
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_VERBOSE = False
# The client's address behind a reverse proxy (common.ip.client_ip, used by axes, the audit trail
# and the password-reset limit): X-Forwarded-For is believed only when one of these says how many
# proxies (or which ones, outermost first) are in front of the portal; otherwise REMOTE_ADDR.
AXES_IPWARE_PROXY_COUNT = env_int("DJANGO_TRUSTED_PROXY_COUNT", 0) or None
AXES_IPWARE_PROXY_TRUSTED_IPS = env_list("DJANGO_TRUSTED_PROXIES", []) or None
AXES_CLIENT_IP_CALLABLE = "common.ip.client_ip"

# --- Platform API, dashboard, whitelist ---------------------------------------------------------
# Usage batches of 5,000 events with error details fit well inside this.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 20 * 1024 * 1024)
INGEST_MAX_EVENTS_PER_BATCH = env_int("INGEST_MAX_EVENTS_PER_BATCH", 10_000)
ERROR_LOG_RETENTION_DAYS = env_int("ERROR_LOG_RETENTION_DAYS", 90)
WHITELIST_MAX_ENTRIES = env_int("WHITELIST_MAX_ENTRIES", 100)

# --- Error alarms and their webhook (alarms/) --------------------------------------------------
ALARMS_PER_ORGANISATION = env_int("ALARMS_PER_ORGANISATION", 20)
# How often beat evaluates every alarm (each reads at most a day of 5-minute counters).
ALARM_EVALUATION_SECONDS = env_int("ALARM_EVALUATION_SECONDS", 60)
# A firing alarm recovers once no evaluation read its threshold for this long (0: at the first
# reading below it): a reading that hovers at the threshold does not flap every minute.
ALARM_RECOVERY_MINUTES = env_int("ALARM_RECOVERY_MINUTES", 5)
# Alarm history and the webhook delivery log are deleted after this many days.
ALARM_HISTORY_RETENTION_DAYS = env_int("ALARM_HISTORY_RETENTION_DAYS", 90)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
# Attempts per event, 30 s apart and doubling (5xx, 429, timeouts and refused connections are retried).
WEBHOOK_MAX_ATTEMPTS = max(1, env_int("WEBHOOK_MAX_ATTEMPTS", 8))
WEBHOOK_TESTS_PER_ORGANISATION_PER_HOUR = env_int("WEBHOOK_TESTS_PER_ORGANISATION_PER_HOUR", 10)

# --- Billing and extracts (owned by their apps) ------------------------------------------------
BILLING_CURRENCY_DEFAULT = os.environ.get("BILLING_CURRENCY_DEFAULT", "EUR")
BILLING_ISSUER_LINES = os.environ.get(
    "BILLING_ISSUER_LINES", "API Platform Ltd|1 Platform Way|London EC2A 4NE|United Kingdom|billing@example.com"
).split("|")
EXTRACT_CHUNK_ROWS = env_int("EXTRACT_CHUNK_ROWS", 5000)

# --- Retention (docs/operations.md): each enforced by a periodic task in CELERY_BEAT_SCHEDULE ----
# Extract files are deleted this long after they were written; the extract row stays, "expired".
EXTRACT_RETENTION_DAYS = env_int("EXTRACT_RETENTION_DAYS", 30)
# Ids of ingested usage batches, kept to count a resent batch once: must outlast the platform's
# retry horizon (how long it may resend a batch), or a late resend would be counted twice.
INGESTED_BATCH_RETENTION_DAYS = env_int("INGESTED_BATCH_RETENTION_DAYS", 30)
# The audit trail is kept at least 13 months (SPEC §11): a year's events plus a month to read them.
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 400)
AUDIT_RETENTION_MIN_DAYS = 395
if AUDIT_RETENTION_DAYS < AUDIT_RETENTION_MIN_DAYS:
    raise ImproperlyConfigured(
        f"AUDIT_RETENTION_DAYS must be at least {AUDIT_RETENTION_MIN_DAYS} (13 months); it is {AUDIT_RETENTION_DAYS}."
    )
if EXTRACT_RETENTION_DAYS < 1 or INGESTED_BATCH_RETENTION_DAYS < 1:
    raise ImproperlyConfigured("EXTRACT_RETENTION_DAYS and INGESTED_BATCH_RETENTION_DAYS must be at least 1.")

# --- Sessions, cookies, security headers ------------------------------------------------------
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_TIMEOUT_MINUTES", 30) * 60
# An inactivity timeout: accounts.middleware.IdleTimeoutMiddleware saves the session (restarting
# its age) on the first request after SESSION_ACTIVITY_RESOLUTION seconds, not on every request,
# so reading a page costs no session write; the session ends 29-30 minutes after the last request.
SESSION_SAVE_EVERY_REQUEST = False
SESSION_ACTIVITY_RESOLUTION = 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

SECURE_COOKIES = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
# Distinct names per deployment, so a browser holding test and production sessions never mixes
# them. "__Host-" binds the cookie to the exact host over HTTPS.
_cookie_prefix = "__Host-" if SECURE_COOKIES else ""
SESSION_COOKIE_NAME = f"{_cookie_prefix}portal-{PORTAL_ENVIRONMENT}-session"
CSRF_COOKIE_NAME = f"{_cookie_prefix}portal-{PORTAL_ENVIRONMENT}-csrftoken"

SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
# Container healthchecks call /health/ over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

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
    }
}

# --- Email and SMS ----------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH")  # for the file-based backend: one file per message
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "API Platform Portal <portal@example.com>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
SUPPORT_EMAIL = os.environ.get("SUPPORT_EMAIL", "support@example.com")

# "console" writes SMS to the log; "twilio" sends them through Twilio's API.
SMS_BACKEND = os.environ.get("SMS_BACKEND", "twilio" if os.environ.get("TWILIO_ACCOUNT_SID") else "console")
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM_NUMBER = os.environ.get("TWILIO_FROM_NUMBER", "")
# Ask Twilio Lookup for the line type and refuse numbers the carrier reports as VoIP.
TWILIO_LOOKUP_ENABLED = env_bool("TWILIO_LOOKUP_ENABLED", False)

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# A task's message is acknowledged when the task ends, and put back on the queue when the worker
# process running it dies, so a lost worker loses no work. Every task here is safe to run again:
# extracts take over a lost run (extracts/locks.py), sends are at-least-once with the same body,
# the periodic clean-ups are idempotent. tests/extracts/test_worker_killed.py kills a worker.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Beat sends a heartbeat task and rewrites its schedule file after every task it sends: the file's
# age is beat's health (portal/healthcheck.py), the task in the worker's log shows the path works.
CELERY_IMPORTS = ["portal.health"]
CELERY_BEAT_SYNC_EVERY = 1
BEAT_HEARTBEAT_SECONDS = env_int("BEAT_HEARTBEAT_SECONDS", 60)
CELERY_BEAT_SCHEDULE = {
    "beat-heartbeat": {
        "task": "portal.health.beat_heartbeat",
        "schedule": BEAT_HEARTBEAT_SECONDS,
    },
    "clear-expired-sessions": {
        "task": "accounts.tasks.clear_expired_sessions",
        "schedule": 60 * 60,
    },
    "delete-old-error-logs": {
        "task": "dashboard.tasks.delete_old_error_logs",
        "schedule": 60 * 60,
    },
    "start-due-extracts": {
        "task": "extracts.tasks.start_due_extracts",
        "schedule": 15 * 60,
    },
    "mark-overdue-invoices": {
        "task": "billing.tasks.mark_overdue_invoices",
        "schedule": 60 * 60,
    },
    "expire-old-extract-files": {
        "task": "extracts.tasks.expire_old_extract_files",
        "schedule": 60 * 60,
    },
    "delete-old-ingested-batches": {
        "task": "dashboard.tasks.delete_old_ingested_batches",
        "schedule": 60 * 60,
    },
    "delete-old-method-buckets": {
        "task": "dashboard.tasks.delete_old_method_buckets",
        "schedule": 60 * 60,
    },
    "evaluate-alarms": {
        "task": "alarms.tasks.evaluate_alarms",
        "schedule": ALARM_EVALUATION_SECONDS,
    },
    "delete-old-alarm-history": {
        "task": "alarms.tasks.delete_old_alarm_history",
        "schedule": 24 * 60 * 60,
    },
    "delete-old-audit-events": {
        "task": "audit.tasks.delete_old_audit_events",
        "schedule": 24 * 60 * 60,
    },
    "send-document-expiry-notices": {
        "task": "files.tasks.send_document_expiry_notices",
        "schedule": 24 * 60 * 60,
    },
    "expire-whitelist-entries": {
        "task": "whitelist.tasks.expire_whitelist_entries",
        "schedule": 60 * 60,
    },
}

# --- Support tickets: each new ticket and customer reply emails support -----------------------
TICKETS_PER_USER_PER_HOUR = env_int("TICKETS_PER_USER_PER_HOUR", 10)
TICKETS_PER_ORGANISATION_PER_HOUR = env_int("TICKETS_PER_ORGANISATION_PER_HOUR", 30)
TICKET_REPLIES_PER_USER_PER_HOUR = env_int("TICKET_REPLIES_PER_USER_PER_HOUR", 30)
TICKET_REPLIES_PER_ORGANISATION_PER_HOUR = env_int("TICKET_REPLIES_PER_ORGANISATION_PER_HOUR", 100)

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Customer files are private: never under STATIC/MEDIA URLs; downloads go through authorised views.
PRIVATE_FILES_ROOT = os.environ.get("PRIVATE_FILES_ROOT", str(BASE_DIR / "private-files"))
AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
AWS_S3_ENDPOINT_URL = os.environ.get("AWS_S3_ENDPOINT_URL") or None
AWS_S3_REGION_NAME = os.environ.get("AWS_S3_REGION_NAME") or None
AWS_DEFAULT_ACL = None
AWS_QUERYSTRING_AUTH = True
AWS_QUERYSTRING_EXPIRE = 60  # signed download links live one minute
AWS_S3_FILE_OVERWRITE = False
AWS_S3_SIGNATURE_VERSION = "s3v4"  # SigV2 links are refused by newer buckets and regions
FILES_MAX_UPLOAD_BYTES = env_int("FILES_MAX_UPLOAD_MB", 25) * 1024 * 1024
FILES_ALLOWED_TYPES = env_list("FILES_ALLOWED_TYPES", ["pdf", "png", "jpeg", "docx", "xlsx", "csv", "txt"])
FILES_MAX_REQUEST_BYTES = env_int("FILES_MAX_REQUEST_MB", FILES_MAX_UPLOAD_BYTES // (1024 * 1024)) * 1024 * 1024
FILES_MAX_PER_REQUEST = env_int("FILES_MAX_PER_REQUEST", 5)
# The limits above hold for every multipart request, whatever the view, while the body streams in.
FILE_UPLOAD_HANDLERS = [
    "files.upload_handlers.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "private": (
        {"BACKEND": "storages.backends.s3.S3Storage"}
        if AWS_STORAGE_BUCKET_NAME
        else {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": PRIVATE_FILES_ROOT, "base_url": None},
        }
    ),
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
# Files browsers ask for at the site's root (/favicon.ico), served by whitenoise before any login check.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"

LANGUAGE_CODE = "en-gb"
# One date and one date-time format on every page: portal/formats/en_GB/formats.py. Templates
# write {{ value|date }} or {{ value|date:"DATETIME_FORMAT" }}, never a format of their own.
FORMAT_MODULE_PATH = ["portal.formats"]
# The same with no language active:
DATE_FORMAT, DATETIME_FORMAT, TIME_FORMAT = (
    portal_formats.DATE_FORMAT,
    portal_formats.DATETIME_FORMAT,
    portal_formats.TIME_FORMAT,
)
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Logs and errors (portal/observability.py) ---------------------------------------------------
# One line per record on stderr: JSON in production, text with DEBUG on; each carries the request id
# (also in the X-Request-ID header and on the 500 page), user and organisation ids when known.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text" if DEBUG else "json").strip().lower()
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
if SENTRY_DSN:
    init_sentry(dsn=SENTRY_DSN, environment=PORTAL_ENVIRONMENT, release=os.environ.get("SENTRY_RELEASE"))
