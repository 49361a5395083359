"""The server-rendered /strategies pages. Users only ever see their own strategies."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from strategies.selectors import strategies_for_user


@login_required
@require_GET
def strategy_list(request: HttpRequest) -> HttpResponse:
    strategies = strategies_for_user(request.user).select_related("current_version")  # type: ignore[arg-type]
    return render(request, "strategies/list.html", {"strategies": strategies})
