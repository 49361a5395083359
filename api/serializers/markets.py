"""Markets a strategy can trade, as the venue lists them (GET /api/v1/markets/)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from trading.venues.platforms import Platform

MARKETS_MAX = 50


class MarketSearchSerializer(serializers.Serializer[Any]):
    platform = serializers.ChoiceField(Platform.values, help_text="The venue to search.")
    query = serializers.CharField(required=False, allow_blank=True, max_length=200, default="",
                                  help_text="Words of the title, or a ticker / symbol; empty: the first open ones.")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MARKETS_MAX, default=20)


class MarketSerializer(serializers.Serializer[Any]):
    platform = serializers.ChoiceField(Platform.values)
    market_id = serializers.CharField(help_text="Polymarket condition id, Kalshi ticker or Alpaca symbol.")
    title = serializers.CharField()
    instrument_ids = serializers.ListField(child=serializers.CharField(), help_text=(
        "What EntrySignal.market_id names: Polymarket's token ids (one per outcome), else the ticker or symbol."))
    outcomes = serializers.ListField(child=serializers.CharField())
    active = serializers.BooleanField()
    slug = serializers.CharField()
    category = serializers.CharField()
    tick_size = serializers.CharField(allow_null=True)
    min_order_size = serializers.CharField(allow_null=True)


class MarketListSerializer(serializers.Serializer[Any]):
    platform = serializers.ChoiceField(Platform.values)
    query = serializers.CharField()
    results = MarketSerializer(many=True)


class WalletSearchSerializer(serializers.Serializer[Any]):
    window = serializers.ChoiceField(["day", "week", "month", "all"], required=False, default="month",
                                     help_text="The period the P&L is counted over.")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MARKETS_MAX, default=20)


class WalletSerializer(serializers.Serializer[Any]):
    wallet = serializers.CharField(help_text="The address a copy trader follows (get_trade_history's maker_address).")
    rank = serializers.IntegerField()
    pnl_usd = serializers.CharField(help_text="Profit and loss over the window, USD (a decimal string).")
    volume = serializers.CharField(help_text="Shares traded over the window.")
    name = serializers.CharField()


class WalletListSerializer(serializers.Serializer[Any]):
    platform = serializers.CharField(help_text="polymarket: the one venue with a trader leaderboard.")
    window = serializers.CharField()
    results = WalletSerializer(many=True)
