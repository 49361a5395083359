"""Orders, fills and positions refuse impossible states in the database itself."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from strategies.models import Execution
from strategies.services import strategy_deploy
from tests.conftest import example_files
from trading.models import Fill, Order, Position

pytestmark = [pytest.mark.django_db, pytest.mark.storage]


@pytest.fixture
def execution(alice) -> Execution:
    version = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"))
    return Execution.objects.create(
        strategy=version.strategy, version=version, trigger="manual", mode="paper", scheduled_for=timezone.now()
    )


def make_order(execution: Execution, **fields: Any) -> Order:
    defaults: dict[str, Any] = {
        "signal_index": 0,
        "book": "paper",
        "venue": "kalshi",
        "market_id": "KX-1",
        "side": "yes",
        "client_order_id": f"sh-{execution.pk}-0",
        "quantity": Decimal("10"),
        "limit_price": Decimal("0.45"),
        "notional_usd": Decimal("4.5"),
    }
    return Order.objects.create(
        strategy=execution.strategy, version=execution.version, execution=execution, **{**defaults, **fields}
    )


def test_a_client_order_id_is_used_once(execution) -> None:
    make_order(execution)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_order(execution, signal_index=1)


def test_one_order_per_signal_of_an_execution(execution) -> None:
    make_order(execution)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_order(execution, client_order_id="other")


@pytest.mark.parametrize(
    "fields",
    [
        {"quantity": Decimal("0")},
        {"notional_usd": Decimal("-1")},
        {"limit_price": Decimal("0")},
        {"filled_quantity": Decimal("11")},
        {"filled_quantity": Decimal("-1")},
        {"status": "filled", "filled_quantity": Decimal("5")},
        {"status": "partially_filled", "filled_quantity": Decimal("0")},
        {"status": "partially_filled", "filled_quantity": Decimal("10")},
        {"status": "rejected"},
        {"status": "lost"},
        {"side": "long"},
        {"book": "backtest"},
        {"client_order_id": ""},
    ],
)
def test_an_order_never_holds_an_impossible_state(execution, fields: dict[str, Any]) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        make_order(execution, **fields)


def test_fills_are_positive_and_unique_per_venue_fill(execution) -> None:
    order = make_order(execution, status="filled", filled_quantity=Decimal("10"))
    now = timezone.now()
    Fill.objects.create(
        order=order,
        book="paper",
        venue_fill_id="f1",
        quantity=Decimal("10"),
        price=Decimal("0.45"),
        fee_usd=Decimal("0.07"),
        filled_at=now,
    )
    for fields in (
        {"venue_fill_id": "f1"},
        {"venue_fill_id": "f2", "quantity": Decimal("0")},
        {"venue_fill_id": "f3", "fee_usd": Decimal("-0.01")},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            Fill.objects.create(
                **{
                    "order": order,
                    "book": "paper",
                    "quantity": Decimal("1"),
                    "price": Decimal("0.5"),
                    "filled_at": now,
                    **fields,
                }
            )


def make_position(execution: Execution, **fields: Any) -> Position:
    defaults: dict[str, Any] = {
        "book": "paper",
        "venue": "kalshi",
        "market_id": "KX-1",
        "side": "yes",
        "quantity": Decimal("10"),
        "cost_basis_usd": Decimal("4.5"),
        "opened_at": timezone.now(),
    }
    return Position.objects.create(strategy=execution.strategy, **{**defaults, **fields})


def test_one_open_position_per_market_side_and_book(execution) -> None:
    make_position(execution)
    make_position(execution, side="no")  # YES and NO of one market are separate positions
    make_position(execution, book="live")  # paper and live never share a row
    with pytest.raises(IntegrityError), transaction.atomic():
        make_position(execution)


@pytest.mark.parametrize(
    "fields",
    [
        {"quantity": Decimal("0")},  # open with nothing held
        {"status": "closed"},  # closed without a time, still holding
        {"status": "closed", "closed_at": timezone.now(), "quantity": Decimal("0"), "cost_basis_usd": Decimal("1")},
        {"quantity": Decimal("-1")},
        {"fees_usd": Decimal("-1")},
    ],
)
def test_a_position_is_open_or_closed_consistently(execution, fields: dict[str, Any]) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        make_position(execution, **fields)
