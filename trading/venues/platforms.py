"""The venues StrategyHub trades on, named once for every layer: the SDK and the sandbox, the models,
the money code and the adapters all import them from here.

Plain Python, no Django and no imports: the sandbox binds this one file (runtime/layout.py).
"""

from __future__ import annotations

from typing import ClassVar, Literal, NamedTuple


class Platform:
    """The platform names, with the `values` and `choices` a Django TextChoices would give a model field."""

    POLYMARKET = "polymarket"
    KALSHI = "kalshi"
    ALPACA = "alpaca"

    values: ClassVar[list[str]] = [POLYMARKET, KALSHI, ALPACA]
    choices: ClassVar[list[tuple[str, str]]] = [(value, value.capitalize()) for value in values]


PLATFORMS: tuple[str, ...] = tuple(Platform.values)
# Markets that resolve and pay $1 a winning contract: prices are probabilities in (0, 1).
PREDICTION_MARKETS: frozenset[str] = frozenset({Platform.POLYMARKET, Platform.KALSHI})


class FeeModel:
    """How a venue charges a taker fill (trading/fees.py holds the formulas; docs/money.md the sources)."""

    CATEGORY_RATE = "category_rate"  # rate × q × p(1 − p), the rate set by the market's category (Polymarket)
    TAKER_QUADRATIC = "taker_quadratic"  # 0.07 × q × p(1 − p), rounded up to the cent per order (Kalshi)
    REGULATORY_ON_SELLS = "regulatory_on_sells"  # commission-free; regulatory fees on sells only (Alpaca)


class VenueTraits(NamedTuple):
    """What the money code, the SDK and the backtest need to know of a venue: they read these, never its name."""

    sides: tuple[str, str]  # what a signal's side may be; the first is the entry side an SDK order takes
    sell_is_a_short: bool  # "sell" would open a short (Alpaca): refused, a long is closed by an exit
    outcomes_share_a_ticker: bool  # YES and NO are one ticker with one YES book; a NO price is 1 − YES (Kalshi)
    token_per_outcome: bool  # each outcome is its own token, the market id; the side must name it (Polymarket)
    fee_model: str  # a FeeModel
    fee_rate_by_market: bool  # the taker rate is read from the market (its category) before sizing
    signed_orders: bool  # an order is a signed payload: sent again as the same bytes, never re-signed
    time_in_force: Literal["day", "ioc"]  # an order's: "day" (a stock order rests), "ioc" (a prediction-market take)
    cumulative_fills: bool  # fills come as one cumulative report per order (filled quantity, average price)
    bars: bool  # its history is OHLC bars read by symbol (the backtest streams them)
    private_key: str  # the form of an account's private key: "hex64" (an EVM wallet key), "pem" (RSA), "" (none)


TRAITS: dict[str, VenueTraits] = {
    Platform.POLYMARKET: VenueTraits(
        sides=("yes", "no"), sell_is_a_short=False, outcomes_share_a_ticker=False, token_per_outcome=True,
        fee_model=FeeModel.CATEGORY_RATE, fee_rate_by_market=True, signed_orders=True, time_in_force="ioc",
        cumulative_fills=False, bars=False, private_key="hex64"),
    Platform.KALSHI: VenueTraits(
        sides=("yes", "no"), sell_is_a_short=False, outcomes_share_a_ticker=True, token_per_outcome=False,
        fee_model=FeeModel.TAKER_QUADRATIC, fee_rate_by_market=False, signed_orders=False, time_in_force="ioc",
        cumulative_fills=False, bars=False, private_key="pem"),
    Platform.ALPACA: VenueTraits(
        sides=("buy", "sell"), sell_is_a_short=True, outcomes_share_a_ticker=False, token_per_outcome=False,
        fee_model=FeeModel.REGULATORY_ON_SELLS, fee_rate_by_market=False, signed_orders=False, time_in_force="day",
        cumulative_fills=True, bars=True, private_key=""),
}


def traits(venue: str) -> VenueTraits:
    """The venue's traits; a name that is not a Platform is a KeyError naming it."""
    try:
        return TRAITS[venue]
    except KeyError:
        raise KeyError(f"{venue!r} is not a venue StrategyHub trades on ({', '.join(PLATFORMS)})") from None
