"""The book: orders, fills, positions, their filters, performance and graduation."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class PositionFilterSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(["open", "closed"], required=False)
    book = serializers.ChoiceField(["paper", "live"], required=False)


class OrderFilterSerializer(serializers.Serializer[Any]):
    book = serializers.ChoiceField(["paper", "live"], required=False)


class FillSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=24, decimal_places=8)
    price = serializers.DecimalField(max_digits=20, decimal_places=6)
    fee_usd = serializers.DecimalField(max_digits=20, decimal_places=6)
    filled_at = serializers.DateTimeField()


class OrderSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    execution_id = serializers.CharField()
    book = serializers.CharField()
    venue = serializers.CharField()
    market_id = serializers.CharField()
    market_name = serializers.CharField()
    side = serializers.CharField()
    action = serializers.CharField()
    status = serializers.CharField()
    client_order_id = serializers.CharField()
    venue_order_id = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=24, decimal_places=8)
    filled_quantity = serializers.DecimalField(max_digits=24, decimal_places=8)
    limit_price = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    notional_usd = serializers.DecimalField(max_digits=20, decimal_places=6)
    reject_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    fills = FillSerializer(many=True)


class PositionSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    book = serializers.CharField()
    venue = serializers.CharField()
    market_id = serializers.CharField()
    market_name = serializers.CharField()
    side = serializers.CharField()
    status = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=24, decimal_places=8)
    cost_basis_usd = serializers.DecimalField(max_digits=20, decimal_places=6)
    current_price = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    unrealized_pnl_usd = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    realized_pnl_usd = serializers.DecimalField(max_digits=20, decimal_places=6)
    fees_usd = serializers.DecimalField(max_digits=20, decimal_places=6)
    opened_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)


class EquityPointSerializer(serializers.Serializer[Any]):
    at = serializers.DateTimeField()
    equity_usd = serializers.CharField()


class BookPerformanceSerializer(serializers.Serializer[Any]):
    book = serializers.CharField()
    total_capital_usd = serializers.CharField()
    realized_pnl_usd = serializers.CharField()
    unrealized_pnl_usd = serializers.CharField()
    total_pnl_usd = serializers.CharField(help_text="Realized plus unrealized at today's marks (mark-to-market).")
    equity_usd = serializers.CharField(help_text="The allocation plus total P&L: where the equity curve ends.")
    pnl_today_usd = serializers.CharField()
    deployed_usd = serializers.CharField()
    available_usd = serializers.CharField()
    open_positions = serializers.IntegerField()
    closed_trades = serializers.IntegerField()
    wins = serializers.IntegerField()
    win_rate = serializers.CharField(allow_null=True, help_text=(
        "Closed winners / (closed trades + open positions at a loss), 0..1; null with no such trade."))
    max_drawdown = serializers.CharField(help_text="Largest fall from a peak of equity, as a fraction of the peak.")
    equity = EquityPointSerializer(many=True, help_text=(
        "Equity after each closed trade, from the allocation, then now at today's marks while positions are open."))


class PerformanceSerializer(serializers.Serializer[Any]):
    strategy_id = serializers.CharField()
    books = BookPerformanceSerializer(many=True)


class GraduationCheckSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    required = serializers.CharField()  # type: ignore[assignment]
    actual = serializers.CharField()
    passed = serializers.BooleanField()
    uncertainty = serializers.CharField(help_text="How sure today's value is (an interval or a bound), or empty.")


class IntervalSerializer(serializers.Serializer[Any]):
    low = serializers.CharField()
    high = serializers.CharField()


class CalibrationSerializer(serializers.Serializer[Any]):
    trades = serializers.IntegerField()
    wins = serializers.IntegerField()
    win_rate = serializers.CharField()
    price_paid = serializers.CharField(help_text="Average entry price: the win rate a calibrated market predicts.")
    edge = serializers.CharField(help_text="win_rate − price_paid: the strategy's edge over the market's prices.")
    z = serializers.CharField(allow_null=True, help_text="(wins − Σ price) / √Σ price(1 − price).")
    summary = serializers.CharField()


class GraduationStatisticsSerializer(serializers.Serializer[Any]):
    confidence = serializers.CharField(help_text="Of every interval and bound, e.g. 0.95.")
    trades = serializers.IntegerField(help_text="Trades the win rate counts: closed ones and open ones at a loss.")
    wins = serializers.IntegerField()
    win_rate_interval = IntervalSerializer(allow_null=True, help_text="Wilson score interval, two-sided, 0..1.")
    mean_pnl_per_trade_usd = serializers.CharField(allow_null=True, help_text="After fees.")
    mean_pnl_lower_bound_usd = serializers.CharField(
        allow_null=True, help_text="One-sided lower confidence bound (Student's t); null with fewer than 2 trades.")
    calibration = CalibrationSerializer(allow_null=True, help_text="Prediction markets only.")
    strict = serializers.BooleanField(help_text="GRADUATION_REQUIRE_LOWER_BOUND: the lower bound must be above $0.")


class GraduationSerializer(serializers.Serializer[Any]):
    strategy_id = serializers.CharField()
    passed = serializers.BooleanField(help_text="All checks pass: a staff member may then approve it for live.")
    checks = GraduationCheckSerializer(many=True)
    statistics = GraduationStatisticsSerializer(allow_null=True)
    explanation = serializers.CharField(help_text="What the uncertainty beside each check means.")
