"""Views no app owns: the front door, a health check, the favicon, the published config schema."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from strategies.validation import config_schema


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect(reverse("strategies:list"))


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@require_GET
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever a page links (base.html links the SVG); send them to it."""
    return HttpResponseRedirect(static("favicon.svg"))


@require_GET
def strategy_config_schema(request: HttpRequest) -> JsonResponse:
    """The JSON Schema of config.json, public so agents can read it before they write one."""
    return JsonResponse(config_schema(), json_dumps_params={"ensure_ascii": False, "indent": 2})
