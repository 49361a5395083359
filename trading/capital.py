"""The capital engine: a strategy's limits, order sizing, the ledger's exposures, and the lot arithmetic.

Pure functions of plain values: no database, no settings, no Django. The ledger numbers they work
on (`Exposures`: open positions, orders that may still fill, today's spend and P&L) are read from
orders, fills and positions in `trading.selectors`; paper, live and the backtest call the same code.

Every limit is compared against an order's *worst cost*: quantity × limit price plus the most the
venue's fee can be for it, so a fill (at or better than the limit) can never breach a limit. An
order that may still fill reserves the worst cost of its unfilled rest against every limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from trading.fees import KALSHI_TAKER_RATE, POLYMARKET_DEFAULT_TAKER_RATE, POLYMARKET_MAX_TAKER_RATE
from trading.venues.platforms import PREDICTION_MARKETS, FeeModel, traits

ZERO = Decimal(0)
ONE = Decimal(1)
HALF = Decimal("0.5")
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")
# Half-Kelly when config.json gives `sizing_method: "kelly"` without `kelly_fraction` (docs/strategies.md):
# the design's own capital example does, and full Kelly on an estimated edge overbets.
DEFAULT_KELLY_FRACTION = HALF

# How finely each venue counts what is bought: Kalshi whole contracts, Polymarket 2 decimals
# (the CLOB's size rounding), Alpaca fractional shares.
QUANTITY_STEP: dict[str, Decimal] = {"kalshi": ONE, "polymarket": CENT, "alpaca": MICRO}


def usd(value: Any) -> Decimal:
    """A config number (JSON float or int) as an exact Decimal."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def money(value: Decimal) -> Decimal:
    """Stored precision of a USD amount (the DecimalFields keep 6 places)."""
    return value.quantize(MICRO, rounding=ROUND_HALF_UP)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class CapitalPlan:
    """`capital` and `risk_limits` of a strategy's config, as Decimals."""

    platform: str
    total_capital: Decimal
    capital_per_trade: Decimal
    max_positions: int
    max_position_size: Decimal
    max_daily_loss: Decimal
    sizing_method: str
    kelly_fraction: Decimal  # DEFAULT_KELLY_FRACTION when config.json leaves it out
    percent: Decimal | None
    max_order_usd: Decimal | None
    max_daily_usd: Decimal | None
    allowed_services: tuple[str, ...]

    @classmethod
    def from_config(cls, config: dict[str, Any], platform: str) -> CapitalPlan:
        capital = config["capital"]
        limits = config.get("risk_limits") or {}

        def optional(value: Any) -> Decimal | None:
            return None if value is None else usd(value)

        return cls(
            platform=platform,
            total_capital=usd(capital["total_capital"]),
            capital_per_trade=usd(capital["capital_per_trade"]),
            max_positions=int(capital["max_positions"]),
            max_position_size=usd(capital["max_position_size"]),
            max_daily_loss=usd(capital["max_daily_loss"]),
            sizing_method=str(capital["sizing_method"]),
            kelly_fraction=optional(capital.get("kelly_fraction")) or DEFAULT_KELLY_FRACTION,
            percent=optional(capital.get("percent")),
            max_order_usd=optional(limits.get("max_order_usd")),
            max_daily_usd=optional(limits.get("max_daily_usd")),
            allowed_services=tuple(limits.get("allowed_services") or (platform,)),
        )


def fee_bound(
    venue: str, *, quantity: Decimal, limit_price: Decimal, polymarket_rate: Decimal | None = None
) -> Decimal:
    """The most the fee of a buy of `quantity` at prices ≤ `limit_price` can be (see trading.paper)."""
    model = traits(venue).fee_model
    if model == FeeModel.REGULATORY_ON_SELLS:
        return ZERO  # buys are commission-free
    # rate × q × p(1 − p) grows with p up to 0.5: the worst price at or below the limit.
    worst = limit_price * (ONE - limit_price) if limit_price <= HALF else Decimal("0.25")
    if model == FeeModel.TAKER_QUADRATIC:
        return (KALSHI_TAKER_RATE * quantity * worst).quantize(CENT, rounding=ROUND_CEILING)
    rate = POLYMARKET_DEFAULT_TAKER_RATE if polymarket_rate is None else polymarket_rate
    return (rate * quantity * worst).quantize(MICRO, rounding=ROUND_CEILING)


def worst_cost(
    venue: str, *, quantity: Decimal, limit_price: Decimal, polymarket_rate: Decimal | None = None
) -> Decimal:
    return quantity * limit_price + fee_bound(
        venue, quantity=quantity, limit_price=limit_price, polymarket_rate=polymarket_rate
    )


Key = tuple[str, str, str]  # venue, market id, side: one position's place in the ledger


@dataclass(frozen=True)
class WorkingEntry:
    """An entry order that may still fill: new, submitted, partially filled or unresolved, placed any day."""

    key: Key
    remaining: Decimal  # the quantity not filled yet
    limit_price: Decimal

    @property
    def reserved_usd(self) -> Decimal:
        """The most the rest can still cost. The market's Polymarket fee rate is not at hand: the highest one is."""
        return worst_cost(self.key[0], quantity=self.remaining, limit_price=self.limit_price,
                          polymarket_rate=POLYMARKET_MAX_TAKER_RATE)


@dataclass(frozen=True)
class MarketDay:
    """One market side's UTC day: what it was worth at its start, what it is worth now, and today's cash."""

    value_start_usd: Decimal
    value_now_usd: Decimal
    paid_today_usd: Decimal  # entry fills since 00:00 UTC, fees included
    received_today_usd: Decimal  # exit and settlement fills since 00:00 UTC, net of fees

    @property
    def pnl_usd(self) -> Decimal:
        return self.value_now_usd - self.value_start_usd + self.received_today_usd - self.paid_today_usd


def market_day(*, quantity_at_midnight: Decimal, day_start_price: Decimal | None, cost_at_midnight: Decimal,
               value_now_usd: Decimal, paid_today_usd: Decimal, received_today_usd: Decimal) -> MarketDay:
    """A market side's day. Held over midnight, it starts at its first mark of the day; opened today, at
    nothing (so it counts from its cost basis); never marked today, at its cost basis at midnight."""
    if quantity_at_midnight <= 0:
        start = ZERO
    elif day_start_price is not None:
        start = quantity_at_midnight * day_start_price
    else:
        start = cost_at_midnight
    return MarketDay(start, value_now_usd, paid_today_usd, received_today_usd)


def held_value(*, quantity: Decimal, price: Decimal | None, cost_usd: Decimal) -> Decimal:
    """An open holding marked to market; one never marked is counted at what it cost."""
    return cost_usd if price is None else quantity * price


@dataclass(frozen=True)
class Exposures:
    """One strategy's money on one book, as the limits see it (docs/money.md, "What each limit counts").

    Filled positions deploy their cost basis; every entry that may still fill reserves the worst cost
    of its unfilled rest (`WorkingEntry.reserved_usd`) against available capital, its market side's
    position size, the position count and today's spend, whatever day it was placed.
    """

    total_capital: Decimal  # the configured allocation
    realized_usd: Decimal = ZERO  # all closed P&L to date, fees included
    positions: Mapping[Key, Decimal] = field(default_factory=dict)  # open positions' cost basis, fees included
    reserved: Mapping[Key, Decimal] = field(default_factory=dict)  # working entries' worst cost, by market side
    filled_today_usd: Decimal = ZERO  # what entry fills cost since 00:00 UTC, fees included
    unrealized_usd: Decimal = ZERO  # open positions marked to market, against their cost basis
    days: tuple[MarketDay, ...] = ()  # every market side held or traded today

    @property
    def capital_usd(self) -> Decimal:
        return self.total_capital + self.realized_usd

    @property
    def deployed_usd(self) -> Decimal:
        return sum(self.positions.values(), ZERO)

    @property
    def reserved_usd(self) -> Decimal:
        return sum(self.reserved.values(), ZERO)

    @property
    def available_usd(self) -> Decimal:
        return self.capital_usd - self.deployed_usd - self.reserved_usd

    @property
    def spent_today_usd(self) -> Decimal:
        return self.filled_today_usd + self.reserved_usd

    @property
    def open_positions(self) -> int:
        """Open positions, and the market sides a working entry would open."""
        return len(self.positions.keys() | self.reserved.keys())

    @property
    def pnl_today_usd(self) -> Decimal:
        """Realized and unrealized since 00:00 UTC: each holding counted from its value at the day's start."""
        return sum((day.pnl_usd for day in self.days), ZERO)

    def holds(self, key: Key) -> bool:
        return key in self.positions or key in self.reserved

    def position_cost_usd(self, key: Key) -> Decimal:
        """What the market side holds at cost plus what its working entries may still cost."""
        return self.positions.get(key, ZERO) + self.reserved.get(key, ZERO)

    def without(self, entry: WorkingEntry) -> Exposures:
        """The exposures with one working entry's reservation released: how to check that entry again."""
        left = self.reserved.get(entry.key, ZERO) - entry.reserved_usd
        reserved = {key: usd for key, usd in self.reserved.items() if key != entry.key}
        if left > 0:
            reserved[entry.key] = left
        return replace(self, reserved=reserved)


def reserved_by_key(entries: Iterable[WorkingEntry]) -> dict[Key, Decimal]:
    reserved: dict[Key, Decimal] = {}
    for entry in entries:
        reserved[entry.key] = reserved.get(entry.key, ZERO) + entry.reserved_usd
    return reserved


def kelly_fraction_of(confidence: Decimal, price: Decimal, *, venue: str) -> Decimal:
    """f* = (p − c) / (1 − c) for a binary contract at price c; for shares, the even-money f* = 2p − 1."""
    if venue in PREDICTION_MARKETS:
        if price >= ONE:
            return ZERO
        return max(ZERO, (confidence - price) / (ONE - price))
    return max(ZERO, 2 * confidence - ONE)


@dataclass(frozen=True)
class Sizing:
    """How an entry was sized: the method's amount, every cap that bound it, and the order it gives."""

    method: str
    method_usd: Decimal
    requested_usd: Decimal | None
    budget_usd: Decimal
    binding: str  # the cap that set the budget: "method", "size_usd", "capital_per_trade", …
    limit_price: Decimal
    quantity: Decimal
    worst_cost_usd: Decimal
    kelly: Decimal | None = None

    @property
    def notional_usd(self) -> Decimal:
        return self.quantity * self.limit_price

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method, "method_usd": str(cents(self.method_usd)),
            "requested_usd": None if self.requested_usd is None else str(cents(self.requested_usd)),
            "budget_usd": str(cents(self.budget_usd)), "binding": self.binding,
            "limit_price": str(self.limit_price), "quantity": str(self.quantity),
            "notional_usd": str(cents(self.notional_usd)), "worst_cost_usd": str(cents(self.worst_cost_usd)),
            **({"kelly": str(self.kelly.quantize(Decimal("0.0001")))} if self.kelly is not None else {}),
        }


def entry_size(
    plan: CapitalPlan,
    *,
    confidence: Decimal,
    limit_price: Decimal,
    size_usd: Decimal | None,
    position_cost_usd: Decimal,
    available_usd: Decimal,
    polymarket_rate: Decimal | None = None,
    equity_usd: Decimal | None = None,
) -> Sizing:
    """Size an entry: the method's amount, then capped by capital_per_trade, what the position may
    still take under max_position_size, max_order_usd and available capital; a signal's own
    `size_usd` is a request, capped the same way. The quantity's worst cost fits the budget.
    `equity_usd` (capital + unrealized P&L) is what `percent_equity` takes its percentage of;
    without it, the capital."""
    kelly: Decimal | None = None
    if plan.sizing_method == "percent_capital":
        method_usd = plan.total_capital * (plan.percent or ZERO) / 100
    elif plan.sizing_method == "percent_equity":
        equity = plan.total_capital if equity_usd is None else equity_usd
        method_usd = max(ZERO, equity) * (plan.percent or ZERO) / 100
    elif plan.sizing_method == "kelly":
        kelly = kelly_fraction_of(confidence, limit_price, venue=plan.platform)
        method_usd = plan.total_capital * kelly * plan.kelly_fraction
    else:
        method_usd = plan.capital_per_trade
    caps: list[tuple[str, Decimal]] = [("method", method_usd)]
    if size_usd is not None:
        caps.append(("size_usd", size_usd))
    caps.append(("capital_per_trade", plan.capital_per_trade))
    caps.append(("max_position_size", max(ZERO, plan.max_position_size - position_cost_usd)))
    if plan.max_order_usd is not None:
        caps.append(("max_order_usd", plan.max_order_usd))
    caps.append(("available_capital", max(ZERO, available_usd)))
    binding, budget = min(caps, key=lambda cap: cap[1])  # min keeps the first of equal caps
    budget = budget.quantize(CENT, rounding=ROUND_DOWN)
    quantity = affordable_quantity(plan.platform, budget=budget, limit_price=limit_price,
                                   polymarket_rate=polymarket_rate)
    cost = worst_cost(plan.platform, quantity=quantity, limit_price=limit_price, polymarket_rate=polymarket_rate)
    return Sizing(plan.sizing_method, method_usd, size_usd, budget, binding, limit_price, quantity, cost, kelly)


def affordable_quantity(venue: str, *, budget: Decimal, limit_price: Decimal,
                        polymarket_rate: Decimal | None = None) -> Decimal:
    """The largest quantity (in the venue's step) whose worst cost fits `budget`."""
    step = QUANTITY_STEP[venue]
    if budget <= 0 or limit_price <= 0:
        return ZERO

    def fits(quantity: Decimal) -> bool:
        return worst_cost(venue, quantity=quantity, limit_price=limit_price, polymarket_rate=polymarket_rate) <= budget

    quantity = (budget / limit_price).quantize(step, rounding=ROUND_DOWN)  # the fee only lowers it from here
    while not fits(quantity):  # shrink by the overshoot: quantity × budget / cost < quantity, down to 0 at worst
        cost = worst_cost(venue, quantity=quantity, limit_price=limit_price, polymarket_rate=polymarket_rate)
        quantity = (quantity * budget / cost).quantize(step, rounding=ROUND_DOWN)
    # the shrink can overshoot by a few steps where the fee rounds up to the cent: take back what still fits
    while fits(quantity + step):
        quantity += step
    return quantity


@dataclass(frozen=True)
class Lot:
    """An open position's running totals: quantity held and what it cost, fees included."""

    quantity: Decimal = ZERO
    cost_usd: Decimal = ZERO


def lot_buy(lot: Lot, *, quantity: Decimal, price: Decimal, fee: Decimal) -> Lot:
    return Lot(lot.quantity + quantity, money(lot.cost_usd + quantity * price + fee))


def lot_sell(lot: Lot, *, quantity: Decimal, price: Decimal, fee: Decimal) -> tuple[Lot, Decimal]:
    """Sell part of a lot at average cost; returns the rest and the realized P&L (fees included)."""
    if quantity > lot.quantity:
        raise ValueError(f"cannot sell {quantity} of a position holding {lot.quantity}")
    released = lot.cost_usd if quantity == lot.quantity else money(lot.cost_usd * quantity / lot.quantity)
    realized = money(quantity * price - fee - released)
    return Lot(lot.quantity - quantity, lot.cost_usd - released), realized
