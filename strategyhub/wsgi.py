"""WSGI entry point: the `web` process, HTTP through gunicorn's gthread workers (strategyhub/gunicorn.conf.py,
docs/deploying.md). Websockets and /mcp are the ASGI process's (strategyhub/asgi.py); the process in front routes
by path (strategyhub/front.py for `make run`, the platform's router or nginx in production)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strategyhub.settings")

from django.conf import settings

# Each gunicorn thread keeps its own connection (CONN_MAX_AGE, health-checked): threads live as long as their
# worker, so workers × threads connections, reused, no pool needed. A statement that runs past the request
# deadline is cancelled by Postgres: a request never holds its thread (and the client) longer than that.
for database in settings.DATABASES.values():
    options = database.setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c statement_timeout={settings.WEB_STATEMENT_TIMEOUT_MS}"

from django.urls import get_resolver  # noqa: E402

from strategyhub.lib.shedding import ForwardedFor, QueueDeadline  # noqa: E402

application = QueueDeadline(ForwardedFor(get_wsgi_application(), trusted=settings.WEB_TRUSTED_PROXIES),
                            deadline_ms=settings.WEB_QUEUE_DEADLINE_MS)
# Every view module now, as a worker boots, not on its first request (seconds of venue SDK imports).
get_resolver().url_patterns  # noqa: B018
