"""Each venue's real trading fee, in Decimal USD (shared/reference/venues.md §2.8, §3.4, §4.3).

- Polymarket: taker only, ``shares × rate × p × (1 − p)`` with a per-category rate, rounded to
  pUSD's 6 decimals; makers pay nothing.
- Kalshi: taker ``roundup(0.07 × C × P × (1 − P))`` to the next cent; maker ``0.0175`` on series
  that charge makers.
- Alpaca: commission-free; sells pay the SEC fee ($27.80 per $1M of principal) and FINRA TAF
  ($0.000166 per share, capped at $8.30), each rounded up to the cent. The CAT fee
  ($0.000046–0.000053 per share, range unverified) is left out.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Literal

from trading.venues.platforms import TRAITS, FeeModel

ONE = Decimal(1)
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")

POLYMARKET_TAKER_RATES: dict[str, Decimal] = {
    "crypto": Decimal("0.07"),
    "sports": Decimal("0.03"),
    "finance": Decimal("0.04"),
    "politics": Decimal("0.04"),
    "mentions": Decimal("0.04"),
    "tech": Decimal("0.04"),
    "economics": Decimal("0.05"),
    "culture": Decimal("0.05"),
    "weather": Decimal("0.05"),
    "geopolitics": Decimal(0),
}
# Economics, Culture, Weather and Other/General all pay 5 %: the rate for a market of unknown category.
POLYMARKET_DEFAULT_TAKER_RATE = Decimal("0.05")
# The highest rate of any category: what a resting order's fee can be at most when its market's rate is not at hand.
POLYMARKET_MAX_TAKER_RATE = max(POLYMARKET_TAKER_RATES.values())

KALSHI_TAKER_RATE = Decimal("0.07")
KALSHI_MAKER_RATE = Decimal("0.0175")

ALPACA_SEC_RATE = Decimal("27.80") / Decimal(1_000_000)
ALPACA_TAF_PER_SHARE = Decimal("0.000166")
ALPACA_TAF_CAP = Decimal("8.30")

TradeSide = Literal["buy", "sell"]


def polymarket_taker_rate(category: str | None) -> Decimal:
    return POLYMARKET_TAKER_RATES.get((category or "").strip().lower(), POLYMARKET_DEFAULT_TAKER_RATE)


def polymarket_fee(shares: Decimal, price: Decimal, *, rate: Decimal, taker: bool = True) -> Decimal:
    """``shares × rate × p × (1 − p)``, to 6 decimals; buys and sells alike, makers free."""
    if not taker:
        return Decimal(0)
    return (shares * rate * price * (ONE - price)).quantize(MICRO, rounding=ROUND_HALF_UP)


def kalshi_fee(contracts: Decimal, price: Decimal, *, taker: bool = True) -> Decimal:
    """``roundup(rate × C × P × (1 − P))`` to the next cent."""
    rate = KALSHI_TAKER_RATE if taker else KALSHI_MAKER_RATE
    return (rate * contracts * price * (ONE - price)).quantize(CENT, rounding=ROUND_CEILING)


def alpaca_fee(shares: Decimal, price: Decimal, *, side: TradeSide) -> Decimal:
    """Commission-free; a sell pays SEC + FINRA TAF, each rounded up to the cent."""
    if side == "buy":
        return Decimal(0)
    sec = (shares * price * ALPACA_SEC_RATE).quantize(CENT, rounding=ROUND_CEILING)
    taf = min(shares * ALPACA_TAF_PER_SHARE, ALPACA_TAF_CAP).quantize(CENT, rounding=ROUND_CEILING)
    return sec + taf


def trade_fee(
    venue: str, *, side: TradeSide, quantity: Decimal, price: Decimal, polymarket_rate: Decimal | None = None
) -> Decimal:
    """The taker fee of one fill of `quantity` at `price` on `venue`."""
    model = _fee_model(venue)
    if model == FeeModel.CATEGORY_RATE:
        rate = POLYMARKET_DEFAULT_TAKER_RATE if polymarket_rate is None else polymarket_rate
        return polymarket_fee(quantity, price, rate=rate)
    if model == FeeModel.TAKER_QUADRATIC:
        return kalshi_fee(quantity, price)
    return alpaca_fee(quantity, price, side=side)


def _fee_model(venue: str) -> str:
    venue_traits = TRAITS.get(venue)
    if venue_traits is None:
        raise ValueError(f"venue must be polymarket, kalshi or alpaca, got {venue!r}")
    return venue_traits.fee_model


def order_fee(
    venue: str, *, side: TradeSide, fills: list[tuple[Decimal, Decimal]], polymarket_rate: Decimal | None = None
) -> Decimal:
    """The fee of one order filled as `fills` [(quantity, price), …], rounded once per order as the venues do."""
    model = _fee_model(venue)
    if model == FeeModel.TAKER_QUADRATIC:
        raw = sum((KALSHI_TAKER_RATE * q * p * (ONE - p) for q, p in fills), Decimal(0))
        return raw.quantize(CENT, rounding=ROUND_CEILING)
    if model == FeeModel.CATEGORY_RATE:
        rate = POLYMARKET_DEFAULT_TAKER_RATE if polymarket_rate is None else polymarket_rate
        raw = sum((q * rate * p * (ONE - p) for q, p in fills), Decimal(0))
        return raw.quantize(MICRO, rounding=ROUND_HALF_UP)
    shares = sum((q for q, _ in fills), Decimal(0))
    principal = sum((q * p for q, p in fills), Decimal(0))
    if side == "buy" or not fills:
        return Decimal(0)
    sec = (principal * ALPACA_SEC_RATE).quantize(CENT, rounding=ROUND_CEILING)
    taf = min(shares * ALPACA_TAF_PER_SHARE, ALPACA_TAF_CAP).quantize(CENT, rounding=ROUND_CEILING)
    return sec + taf
