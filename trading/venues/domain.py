"""Plain values the adapters return. Money is Decimal, ids are strings, times are UTC-aware."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

OrderSide = Literal["buy", "sell"]
Outcome = Literal["yes", "no"]
TimeInForce = Literal["gtc", "day", "ioc", "fok"]
OrderStatus = Literal["open", "partially_filled", "filled", "canceled", "rejected", "unknown"]


@dataclass(frozen=True)
class Market:
    platform: str
    market_id: str  # condition id (Polymarket), ticker (Kalshi), symbol (Alpaca)
    title: str
    instrument_ids: tuple[str, ...]  # what order books and orders are keyed by (token ids on Polymarket)
    outcomes: tuple[str, ...] = ()
    active: bool = True
    slug: str = ""
    category: str = ""
    tick_size: Decimal | None = None
    min_order_size: Decimal | None = None
    synthetic: bool = False
    # Once a prediction market has resolved: "yes" (the first outcome won) or "no" (the second).
    settled_outcome: str | None = None


@dataclass(frozen=True)
class BookLevel:
    price: Decimal
    size: Decimal


@dataclass(frozen=True)
class OrderBook:
    """Best level first on both sides."""

    instrument_id: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    as_of: datetime | None = None

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None

    @property
    def midpoint(self) -> Decimal | None:
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_bid + self.best_ask) / 2


@dataclass(frozen=True)
class Quote:
    instrument_id: str
    bid: Decimal | None
    ask: Decimal | None
    bid_size: Decimal | None = None
    ask_size: Decimal | None = None
    as_of: datetime | None = None

    @property
    def midpoint(self) -> Decimal | None:
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2


@dataclass(frozen=True)
class PricePoint:
    at: datetime
    price: Decimal


@dataclass(frozen=True)
class Bar:
    """A candlestick (Kalshi) or a bar (Alpaca); `at` is the period's start on Alpaca, its end on Kalshi."""

    at: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = Decimal(0)


@dataclass(frozen=True)
class QuoteCandle:
    """A Kalshi candlestick with its quotes: at the period's end, the closing YES bid and ask and last price."""

    at: datetime
    yes_bid: Decimal | None
    yes_ask: Decimal | None
    price: Decimal | None  # the last trade's price (None: no trade yet)
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    volume: Decimal = Decimal(0)


MAX_WALLET_TRADES = 500  # one get_trade_history read: a wallet's most recent trades, five Data API pages


@dataclass(frozen=True)
class WalletTrade:
    """A trade made by some wallet, as the Polymarket Data API reports it (the copy trader's input)."""

    trade_id: str
    wallet: str
    market_id: str
    instrument_id: str
    side: OrderSide
    price: Decimal
    size: Decimal
    at: datetime
    title: str = ""
    outcome: str = ""


@dataclass(frozen=True)
class TraderRank:
    """A wallet on the venue's trader leaderboard (Polymarket's Data API): whom a copy trader might follow."""

    wallet: str
    rank: int
    pnl_usd: Decimal
    volume: Decimal  # shares traded in the window
    name: str = ""


@dataclass(frozen=True)
class Balance:
    cash: Decimal
    buying_power: Decimal | None = None
    portfolio_value: Decimal | None = None
    currency: str = "USD"


@dataclass(frozen=True)
class VenuePosition:
    instrument_id: str
    quantity: Decimal  # negative: short (Kalshi NO contracts)
    average_price: Decimal | None
    cost_basis: Decimal | None = None
    market_value: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    realized_pnl: Decimal | None = None
    market_id: str = ""


@dataclass(frozen=True)
class OrderRequest:
    instrument_id: str
    side: OrderSide
    quantity: Decimal  # shares / contracts
    client_order_id: str
    limit_price: Decimal | None = None  # None: a market order (Alpaca only)
    time_in_force: TimeInForce = "gtc"
    outcome: Outcome = "yes"  # Kalshi: which contract the side refers to
    post_only: bool = False
    reduce_only: bool = False  # an exit: it may only reduce what is held (Kalshi's reduce_only; elsewhere implied)


@dataclass(frozen=True)
class PreparedOrder:
    """An order ready to send. Persist it before sending: re-sending it is always safe.

    On Polymarket `venue_order_id` is the signed order's hash, known before it is posted, and
    `payload` is the signed order itself; elsewhere the client order id is the idempotency key.
    """

    platform: str
    request: OrderRequest
    venue_order_id: str | None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderState:
    platform: str
    venue_order_id: str
    client_order_id: str | None
    instrument_id: str
    side: OrderSide
    status: OrderStatus
    quantity: Decimal
    filled_quantity: Decimal
    limit_price: Decimal | None = None
    average_fill_price: Decimal | None = None
    fees: Decimal | None = None
    created_at: datetime | None = None
    already_existed: bool = False  # the venue already had this order: a retry found it


@dataclass(frozen=True)
class Fill:
    platform: str
    fill_id: str
    venue_order_id: str
    instrument_id: str
    side: OrderSide
    price: Decimal
    quantity: Decimal
    fee: Decimal
    at: datetime
    client_order_id: str | None = None


@dataclass(frozen=True)
class CancelResult:
    venue_order_id: str
    canceled: bool
    reason: str = ""
