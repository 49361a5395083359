"""The API's views share: the base view (the caller's objects only, the one error shape), pagination."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from rest_framework import generics, pagination
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer, Serializer
from rest_framework.views import APIView

from api import lean
from api import serializers as s
from api.idempotency import Pending, Replay, idempotency_begin, idempotency_finish
from api.permissions import KeyScope
from api.throttles import ApiKeyThrottle
from strategies.models import Strategy
from strategies.selectors import strategies_for_user

ERRORS = {code: s.ErrorSerializer for code in (400, 401, 403, 404, 409, 422, 429)}


def answers(ok: Any, code: int = 200) -> dict[int, Any]:
    return {code: ok, **ERRORS}


class ApiView(APIView):
    """Authentication, the key's scope, throttling and idempotency, for every view of the API."""

    permission_classes = [IsAuthenticated, KeyScope]
    throttle_classes = [ApiKeyThrottle]
    _pending: Pending | None = None
    # The route's lean GET (api/lean.py): its answer, or None to answer through DRF as usual.
    lean_get: Callable[..., HttpResponse | None] | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if self.lean_get is not None and request.method == "GET" and lean.enabled():
            response = type(self).lean_get(request, ", ".join(self.allowed_methods), **kwargs)  # type: ignore[misc]
            if response is not None:
                return response
        return super().dispatch(request, *args, **kwargs)

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
        strategy = (strategies_for_user(self.request.user)  # type: ignore[arg-type]
                    .select_related("current_version", "running_version")
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
