"""Backtests: a new one, queued, its trades, summary and detail."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from strategies.backtests import SWEEP_METRICS


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
    sweep_id = serializers.CharField(allow_null=True, help_text="The sweep this backtest is one point of.")
    overrides = serializers.DictField(allow_null=True, help_text="A sweep's point: its parameters over config.json's.")


class BacktestSerializer(BacktestSummarySerializer):
    trades = BacktestTradeSerializer(many=True)
    equity = serializers.ListField(child=serializers.ListField(child=serializers.CharField()),
                                   help_text="[[ISO time, USD], ...]")
    open_positions = serializers.ListField(child=serializers.DictField())
    lookahead = serializers.DictField(help_text="Signals re-run with the data cut after them; empty if not run.")


class SweepCreateSerializer(BacktestCreateSerializer):
    """A backtest's fields (one range, one data source, for every point) and the space of `parameters` to run."""

    parameters = serializers.DictField(
        help_text='Each varied parameter of config.json: a list of values, or {"min", "max", "step"} '
                  '(a random sample may leave out the step to draw from the range). Example: '
                  '{"fast": [5, 10, 15], "slow": {"min": 20, "max": 60, "step": 10}}.')
    method = serializers.ChoiceField(choices=["grid", "random"], default="grid",
                                     help_text="grid: every combination; random: `samples` seeded draws.")
    samples = serializers.IntegerField(required=False, min_value=1,
                                       help_text="random: how many points (at most SWEEP_MAX_POINTS, 200).")
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2 ** 63 - 1,
                                    help_text="random: the sample's seed (default: drawn, and returned).")
    metric = serializers.ChoiceField(choices=list(SWEEP_METRICS), default="sharpe",
                                     help_text="What the points are ranked by, higher first, over the in-sample part.")
    holdout = serializers.FloatField(default=0.25, min_value=0.0, max_value=0.9,
                                     help_text="The share of the range (its tail) held back: the points are ranked "
                                               "before it; the best's metrics inside it are the out-of-sample check.")


class SweepQueuedSerializer(serializers.Serializer[Any]):
    sweep_id = serializers.CharField()
    status = serializers.CharField()
    total = serializers.IntegerField()
    sweep_url = serializers.CharField()


class SweepProgressSerializer(serializers.Serializer[Any]):
    done = serializers.IntegerField(help_text="Points finished, whatever their outcome.")
    total = serializers.IntegerField()
    percent = serializers.FloatField(help_text="Of every point's steps, the running ones' included.")


class SweepSummarySerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    strategy_id = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.ChoiceField(["queued", "running", "succeeded", "failed", "cancelled"])
    progress = SweepProgressSerializer()
    method = serializers.CharField()
    parameters = serializers.DictField()
    seed = serializers.IntegerField(allow_null=True)
    metric = serializers.CharField()
    holdout = serializers.FloatField()
    data_source = serializers.CharField()
    start = serializers.DateTimeField(allow_null=True)
    end = serializers.DateTimeField(allow_null=True)
    cash = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    trials = serializers.IntegerField(help_text="Points that ran to the end: the N the best is deflated by.")
    best = serializers.DictField(allow_null=True, help_text="The first of the ranking.")
    deflated_sharpe = serializers.DictField(
        allow_null=True, help_text="Of the best: its Sharpe ratio per period, the expected maximum of `trials` "
                                   "luck-only Sharpe ratios, and the probability its true Sharpe exceeds that.")
    out_of_sample = serializers.DictField(allow_null=True, help_text="The best's metrics over the held-back tail.")
    split_at = serializers.CharField(allow_null=True, help_text="Where the held-back tail starts.")


class SweepSerializer(SweepSummarySerializer):
    ranking = serializers.ListField(
        child=serializers.DictField(),
        help_text="Every finished point, best first: rank, backtest_id, parameters, score, in_sample, out_of_sample.")
