"""The paper broker: simulated fills that walk the current order book, with the venue's fees.

Paper orders are immediate-or-cancel: a buy takes the asks from the best price up to its limit,
a sell hits the bids down to its limit, level by level; what the book cannot fill at an
acceptable price is cancelled. Nothing ever fills beyond the book's displayed size.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from trading.fees import TradeSide, order_fee
from trading.venues.domain import BookLevel, OrderBook
from trading.venues.platforms import traits

ONE = Decimal(1)
MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class PaperFill:
    quantity: Decimal
    price: Decimal
    fee: Decimal


@dataclass(frozen=True)
class PaperFills:
    """What one paper order got walking the book: the quantity it asked for and a fill per level it took."""

    requested: Decimal
    fills: tuple[PaperFill, ...]

    @property
    def filled_quantity(self) -> Decimal:
        return sum((fill.quantity for fill in self.fills), Decimal(0))

    @property
    def gross_usd(self) -> Decimal:
        return sum((fill.quantity * fill.price for fill in self.fills), Decimal(0))

    @property
    def fees(self) -> Decimal:
        return sum((fill.fee for fill in self.fills), Decimal(0))

    @property
    def average_price(self) -> Decimal | None:
        filled = self.filled_quantity
        return self.gross_usd / filled if filled else None


def outcome_book(book: OrderBook, *, venue: str, side: str) -> OrderBook:
    """The book of the contract a position holds.

    Kalshi has one YES book per ticker: NO asks are 1 − YES bids and NO bids are 1 − YES asks.
    On Polymarket the market id is the outcome's own token, and Alpaca has no outcomes.
    """
    if not traits(venue).outcomes_share_a_ticker or side != "no":
        return book
    asks = tuple(BookLevel(ONE - level.price, level.size) for level in book.bids)
    bids = tuple(BookLevel(ONE - level.price, level.size) for level in book.asks)
    return OrderBook(book.instrument_id, bids, asks, book.as_of)


def paper_fill(
    book: OrderBook,
    *,
    venue: str,
    side: TradeSide,
    quantity: Decimal,
    limit_price: Decimal | None,
    polymarket_rate: Decimal | None = None,
) -> PaperFills:
    """Fill `quantity` against `book` (best level first), no worse than `limit_price` (None: any price)."""
    if quantity <= 0:
        raise ValueError(f"quantity must be > 0, got {quantity}")
    levels = book.asks if side == "buy" else book.bids
    remaining = quantity
    taken: list[tuple[Decimal, Decimal]] = []
    for level in levels:
        if remaining <= 0:
            break
        if level.size <= 0:
            continue
        if limit_price is not None and (level.price > limit_price if side == "buy" else level.price < limit_price):
            break
        size = min(remaining, level.size)
        taken.append((size, level.price))
        remaining -= size
    # The venue rounds the fee once per order; each fill carries its share, the last one the rounding.
    total_fee = order_fee(venue, side=side, fills=taken, polymarket_rate=polymarket_rate)
    gross = sum((q * p for q, p in taken), Decimal(0))
    fills: list[PaperFill] = []
    allotted = Decimal(0)
    for index, (size, price) in enumerate(taken):
        if index == len(taken) - 1:
            fee = total_fee - allotted
        else:
            fee = (total_fee * size * price / gross).quantize(MICRO, rounding=ROUND_DOWN) if gross else Decimal(0)
        allotted += fee
        fills.append(PaperFill(size, price, fee))
    return PaperFills(quantity, tuple(fills))
