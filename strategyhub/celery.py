"""The Celery app: configuration is read from Django settings (CELERY_* names)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strategyhub.settings")

app = Celery("strategyhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
