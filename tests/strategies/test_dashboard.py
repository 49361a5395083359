"""The /strategies dashboard over HTTP: cards, tabs, actions, Create New, ownership, query counts, static files."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape

from accounts.models import ApiKey
from accounts.services import api_key_user
from strategies.models import Execution, ExecutionAction, ExecutionLog, Strategy, StrategyVersion
from strategies.services import strategy_deploy, strategy_pause, strategy_version_create, strategy_version_reject
from tests.api.conftest import config_with_raw
from tests.conftest import example_files, scripts_files

pytestmark = pytest.mark.django_db


def deploy(owner, name: str = "Kalshi Favourite-Longshot", approve_by=None, **config) -> Strategy:
    return strategy_deploy(owner=owner, files=scripts_files(name=name, **config), approve_by=approve_by).strategy


def new_version(strategy: Strategy, **config) -> StrategyVersion:
    files = scripts_files(name=strategy.name, **config)
    return strategy_version_create(strategy=strategy, owner=strategy.owner, files=files)[0]


def version_of(strategy: Strategy) -> StrategyVersion:
    assert strategy.current_version is not None
    return strategy.current_version


def found(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.S)
    assert match is not None, pattern
    return match.group(1)


def runs(strategy: Strategy, count: int, *, status: str = "succeeded", logs: int = 0) -> list[Execution]:
    """Finished scheduled runs one interval apart, newest now, with `logs` lines each."""
    now = timezone.now()
    made = Execution.objects.bulk_create([
        Execution(strategy=strategy, version=strategy.current_version, trigger="scheduled", mode="paper",
                  status=status, scheduled_for=now - timedelta(seconds=60 * index), started_at=now - timedelta(seconds=60 * index),
                  finished_at=now - timedelta(seconds=60 * index - 1), error="" if status == "succeeded" else "boom")
        for index in range(count)
    ])
    ExecutionLog.objects.bulk_create([ExecutionLog(execution=run, seq=seq, ts=now, message=f"line {seq} of {run.pk}")
                                      for run in made for seq in range(1, logs + 1)])
    return made


def page(client: Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_the_cards_show_name_badges_schedule_counts_and_actions(client: Client, alice, staff) -> None:
    active = deploy(alice, "Copy trader", approve_by=staff, polling_interval=60)
    paused = deploy(alice, "Night owl", approve_by=staff, polling_interval=300)
    strategy_pause(strategy=paused, reason="daily loss limit of $100.00 reached")
    deploy(alice, "Waiting", polling_interval=7200)
    rejected = deploy(alice, "Refused")
    strategy_version_reject(version=version_of(rejected), by=staff, reason="reads a venue it may not")
    live = deploy(alice, "Live one", approve_by=staff)
    Strategy.objects.filter(pk=live.pk).update(mode="live")
    Strategy.objects.filter(pk=active.pk).update(runs_total=42, runs_succeeded=40, runs_failed=2)
    client.force_login(alice)

    html = page(client, "/strategies/")
    cards = {name: html[html.index(f">{name}</a>"):] for name in ("Copy trader", "Night owl", "Waiting", "Refused", "Live one")}
    assert 'data-badge="active">Active<' in cards["Copy trader"][:2000]
    assert "Runs every 60 seconds" in cards["Copy trader"][:2000]
    assert re.search(r'data-stat="runs">42<.*data-stat="succeeded">40<.*data-stat="failed">2<', cards["Copy trader"][:3000], re.S)
    assert 'class="countdown"' in cards["Copy trader"][:2000]
    assert 'data-action="pause"' in cards["Copy trader"][:3000] and 'data-action="test-run"' in cards["Copy trader"][:3000]
    assert 'data-badge="paused">Paused<' in cards["Night owl"][:2000]
    assert "Paused: daily loss limit of $100.00 reached" in cards["Night owl"][:2000]
    assert "Runs every 5 minutes" in cards["Night owl"][:2000] and 'data-action="enable"' in cards["Night owl"][:3000]
    assert 'data-badge="pending">Pending approval<' in cards["Waiting"][:2000] and "Runs every 2 hours" in cards["Waiting"][:2000]
    assert 'data-badge="rejected">Rejected<' in cards["Refused"][:2000]
    assert "Rejected: reads a venue it may not" in cards["Refused"][:2000]
    assert 'data-badge="live_approval">Needs live approval<' in cards["Live one"][:2000]
    assert ">Live<" in cards["Live one"][:2000] and ">Paper<" in cards["Copy trader"][:2000]
    assert "/static/vendor/htmx/htmx.min.js" in html and "/static/favicon.svg" in html


def test_the_cards_filter_by_mode_status_and_venue(client: Client, alice, staff) -> None:
    deploy(alice, "Kalshi paper", approve_by=staff)
    strategy_deploy(owner=alice, files=example_files("polymarket_copy_trader"))
    live = deploy(alice, "Kalshi live", approve_by=staff)
    Strategy.objects.filter(pk=live.pk).update(mode="live")
    client.force_login(alice)
    names = lambda html: set(re.findall(r'aria-current="page"|<h2><a href="/strategies/\d+/"[^>]*>([^<]+)</a>', html)) - {""}  # noqa: E731
    assert names(page(client, "/strategies/?mode=live")) == {"Kalshi live"}
    assert names(page(client, "/strategies/?venue=polymarket")) == {"Polymarket Copy Trader"}
    assert names(page(client, "/strategies/?status=pending")) == {"Polymarket Copy Trader"}
    assert names(page(client, "/strategies/?status=active&venue=kalshi")) == {"Kalshi paper"}
    assert "No strategy matches these filters" in page(client, "/strategies/?mode=backtest")


def test_pause_and_enable_answer_with_the_card_for_htmx(client: Client, alice, staff) -> None:
    strategy = deploy(alice, approve_by=staff)
    client.force_login(alice)
    response = client.post(f"/strategies/{strategy.pk}/pause/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    card = response.content.decode()
    assert card.lstrip().startswith("<article") and 'data-badge="paused"' in card and 'data-action="enable"' in card
    strategy.refresh_from_db()
    assert not strategy.enabled and strategy.next_run_at is not None
    response = client.post(f"/strategies/{strategy.pk}/enable/", HTTP_HX_REQUEST="true")
    assert 'data-badge="active"' in response.content.decode()
    strategy.refresh_from_db()
    assert strategy.enabled and strategy.paused_reason == ""
    # Without JavaScript the same forms redirect back.
    response = client.post(f"/strategies/{strategy.pk}/pause/")
    assert response.status_code == 302 and response["Location"] == f"/strategies/{strategy.pk}/"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "javascript:alert(1)"])
def test_an_action_never_redirects_to_next_off_this_site(client: Client, alice, staff, target: str) -> None:
    strategy = deploy(alice, approve_by=staff)
    client.force_login(alice)
    response = client.post(f"/strategies/{strategy.pk}/pause/", {"next": target})
    assert response.status_code == 302 and response["Location"] == f"/strategies/{strategy.pk}/"
    response = client.post(f"/strategies/{strategy.pk}/enable/", {"next": "/strategies/?mode=paper"})
    assert response["Location"] == "/strategies/?mode=paper"  # a page of this site is followed


def test_enable_refused_by_the_kill_switch_says_why_in_the_card(client: Client, alice, staff, settings) -> None:
    strategy = deploy(alice, approve_by=staff)
    Strategy.objects.filter(pk=strategy.pk).update(mode="live", enabled=False)
    settings.KILL_SWITCH = True
    client.force_login(alice)
    card = client.post(f"/strategies/{strategy.pk}/enable/", HTTP_HX_REQUEST="true").content.decode()
    assert "kill switch is engaged" in card
    strategy.refresh_from_db()
    assert not strategy.enabled


def test_test_run_queues_a_dry_run_on_commit_and_returns_at_once(client: Client, alice, monkeypatch,
                                                                django_capture_on_commit_callbacks) -> None:
    from strategies import tasks

    sent = []
    monkeypatch.setattr(tasks.strategy_cycle, "delay", lambda *args: sent.append(args))  # the broker, not our code
    strategy = deploy(alice)  # pending approval: a dry run is still allowed
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/strategies/{strategy.pk}/test-run/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Test run queued" in response.content.decode()
    assert [args[:3] for args in sent] == [(strategy.pk, "manual", True)]  # with the user's test-run slot


def test_a_test_run_through_the_task_records_a_dry_run(client: Client, alice, venues_on_simulator) -> None:
    from strategies.tasks import strategy_cycle

    strategy = deploy(alice)
    strategy_cycle(strategy.pk, "manual", True)
    run = Execution.objects.get(strategy=strategy)
    assert run.trigger == "dry_run" and run.status == "succeeded"
    client.force_login(alice)
    html = page(client, f"/strategies/{strategy.pk}/history/")
    assert f'id="run-{run.pk}"' in html and "Dry run" in html
    body = client.get(f"/strategies/{strategy.pk}/runs/{run.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'class="terminal"' in body and run.logs.all()[0].message in body


def test_every_tab_has_its_own_url(client: Client, alice, staff) -> None:
    strategy = deploy(alice, approve_by=staff)
    client.force_login(alice)
    for tab, marker in [("", "Graduation to live"), ("history/", "No runs yet: it runs next at"),
                        ("live/", "data-live-strategy"), ("versions/", "Files of v1"),
                        ("backtests/", "No backtests yet: start one above")]:
        html = page(client, f"/strategies/{strategy.pk}/{tab}")
        assert marker in html, tab
        assert 'aria-current="page" data-tab=' in html


def test_the_overview_shows_banner_limits_performance_graduation_positions_and_orders(client: Client, alice, staff) -> None:
    from trading.models import Fill, Order, Position

    strategy = deploy(alice, approve_by=staff)
    [run] = runs(strategy, 1)
    now = timezone.now()
    for index, pnl in enumerate(["12.50", "-4.00", "7.25"]):
        Position.objects.create(strategy=strategy, book="paper", venue="kalshi", market_id=f"M{index}", side="yes",
                                status="closed", quantity=0, cost_basis_usd=0, realized_pnl_usd=Decimal(pnl),
                                opened_at=now - timedelta(days=3 - index, hours=1), closed_at=now - timedelta(days=3 - index))
    Position.objects.create(strategy=strategy, book="paper", venue="kalshi", market_id="OPEN-1", market_name="Fed cut",
                            side="yes", quantity=Decimal(10), cost_basis_usd=Decimal("9.00"), current_price=Decimal("0.95"),
                            opened_at=now)
    order = Order.objects.create(strategy=strategy, version=version_of(strategy), execution=run, signal_index=0,
                                 book="paper", venue="kalshi", market_id="OPEN-1", market_name="Fed cut", side="yes",
                                 client_order_id="sh-test-1", quantity=Decimal(10), notional_usd=Decimal("9.00"),
                                 status="filled", filled_quantity=Decimal(10))
    Fill.objects.create(order=order, book="paper", venue_fill_id="f1", quantity=Decimal(10), price=Decimal("0.90"),
                        filled_at=now)
    client.force_login(alice)
    html = page(client, f"/strategies/{strategy.pk}/")
    assert "Thesis." in html and strategy.thesis[:40] in html
    assert "Total capital</dt><dd>$2,000.00" in html and "Max order</dt><dd>$50.00" in html
    assert "Realized P&amp;L</dt><dd class=\"ok\">$15.75" in html
    assert "Unrealized P&amp;L</dt><dd>$0.50" in html  # 10 × 0.95 − 9.00
    assert "Win rate</dt><dd>66.7 %" in html and "Closed trades</dt><dd>3" in html
    assert "Deployed</dt><dd>$9.00" in html
    assert "Fed cut" in html and "10 @ 0.9" in html
    # The checklist is strategy_graduation's (this version's record only), row for row.
    from strategies.selectors import strategy_graduation

    for check in strategy_graduation(strategy).checks:
        assert f"{escape(check.name[0].upper() + check.name[1:])}</td><td>{escape(check.actual)}</td><td>{escape(check.required)}</td>" in html
    charts = json.loads(found(r'<script id="equity-data" type="application/json">(.*?)</script>', html))
    # Marked to market: the curve ends now at the open position's mark (+$0.50).
    assert [point["value"] for point in charts["paper"]] == [2000.0, 2012.5, 2008.5, 2015.75, 2016.25]
    assert "TradingView Lightweight Charts" in html and "/static/vendor/lightweight-charts/LICENSE" in html

    pending = deploy(alice, "Second")
    assert "waits for a reviewer" in page(client, f"/strategies/{pending.pk}/")


def test_history_pages_by_keyset_and_filters(client: Client, alice, staff) -> None:
    strategy = deploy(alice, approve_by=staff)
    made = runs(strategy, 60)
    runs(strategy, 0)
    failed = Execution.objects.filter(pk=made[30].pk)
    failed.update(status="failed", error="ZeroDivisionError")
    client.force_login(alice)
    first = page(client, f"/strategies/{strategy.pk}/history/")
    shown = [int(pk) for pk in re.findall(r'<li class="run status-\w+" id="run-(\d+)">', first)]
    assert shown == [run.pk for run in made[:25]]
    cursor = found(r'hx-get="[^"]*\?before=([^"&]+)', first)
    second = client.get(f"/strategies/{strategy.pk}/history/?before={cursor}", HTTP_HX_REQUEST="true").content.decode()
    assert [int(pk) for pk in re.findall(r'id="run-(\d+)"', second)] == [run.pk for run in made[25:50]]
    assert "<aside" not in second  # a fragment, appended in place
    only_failed = page(client, f"/strategies/{strategy.pk}/history/?run_status=failed")
    assert re.findall(r'id="run-(\d+)"', only_failed) == [str(made[30].pk)]
    assert "No run matches these filters" in page(client, f"/strategies/{strategy.pk}/history/?trigger=dry_run")


def test_a_run_has_a_permalink_with_its_logs_actions_and_traceback(client: Client, alice) -> None:
    strategy = deploy(alice)
    [run] = runs(strategy, 1, status="failed", logs=3)
    Execution.objects.filter(pk=run.pk).update(error='Traceback (most recent call last):\n  File "entry.py", line 4\nZeroDivisionError: division by zero')
    ExecutionAction.objects.create(execution=run, seq=1, ts=timezone.now(), kind="order_refused",
                                   message="max_order_usd is $50.00: the order's $80.00 exceeds it")
    client.force_login(alice)
    html = page(client, f"/strategies/{strategy.pk}/runs/{run.pk}/")
    assert "ZeroDivisionError: division by zero" in html and "File &quot;entry.py&quot;, line 4" in html
    assert "Order refused" in html and "exceeds it" in html
    assert html.count(f"of {run.pk}</span></li>") == 3


def test_versions_list_approvals_highlight_files_and_diff_two(client: Client, alice, staff) -> None:
    first = deploy(alice, approve_by=staff, polling_interval=300)
    new_version(first, polling_interval=600)
    client.force_login(alice)
    html = page(client, f"/strategies/{first.pk}/versions/")
    assert "v1" in html and "v2" in html and "reviewer, <time" in html
    assert '<div class="code">' in html and '<span class="k">def</span>' in html  # highlighted by Pygments
    assert re.search(r'<span class="diff-del">-\{[^<]*&quot;polling_interval&quot;: 300', html)
    assert re.search(r'<span class="diff-add">\+\{[^<]*&quot;polling_interval&quot;: 600', html)
    html = page(client, f"/strategies/{first.pk}/versions/?a=2&b=2")
    assert "entry.py: unchanged" in html


def test_another_user_sees_nothing_of_it(client: Client, alice, make_user, staff) -> None:
    strategy = deploy(alice, approve_by=staff)
    [run] = runs(strategy, 1)
    key = ApiKey.objects.create(user=alice, prefix="abc123", key_hash="0" * 64)
    client.force_login(make_user("mallory"))
    assert "Favourite-Longshot" not in page(client, "/strategies/")
    for path in ["", "history/", "live/", "versions/", "backtests/", "status/", "activity.json", f"runs/{run.pk}/"]:
        assert client.get(f"/strategies/{strategy.pk}/{path}").status_code == 404, path
    for action in ["pause", "enable", "test-run", "backtests/start"]:
        assert client.post(f"/strategies/{strategy.pk}/{action}/").status_code == 404, action
    assert client.post(f"/strategies/new/keys/{key.pk}/revoke/").status_code == 404
    strategy.refresh_from_db()
    key.refresh_from_db()
    assert strategy.enabled and key.revoked_at is None


def test_staff_see_the_review_queue_count(client: Client, alice, staff) -> None:
    deploy(alice, "One")
    deploy(alice, "Two")
    client.force_login(alice)
    assert "Review queue" not in page(client, "/strategies/")
    client.force_login(staff)
    html = page(client, "/strategies/")
    assert re.search(r'Review queue <span class="count">2</span>', html)
    assert "/admin/strategies/strategy/?status__exact=pending_approval" in html


def test_api_keys_are_shown_once_listed_and_revoked(client: Client, alice) -> None:
    client.force_login(alice)
    html = client.post("/strategies/new/keys/", {"label": "my agent"}).content.decode()
    raw = found(r'data-new-key>(shk_[^<]+)</code>', html)
    assert api_key_user(raw) == alice and 'data-copy="#new-key"' in html
    listing = page(client, "/strategies/new/")
    assert raw not in listing and "my agent" in listing and "active" in listing
    key = ApiKey.objects.get(user=alice)
    response = client.post(f"/strategies/new/keys/{key.pk}/revoke/")
    assert response.status_code == 302
    assert api_key_user(raw) is None and "revoked" in page(client, "/strategies/new/")


def test_an_upload_deploys_through_the_service_and_waits_for_approval(client: Client, alice) -> None:
    client.force_login(alice)
    files = [SimpleUploadedFile(name, content.encode()) for name, content in example_files("polymarket_copy_trader").items()]
    response = client.post("/strategies/new/upload/", {"files": files})
    strategy = Strategy.objects.get(owner=alice)
    assert response.status_code == 302 and response["Location"] == f"/strategies/{strategy.pk}/"
    assert strategy.status == "pending_approval" and version_of(strategy).files.count() == 2


def test_an_invalid_upload_names_file_path_and_line_and_writes_nothing(client: Client, alice) -> None:
    files = scripts_files(polling_interval=2)
    files["entry.py"] = "def should_enter(ctx)\n    return []\n"
    client.force_login(alice)
    response = client.post("/strategies/new/upload/",
                           {"files": [SimpleUploadedFile(name, content.encode()) for name, content in files.items()]})
    assert response.status_code == 422
    html = response.content.decode()
    assert "entry.py: line 1: invalid Python" in html
    assert "config.json: polling_interval" in html
    assert not Strategy.objects.exists()
    empty = client.post("/strategies/new/upload/", {})
    assert empty.status_code == 422 and "choose the strategy&#x27;s files" in empty.content.decode()


@pytest.mark.parametrize(("raw", "expected"), [
    ("NaN", "config.json: capital.total_capital must be a finite number"),
    ("1e400", "config.json: capital.total_capital must be a finite number"),
    ("1e308", "config.json: capital.total_capital must be a number of USD &gt; 0 and ≤ 1000000000000"),
    ("[" * 100_000 + "]" * 100_000, "objects and lists nested more than 20 deep"),
])
def test_an_upload_with_a_number_out_of_range_or_nested_too_deeply_names_the_field(client: Client, alice, raw: str,
                                                                                    expected: str) -> None:
    files = config_with_raw("capital.total_capital", raw)
    client.force_login(alice)
    response = client.post("/strategies/new/upload/",
                           {"files": [SimpleUploadedFile(name, content.encode()) for name, content in files.items()]})
    assert response.status_code == 422
    assert expected in response.content.decode()
    assert not Strategy.objects.exists()


def ledger(strategy: Strategy, run: Execution, count: int) -> None:
    """`count` closed and `count` open positions, and `count` filled orders with a fill each."""
    from trading.models import Fill, Order, Position

    now = timezone.now()
    start = Position.objects.filter(strategy=strategy).count()
    Position.objects.bulk_create(
        [Position(strategy=strategy, book="paper", venue="kalshi", market_id=f"C{start + i}", side="yes", status="closed",
                  quantity=0, cost_basis_usd=0, realized_pnl_usd=Decimal(1), opened_at=now, closed_at=now)
         for i in range(count)]
        + [Position(strategy=strategy, book="paper", venue="kalshi", market_id=f"O{start + i}", side="yes",
                    quantity=Decimal(1), cost_basis_usd=Decimal("0.5"), current_price=Decimal("0.6"), opened_at=now)
           for i in range(count)])
    orders = Order.objects.bulk_create([
        Order(strategy=strategy, version=version_of(strategy), execution=run, signal_index=start + i, book="paper",
              venue="kalshi", market_id=f"O{start + i}", side="yes", client_order_id=f"sh-{run.pk}-{start + i}",
              quantity=Decimal(1), notional_usd=Decimal("0.5"), status="filled", filled_quantity=Decimal(1))
        for i in range(count)])
    Fill.objects.bulk_create([Fill(order=order, book="paper", venue_fill_id="f", quantity=Decimal(1), price=Decimal("0.5"),
                                   filled_at=now) for order in orders])


def count_queries(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


@pytest.mark.parametrize("tab", ["", "history/", "live/", "versions/", "backtests/"])
def test_query_counts_do_not_grow_with_strategies_or_runs(client: Client, alice, staff, tab) -> None:
    strategy = deploy(alice, approve_by=staff)
    [run, *_] = runs(strategy, 3, logs=2)
    ledger(strategy, run, 1)  # a ledger in both cases: an empty one is read with one query less
    client.force_login(staff)  # staff: the review queue count is one more query, counted too
    Strategy.objects.filter(pk=strategy.pk).update(owner=staff)
    small_list, small_tab = count_queries(client, "/strategies/"), count_queries(client, f"/strategies/{strategy.pk}/{tab}")
    for index in range(20):
        deploy(staff, f"Extra {index}", approve_by=staff)
    new_version(strategy, polling_interval=600)
    ledger(strategy, runs(strategy, 200, logs=3)[0], 30)
    big_list, big_tab = count_queries(client, "/strategies/"), count_queries(client, f"/strategies/{strategy.pk}/{tab}")
    assert (big_list, big_tab) == (small_list, small_tab)
    print(f"queries: /strategies/ {big_list}, /strategies/<id>/{tab} {big_tab}")


def test_static_files_are_served_with_debug_off(client: Client, settings) -> None:
    """WhiteNoise serves the collected files (Procfile `release` runs collectstatic) with DEBUG off."""
    from django.core.management import call_command

    call_command("collectstatic", "--noinput", verbosity=0)
    settings.DEBUG = False
    settings.WHITENOISE_USE_FINDERS = False
    settings.WHITENOISE_AUTOREFRESH = False
    fresh = Client()
    for path, kind in [("/static/css/app.css", "text/css"), ("/static/js/live.js", "text/javascript"),
                       ("/static/vendor/htmx/htmx.min.js", "text/javascript"), ("/static/favicon.svg", "image/svg+xml"),
                       ("/static/vendor/lightweight-charts/lightweight-charts.standalone.production.js", "text/javascript")]:
        response = fresh.get(path)
        assert response.status_code == 200, path
        assert response["Content-Type"].startswith(kind), (path, response["Content-Type"])


def sma_on_aapl() -> dict[str, str]:
    from tests.backtest.conftest import sma_cross_files

    files = sma_cross_files()
    config = json.loads(files["config.json"])
    config["parameters"]["symbol"] = "AAPL"  # a stock the simulator serves bars of
    files["config.json"] = json.dumps(config)
    return files


def test_a_backtest_started_on_the_tab_runs_and_shows_metrics_charts_and_trades(
        client: Client, alice, settings, redis_url, venues_on_simulator, django_capture_on_commit_callbacks) -> None:
    from strategies.models import Backtest
    from strategyhub.celery import app

    settings.BACKTEST_LOOKAHEAD_CHECK = False
    strategy = strategy_deploy(owner=alice, files=sma_on_aapl()).strategy  # pending approval: backtests come first
    client.force_login(alice)
    eager, app.conf.task_always_eager = app.conf.task_always_eager, True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/strategies/{strategy.pk}/backtests/start/",
                                   {"start": "2026-01-01", "end": "", "cash": "10,000"})
    finally:
        app.conf.task_always_eager = eager
    backtest = Backtest.objects.get(strategy=strategy)
    assert response.status_code == 302 and response["Location"].endswith(f"/backtests/?backtest={backtest.pk}")
    assert backtest.status == "succeeded" and backtest.parameters["cash"] == "10000.00"
    assert backtest.start is not None and backtest.start.isoformat() == "2026-01-01T00:00:00+00:00"

    html = page(client, response["Location"])
    assert 'data-status="succeeded"' in html and "data-backtest-metrics" in html and "<dt>Annual return</dt>" in html
    charts = json.loads(found(r'<script id="backtest-data" type="application/json">(.*?)</script>', html))
    assert charts["equity"][0]["value"] == 10000.0 and charts["symbol"] == "AAPL" and charts["price"]
    buys = [m for m in charts["markers"] if m["shape"] == "arrowUp"]
    assert len(buys) == len(backtest.trades)
    assert {m["time"] for m in charts["markers"]} <= {bar["time"] for bar in charts["price"]}  # on a bar
    assert f"<h4>Trades ({len(backtest.trades)})</h4>" in html
    assert f'<a href="?backtest={backtest.pk}">{backtest.pk}</a>' in html  # in the list of past backtests
    assert "No backtests yet" not in html


def test_the_copy_trader_s_tab_backtests_by_default_on_its_wallet_s_recorded_trades(
        client: Client, alice, settings, redis_url, venues_on_simulator, django_capture_on_commit_callbacks) -> None:
    from strategies.models import Backtest
    from strategyhub.celery import app
    from tests.backtest.test_copy_trader import assert_it_copied_the_wallet, wallet_trades

    settings.BACKTEST_LOOKAHEAD_CHECK = False
    strategy = strategy_deploy(owner=alice, files=example_files("polymarket_copy_trader")).strategy
    client.force_login(alice)
    html = page(client, f"/strategies/{strategy.pk}/backtests/")
    assert "the trades of the wallet it follows (0x5eed…0001) and Polymarket&#x27;s prices-history" in html
    eager, app.conf.task_always_eager = app.conf.task_always_eager, True
    try:
        with django_capture_on_commit_callbacks(execute=True):  # the form as it opens: every field empty
            response = client.post(f"/strategies/{strategy.pk}/backtests/start/", {"start": "", "end": "", "cash": ""})
    finally:
        app.conf.task_always_eager = eager

    backtest = Backtest.objects.get(strategy=strategy)
    assert response.status_code == 302 and backtest.status == "succeeded", backtest.error
    assert backtest.data_source == "polymarket_history" and backtest.data_spec["wallets"] == [
        "0x5eed000000000000000000000000000000000001"]
    assert_it_copied_the_wallet(backtest.trades, wallet_trades())
    assert f"<h4>Trades ({len(backtest.trades)})</h4>" in page(client, response["Location"])


def test_a_running_backtest_shows_its_progress_and_follows_the_socket(client: Client, alice, staff) -> None:
    from strategies.backtests import BacktestData, backtest_create
    from strategies.models import Backtest

    strategy = deploy(alice, approve_by=staff)
    backtest = backtest_create(version=version_of(strategy), created_by=alice,
                               data=BacktestData(Backtest.Source.POLYMARKET_RECORDED, {"set": "books"}))
    Backtest.objects.filter(pk=backtest.pk).update(status="running", started_at=timezone.now(), progress=42.0,
                                                   steps=84)
    client.force_login(alice)
    html = page(client, f"/strategies/{strategy.pk}/backtests/")
    assert f'data-backtest="{backtest.pk}" data-backtest-strategy="{strategy.pk}" data-status="running"' in html
    assert 'aria-valuenow="42"' in html and "42.0 % (84 steps)" in html and "js/backtests.js" in html


@pytest.mark.parametrize(("form", "message"), [
    ({"start": "01/02/2026"}, "start must be a date (YYYY-MM-DD)"),
    ({"cash": "-3"}, "cash must be &gt; 0 USD"),
    ({"cash": "lots"}, "cash must be an amount in USD"),
    ({"start": "2026-03-01", "end": "2026-02-01"}, "start must be before end"),
])
def test_a_bad_backtest_form_says_which_field_and_starts_nothing(client: Client, alice, form, message) -> None:
    from strategies.models import Backtest

    strategy = strategy_deploy(owner=alice, files=sma_on_aapl()).strategy
    client.force_login(alice)
    response = client.post(f"/strategies/{strategy.pk}/backtests/start/", form)
    assert response.status_code == 400 and message in response.content.decode()
    assert not Backtest.objects.exists()
