"""/api/v1/strategies/{id}/executions/ and /api/v1/executions/{id}/: runs, with their logs and actions."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from api import lean
from api import serializers as s
from api.views.base import ERRORS, ApiView, ExecutionCursor, ListView, answers
from strategies.models import Execution, Strategy

# What ExecutionSummarySerializer reads: not state_after, nor the version's config.
EXECUTION_SUMMARY_COLUMNS = ("strategy_id", "trigger", "mode", "status", "scheduled_for", "started_at", "finished_at",
                             "entries", "exits", "error", "version__number")


class ExecutionListView(ListView):
    serializer_class = s.ExecutionSummarySerializer
    pagination_class = ExecutionCursor
    filter_serializer = s.ExecutionFilterSerializer
    lean_get = lean.execution_list

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
    lean_get = lean.execution_detail

    @extend_schema(operation_id="executions_retrieve", responses=answers(s.ExecutionSerializer),
                   summary="One run: logs, actions, error with traceback, state after")
    def get(self, request: Request, execution_id: int) -> Response:
        execution = (Execution.objects.select_related("version").only(*EXECUTION_SUMMARY_COLUMNS, "state_after")
                     .filter(pk=execution_id, strategy__owner=request.user)  # type: ignore[misc]
                     .exclude(strategy__status=Strategy.Status.ARCHIVED).first())
        if execution is None:
            raise NotFound(f"you have no execution {execution_id}")
        return self.out(s.ExecutionSerializer, execution)
