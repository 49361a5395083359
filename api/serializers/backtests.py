"""Backtests: a new one, queued, its trades, summary and detail."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers


class BacktestCreateSerializer(serializers.Serializer[Any]):
    """Every field optional: the range defaults to the data's own, cash to the config's total_capital."""

    start = serializers.DateTimeField(required=False, help_text="ISO 8601; the first step at or after it.")
    end = serializers.DateTimeField(required=False, help_text="ISO 8601; no data at or after it is read.")
    cash = serializers.DecimalField(max_digits=20, decimal_places=2, required=False,
                                    min_value=Decimal("0.01"), help_text="USD; replaces capital.total_capital.")
    data_source = serializers.ChoiceField(
        choices=["polymarket_recorded", "polymarket_history", "kalshi_candles", "alpaca_history"], required=False,
        help_text="The venue data: default the platform's (polymarket_recorded, kalshi_candles, alpaca_history).")
    markets = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, min_length=1, max_length=20,
        help_text="Symbols, Kalshi tickers or Polymarket condition ids / slugs; default the strategy's parameters.")
    interval = serializers.IntegerField(
        required=False, min_value=1, max_value=1440,
        help_text="Minutes between points: prices-history fidelity, or a Kalshi candle period (1, 60, 1440).")
    half_spread = serializers.DecimalField(
        max_digits=6, decimal_places=4, required=False, min_value=Decimal(0), max_value=Decimal("0.4999"),
        help_text="polymarket_history: bid and ask this far either side of each price (default 0.01).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start"), attrs.get("end")
        if start is not None and end is not None and start >= end:
            raise serializers.ValidationError({"end": f"end must be after start ({start.isoformat()})"})
        return attrs


class BacktestQueuedSerializer(serializers.Serializer[Any]):
    backtest_id = serializers.CharField()
    status = serializers.CharField()
    backtest_url = serializers.CharField()


class BacktestTradeSerializer(serializers.Serializer[Any]):
    market_id = serializers.CharField()
    side = serializers.CharField()
    entry_time = serializers.CharField()
    exit_time = serializers.CharField(allow_null=True)
    entry_price = serializers.CharField()
    exit_price = serializers.CharField(allow_null=True)
    quantity = serializers.CharField()
    pnl = serializers.CharField(help_text="USD, net of both legs' fees.")
    fees = serializers.CharField()


class BacktestSummarySerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    strategy_id = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.ChoiceField(["queued", "running", "succeeded", "failed", "cancelled"])
    progress = serializers.FloatField(help_text="Percent of the steps done.")
    eta_seconds = serializers.FloatField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    data_source = serializers.CharField()
    start = serializers.DateTimeField(allow_null=True)
    end = serializers.DateTimeField(allow_null=True)
    cash = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    metrics = serializers.DictField(help_text="Empty until it succeeds.")


class BacktestSerializer(BacktestSummarySerializer):
    trades = BacktestTradeSerializer(many=True)
    equity = serializers.ListField(child=serializers.ListField(child=serializers.CharField()),
                                   help_text="[[ISO time, USD], ...]")
    open_positions = serializers.ListField(child=serializers.DictField())
    lookahead = serializers.DictField(help_text="Signals re-run with the data cut after them; empty if not run.")
