"""gunicorn's settings for the `web` process: `gunicorn -c strategyhub/gunicorn.conf.py strategyhub.wsgi`.

Real worker processes with a few threads each (gthread): Django's sync views run in threads with their own
persistent database connection, no event loop hop per request. Sizes come from the environment (docs/deploying.md
explains them): WEB_CONCURRENCY processes (default: one per core), WEB_THREADS threads each (4), a listen backlog
of WEB_BACKLOG (64) connections: past it the kernel refuses new connections instead of queueing them for seconds.
"""

import os

bind = os.environ.get("WEB_BIND", f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}")  # noqa: S104
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
backlog = int(os.environ.get("WEB_BACKLOG", "64"))
# Connections a worker holds at once (busy or keep-alive idle); the rest wait in the backlog.
worker_connections = int(os.environ.get("WEB_CONNECTIONS", "200"))
# Longer than the front keeps an idle client connection (front.IDLE_SECONDS): the front, never gunicorn, closes an
# idle keep-alive pair, so no request is ever written to an upstream connection gunicorn is closing.
keepalive = int(os.environ.get("WEB_KEEPALIVE", "75"))
timeout = 30  # a worker whose main loop is stuck this long is replaced
graceful_timeout = 10
accesslog = os.environ.get("WEB_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("WEB_LOG_LEVEL", "warning")
