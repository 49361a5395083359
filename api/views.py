"""The REST API under /api/v1/: thin views over the services and selectors (docs/api.md).

Every view is scoped to the caller: another user's ids are 404, never 403. Writes need an `agent`
key; no view approves anything. Every POST honours `Idempotency-Key`.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from django.db import IntegrityError
from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, pagination, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer, DateTimeField, Serializer
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.services import api_key_label, api_key_revoke
from api import serializers as s
from api.errors import ApiError
from api.idempotency import Pending, Replay, idempotency_begin, idempotency_finish
from api.permissions import KeyScope
from api.selectors import strategy_performance, versions_diff
from api.throttles import ApiKeyThrottle
from chatfiles.models import ChatFile
from chatfiles.services import chatfile_create
from strategies.backtests import TRADE_KEYS, backtest_cancel, backtest_start, default_data
from strategies.cycle.run import CycleNotStarted, execution_run
from strategies.models import Backtest, Execution, Strategy, StrategyVersion
from strategies.selectors import strategies_for_user, strategy_graduation
from strategies.services import (
    strategy_deploy,
    strategy_enable,
    strategy_pause,
    strategy_run_now,
    strategy_version_create,
)
from strategies.tasks import backtest_run, execution_cycle
from trading.models import Order, Position
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.selectors import webhook_deliveries_for_endpoint, webhook_endpoints_for_user
from webhooks.services import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
    webhook_ping,
)

logger = logging.getLogger(__name__)

ERRORS = {code: s.ErrorSerializer for code in (400, 401, 403, 404, 409, 422, 429)}


def answers(ok: Any, code: int = 200) -> dict[int, Any]:
    return {code: ok, **ERRORS}


class ApiView(APIView):
    """Authentication, the key's scope, throttling and idempotency, for every view of the API."""

    permission_classes = [IsAuthenticated, KeyScope]
    throttle_classes = [ApiKeyThrottle]
    _pending: Pending | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        self._pending = idempotency_begin(request)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, Replay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        if self._pending is not None:
            pending, self._pending = self._pending, None
            idempotency_finish(pending, response)
        return response  # type: ignore[no-any-return]

    def valid(self, serializer_class: type[Serializer[Any]], data: Any) -> dict[str, Any]:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def strategy_id(self, strategy_id: int) -> int:
        """The caller's strategy's id, or 404: for routes that list a strategy's rows and need nothing else of it."""
        found = strategies_for_user(self.request.user).filter(pk=strategy_id).values_list(  # type: ignore[arg-type]
            "pk", flat=True).first()
        if found is None:
            raise NotFound(f"you have no strategy {strategy_id}")
        return found

    def strategy(self, strategy_id: int) -> Strategy:
        strategy = (strategies_for_user(self.request.user).select_related("current_version")  # type: ignore[arg-type]
                    .filter(pk=strategy_id).first())
        if strategy is None:
            raise NotFound(f"you have no strategy {strategy_id}")
        return strategy

    def out(self, serializer_class: type[BaseSerializer[Any]], instance: Any, code: int = 200) -> Response:
        return Response(serializer_class(instance, context={"request": self.request}).data, status=code)


class ListView(ApiView, generics.ListAPIView):  # type: ignore[type-arg]
    filter_serializer: type[Serializer[Any]] | None = None

    def filters(self) -> dict[str, Any]:
        if self.filter_serializer is None:
            return {}
        return self.valid(self.filter_serializer, self.request.query_params)


class Page(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ExecutionCursor(pagination.CursorPagination):
    """Newest first. A cursor is opaque: pass back `next` or `previous` as they come."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request: Request) -> Any:
        cursor = super().decode_cursor(request)
        position = None if cursor is None else cursor.position
        if position is not None and not (str(position).isdigit() and len(str(position)) <= 18):
            raise NotFound(self.invalid_cursor_message)
        return cursor


# --- files -----------------------------------------------------------------------------------------


class FileCreateView(ApiView):
    @extend_schema(operation_id="files_create", request=s.FileCreateSerializer,
                   responses=answers(s.FileSerializer, 201), summary="Upload one file of a strategy")
    def post(self, request: Request) -> Response:
        data = self.valid(s.FileCreateSerializer, request.data)
        chat_file = chatfile_create(owner=request.user, chat_id=data["chat_id"],  # type: ignore[arg-type]
                                    filename=data["filename"], content=data["content"])
        return self.out(s.FileSerializer, chat_file, 201)


class FileDetailView(ApiView):
    @extend_schema(operation_id="files_retrieve", responses=answers(s.FileContentSerializer),
                   summary="Read an uploaded file")
    def get(self, request: Request, file_id: int) -> Response:
        chat_file = ChatFile.objects.filter(owner=request.user, pk=file_id).first()  # type: ignore[misc]
        if chat_file is None:
            raise NotFound(f"you have no file {file_id}")
        return self.out(s.FileContentSerializer, chat_file)


# --- strategies ------------------------------------------------------------------------------------


def _smoke(strategy: Strategy) -> dict[str, Any]:
    """One dry-run cycle of the strategy's current version in the sandbox: the agent's first feedback."""
    try:
        execution = execution_run(strategy_id=strategy.pk, trigger=Execution.Trigger.DRY_RUN, dry_run=True)
    except CycleNotStarted as exc:
        return {"status": "not_started", "execution_id": None, "logs": [], "actions": [], "error": str(exc)}
    except Exception as exc:  # the deploy stands; the smoke run's own failure is reported, not raised
        logger.exception("smoke run of strategy %s", strategy.pk)
        return {"status": "failed", "execution_id": None, "logs": [], "actions": [], "error": repr(exc)}
    data = s.ExecutionSerializer(execution).data
    return {"status": execution.status, "execution_id": str(execution.pk), "logs": data["logs"],
            "actions": data["actions"], "error": execution.error or None}


# What ExecutionSummarySerializer reads: not state_after, nor the version's config.
EXECUTION_SUMMARY_COLUMNS = ("strategy_id", "trigger", "mode", "status", "scheduled_for", "started_at", "finished_at",
                             "entries", "exits", "error", "version__number")


class StrategyListView(ListView):
    serializer_class = s.StrategySerializer
    pagination_class = Page
    filter_serializer = s.StrategyFilterSerializer

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
                   responses={201: s.DeployedStrategySerializer, 200: s.DeployedStrategySerializer, **ERRORS},
                   summary="Deploy a strategy (answered with a smoke dry run)")
    def post(self, request: Request) -> Response:
        data = self.valid(s.DeploySerializer, request.data)
        before = (strategies_for_user(request.user)  # type: ignore[arg-type]
                  .filter(current_version__isnull=False).values_list("current_version_id", flat=True))
        known = set(before)
        try:
            version = strategy_deploy(owner=request.user, files=data.get("files"),  # type: ignore[arg-type]
                                      file_ids=data.get("file_ids"), chat_id=data["chat_id"], mode=data["mode"])
        except IntegrityError:  # the same new name deployed twice at once: the other request won
            raise ApiError(409, "conflict", "another deploy of a strategy with this name was stored at the same "
                           "moment; send the request again", headers={"Retry-After": "1"}) from None
        created = version.pk not in known
        strategy = self.strategy(version.strategy_id)
        body = {**s.StrategySerializer(strategy, context={"request": request}).data, "created": created,
                "smoke": _smoke(strategy)}
        return Response(body, status=201 if created else 200)


class StrategyDetailView(ApiView):
    @extend_schema(operation_id="strategies_retrieve", responses=answers(s.StrategySerializer),
                   summary="Read one strategy")
    def get(self, request: Request, strategy_id: int) -> Response:
        return self.out(s.StrategySerializer, self.strategy(strategy_id))


def _version_data(version: StrategyVersion, *, current_id: int | None, content: bool) -> dict[str, Any]:
    when = DateTimeField().to_representation
    approval = ("rejected" if version.rejected_at else "approved_live" if version.approved_live_at
                else "approved_paper" if version.approved_paper_at else "pending")
    files = []
    for chat_file in sorted(version.files.all(), key=lambda f: f.filename):
        one = {"id": str(chat_file.pk), "filename": chat_file.filename, "sha256": chat_file.sha256,
               "size": len(chat_file.content.encode())}
        if content:
            one["content"] = chat_file.content
        files.append(one)
    data = {
        "number": version.number, "layout": version.layout, "content_hash": version.content_hash,
        "approval": approval, "rejection_reason": version.rejection_reason, "created_at": when(version.created_at),
        "approved_paper_at": when(version.approved_paper_at) if version.approved_paper_at else None,
        "approved_live_at": when(version.approved_live_at) if version.approved_live_at else None,
        "is_current": version.pk == current_id, "files": files,
    }
    if content:
        data["config"] = version.config
    return data


class VersionListView(ApiView):
    @extend_schema(operation_id="versions_list", responses=answers(s.VersionSerializer(many=True)),
                   summary="List a strategy's versions, newest first")
    def get(self, request: Request, strategy_id: int) -> Response:
        strategy = self.strategy(strategy_id)
        versions = strategy.versions.prefetch_related("files").order_by("-number")
        return Response([_version_data(v, current_id=strategy.current_version_id, content=False) for v in versions])

    @extend_schema(operation_id="versions_create", request=s.VersionCreateSerializer,
                   responses={201: s.DeployedStrategySerializer, 200: s.DeployedStrategySerializer, **ERRORS},
                   summary="Deploy a new version of a strategy (answered with a smoke dry run)")
    def post(self, request: Request, strategy_id: int) -> Response:
        strategy = self.strategy(strategy_id)
        data = self.valid(s.VersionCreateSerializer, request.data)
        _, created = strategy_version_create(
            strategy=strategy, owner=request.user, files=data.get("files"),  # type: ignore[arg-type]
            file_ids=data.get("file_ids"), config=data.get("config"), chat_id=data["chat_id"])
        strategy = self.strategy(strategy_id)
        body = {**s.StrategySerializer(strategy, context={"request": request}).data, "created": created,
                "smoke": _smoke(strategy)}
        return Response(body, status=201 if created else 200)


class VersionDetailView(ApiView):
    @extend_schema(operation_id="versions_retrieve", responses=answers(s.VersionDetailSerializer),
                   summary="Read one version with its files and config")
    def get(self, request: Request, strategy_id: int, number: int) -> Response:
        strategy = self.strategy(strategy_id)
        version = strategy.versions.prefetch_related("files").filter(number=number).first()
        if version is None:
            raise NotFound(f"strategy {strategy_id} has no version {number}")
        return Response(_version_data(version, current_id=strategy.current_version_id, content=True))


class VersionDiffView(ApiView):
    @extend_schema(operation_id="versions_diff", responses=answers(s.VersionDiffSerializer),
                   summary="Unified diff, per file, between two versions")
    def get(self, request: Request, strategy_id: int, a: int, b: int) -> Response:
        strategy = self.strategy(strategy_id)
        found = {v.number: v for v in strategy.versions.filter(number__in=[a, b])}
        missing = [n for n in (a, b) if n not in found]
        if missing:
            raise NotFound(f"strategy {strategy_id} has no version {missing[0]}")
        return Response(versions_diff(found[a], found[b]))


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


# --- executions ------------------------------------------------------------------------------------


class ExecutionListView(ListView):
    serializer_class = s.ExecutionSummarySerializer
    pagination_class = ExecutionCursor
    filter_serializer = s.ExecutionFilterSerializer

    def get_queryset(self) -> QuerySet[Execution]:
        strategy_id = self.strategy_id(self.kwargs["strategy_id"])
        return (Execution.objects.filter(strategy_id=strategy_id, **self.filters()).select_related("version")
                .only(*EXECUTION_SUMMARY_COLUMNS))

    @extend_schema(operation_id="executions_list", parameters=[s.ExecutionFilterSerializer],
                   summary="A strategy's runs, newest first",
                   responses={200: s.ExecutionSummarySerializer(many=True), **ERRORS})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ExecutionDetailView(ApiView):
    @extend_schema(operation_id="executions_retrieve", responses=answers(s.ExecutionSerializer),
                   summary="One run: logs, actions, error with traceback, state after")
    def get(self, request: Request, execution_id: int) -> Response:
        execution = (Execution.objects.select_related("version").only(*EXECUTION_SUMMARY_COLUMNS, "state_after")
                     .filter(pk=execution_id, strategy__owner=request.user)  # type: ignore[misc]
                     .exclude(strategy__status=Strategy.Status.ARCHIVED).first())
        if execution is None:
            raise NotFound(f"you have no execution {execution_id}")
        return self.out(s.ExecutionSerializer, execution)


# --- backtests -------------------------------------------------------------------------------------


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


# --- money -----------------------------------------------------------------------------------------


def _position_data(position: Position) -> dict[str, Any]:
    data: dict[str, Any] = s.PositionSerializer(
        {**{f: getattr(position, f) for f in (
            "book", "venue", "market_id", "market_name", "side", "status", "quantity", "cost_basis_usd",
            "current_price", "realized_pnl_usd", "fees_usd", "opened_at", "closed_at")},
         "id": str(position.pk),
         "unrealized_pnl_usd": (position.current_price * position.quantity - position.cost_basis_usd
                                if position.current_price is not None and position.status == "open" else None)}
    ).data
    return data


class PositionListView(ListView):
    serializer_class = s.PositionSerializer
    pagination_class = Page
    filter_serializer = s.PositionFilterSerializer

    def get_queryset(self) -> QuerySet[Position]:
        strategy = self.strategy(self.kwargs["strategy_id"])
        return Position.objects.filter(strategy=strategy, **self.filters()).order_by("-opened_at", "-id")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None
        return self.get_paginated_response([_position_data(p) for p in page])

    @extend_schema(operation_id="positions_list", parameters=[s.PositionFilterSerializer],
                   summary="A strategy's positions (open and closed), newest first",
                   responses={200: s.PositionSerializer(many=True), **ERRORS})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class OrderListView(ListView):
    serializer_class = s.OrderSerializer
    pagination_class = Page
    filter_serializer = s.OrderFilterSerializer

    def get_queryset(self) -> QuerySet[Order]:
        strategy = self.strategy(self.kwargs["strategy_id"])
        return (Order.objects.filter(strategy=strategy, **self.filters()).prefetch_related("fills")
                .order_by("-created_at", "-id"))

    @extend_schema(operation_id="orders_list", parameters=[s.OrderFilterSerializer],
                   summary="A strategy's orders with their fills, newest first",
                   responses={200: s.OrderSerializer(many=True), **ERRORS})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


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
                         "checks": [{"name": c.name, "required": c.required, "actual": c.actual, "passed": c.passed}
                                    for c in graduation.checks]})


# --- keys and tools --------------------------------------------------------------------------------


def _key_data(api_key: ApiKey, request: Request) -> dict[str, Any]:
    when = DateTimeField().to_representation
    return {"id": str(api_key.pk), "prefix": f"shk_{api_key.prefix}", "label": api_key.label, "scope": api_key.scope,
            "created_at": when(api_key.created_at),
            "last_used_at": when(api_key.last_used_at) if api_key.last_used_at else None,
            "revoked_at": when(api_key.revoked_at) if api_key.revoked_at else None,
            "current": isinstance(request.auth, ApiKey) and request.auth.pk == api_key.pk}


class KeyListView(ApiView):
    @extend_schema(operation_id="keys_list", responses=answers(s.ApiKeySerializer(many=True)),
                   summary="Your API keys (never their secrets)")
    def get(self, request: Request) -> Response:
        return Response([_key_data(k, request) for k in ApiKey.objects.filter(user=request.user)])  # type: ignore[misc]


class KeyView(ApiView):
    def key(self, key_id: int) -> ApiKey:
        api_key = ApiKey.objects.filter(user=self.request.user, pk=key_id).first()  # type: ignore[misc]
        if api_key is None:
            raise NotFound(f"you have no API key {key_id}")
        return api_key


class KeyDetailView(KeyView):
    @extend_schema(operation_id="keys_label", request=s.KeyLabelSerializer, responses=answers(s.ApiKeySerializer),
                   summary="Label one of your API keys")
    def patch(self, request: Request, key_id: int) -> Response:
        api_key = self.key(key_id)
        data = self.valid(s.KeyLabelSerializer, request.data)
        return Response(_key_data(api_key_label(api_key=api_key, label=data["label"]), request))


class KeyRevokeView(KeyView):
    @extend_schema(operation_id="keys_revoke", request=s.EmptySerializer, responses=answers(s.ApiKeySerializer),
                   summary="Revoke one of your API keys, for good")
    def post(self, request: Request, key_id: int) -> Response:
        return Response(_key_data(api_key_revoke(api_key=self.key(key_id)), request))


class ToolsView(ApiView):
    @extend_schema(operation_id="tools_list", parameters=[
        OpenApiParameter("format", str, enum=["openai", "anthropic", "mcp"], description="Whose tool format.")],
        responses=answers(s.ToolsSerializer), summary="Tool definitions for LLM function calling and MCP")
    def get(self, request: Request) -> Response:
        from api.tools import tool_definitions

        data = self.valid(s.ToolsFormatSerializer, request.query_params)
        return Response({"format": data["format"], "tools": tool_definitions(data["format"])})


# --- webhooks --------------------------------------------------------------------------------------


def _webhook_data(endpoint: WebhookEndpoint, *, secret: bool = False) -> dict[str, Any]:
    when = DateTimeField().to_representation
    data = {"id": str(endpoint.pk), "url": endpoint.url, "events": list(endpoint.events),
            "description": endpoint.description, "enabled": endpoint.enabled,
            "created_at": when(endpoint.created_at), "updated_at": when(endpoint.updated_at)}
    if secret:
        data["secret"] = endpoint.secret
    return data


def _delivery_data(delivery: WebhookDelivery) -> dict[str, Any]:
    when = DateTimeField().to_representation
    return {"id": str(delivery.pk), "event_id": str(delivery.event_id), "event_type": delivery.event_type,
            "status": delivery.status, "attempts": delivery.attempts,
            "next_attempt_at": when(delivery.next_attempt_at) if delivery.next_attempt_at else None,
            "last_attempt_at": when(delivery.last_attempt_at) if delivery.last_attempt_at else None,
            "last_status_code": delivery.last_status_code, "last_error": delivery.last_error or None,
            "created_at": when(delivery.created_at),
            "delivered_at": when(delivery.delivered_at) if delivery.delivered_at else None,
            "payload": delivery.payload}


class WebhookListView(ApiView):
    @extend_schema(operation_id="webhooks_list", responses=answers(s.WebhookSerializer(many=True)),
                   summary="Your webhook endpoints (never their secrets)")
    def get(self, request: Request) -> Response:
        return Response([_webhook_data(e) for e in webhook_endpoints_for_user(request.user)])  # type: ignore[arg-type]

    @extend_schema(operation_id="webhooks_create", request=s.WebhookCreateSerializer,
                   responses=answers(s.WebhookCreatedSerializer, 201),
                   summary="Add a webhook endpoint; the answer holds its signing secret, shown this once")
    def post(self, request: Request) -> Response:
        data = self.valid(s.WebhookCreateSerializer, request.data)
        endpoint = webhook_endpoint_create(user=request.user, url=data["url"],  # type: ignore[arg-type]
                                           events=data["events"], description=data["description"])
        return Response(_webhook_data(endpoint, secret=True), status=201)


class WebhookView(ApiView):
    def endpoint(self, webhook_id: int) -> WebhookEndpoint:
        endpoint = webhook_endpoints_for_user(self.request.user).filter(pk=webhook_id).first()  # type: ignore[arg-type]
        if endpoint is None:
            raise NotFound(f"you have no webhook {webhook_id}")
        return endpoint


class WebhookDetailView(WebhookView):
    @extend_schema(operation_id="webhooks_retrieve", responses=answers(s.WebhookSerializer),
                   summary="Read one webhook endpoint")
    def get(self, request: Request, webhook_id: int) -> Response:
        return Response(_webhook_data(self.endpoint(webhook_id)))

    @extend_schema(operation_id="webhooks_update", request=s.WebhookUpdateSerializer,
                   responses=answers(s.WebhookSerializer),
                   summary="Change a webhook's URL, events, description, or enable / disable it")
    def patch(self, request: Request, webhook_id: int) -> Response:
        endpoint = self.endpoint(webhook_id)
        data = self.valid(s.WebhookUpdateSerializer, request.data)
        endpoint = webhook_endpoint_update(endpoint=endpoint, **data)
        return Response(_webhook_data(endpoint))

    @extend_schema(operation_id="webhooks_delete", responses={204: None, **ERRORS},
                   summary="Delete a webhook endpoint and its deliveries")
    def delete(self, request: Request, webhook_id: int) -> Response:
        webhook_endpoint_delete(endpoint=self.endpoint(webhook_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListView(ListView, WebhookView):
    serializer_class = s.WebhookDeliverySerializer
    pagination_class = Page

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        return webhook_deliveries_for_endpoint(self.endpoint(self.kwargs["webhook_id"]))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None
        return self.get_paginated_response([_delivery_data(d) for d in page])

    @extend_schema(operation_id="webhooks_deliveries", summary="A webhook's deliveries, newest first",
                   responses={200: s.WebhookDeliverySerializer(many=True), **ERRORS})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class WebhookTestView(WebhookView):
    @extend_schema(operation_id="webhooks_test", request=s.EmptySerializer,
                   responses=answers(s.WebhookDeliverySerializer, 202),
                   summary="Send a signed `ping` event to this endpoint now; read its delivery to see the answer")
    def post(self, request: Request, webhook_id: int) -> Response:
        delivery = webhook_ping(endpoint=self.endpoint(webhook_id))
        return Response(_delivery_data(delivery), status=status.HTTP_202_ACCEPTED)
