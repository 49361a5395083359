"""The venues StrategyHub trades on, named once for every layer: the SDK and the sandbox, the models,
the money code and the adapters all import them from here.

Plain Python, no Django and no imports: the sandbox binds this one file (strategies/runtime/layout.py).
"""

from __future__ import annotations

from typing import ClassVar


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
