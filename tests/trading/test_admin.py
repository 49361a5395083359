"""Staff read orders, fills and positions in the admin: every list and every record opens."""

from __future__ import annotations

import pytest
from django.test import Client

from strategies.models import Strategy
from strategies.services import strategy_deploy
from tests.conftest import example_files
from tests.strategies.paper_record import paper_trades
from trading.models import Fill, Order, Position

pytestmark = pytest.mark.django_db


@pytest.fixture
def clerk_client(make_user) -> Client:
    clerk = make_user("clerk", staff=True, perms=("trading.view_order", "trading.view_fill", "trading.view_position"))
    client = Client()
    client.force_login(clerk)
    return client


@pytest.fixture
def traded(alice, staff) -> Strategy:
    strategy = strategy_deploy(owner=alice, files=example_files("kalshi_favourite_longshot"), approve_by=staff).strategy
    assert strategy.current_version is not None
    paper_trades(strategy.current_version, ["5.00"], open_marks=("0.55",))
    return strategy


@pytest.mark.parametrize("model", [Order, Fill, Position])
def test_staff_open_every_ledger_list_and_record(clerk_client: Client, traded: Strategy,
                                                 model: type[Order | Fill | Position]) -> None:
    name = model._meta.model_name
    listing = clerk_client.get(f"/admin/trading/{name}/")
    assert listing.status_code == 200
    assert f"{model.objects.count()} {model._meta.verbose_name_plural}" in listing.content.decode()
    for row in model.objects.all():
        assert clerk_client.get(f"/admin/trading/{name}/{row.pk}/change/").status_code == 200
