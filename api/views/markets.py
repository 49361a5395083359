"""/api/v1/markets/ and /api/v1/wallets/: find markets to trade on a venue and Polymarket wallets to copy, through
the venue adapters (the venue simulator in development)."""

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
from trading.venues.platforms import Platform
from trading.venues.polymarket import PolymarketVenue


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


class WalletListView(ApiView):
    @extend_schema(operation_id="wallets_search", parameters=[s.WalletSearchSerializer],
                   responses=answers(s.WalletListSerializer),
                   summary="Polymarket's most profitable wallets over a window, best first: whom a copy trader follows")
    def get(self, request: Request) -> Response:
        query = self.valid(s.WalletSearchSerializer, request.query_params)
        client = venue_client(Platform.POLYMARKET)
        assert isinstance(client, PolymarketVenue)
        try:
            ranks = client.get_leaderboard(window=query["window"], limit=query["limit"])
        except VenueError as error:
            raise ApiError(502, "venue_unavailable", f"polymarket did not answer the leaderboard: {error.message}",
                           headers={"Retry-After": "5"}) from None
        finally:
            client.close()
        return Response({"platform": Platform.POLYMARKET, "window": query["window"], "results": [
            {"wallet": r.wallet, "rank": r.rank, "pnl_usd": str(r.pnl_usd), "volume": str(r.volume), "name": r.name}
            for r in ranks]})
