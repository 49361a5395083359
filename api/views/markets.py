"""/api/v1/markets/: find markets to trade on a venue, through its adapter (the venue simulator in development)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api import serializers as s
from api.errors import ApiError
from api.views.base import ApiView, answers
from trading.venues import venue_client
from trading.venues.domain import Market
from trading.venues.errors import VenueError


def _market_data(market: Market) -> dict[str, Any]:
    data = asdict(market)
    data.update(instrument_ids=list(market.instrument_ids), outcomes=list(market.outcomes),
                tick_size=None if market.tick_size is None else str(market.tick_size),
                min_order_size=None if market.min_order_size is None else str(market.min_order_size))
    return {key: data[key] for key in ("platform", "market_id", "title", "instrument_ids", "outcomes", "active", "slug",
                                       "category", "tick_size", "min_order_size")}


class MarketListView(ApiView):
    @extend_schema(operation_id="markets_search", parameters=[s.MarketSearchSerializer],
                   responses=answers(s.MarketListSerializer),
                   summary="Markets on a venue whose title or ticker matches `query`, as the venue lists them")
    def get(self, request: Request) -> Response:
        query = self.valid(s.MarketSearchSerializer, request.query_params)
        client = venue_client(query["platform"])
        try:
            markets = client.search_markets(query["query"], limit=query["limit"])
        except VenueError as error:
            raise ApiError(502, "venue_unavailable", f"{query['platform']} did not answer the search: "
                           f"{error.message}", headers={"Retry-After": "5"}) from None
        finally:
            client.close()
        return Response({"platform": query["platform"], "query": query["query"],
                         "results": [_market_data(m) for m in markets]})
