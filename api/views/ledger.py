"""/api/v1/strategies/{id}/positions/ and orders/: the strategy's book."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import serializers as s
from api.views.base import ERRORS, ListView, Page
from trading.models import Order, Position
from trading.performance import unrealized


def _position_data(position: Position) -> dict[str, Any]:
    data: dict[str, Any] = s.PositionSerializer(
        {**{f: getattr(position, f) for f in (
            "book", "venue", "market_id", "market_name", "side", "status", "quantity", "cost_basis_usd",
            "current_price", "realized_pnl_usd", "fees_usd", "opened_at", "closed_at")},
         "id": str(position.pk),
         "unrealized_pnl_usd": (unrealized(quantity=position.quantity, price=position.current_price,
                                           cost_usd=position.cost_basis_usd)
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
