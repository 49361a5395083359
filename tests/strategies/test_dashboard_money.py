"""The dashboard's money (issue 24, item 12): P&L on each card, the portfolio summary at the top of /strategies/,
closing a position or all of them through the desk (confirmed, audited), over HTTP against the simulator."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from strategies.cycle.run import execution_run
from strategies.models import Execution, ExecutionLog, Strategy
from strategies.selectors import strategy_performance
from strategies.services import strategy_deploy
from tests.api.test_actions import buyer_files
from trading.models import Order, Position

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("venues_on_simulator")]


@pytest.fixture
def traded(alice, staff) -> Strategy:
    strategy = strategy_deploy(owner=alice, files=buyer_files(), approve_by=staff).strategy
    execution = execution_run(strategy_id=strategy.pk, trigger="manual")
    assert execution.status == "succeeded", execution.error
    return strategy


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def money(text: str) -> Decimal:
    return Decimal(text.replace("−", "-").replace("$", "").replace(",", ""))


def test_each_card_shows_its_pnl_marked_to_market(alice, traded) -> None:
    [paper] = strategy_performance(traded, now=traded.created_at)
    html = logged_in(alice).get("/strategies/").content.decode()
    shown = re.search(rf'id="strategy-{traded.pk}".*?data-stat="pnl" class="(\w*)"[^>]*>([^<]+)<', html, re.S)
    assert shown is not None
    assert money(shown[2]) == paper.pnl_usd.quantize(Decimal("0.01")) and paper.pnl_usd < 0  # the fee and spread
    assert shown[1] == "bad"


def test_the_portfolio_sums_equity_todays_pnl_and_exposure_by_venue(alice, traded, staff) -> None:
    strategy_deploy(owner=alice, files=buyer_files() | {"config.json": buyer_files()["config.json"].replace(
        '"Buyer"', '"Second buyer"')}, approve_by=staff)  # a second strategy, no trade yet
    client = logged_in(alice)
    assert 'hx-get="/strategies/portfolio/"' in client.get("/strategies/").content.decode()
    html = client.get("/strategies/portfolio/").content.decode()
    figures = dict(re.findall(r'data-figure="(\w+)"[^>]*>(.*?)</dd>', html, re.S))
    [paper] = strategy_performance(traded, now=traded.created_at)
    position = Position.objects.get(strategy=traded)
    assert "Paper · 2 strategies" in html
    capital = 2 * paper.record.total_capital
    assert money(figures["equity"]) == (capital + paper.pnl_usd).quantize(Decimal("0.01"))
    assert money(figures["today"]) == money(figures["pnl"]) == paper.pnl_usd.quantize(Decimal("0.01"))
    exposure = position.quantity * position.current_price
    assert re.sub(r"<[^>]+>", "", figures["exposure"]).strip() == f"Kalshi ${exposure:,.2f}"
    assert "Paper" not in logged_in(mallory()).get("/strategies/portfolio/").content.decode()  # only one's own


def mallory() -> User:
    return User.objects.create_user("mallory", password="x")


def test_closing_a_position_asks_first_then_goes_through_the_desk_and_is_audited(alice, traded) -> None:
    client = logged_in(alice)
    position = Position.objects.get(strategy=traded, status="open")
    overview = client.get(f"/strategies/{traded.pk}/").content.decode()
    assert f'/strategies/{traded.pk}/positions/close/?position={position.pk}' in overview
    ask = client.get(f"/strategies/{traded.pk}/positions/close/?position={position.pk}").content.decode()
    assert "Close this position" in ask and position.market_id in ask
    # A POST without the confirmation closes nothing: it asks again.
    assert "Close this position" in client.post(f"/strategies/{traded.pk}/positions/close/",
                                                {"position": position.pk}).content.decode()
    assert Position.objects.get(pk=position.pk).status == "open"
    response = client.post(f"/strategies/{traded.pk}/positions/close/", {"position": position.pk, "confirm": "yes"})
    assert response.status_code == 302
    execution = Execution.objects.filter(strategy=traded).latest("id")
    assert response["Location"] == f"/strategies/{traded.pk}/runs/{execution.pk}/"
    assert Position.objects.get(pk=position.pk).status == "closed"
    assert Order.objects.filter(strategy=traded, action="close", status="filled").count() == 1
    lines = list(execution.logs.filter(level="system").values_list("message", flat=True))
    assert lines[1] == f"close requested from the dashboard by alice: position {position.pk}"
    assert lines[-2] == "0 entry signals, 1 exit signal; orders: 1 placed; 1 position closed"
    assert sorted(execution.actions.values_list("kind", flat=True)) == ["order_placed", "position_closed"]
    run = client.get(response["Location"]).content.decode()
    assert "close requested from the dashboard by alice" in run


def test_close_all_closes_every_open_position_and_another_user_gets_404(alice, traded) -> None:
    execution_run(strategy_id=traded.pk, trigger="manual")  # the buyer adds to its position: still one
    client = logged_in(alice)
    assert logged_in(mallory()).post(f"/strategies/{traded.pk}/positions/close/",
                                                {"all": "1", "confirm": "yes"}).status_code == 404
    assert Position.objects.filter(strategy=traded, status="open").exists()
    ask = client.get(f"/strategies/{traded.pk}/positions/close/?all=1").content.decode()
    assert "Close every open position" in ask
    client.post(f"/strategies/{traded.pk}/positions/close/", {"all": "1", "confirm": "yes"})
    assert not Position.objects.filter(strategy=traded, status="open").exists()
    execution = Execution.objects.filter(strategy=traded).latest("id")
    assert execution.logs.filter(message="close requested from the dashboard by alice: every open position").exists()


def test_history_searches_log_lines_and_filters_by_level(alice, staff) -> None:
    strategy = strategy_deploy(owner=alice, files=buyer_files(), approve_by=staff).strategy
    first = execution_run(strategy_id=strategy.pk, trigger="manual")  # buys: "buying the fed market"
    second = execution_run(strategy_id=strategy.pk, trigger="manual")
    assert second.finished_at is not None
    ExecutionLog.objects.create(execution=second, seq=99, ts=second.finished_at, level="warning",
                                message="Spread too wide on FED")
    client = logged_in(alice)

    def shown(query: str) -> list[int]:
        html = client.get(f"/strategies/{strategy.pk}/history/?{query}").content.decode()
        return [int(pk) for pk in re.findall(r'<li class="run status-\w+" id="run-(\d+)">', html)]

    assert shown("") == [second.pk, first.pk]
    assert shown("q=spread+TOO") == [second.pk]  # case-insensitive, in a line
    assert shown("level=warning") == [second.pk]
    assert shown("level=warning&q=buying") == []  # both at once: a warning line with that text
    assert shown("q=buying+the+fed") == [second.pk, first.pk]
    assert shown("level=system&q=run+started") == [second.pk, first.pk]
    html = client.get(f"/strategies/{strategy.pk}/history/?q=nothing+like+this").content.decode()
    assert "No run matches these filters." in html
    live = client.get(f"/strategies/{strategy.pk}/live/").content.decode()
    assert "data-log-level" in live and "data-log-search" in live
