"""Settings for the CRM, read from the environment with embedded defaults for a first run."""

import json
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

from core.checks import DEVELOPMENT_SECRET_KEY

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean environment variable ("1", "true", "yes" are true)."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    """Read a comma-separated environment variable as a list."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# The built-in key is public: with DEBUG off the web and worker processes refuse it, and a short key
# (core.checks). Production sets SECRET_KEY; `make run` makes a random one for each clone.
SECRET_KEY = os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    # Before django.contrib.auth, so that its createsuperuser (in the all-companies scope) is the one run,
    # and before the admin, so that its admin templates (the changelist's capped count) are the ones used.
    "tenancy",
    "tenancy.admin_site.TenantAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "crm",
    "calls",
    "messaging",
    "documents",
    "quotes",
    "workflows",
    "files",
    "analytics",
    "config",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenancy.middleware.TenantMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
# API paths answer with and without a trailing slash themselves; no redirects.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
        # A kept connection is checked before each request reuses it; one the server dropped
        # (a restart, a failover) is replaced instead of failing the request.
        conn_health_checks=True,
    )
}
# `manage.py migrate` connects as the tables' owner when this is set; the application's DATABASE_URL
# names a role that owns nothing and cannot bypass row-level security (docs/DEPLOY.md).
MIGRATION_DATABASE_URL = os.environ.get("MIGRATION_DATABASE_URL", "")
# Behind a transaction-mode pooler (PgBouncer), cursors may not outlive their transaction.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env_bool("DB_DISABLE_SERVER_SIDE_CURSORS", False)
# The rollout backfill (tenancy.operations.BackfillCompany) gives rows whose owner has no company to
# this company (its id or slug). Unset, such rows stop `migrate` and are listed for the operator.
TENANCY_BACKFILL_COMPANY = os.environ.get("TENANCY_BACKFILL_COMPANY", "")
# The key that seals each transaction's tenant scope for the row-level security policies
# (tenancy.sealed_scope); derived from SECRET_KEY unless set. `tenancy_grant_app_role` stores it.
TENANCY_SCOPE_KEY = os.environ.get("TENANCY_SCOPE_KEY", "")
# Local development only: serve even when the database role could bypass row-level security.
TENANCY_ALLOW_RLS_BYPASS = env_bool("TENANCY_ALLOW_RLS_BYPASS", False)

AUTH_USER_MODEL = "tenancy.User"
# Finds the user of a password or a session cookie before any company is known (row-level security).
AUTHENTICATION_BACKENDS = ["tenancy.identity.TenantModelBackend"]
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

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
# Uploaded files go to the "files" storage: the local filesystem by default, any django-storages
# backend by naming it in FILES_STORAGE_BACKEND (with its OPTIONS in FILES_STORAGE_OPTIONS, JSON).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "files": {
        "BACKEND": os.environ.get("FILES_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"),
        "OPTIONS": json.loads(os.environ.get("FILES_STORAGE_OPTIONS", "{}"))
        or {"location": str(MEDIA_ROOT / "private"), "base_url": None},
    },
}
FILE_UPLOAD_MAX_BYTES = int(os.environ.get("FILE_UPLOAD_MAX_BYTES", str(25 * 1024 * 1024)))
# Signed download links and public signing links stay valid this long.
FILE_LINK_MAX_AGE_SECONDS = int(os.environ.get("FILE_LINK_MAX_AGE_SECONDS", "3600"))
SIGNING_LINK_DAYS = int(os.environ.get("SIGNING_LINK_DAYS", "14"))
# Invitations of new users: how long the link works, and the page of the single-page app it opens.
INVITE_LINK_DAYS = int(os.environ.get("INVITE_LINK_DAYS", "7"))
INVITE_ACCEPT_URL = os.environ.get("INVITE_ACCEPT_URL", f"{PUBLIC_BASE_URL}/accept-invite?token={{token}}")
# Request bodies above this size are refused before parsing (uploads stream to disk below it).
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", str(5 * 1024 * 1024)))
# How deep arrays and objects may nest in a JSON body (API and inbound workflow hooks); deeper is a 400.
JSON_MAX_DEPTH = int(os.environ.get("JSON_MAX_DEPTH", "64"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_CACHE = {
    "BACKEND": "django.core.cache.backends.redis.RedisCache",
    "LOCATION": os.environ.get("REDIS_URL"),
}


def shared_cache(table: str, max_entries: int) -> dict:
    """Redis when configured, else a database table: state every web process must see alike."""
    if os.environ.get("REDIS_URL"):
        return REDIS_CACHE
    return {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": table,
        "OPTIONS": {"MAX_ENTRIES": max_entries},
    }


CACHES = {
    # Public-door throttles and other short-lived counts: per process without Redis, as they may be.
    "default": REDIS_CACHE
    if os.environ.get("REDIS_URL")
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # Sign-out must hold in every worker: a per-process cache let another worker accept the token.
    # Live revocations are never culled (expired ones go first, and far fewer are live than this).
    "revocations": shared_cache("cache_revocations", max_entries=10_000_000),
    # Failed sign-ins counted in one process only would let each worker grant the full allowance.
    "sign_in_failures": shared_cache("cache_sign_in_failures", max_entries=1_000_000),
}
# Sessions never live in the database, where SQL on the application's connection could read their
# keys and sign in as anyone: in the shared cache (Redis) in production, else in signed cookies,
# since the embedded in-process cache is not shared between server processes.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cache"
    if os.environ.get("REDIS_URL")
    else "django.contrib.sessions.backends.signed_cookies"
)

# Phone numbers typed without a country code (core.phones) are read in this region (ISO 3166 code).
PHONE_DEFAULT_REGION = os.environ.get("PHONE_DEFAULT_REGION", "US").upper()
# Where the admin's "View site" leads: the single-page app in production, else the API's docs.
ADMIN_VIEW_SITE_URL = os.environ.get("ADMIN_VIEW_SITE_URL", "/api/docs/")

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "crm@localhost")

# A single-page app served from another origin calls the API with bearer tokens.
CORS_ALLOWED_ORIGINS = env_list(
    "CORS_ALLOWED_ORIGINS",
    "http://localhost:5173,http://127.0.0.1:5173,http://localhost:3000,http://127.0.0.1:3000",
)
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "origin",
    "x-company-id",
    "x-csrftoken",
    "x-requested-with",
)
CORS_EXPOSE_HEADERS = ("retry-after",)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", ",".join(CORS_ALLOWED_ORIGINS))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenancy.auth.TenantJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "core.api.filters.StrictDjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "core.api.filters.StrictOrderingFilter",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "core.api.renderers.SurrogateSafeJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # Bodies are JSON, which carries null, numbers and booleans as the schema types them; only the
    # file upload takes multipart (files.api.FileViewSet).
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.BoundedJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "tenancy.api.exception_handler",
    # The public doors (core.api.throttles): links people open, per address and per link, and
    # webhooks machines send, per sending address and per number or workflow. Twilio and webhook
    # senders share their addresses between companies, and a long code sends a text a second
    # with up to three status callbacks each, hence the higher webhook rates.
    "DEFAULT_THROTTLE_RATES": {
        # Failed sign-ins only: per address, and per account from one address; per account from every
        # address much higher, so a stranger's few wrong guesses never lock the owner out.
        "login": os.environ.get("LOGIN_THROTTLE_RATE", "10/min"),
        "login_account": os.environ.get("LOGIN_ACCOUNT_THROTTLE_RATE", "100/hour"),
        "public": os.environ.get("PUBLIC_THROTTLE_RATE", "120/min"),
        "public_key": os.environ.get("PUBLIC_KEY_THROTTLE_RATE", "30/min"),
        "webhook": os.environ.get("WEBHOOK_THROTTLE_RATE", "600/min"),
        "webhook_key": os.environ.get("WEBHOOK_KEY_THROTTLE_RATE", "600/min"),
        # Phone number registrations (each asks Twilio), per signed-in user and per company.
        "phone_number_user": os.environ.get("PHONE_NUMBER_USER_THROTTLE_RATE", "10/hour"),
        "phone_number_company": os.environ.get("PHONE_NUMBER_COMPANY_THROTTLE_RATE", "30/hour"),
    },
    # Proxies in front of the app; unset, DRF trusts a client's own X-Forwarded-For as its address.
    "NUM_PROXIES": int(os.environ.get("NUM_PROXIES", "0")),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=int(os.environ.get("JWT_ACCESS_MINUTES", "15"))),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=int(os.environ.get("JWT_REFRESH_DAYS", "7"))),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
    # HS256: 32 bytes or more when set on its own (core.checks); unset, SECRET_KEY signs.
    "SIGNING_KEY": os.environ.get("JWT_SIGNING_KEY", SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "CRM API",
    "DESCRIPTION": (
        "Multi-tenant sales CRM. Authenticate with POST /api/auth/login and send "
        "`Authorization: Bearer <access_token>`. Platform super admins may send `X-Company-ID`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/",
    # Swagger UI's scripts, styles and icon come from our own static files (drf-spectacular-sidecar),
    # so the docs work offline and the browser asks no CDN; no online validator is asked either.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # Schema generation only calls .none() on it; the scoped default manager refuses to run without
    # a company, and the schema is built for anonymous readers and by the management command.
    "DEFAULT_QUERY_MANAGER": "_base_manager",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.schema.document_error_responses",
    ],
    # Many models have a `status`; each choice set gets a stable, readable schema name.
    "ENUM_NAME_OVERRIDES": {
        "DocumentStatusEnum": "documents.models.Document.Status",
        "DocumentSignatureStatusEnum": "documents.models.DocumentSignature.Status",
        "QuoteStatusEnum": "quotes.models.Quote.Status",
        "WorkflowExecutionStatusEnum": "workflows.models.WorkflowExecution.Status",
        "WorkflowStepStatusEnum": "workflows.models.StepStatus",
        "WorkflowTriggerEnum": "workflows.models.Workflow.Trigger",
        "UserRoleEnum": "tenancy.models.User.Role",
        "RoleEnum": "tenancy.api.auth.ME_ROLES",
    },
}

REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without a broker the embedded default runs tasks in-process, so a first run needs no Redis.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task whose worker died unacknowledged goes back to its queue after this many seconds; it
    # must exceed the longest task run and countdown (Redis holds unacknowledged tasks, not Celery).
    "visibility_timeout": int(os.environ.get("CELERY_BROKER_VISIBILITY_TIMEOUT", "3600")),
    # Workers look for such tasks this often (seconds), scanning at every look.
    "unacked_restore_interval": int(os.environ.get("CELERY_BROKER_RESTORE_INTERVAL", "10")),
    "unacked_restore_throttle": 1,
    # A frozen or unreachable broker fails an enqueue within seconds instead of hanging the request
    # (the send stays queued in the database for the outbox); without these Redis reads never time out.
    "socket_connect_timeout": float(os.environ.get("CELERY_BROKER_SOCKET_TIMEOUT", "2")),
    "socket_timeout": float(os.environ.get("CELERY_BROKER_SOCKET_TIMEOUT", "2")),
}
# One quick retry (a pooled connection gone stale after a broker restart), then give up.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}

# Secrets stored in the database are encrypted with the first key; older keys still decrypt. Each is a
# Fernet key or a passphrase of 50 characters or more (core.checks); unset, SECRET_KEY encrypts.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", SECRET_KEY)

# Twilio: with dry-run on (the embedded default) nothing leaves the machine; messages and calls
# are answered locally as Twilio would. TWILIO_HTTP_CLIENT names the SDK's HTTP transport class.
TWILIO_DRY_RUN = env_bool("TWILIO_DRY_RUN", True)
TWILIO_HTTP_CLIENT = os.environ.get("TWILIO_HTTP_CLIENT", "")
TWILIO_HTTP_TIMEOUT = float(os.environ.get("TWILIO_HTTP_TIMEOUT", "10"))
# A deleted number stays reserved for its company this many days: no other company may register it.
PHONE_NUMBER_RESERVATION_DAYS = int(os.environ.get("PHONE_NUMBER_RESERVATION_DAYS", "30"))

# Sends still queued this long after they were recorded are queued again (broker outages).
OUTBOX_REQUEUE_AFTER_SECONDS = int(os.environ.get("OUTBOX_REQUEUE_AFTER_SECONDS", "120"))
# Workflows: a failed step is tried up to WORKFLOW_STEP_MAX_ATTEMPTS times, waiting the n-th backoff
# (the last one repeats) after the n-th failure. Outbound webhooks reach public addresses only,
# unless WORKFLOW_WEBHOOK_ALLOW_PRIVATE (for development and tests against a local receiver).
WORKFLOW_STEP_MAX_ATTEMPTS = int(os.environ.get("WORKFLOW_STEP_MAX_ATTEMPTS", "4"))
WORKFLOW_RETRY_BACKOFF_SECONDS = [
    float(seconds) for seconds in env_list("WORKFLOW_RETRY_BACKOFF_SECONDS", "10,60,300")
]
WORKFLOW_WEBHOOK_ALLOW_PRIVATE = env_bool("WORKFLOW_WEBHOOK_ALLOW_PRIVATE", False)
# An inbound workflow hook signs its time; one signed longer ago (or further ahead) than this is refused.
WORKFLOW_HOOK_TOLERANCE_SECONDS = int(os.environ.get("WORKFLOW_HOOK_TOLERANCE_SECONDS", "300"))
CELERY_BEAT_SCHEDULE = {
    "requeue-stalled-sends": {"task": "messaging.requeue_stalled_sends", "schedule": 60.0},
    "dispatch-due-campaigns": {"task": "messaging.dispatch_due_campaigns", "schedule": 60.0},
    "dispatch-scheduled-workflows": {"task": "workflows.dispatch_scheduled", "schedule": 60.0},
    "requeue-stalled-signing-links": {
        "task": "documents.requeue_stalled_signature_requests",
        "schedule": 60.0,
    },
    "expire-overdue-documents": {"task": "documents.dispatch_overdue_documents", "schedule": 300.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
