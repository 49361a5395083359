"""/api/v1/strategies/{id}/versions/: a strategy's versions, a new one, one, and the diff of two."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import DateTimeField

from api import serializers as s
from api.selectors import versions_diff
from api.views.base import ERRORS, ApiView, answers
from api.views.strategies import refused_with_smoke, smoke_run
from strategies.models import StrategyVersion
from strategies.services import (
    strategy_version_create,
)
from strategies.validation import StrategyInvalid


def _version_data(version: StrategyVersion, *, current_id: int | None, running_id: int | None,
                  content: bool) -> dict[str, Any]:
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
        "is_current": version.pk == current_id, "is_running": version.pk == running_id, "files": files,
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
        return Response([_version_data(v, current_id=strategy.current_version_id,
                                       running_id=strategy.running_version_id, content=False) for v in versions])

    @extend_schema(operation_id="versions_create", request=s.VersionCreateSerializer,
                   responses={201: s.DeployedStrategySerializer, 200: s.DeployedStrategySerializer, **ERRORS,
                              400: s.DeployRefusedSerializer},
                   summary="Deploy a new version of a strategy (answered with a smoke dry run)")
    def post(self, request: Request, strategy_id: int) -> Response:
        strategy = self.strategy(strategy_id)
        data = self.valid(s.VersionCreateSerializer, request.data)
        try:
            _, created = strategy_version_create(
                strategy=strategy, owner=request.user, files=data.get("files"),  # type: ignore[arg-type]
                file_ids=data.get("file_ids"), config=data.get("config"), chat_id=data["chat_id"])
        except StrategyInvalid as refused:
            return refused_with_smoke(request.user, refused)  # type: ignore[arg-type]
        strategy = self.strategy(strategy_id)
        body = {**s.StrategySerializer(strategy, context={"request": request}).data, "created": created,
                "smoke": smoke_run(strategy)}
        return Response(body, status=201 if created else 200)


class VersionDetailView(ApiView):
    @extend_schema(operation_id="versions_retrieve", responses=answers(s.VersionDetailSerializer),
                   summary="Read one version with its files and config")
    def get(self, request: Request, strategy_id: int, number: int) -> Response:
        strategy = self.strategy(strategy_id)
        version = strategy.versions.prefetch_related("files").filter(number=number).first()
        if version is None:
            raise NotFound(f"strategy {strategy_id} has no version {number}")
        return Response(_version_data(version, current_id=strategy.current_version_id,
                                      running_id=strategy.running_version_id, content=True))


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
