"""The server-rendered /strategies pages. Users only ever see their own strategies."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from strategies.events import execution_event
from strategies.selectors import strategies_for_user

ACTIVITY_RUNS = 5


@login_required
@require_GET
def strategy_list(request: HttpRequest) -> HttpResponse:
    strategies = strategies_for_user(request.user).select_related("current_version")  # type: ignore[arg-type]
    return render(request, "strategies/list.html", {"strategies": strategies})


@login_required
@require_GET
def strategy_activity(request: HttpRequest, strategy_id: int) -> JsonResponse:
    """The last runs with their log lines, oldest first, in the websocket's event shape: the history a
    page loads before it follows `ws/strategies/<id>/` (and again after a reconnect)."""
    strategy = get_object_or_404(strategies_for_user(request.user), pk=strategy_id)  # type: ignore[arg-type]
    runs = list(strategy.executions.order_by("-scheduled_for", "-id")[:ACTIVITY_RUNS])
    return JsonResponse({"executions": [execution_event(run) for run in reversed(runs)]})
