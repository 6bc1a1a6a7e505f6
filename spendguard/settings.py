"""Django settings. This is the one place that reads the environment (SPEC §7).

Development works with nothing set (SQLite and a filesystem Celery broker in the data folder).
`SPENDGUARD_ENV=production` refuses to start without a real `SECRET_KEY` and signing key.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None


DATA_DIR = Path(env_str("SPENDGUARD_DATA_DIR") or (BASE_DIR / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

# `production` refuses to start without real secrets; `development` (the default) generates
# them once into the data folder so the stack runs with nothing set.
ENVIRONMENT = env_str("SPENDGUARD_ENV", "development").lower()
if ENVIRONMENT not in {"development", "production"}:
    raise ImproperlyConfigured(f"SPENDGUARD_ENV must be 'development' or 'production', got {ENVIRONMENT!r}")
PRODUCTION = ENVIRONMENT == "production"
DEBUG = env_bool("DEBUG", False)


def _dev_secret(filename: str, make) -> str:
    """Read a development secret from the data folder, creating it (mode 0600) on first use.

    The file is written whole under a temporary name and linked into place, so a process racing
    us sees either no file or the complete one, and exactly one value wins."""
    path = DATA_DIR / filename
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=DATA_DIR, prefix=f".{filename}.")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(make())
            with contextlib.suppress(FileExistsError):  # another process won the race: use theirs
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY is required in production (SPENDGUARD_ENV=production).")
    SECRET_KEY = _dev_secret("dev-secret-key", lambda: secrets.token_urlsafe(50))

ALLOWED_HOSTS = [h.strip() for h in env_str("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env_str("CSRF_TRUSTED_ORIGINS").split(",") if o.strip()]

# Secure cookies in production; the development stack serves plain http on loopback.
SECURE_COOKIES = env_bool("SECURE_COOKIES", PRODUCTION)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "apps.core",
    "apps.accounts",
    "apps.budgets",
    "apps.pricing",
    "apps.gateway",
]

MIDDLEWARE = [
    "apps.core.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Non-admin paths (the API and the proxy) run this async-native stack instead (spendguard/asgi.py).
API_MIDDLEWARE = [
    "apps.core.middleware.BodySizeLimitMiddleware",
    "apps.core.middleware.ApiHeadersMiddleware",
]

ROOT_URLCONF = "spendguard.urls"
WSGI_APPLICATION = "spendguard.wsgi.application"
ASGI_APPLICATION = "spendguard.asgi.application"

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


def database_from_url(url: str) -> dict:
    """Parse `postgres://user:pass@host:port/name?opt=v` or `sqlite:///path` into a DATABASES entry."""
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme in {"postgres", "postgresql", "pgsql"}:
        options: dict = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        # Under ASGI every request runs its sync work in a thread of its own, so persistent
        # per-thread connections (CONN_MAX_AGE) leak one connection per request until PostgreSQL
        # refuses clients. A per-process pool hands connections back at the end of each request.
        pool_size = env_int("DATABASE_POOL_MAX_SIZE", 8, minimum=0)
        if pool_size:
            timeout = env_float("DATABASE_POOL_TIMEOUT", 10.0)
            options["pool"] = {"min_size": 1, "max_size": pool_size, "timeout": timeout}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")) or "postgres",
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": 0 if pool_size else env_int("DATABASE_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": not pool_size,
            "OPTIONS": options,
        }
    if scheme == "sqlite":
        # sqlite:///relative.db or sqlite:////absolute/path.db
        return sqlite_database(Path(unquote(url[len("sqlite:///"):])).resolve())
    raise ImproperlyConfigured(f"DATABASE_URL scheme {scheme!r} is not supported (use postgres:// or sqlite:///)")


def sqlite_database(path: Path) -> dict:
    # WAL lets readers run beside the one writer; IMMEDIATE makes every transaction take the write
    # lock at BEGIN, so two concurrent read-modify-write transactions serialize instead of one
    # failing at COMMIT (or, worse, both reading the same balance).
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
        },
        "TEST": {"NAME": str(path.with_name(path.stem + "-test.sqlite3"))},
    }


DATABASE_URL = env_str("DATABASE_URL")
DATABASES = {
    "default": database_from_url(DATABASE_URL) if DATABASE_URL else sqlite_database(DATA_DIR / "spendguard.sqlite3")
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"

# Request bodies: provider calls carry whole conversations, so the cap is generous but finite.
MAX_REQUEST_BODY_BYTES = env_int("SPENDGUARD_MAX_BODY_BYTES", 8 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

# Enforcement knobs (SPEC §7).
CAP_LOCK_TTL_SECONDS = env_int("CAP_LOCK_TTL_SECONDS", 300, minimum=1)
CAP_DEFAULT_MAX_TOKENS = env_int("CAP_DEFAULT_MAX_TOKENS", 512, minimum=1)
CAP_SWEEP_INTERVAL_SECONDS = env_float("CAP_SWEEP_INTERVAL_SECONDS", 5.0)
# Provider-side tools (web/file search, grounding): how many calls one request may make (we send
# `max_tool_calls` where the API has it) and how many result tokens each may add to the input.
CAP_MAX_HOSTED_TOOL_CALLS = env_int("CAP_MAX_HOSTED_TOOL_CALLS", 3, minimum=1)
CAP_TOOL_RESULT_TOKENS = env_int("CAP_TOOL_RESULT_TOKENS", 8000, minimum=0)

# Signed price list (SPEC §5). The key is base64 of the raw 32-byte Ed25519 private key
# (`manage.py generate_signing_key` makes one). Development generates one into the data folder.
def _pricing_signing_key() -> str:
    import base64
    import binascii

    names = ("CAP_PRICING_SIGNING_PRIVATE_KEY", "CLOUD_PRICING_SIGNING_PRIVATE_KEY")
    given = {name: env_str(name) for name in names if env_str(name)}
    if len(set(given.values())) > 1:
        raise ImproperlyConfigured(f"{' and '.join(names)} are both set and differ; set only one.")
    if given:
        name, value = next(iter(given.items()))
    elif PRODUCTION:
        raise ImproperlyConfigured(
            "CAP_PRICING_SIGNING_PRIVATE_KEY (or CLOUD_PRICING_SIGNING_PRIVATE_KEY) is required in production "
            "(SPENDGUARD_ENV=production): sidecars verify the price list with its public key. "
            "Create one with `manage.py generate_signing_key`."
        )
    else:
        name = f"the development key file {DATA_DIR / 'dev-pricing-signing-key'}"

        def make() -> str:
            return base64.b64encode(os.urandom(32)).decode()

        value = _dev_secret("dev-pricing-signing-key", make)
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ImproperlyConfigured(f"{name} must be base64 of a raw 32-byte Ed25519 private key.")
    return value


PRICING_SIGNING_PRIVATE_KEY = _pricing_signing_key()
# How long a signed document is valid; the beat task re-signs after a third of it.
CAP_PRICING_TTL_SECONDS = env_int("CAP_PRICING_TTL_SECONDS", 300, minimum=10)
# How long a process may keep using the active version it last saw before checking again.
CAP_PRICING_CACHE_SECONDS = env_float("CAP_PRICING_CACHE_SECONDS", 1.0)

# Provider upstreams (SPEC §7). Tests point the base URLs at a fake upstream on loopback.
PROVIDER_KEYS = {
    "openai": env_str("OPENAI_API_KEY"),
    "grok": env_str("XAI_API_KEY") or env_str("GROK_API_KEY"),
    "anthropic": env_str("ANTHROPIC_API_KEY"),
    "gemini": env_str("GEMINI_API_KEY"),
}
PROVIDER_BASE_URLS = {
    "openai": (env_str("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/"),
    "grok": (env_str("XAI_BASE_URL") or "https://api.x.ai/v1").rstrip("/"),
    "anthropic": (env_str("ANTHROPIC_BASE_URL") or "https://api.anthropic.com").rstrip("/"),
    "gemini": (env_str("GEMINI_BASE_URL") or "https://generativelanguage.googleapis.com").rstrip("/"),
}
# Must stay below the reservation TTL, so no call outlives the money held for it.
UPSTREAM_TIMEOUT_SECONDS = env_float("UPSTREAM_TIMEOUT_SECONDS", min(120.0, CAP_LOCK_TTL_SECONDS * 0.8))
if UPSTREAM_TIMEOUT_SECONDS >= CAP_LOCK_TTL_SECONDS:
    raise ImproperlyConfigured("UPSTREAM_TIMEOUT_SECONDS must be shorter than CAP_LOCK_TTL_SECONDS")

# Celery (SPEC §6). With no broker configured, a filesystem broker in the data folder needs no server.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = DATA_DIR / "broker"
    for sub in ("queue", "processed"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Re-sign the price list well before expiry (every TTL/6, at least once a minute). A message that
# waited longer than one interval is dropped: the next one does the same work.
_PRICING_PUBLISH_EVERY = max(1.0, min(60.0, CAP_PRICING_TTL_SECONDS / 6))
CELERY_BEAT_SCHEDULE: dict = {
    # SPEC §4: no reservation outlives its expiry by more than one sweep interval.
    "sweep-expired-reservations": {
        "task": "apps.gateway.tasks.sweep_reservations",
        "schedule": CAP_SWEEP_INTERVAL_SECONDS,
        "options": {"expires": CAP_SWEEP_INTERVAL_SECONDS},
    },
    "pricing-publish": {
        "task": "apps.pricing.tasks.publish_pricing",
        "schedule": _PRICING_PUBLISH_EVERY,
        "options": {"expires": _PRICING_PUBLISH_EVERY},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
