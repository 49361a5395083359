"""/api/v1/strategies/{id}/backtests/ and /api/v1/backtests/{id}/: start, list, read and cancel backtests."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from api import serializers as s
from api.errors import ApiError
from api.views.base import ERRORS, ApiView, answers
from strategies.backtests import TRADE_KEYS, backtest_cancel, backtest_start, default_data
from strategies.models import Backtest, Strategy
from strategies.tasks import backtest_run


def _backtest_data(backtest: Backtest, *, detail: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(backtest.pk), "strategy_id": str(backtest.strategy_id), "version": backtest.version.number,
        "status": backtest.status, "progress": round(backtest.progress, 1), "eta_seconds": backtest.eta_seconds,
        "error": backtest.error or None, "data_source": backtest.data_source, "start": backtest.start,
        "end": backtest.end, "cash": backtest.parameters.get("cash"), "created_at": backtest.created_at,
        "finished_at": backtest.finished_at, "metrics": backtest.metrics,
    }
    if detail:
        data.update(trades=[{key: trade[key] for key in TRADE_KEYS} for trade in backtest.trades],
                    equity=backtest.equity, open_positions=backtest.open_positions, lookahead=backtest.lookahead)
    return data


class BacktestListView(ApiView):
    @extend_schema(operation_id="backtests_list", summary="A strategy's backtests, newest first (50)",
                   responses={200: s.BacktestSummarySerializer(many=True), **ERRORS})
    def get(self, request: Request, strategy_id: int) -> Response:
        strategy = self.strategy(strategy_id)
        backtests = strategy.backtests.select_related("version").defer(
            "trades", "equity", "actions", "logs", "open_positions", "lookahead")[:50]
        return Response([_backtest_data(b, detail=False) for b in backtests])

    @extend_schema(operation_id="backtests_create", request=s.BacktestCreateSerializer,
                   responses=answers(s.BacktestQueuedSerializer, 202),
                   summary="Backtest the latest version over history: queued, read it with backtests_retrieve")
    def post(self, request: Request, strategy_id: int) -> Response:
        strategy = self.strategy(strategy_id)
        body = self.valid(s.BacktestCreateSerializer, request.data)
        version = strategy.versions.order_by("-number").first()
        if version is None:
            raise ApiError(409, "not_runnable", f"strategy {strategy_id} has no version to backtest")
        data = default_data(version.config, None, source=body.get("data_source"), markets=body.get("markets"),
                            interval=body.get("interval"), half_spread=body.get("half_spread"))
        backtest = backtest_start(enqueue=backtest_run.delay, version=version, created_by=request.user, data=data,
                                  start=body.get("start"), end=body.get("end"), cash=body.get("cash"))
        url = reverse("api:backtest-detail", kwargs={"backtest_id": backtest.pk})
        return Response({"backtest_id": str(backtest.pk), "status": backtest.status,
                         "backtest_url": request.build_absolute_uri(url)}, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": url})


class BacktestDetailView(ApiView):
    def backtest(self, backtest_id: int) -> Backtest:
        backtest = (Backtest.objects.select_related("version")
                    .filter(pk=backtest_id, strategy__owner=self.request.user)  # type: ignore[misc]
                    .exclude(strategy__status=Strategy.Status.ARCHIVED).first())
        if backtest is None:
            raise NotFound(f"you have no backtest {backtest_id}")
        return backtest

    @extend_schema(operation_id="backtests_retrieve", responses=answers(s.BacktestSerializer),
                   summary="One backtest: status, progress, metrics, trades, equity, look-ahead check")
    def get(self, request: Request, backtest_id: int) -> Response:
        return Response(_backtest_data(self.backtest(backtest_id), detail=True))

    @extend_schema(operation_id="backtests_cancel", responses=answers(s.BacktestSerializer),
                   summary="Cancel: a queued backtest stops now, a running one between two steps")
    def delete(self, request: Request, backtest_id: int) -> Response:
        backtest = backtest_cancel(backtest=self.backtest(backtest_id))
        return Response(_backtest_data(backtest, detail=True))
