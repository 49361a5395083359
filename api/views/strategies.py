"""/api/v1/strategies/: deploy (with its smoke run), read, pause, enable, Test Run, Run now, performance and
graduation."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, cast

from django.contrib.auth.models import User
from django.db import IntegrityError
from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from api import lean
from api import serializers as s
from api.errors import ApiError, error_body
from api.selectors import strategy_performance
from api.views.base import ERRORS, ApiView, ListView, Page, answers
from strategies.cycle.run import CycleNotStarted, execution_run, execution_trial
from strategies.models import Execution, Strategy
from strategies.selectors import (
    GRADUATION_EXPLAINED,
    GraduationStatistics,
    calibration_words,
    strategies_for_user,
    strategy_graduation,
)
from strategies.services import (
    strategy_archive,
    strategy_clone,
    strategy_deploy,
    strategy_enable,
    strategy_pause,
    strategy_run_now,
)
from strategies.tasks import execution_cycle
from strategies.validation import StrategyInvalid, smoke_config

logger = logging.getLogger(__name__)


def _smoke_answer(execution: Execution, *, stored: bool = True) -> dict[str, Any]:
    data = s.ExecutionSerializer(execution).data
    return {"status": execution.status, "execution_id": str(execution.pk) if stored else None, "logs": data["logs"],
            "actions": data["actions"], "error": execution.error or None}


def _not_run(status: str, error: str) -> dict[str, Any]:
    return {"status": status, "execution_id": None, "logs": [], "actions": [], "error": error}


def smoke_run(strategy: Strategy) -> dict[str, Any]:
    """One dry-run cycle of the strategy's current version in the sandbox: the agent's first feedback."""
    try:
        execution = execution_run(strategy_id=strategy.pk, trigger=Execution.Trigger.DRY_RUN, dry_run=True)
    except CycleNotStarted as exc:
        return _not_run("not_started", str(exc))
    except Exception as exc:  # the deploy stands; the smoke run's own failure is reported, not raised
        logger.exception("smoke run of strategy %s", strategy.pk)
        return _not_run("failed", repr(exc))
    return {**_smoke_answer(execution), "config_defaults": {}}


def smoke_trial(owner: User, files: dict[str, str]) -> dict[str, Any]:
    """The smoke run of files refused by validation, so runtime mistakes come in the same answer as the static
    ones: config.json's missing or invalid values replaced by the schema's defaults (listed in `config_defaults`,
    None for a key left out), on a strategy rolled back with the run: nothing is stored."""
    trial = smoke_config(files)
    if trial is None:
        return {**_not_run("not_started", "the code cannot be loaded (see error.issues), so it was not run"),
                "config_defaults": {}, "note": "not run: fix the files' layout and syntax first"}
    runnable, defaults = trial
    if defaults:
        note = ("config.json was refused, so this dry run used the schema's defaults for: "
                + ", ".join(defaults) + ". Nothing was stored: fix every issue in error.issues and deploy again.")
    else:
        note = ("config.json is valid and was used as sent; nothing was stored: fix every issue in error.issues and "
                "deploy again.")
    try:
        answer = execution_trial(owner=owner, files=runnable,
                                 read=lambda execution: _smoke_answer(execution, stored=False))
    except CycleNotStarted as exc:
        answer = _not_run("not_started", str(exc))
    except Exception as exc:  # the refusal stands; the trial's own failure is reported, not raised
        logger.exception("smoke run of refused files")
        answer = _not_run("failed", repr(exc))
    return {**answer, "config_defaults": defaults, "note": note}


def refused_with_smoke(owner: User, refused: StrategyInvalid) -> Response:
    """A deploy's refusal in the API's one error shape, and beside it the smoke run of the refused files."""
    body = error_body(refused.type, refused.message, refused.issues_json())
    if refused.files is not None:
        body["smoke"] = smoke_trial(owner, refused.files)
    return Response(body, status=refused.status)


class StrategyListView(ListView):
    serializer_class = s.StrategySerializer
    pagination_class = Page
    filter_serializer = s.StrategyFilterSerializer
    lean_get = lean.strategy_list

    def get_queryset(self) -> QuerySet[Strategy, dict[str, Any]]:
        # Plain rows of the columns the answer shows: not the config, the state, nor the version's config.
        mine = strategies_for_user(self.request.user)  # type: ignore[arg-type]
        return cast("QuerySet[Strategy, dict[str, Any]]", mine.filter(**self.filters()).values(*s.STRATEGY_VALUES))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None
        base = request.build_absolute_uri("/strategies/")
        return self.get_paginated_response([s.strategy_row(row, base) for row in page])

    @extend_schema(operation_id="strategies_list", parameters=[s.StrategyFilterSerializer],
                   summary="List your strategies", responses={200: s.StrategySerializer(many=True), **ERRORS})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(operation_id="strategies_deploy", request=s.DeploySerializer,
                   responses={201: s.DeployedStrategySerializer, 200: s.DeployedStrategySerializer, **ERRORS,
                              400: s.DeployRefusedSerializer},
                   summary="Deploy a strategy (answered with a smoke dry run)")
    def post(self, request: Request) -> Response:
        data = self.valid(s.DeploySerializer, request.data)
        before = (strategies_for_user(request.user)  # type: ignore[arg-type]
                  .filter(current_version__isnull=False).values_list("current_version_id", flat=True))
        known = set(before)
        try:
            version = strategy_deploy(owner=request.user, files=data.get("files"),  # type: ignore[arg-type]
                                      file_ids=data.get("file_ids"), chat_id=data["chat_id"], mode=data["mode"])
        except StrategyInvalid as refused:
            return refused_with_smoke(request.user, refused)  # type: ignore[arg-type]
        except IntegrityError:  # the same new name deployed twice at once: the other request won
            raise ApiError(409, "conflict", "another deploy of a strategy with this name was stored at the same "
                           "moment; send the request again", headers={"Retry-After": "1"}) from None
        created = version.pk not in known
        strategy = self.strategy(version.strategy_id)
        body = {**s.StrategySerializer(strategy, context={"request": request}).data, "created": created,
                "smoke": smoke_run(strategy)}
        return Response(body, status=201 if created else 200)


class StrategyDetailView(ApiView):
    @extend_schema(operation_id="strategies_retrieve", responses=answers(s.StrategySerializer),
                   summary="Read one strategy")
    def get(self, request: Request, strategy_id: int) -> Response:
        return self.out(s.StrategySerializer, self.strategy(strategy_id))


class PauseView(ApiView):
    @extend_schema(operation_id="strategies_pause", request=s.PauseSerializer, responses=answers(s.StrategySerializer),
                   summary="Pause a strategy (a cycle already running finishes)")
    def post(self, request: Request, strategy_id: int) -> Response:
        strategy = self.strategy(strategy_id)
        data = self.valid(s.PauseSerializer, request.data)
        strategy_pause(strategy=strategy, reason=data["reason"] or "paused through the API")
        return self.out(s.StrategySerializer, self.strategy(strategy_id))


class EnableView(ApiView):
    @extend_schema(operation_id="strategies_enable", request=s.EmptySerializer, responses=answers(s.StrategySerializer),
                   summary="Enable a paused strategy")
    def post(self, request: Request, strategy_id: int) -> Response:
        strategy = self.strategy(strategy_id)
        strategy_enable(strategy=strategy)
        return self.out(s.StrategySerializer, self.strategy(strategy_id))


class ArchiveView(ApiView):
    @extend_schema(operation_id="strategies_archive", request=s.EmptySerializer,
                   responses=answers(s.StrategySerializer),
                   summary="Archive a strategy: never run again, hidden from lists, its name free; refused (409) "
                           "while it holds open positions, working orders or a running cycle")
    def post(self, request: Request, strategy_id: int) -> Response:
        strategy = strategy_archive(strategy=self.strategy(strategy_id))
        return self.out(s.StrategySerializer, strategy)


class CloneView(ApiView):
    @extend_schema(operation_id="strategies_clone", request=s.CloneSerializer,
                   responses={201: s.DeployedStrategySerializer, 200: s.DeployedStrategySerializer, **ERRORS},
                   summary="A new strategy from this one's current files under a new name (answered with a smoke "
                           "dry run, like a deploy)")
    def post(self, request: Request, strategy_id: int) -> Response:
        original = self.strategy(strategy_id)
        data = self.valid(s.CloneSerializer, request.data)
        known = set(strategies_for_user(request.user)  # type: ignore[arg-type]
                    .filter(current_version__isnull=False).values_list("current_version_id", flat=True))
        version = strategy_clone(strategy=original, owner=request.user,  # type: ignore[arg-type]
                                 name=data["name"], chat_id=data["chat_id"])
        created = version.pk not in known  # a retried clone (same name, same files) is that clone, unchanged
        strategy = self.strategy(version.strategy_id)
        body = {**s.StrategySerializer(strategy, context={"request": request}).data, "created": created,
                "smoke": smoke_run(strategy)}
        return Response(body, status=201 if created else 200)


class TestRunView(ApiView):
    @extend_schema(operation_id="strategies_test_run", request=s.EmptySerializer,
                   responses=answers(s.ExecutionSerializer), summary="Test Run: one dry-run cycle now, its result")
    def post(self, request: Request, strategy_id: int) -> Response:
        strategy = self.strategy(strategy_id)
        execution = execution_run(strategy_id=strategy.pk, trigger=Execution.Trigger.DRY_RUN, dry_run=True)
        return self.out(s.ExecutionSerializer, execution)


class RunNowView(ApiView):
    @extend_schema(operation_id="strategies_run", request=s.EmptySerializer,
                   responses=answers(s.RunQueuedSerializer, 202), summary="Run now: queue one real cycle")
    def post(self, request: Request, strategy_id: int) -> Response:
        strategy = self.strategy(strategy_id)
        execution = strategy_run_now(strategy=strategy, enqueue=execution_cycle.delay)
        url = reverse("api:execution-detail", kwargs={"execution_id": execution.pk})
        return Response({"execution_id": str(execution.pk), "status": execution.status,
                         "execution_url": request.build_absolute_uri(url)}, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": url})


class PerformanceView(ApiView):
    @extend_schema(operation_id="strategies_performance", responses=answers(s.PerformanceSerializer),
                   summary="P&L, win rate, max drawdown and equity, per book")
    def get(self, request: Request, strategy_id: int) -> Response:
        return Response(s.PerformanceSerializer(strategy_performance(self.strategy(strategy_id))).data)


class GraduationView(ApiView):
    @extend_schema(operation_id="strategies_graduation", responses=answers(s.GraduationSerializer),
                   summary="The paper → live checklist with today's values")
    def get(self, request: Request, strategy_id: int) -> Response:
        strategy = self.strategy(strategy_id)
        graduation = strategy_graduation(strategy)
        return Response({"strategy_id": str(strategy.pk), "passed": graduation.passed,
                         "checks": [{"name": c.name, "required": c.required, "actual": c.actual, "passed": c.passed,
                                     "uncertainty": c.uncertainty} for c in graduation.checks],
                         "statistics": _statistics_data(graduation.statistics), "explanation": GRADUATION_EXPLAINED})


def _statistics_data(statistics: GraduationStatistics | None) -> dict[str, Any] | None:
    if statistics is None:
        return None
    interval, calibration = statistics.win_rate_interval, statistics.calibration
    cents = Decimal("0.01")
    return {
        "confidence": f"{statistics.confidence}", "trades": statistics.trades, "wins": statistics.wins,
        "win_rate_interval": None if interval is None else {"low": f"{interval[0]:.4f}", "high": f"{interval[1]:.4f}"},
        "mean_pnl_per_trade_usd": None if statistics.mean_pnl_usd is None
        else str(statistics.mean_pnl_usd.quantize(cents)),
        "mean_pnl_lower_bound_usd": None if statistics.mean_pnl_lower_bound_usd is None
        else str(statistics.mean_pnl_lower_bound_usd.quantize(cents)),
        "calibration": None if calibration is None else {
            "trades": calibration.trades, "wins": calibration.wins, "win_rate": f"{calibration.win_rate:.4f}",
            "price_paid": f"{calibration.price_paid:.4f}", "edge": f"{calibration.edge:.4f}",
            "z": None if calibration.z is None else f"{calibration.z:.2f}", "summary": calibration_words(calibration)},
        "strict": statistics.strict,
    }
