"""Names vulture (the dead-code check of `make lint`) cannot see used: Django, Celery, the standard
library and the templates call them by name. Each line "uses" one; add a name here only with its reason.
Not a module anyone imports.
"""

from typing import Any

_: Any = None

# Settings: Django, DRF, Celery, whitenoise and drf-spectacular read them by name.
_.ALLOWED_HOSTS, _.ASGI_APPLICATION, _.AUTH_PASSWORD_VALIDATORS, _.CSRF_COOKIE_SECURE, _.CSRF_TRUSTED_ORIGINS
_.DEFAULT_AUTO_FIELD, _.INSTALLED_APPS, _.LANGUAGE_CODE, _.LOGGING, _.LOGIN_REDIRECT_URL, _.LOGIN_URL
_.LOGOUT_REDIRECT_URL, _.MIDDLEWARE, _.PASSWORD_HASHERS, _.REST_FRAMEWORK, _.ROOT_URLCONF, _.SESSION_COOKIE_SECURE
_.SPECTACULAR_SETTINGS, _.STATICFILES_DIRS, _.STATIC_URL, _.STORAGES, _.TEMPLATES, _.TIME_ZONE, _.USE_I18N
_.USE_TZ, _.WHITENOISE_USE_FINDERS, _.WSGI_APPLICATION
_.SECURE_HSTS_SECONDS, _.SECURE_HSTS_INCLUDE_SUBDOMAINS, _.SECURE_HSTS_PRELOAD, _.SECURE_PROXY_SSL_HEADER
_.CELERY_ACCEPT_CONTENT, _.CELERY_BEAT_SCHEDULE, _.CELERY_BEAT_SCHEDULER, _.CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP
_.CELERY_BROKER_TRANSPORT_OPTIONS, _.CELERY_TASK_ACKS_LATE, _.CELERY_TASK_DEFAULT_QUEUE, _.CELERY_TASK_IGNORE_RESULT
_.CELERY_TASK_REJECT_ON_WORKER_LOST, _.CELERY_TASK_SERIALIZER, _.CELERY_TASK_SOFT_TIME_LIMIT, _.CELERY_TIMEZONE
_.CELERY_WORKER_PREFETCH_MULTIPLIER, _.CELERY_TASK_ROUTES
# strategyhub/gunicorn.conf.py: gunicorn reads its settings by name.
_.worker_class, _.worker_connections, _.keepalive, _.graceful_timeout, _.accesslog, _.errorlog, _.loglevel

# App configs (INSTALLED_APPS), the DRF authentication class (REST_FRAMEWORK), a channels handler (event "type").
_.AccountsConfig, _.ApiConfig, _.ChatfilesConfig, _.StrategiesConfig, _.TradingConfig, _.WebhooksConfig
_.ApiKeyAuthentication
_.strategy_event

# Model fields and choices: data the admin, the templates and the database use.
_.description, _.updated_at, _.created_by, _.rejected_by, _.last_used_at, _.revoked_at, _.changed_at, _.changed_by_id
_.is_superuser
_.SCRIPTS, _.CLASS  # Layout choices
_.YES, _.NO  # TradeSide choices
_.schedule_text  # templates/strategies/partials/_card.html

# Admin forms: Django calls clean_<field>; the changelist_view override keeps Django's signature.
_.new_credentials, _.clean_new_credentials, _.extra_context
# Admin actions with permissions=["approve_paper" | "approve_live"]: Django calls has_<name>_permission.
_.has_approve_paper_permission, _.has_approve_live_permission

# Celery signal handler, connected by its decorator.
_._on_worker_ready
_._on_pool_process_start  # worker_process_init
_._on_worker_setup  # celery signal receivers (celeryd_after_setup, worker_shutdown)
_._on_worker_shutdown

# The database triggers' migration functions: called by migrations (not scanned), with Django's signature.
_.refuse_updates, _.apps

# The strategy SDK: fields scripts read (strategies/examples, seed-design.md).
_.entry_price, _.pnl_today

# The sandbox's sys.stdout/sys.stderr replacement is a file object; the standard library reads these.
_.encoding, _.errors, _.writable
_.tempdir  # tempfile.tempdir: the run's scratch folder

# http.server: BaseHTTPRequestHandler and ThreadingHTTPServer read these by name.
_.daemon_threads, _.allow_reuse_address, _.request_queue_size, _.protocol_version, _.disable_nagle_algorithm
_.server_version, _.log_message, _.do_GET, _.do_POST, _.do_DELETE, _.do_PATCH, _.do_PUT, _.close_connection

# alpaca-py's own retry count, switched off (trading/venues/alpaca.py: retries are ours).
_._retry

# A result field: the quantity asked for, beside the fills.
_.requested

# Issue 10, finding 9 ("sell_fee_bound is never used"): the money work wires it in or deletes it; then drop this.
_.sell_fee_bound

# The agent API: DRF reads a view's and a paginator's settings, Django a path converter's methods and the
# URLconf's error handlers, by name.
_.permission_classes, _.throttle_classes, _.pagination_class, _.page_size, _.page_size_query_param, _.max_page_size
_.to_python, _.to_url, _.handler404, _.handler500, _.CACHES
_.api_exception_handler, _.has_permission, _.get_cache_key, _.num_requests, _.duration, _.regex, _.validate
_.ApiKeyScheme, _.target_class, _.get_security_definition, _.auto_schema
_.READ  # an ApiKeyScope choice
_.allow_request  # DRF calls a throttle's, by name
_.SharedRedisCache  # named by CACHES["default"]["BACKEND"] in settings
_.get_ordering  # the admin orders a changelist, and another admin's choices of that model, by it
_.BoundedJSONParser  # named by REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] in settings
_.LoginThrottleMiddleware, _.ContentSecurityPolicyMiddleware  # named by MIDDLEWARE in settings
_.ApiNotFoundMiddleware, _.process_response  # named by MIDDLEWARE in settings; Django calls the hook by name
_._runner  # the MCP session manager's task: kept referenced, or asyncio may collect it
# Output serializer fields: drf-spectacular publishes them in the OpenAPI schema.
_.schedule, _.dashboard_url, _.is_current, _.execution_url, _.unrealized_pnl_usd, _.equity_usd, _.total_capital_usd
_.total_pnl_usd, _.closed_trades, _.max_drawdown, _.backtest_url, _.entry_time, _.exit_time, _.exit_price
_.secret_note, _.mean_pnl_per_trade_usd, _.explanation
_.config_defaults  # the smoke run of a refused deploy (SmokeSerializer), read by the schema
_.overrides, _.sweep_url, _.out_of_sample, _.split_at, _.ranking  # the sweep serializers (issue 21)
_.sweep_index  # Backtest: a sweep's point's place, the database's unique (sweep, sweep_index)
# The dashboard: figures the Overview template reads; pytest hooks of the browser tests; a WhiteNoise setting.
_.sharpe
_.backtest_range  # a template filter (strategies/templatetags/dashboard.py), used only by backtests.html
_.pytest_collection_modifyitems, _.pytest_runtest_setup
_.WHITENOISE_AUTOREFRESH
_.gauss_next  # runtime/forking.py: random.Random.gauss caches its second value there; reset as Random.seed resets it
