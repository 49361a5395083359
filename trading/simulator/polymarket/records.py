"""The simulator's Polymarket records and units: accounts, orders, trades, positions per token."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from trading.simulator.recorded import RecordedMarket

UNITS = Decimal(1_000_000)  # pUSD and outcome shares both have 6 decimals
MIN_ORDER_SIZE = Decimal(5)
STARTING_BALANCE = Decimal(10_000)


def units(amount: Decimal) -> str:
    """An amount in the 6-decimal integer units of the exchange contracts."""
    return str(int((amount * UNITS).to_integral_value(rounding=ROUND_DOWN)))


def num(value: Decimal) -> str:
    """A decimal as the CLOB writes it: no exponent, no trailing zeros."""
    return format(value.normalize(), "f")


@dataclass
class PolyTrade:
    id: str
    order_id: str
    market: RecordedMarket
    outcome: int
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal
    trader_side: str
    matched_at: float
    transaction_hash: str


@dataclass
class PolyOrder:
    id: str
    market: RecordedMarket
    outcome: int
    side: str
    price: Decimal
    size: Decimal
    order_type: str
    created_at: float
    matched: Decimal = Decimal(0)
    status: str = "LIVE"
    trade_ids: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.size - self.matched


@dataclass
class PolyPosition:
    size: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)


@dataclass
class PolyAccount:
    address: str
    api_key: str
    secret: str
    passphrase: str
    cash: Decimal = STARTING_BALANCE
    orders: dict[str, PolyOrder] = field(default_factory=dict)
    trades: list[PolyTrade] = field(default_factory=list)
    positions: dict[str, PolyPosition] = field(default_factory=dict)

    def reserved(self) -> Decimal:
        return sum(
            (o.price * o.remaining for o in self.orders.values() if o.status == "LIVE" and o.side == "BUY"), Decimal(0)
        )
