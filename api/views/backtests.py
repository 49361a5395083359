"""/api/v1/strategies/{id}/backtests/ and /api/v1/backtests/{id}/: start, list, read and cancel backtests; the same
for parameter sweeps under /api/v1/strategies/{id}/backtests/sweeps/ and /api/v1/sweeps/{id}/."""

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
from strategies.backtests import (
    TRADE_KEYS,
    backtest_cancel,
    backtest_start,
    default_data,
    sweep_cancel,
    sweep_json,
    sweep_start,
)
from strategies.models import Backtest, Strategy, Sweep
from strategies.tasks import backtest_run, sweep_lane


def _backtest_data(backtest: Backtest, *, detail: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(backtest.pk), "strategy_id": str(backtest.strategy_id), "version": backtest.version.number,
        "status": backtest.status, "progress": round(backtest.progress, 1), "eta_seconds": backtest.eta_seconds,
        "error": backtest.error or None, "data_source": backtest.data_source, "start": backtest.start,
        "end": backtest.end, "cash": backtest.parameters.get("cash"), "created_at": backtest.created_at,
        "finished_at": backtest.finished_at, "metrics": backtest.metrics,
        "sweep_id": None if backtest.sweep_id is None else str(backtest.sweep_id),
        "overrides": backtest.parameters.get("overrides"),
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
        backtests = strategy.backtests.filter(sweep__isnull=True).select_related("version").defer(
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


class SweepListView(ApiView):
    @extend_schema(operation_id="sweeps_list", summary="A strategy's parameter sweeps, newest first (50)",
                   responses={200: s.SweepSummarySerializer(many=True), **ERRORS})
    def get(self, request: Request, strategy_id: int) -> Response:
        strategy = self.strategy(strategy_id)
        return Response([sweep_json(sweep, detail=False)
                         for sweep in strategy.sweeps.select_related("version")[:50]])

    @extend_schema(operation_id="sweeps_create", request=s.SweepCreateSerializer,
                   responses=answers(s.SweepQueuedSerializer, 202),
                   summary="Backtest the latest version over a grid or a seeded sample of its parameters: queued")
    def post(self, request: Request, strategy_id: int) -> Response:
        strategy = self.strategy(strategy_id)
        body = self.valid(s.SweepCreateSerializer, request.data)
        version = strategy.versions.order_by("-number").first()
        if version is None:
            raise ApiError(409, "not_runnable", f"strategy {strategy_id} has no version to backtest")
        data = default_data(version.config, None, source=body.get("data_source"), markets=body.get("markets"),
                            interval=body.get("interval"), half_spread=body.get("half_spread"))
        sweep = sweep_start(enqueue=sweep_lane, version=version, created_by=request.user, data=data,
                            parameters=body["parameters"], method=body["method"], samples=body.get("samples"),
                            seed=body.get("seed"), metric=body["metric"], holdout=body["holdout"],
                            start=body.get("start"), end=body.get("end"), cash=body.get("cash"))
        url = reverse("api:sweep-detail", kwargs={"sweep_id": sweep.pk})
        return Response({"sweep_id": str(sweep.pk), "status": sweep.status, "total": sweep.total,
                         "sweep_url": request.build_absolute_uri(url)}, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": url})


class SweepDetailView(ApiView):
    def sweep(self, sweep_id: int) -> Sweep:
        sweep = (Sweep.objects.select_related("version")
                 .filter(pk=sweep_id, strategy__owner=self.request.user)  # type: ignore[misc]
                 .exclude(strategy__status=Strategy.Status.ARCHIVED).first())
        if sweep is None:
            raise NotFound(f"you have no sweep {sweep_id}")
        return sweep

    @extend_schema(operation_id="sweeps_retrieve", responses=answers(s.SweepSerializer),
                   summary="One sweep: progress, the ranking, trials, the best's deflated Sharpe and out-of-sample")
    def get(self, request: Request, sweep_id: int) -> Response:
        return Response(sweep_json(self.sweep(sweep_id), detail=True))

    @extend_schema(operation_id="sweeps_cancel", responses=answers(s.SweepSerializer),
                   summary="Cancel: waiting points stop now, a running one between two steps; the rest is ranked")
    def delete(self, request: Request, sweep_id: int) -> Response:
        return Response(sweep_json(sweep_cancel(sweep=self.sweep(sweep_id)), detail=True))
