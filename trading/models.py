"""Orders, fills, positions and venue accounts. Every row is marked paper or live.

Money is Decimal (DecimalField); quantities allow fractional shares and contracts.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from trading.venues.platforms import Platform


def money_field(**options: Any) -> models.DecimalField[Any, Any]:
    return models.DecimalField(max_digits=20, decimal_places=6, **options)


def quantity_field(**options: Any) -> models.DecimalField[Any, Any]:
    return models.DecimalField(max_digits=24, decimal_places=8, **options)


class Book(models.TextChoices):
    """Which ledger a row belongs to: paper and live never mix."""

    PAPER = "paper", "Paper"
    LIVE = "live", "Live"


class Side(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class OrderStatus(models.TextChoices):
    NEW = "new", "New"
    SUBMITTED = "submitted", "Submitted"
    PARTIALLY_FILLED = "partially_filled", "Partially filled"
    FILLED = "filled", "Filled"
    CANCELLED = "cancelled", "Cancelled"
    REJECTED = "rejected", "Rejected"
    UNRESOLVED = "unresolved", "Unresolved (outcome unknown, ask the venue)"


class OrderAction(models.TextChoices):
    OPEN = "open", "Open / increase"
    CLOSE = "close", "Reduce / close"
    SETTLE = "settle", "Settled at market resolution (never sent to a venue)"


class Order(models.Model):
    Status = OrderStatus
    Action = OrderAction

    strategy = models.ForeignKey("strategies.Strategy", on_delete=models.PROTECT, related_name="orders")
    version = models.ForeignKey("strategies.StrategyVersion", on_delete=models.PROTECT, related_name="orders")
    execution = models.ForeignKey("strategies.Execution", on_delete=models.PROTECT, related_name="orders")
    signal_index = models.PositiveIntegerField()
    book = models.CharField(max_length=8, choices=Book.choices)
    venue = models.CharField(max_length=16, choices=Platform.choices)
    market_id = models.CharField(max_length=200)
    market_name = models.CharField(max_length=500, blank=True)
    side = models.CharField(max_length=8, choices=Side.choices)
    action = models.CharField(max_length=8, choices=Action.choices, default=Action.OPEN)
    client_order_id = models.CharField(max_length=128, unique=True)
    venue_order_id = models.CharField(max_length=200, blank=True)
    quantity = quantity_field()
    limit_price = money_field(null=True, blank=True)
    notional_usd = money_field()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    filled_quantity = quantity_field(default=0)
    reject_reason = models.TextField(blank=True)
    # Polymarket has no client order id: the signed order is kept so a retry re-posts the same one.
    signed_order = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["strategy", "book", "status"])]
        constraints = [
            models.UniqueConstraint(fields=["execution", "signal_index", "action"], name="order_once_per_signal"),
            models.CheckConstraint(condition=Q(book__in=Book.values), name="order_book_valid"),
            models.CheckConstraint(condition=Q(venue__in=Platform.values), name="order_venue_valid"),
            models.CheckConstraint(condition=Q(side__in=Side.values), name="order_side_valid"),
            models.CheckConstraint(condition=Q(status__in=OrderStatus.values), name="order_status_valid"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_quantity_positive"),
            # A losing position settles at $0: the one order worth nothing.
            models.CheckConstraint(condition=Q(notional_usd__gt=0) | Q(action="settle"),
                                   name="order_notional_positive"),
            models.CheckConstraint(
                condition=Q(limit_price__isnull=True) | Q(limit_price__gt=0), name="order_limit_price_positive"
            ),
            models.CheckConstraint(
                condition=Q(filled_quantity__gte=0, filled_quantity__lte=F("quantity")),
                name="order_fill_within_quantity",
            ),
            models.CheckConstraint(
                condition=~Q(status="filled") | Q(filled_quantity=F("quantity")), name="order_filled_means_all"
            ),
            models.CheckConstraint(
                condition=~Q(status="partially_filled") | Q(filled_quantity__gt=0, filled_quantity__lt=F("quantity")),
                name="order_partial_means_some",
            ),
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(reject_reason=""), name="order_rejection_has_reason"
            ),
            models.CheckConstraint(condition=~Q(client_order_id=""), name="order_client_id_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.client_order_id} {self.side} {self.quantity} {self.market_id} ({self.status})"


class Fill(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    book = models.CharField(max_length=8, choices=Book.choices)
    venue_fill_id = models.CharField(max_length=200)
    quantity = quantity_field()
    price = money_field()
    fee_usd = money_field(default=0)
    filled_at = models.DateTimeField()

    class Meta:
        ordering = ["filled_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "venue_fill_id"], name="fill_unique_per_order"),
            models.CheckConstraint(condition=Q(book__in=Book.values), name="fill_book_valid"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="fill_quantity_positive"),
            # $0 only in a losing settlement; a book never trades at 0.
            models.CheckConstraint(condition=Q(price__gte=0), name="fill_price_not_negative"),
            models.CheckConstraint(condition=Q(fee_usd__gte=0), name="fill_fee_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} @ {self.price} ({self.order.client_order_id})"


class PositionStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class Position(models.Model):
    Status = PositionStatus

    strategy = models.ForeignKey("strategies.Strategy", on_delete=models.PROTECT, related_name="positions")
    book = models.CharField(max_length=8, choices=Book.choices)
    venue = models.CharField(max_length=16, choices=Platform.choices)
    market_id = models.CharField(max_length=200)
    market_name = models.CharField(max_length=500, blank=True)
    side = models.CharField(max_length=8, choices=Side.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    quantity = quantity_field()
    cost_basis_usd = money_field(help_text="USD paid for the open quantity, fees included.")
    current_price = money_field(null=True, blank=True)
    # The first mark of the UTC day `day_start_on`: where today's P&L of a position held over midnight starts.
    day_start_price = money_field(null=True, blank=True)
    day_start_on = models.DateField(null=True, blank=True)
    realized_pnl_usd = money_field(default=0)
    fees_usd = money_field(default=0)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # One open position per market side and ledger; YES and NO of one market are two positions.
            models.UniqueConstraint(
                fields=["strategy", "book", "venue", "market_id", "side"],
                condition=Q(status="open"),
                name="position_one_open_per_market_side",
            ),
            # On Polymarket the market id is the outcome token itself: one open position per token, whatever side.
            models.UniqueConstraint(
                fields=["strategy", "book", "market_id"],
                condition=Q(status="open", venue="polymarket"),
                name="position_one_open_per_polymarket_token",
            ),
            models.CheckConstraint(condition=Q(book__in=Book.values), name="position_book_valid"),
            models.CheckConstraint(condition=Q(venue__in=Platform.values), name="position_venue_valid"),
            models.CheckConstraint(condition=Q(side__in=Side.values), name="position_side_valid"),
            models.CheckConstraint(condition=Q(status__in=PositionStatus.values), name="position_status_valid"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="position_quantity_not_negative"),
            models.CheckConstraint(condition=Q(cost_basis_usd__gte=0), name="position_cost_not_negative"),
            models.CheckConstraint(condition=Q(fees_usd__gte=0), name="position_fees_not_negative"),
            models.CheckConstraint(
                condition=Q(status="open", closed_at__isnull=True, quantity__gt=0)
                | Q(status="closed", closed_at__isnull=False, quantity=0, cost_basis_usd=0),
                name="position_open_or_closed_consistently",
            ),
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True) | Q(closed_at__gte=F("opened_at")),
                name="position_closes_after_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.market_id} ({self.book}, {self.status})"


class VenueAccount(models.Model):
    """A user's credentials for one venue. Encrypted at rest; never readable back through admin or API."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="venue_accounts")
    venue = models.CharField(max_length=16, choices=Platform.choices)
    label = models.CharField(max_length=80, default="default")
    is_live = models.BooleanField(default=False, help_text="Real-money account (off: the venue's own paper/demo).")
    credentials_encrypted = models.BinaryField(editable=False)
    credential_names = models.JSONField(default=list, editable=False, help_text="Which keys are set, not their values.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["owner", "venue", "label"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "venue", "label"], name="venue_account_unique_label"),
            models.CheckConstraint(condition=Q(venue__in=Platform.values), name="venue_account_venue_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.owner} · {self.get_venue_display()} · {self.label}"


class KillSwitch(models.Model):
    """The one global kill switch row (pk 1), set from the admin; `settings.KILL_SWITCH` also engages it.

    Engaged: every live order is refused and live strategies are paused. Paper trading goes on.
    """

    engaged = models.BooleanField(default=False)
    reason = models.CharField(max_length=500, blank=True)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="kill_switch_single_row")]

    def __str__(self) -> str:
        return "kill switch: ENGAGED" if self.engaged else "kill switch: off"


class VenueHistoryPoint(models.Model):
    """One point of a venue's own history (a bar, a candle, a price), cached for backtests.

    In the database, not on a disk, so a re-run on any worker host needs no network; which ranges
    were fetched is `VenueHistoryRange` (a range with no points is still known to be empty).
    """

    venue = models.CharField(max_length=16, choices=Platform.choices)
    series = models.CharField(max_length=200, help_text="token id, ticker or symbol")
    resolution = models.CharField(max_length=16, help_text="the venue's own: 60m, 1Day, …")
    at = models.DateTimeField(help_text="the point's own timestamp, as the venue gives it")
    data = models.JSONField(help_text="the point's values, as strings")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["venue", "series", "resolution", "at"],
                                               name="venue_history_point_unique")]

    def __str__(self) -> str:
        return f"{self.venue} {self.series} {self.resolution} @ {self.at.isoformat()}"


class VenueHistoryRange(models.Model):
    """A range of one series already fetched from the venue: what the cache can answer without it."""

    venue = models.CharField(max_length=16, choices=Platform.choices)
    series = models.CharField(max_length=200)
    resolution = models.CharField(max_length=16)
    start = models.DateTimeField()
    end = models.DateTimeField()
    fetched_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["venue", "series", "resolution", "start"], name="venue_history_range_lookup")]
        constraints = [models.CheckConstraint(condition=Q(start__lte=F("end")), name="venue_history_range_ordered")]

    def __str__(self) -> str:
        return f"{self.venue} {self.series} {self.resolution} {self.start.isoformat()}…{self.end.isoformat()}"


class VenueWalletTrade(models.Model):
    """One trade of a wallet, as the venue's own trade history reports it (Polymarket's Data API), cached for
    backtests of strategies that follow wallets; which ranges were fetched is `VenueHistoryRange` (series: the
    wallet, resolution: "trades")."""

    venue = models.CharField(max_length=16, choices=Platform.choices)
    wallet = models.CharField(max_length=200, help_text="the wallet's address, lower case")
    trade_id = models.CharField(max_length=300, help_text="the venue's id of the fill (a transaction may hold several)")
    at = models.DateTimeField(help_text="when the trade was made, as the venue gives it")
    data = models.JSONField(help_text="the trade as get_trade_history answers it")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["venue", "wallet", "trade_id"],
                                               name="venue_wallet_trade_unique")]
        indexes = [models.Index(fields=["venue", "wallet", "at"], name="venue_wallet_trade_at")]

    def __str__(self) -> str:
        return f"{self.venue} {self.wallet} {self.trade_id} @ {self.at.isoformat()}"


class VenueMarketInfo(models.Model):
    """What a venue said about one market (title, outcomes, fee rate, resolution), cached for backtests."""

    venue = models.CharField(max_length=16, choices=Platform.choices)
    market_id = models.CharField(max_length=200)
    data = models.JSONField()
    fetched_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["venue", "market_id"], name="venue_market_info_unique")]

    def __str__(self) -> str:
        return f"{self.venue} {self.market_id}"
