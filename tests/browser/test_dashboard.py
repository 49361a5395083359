"""The dashboard in a real browser: log in, cards, every tab (screenshots kept in var/test/screenshots/), a Test
Run streaming into Live Activity, Pause then Enable, Create New's upload, a drawn chart, a version diff, phone
width and dark mode, no console error, and another user seeing nothing of demo's."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Page, expect

from strategies.models import Execution, Strategy
from strategies.services import strategy_deploy, strategy_version_approve, strategy_version_create
from tests.conftest import EXAMPLES, REVIEWER_PERMS, example_files, grant, scripts_files

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "demo-pw-for-tests"
WAIT = 30_000  # ms: a cycle in the sandbox on a shared two-core machine


@pytest.fixture
def demo(dashboard: str) -> dict[str, Any]:
    """The demo of `make run`: the copy trader approved and trading, the others waiting for a reviewer."""
    User = get_user_model()
    demo = User.objects.create_user("demo", password=PASSWORD)
    reviewer = User.objects.get(pk=grant(User.objects.create_user("reviewer", password=PASSWORD, is_staff=True),
                                         *REVIEWER_PERMS).pk)
    copy = strategy_deploy(owner=demo, files=example_files("polymarket_copy_trader"), approve_by=reviewer).strategy
    kalshi = strategy_deploy(owner=demo, files=example_files("kalshi_favourite_longshot")).strategy
    strategy_deploy(owner=demo, files=example_files("alpaca_mean_reversion"))
    # Keep the scheduler off it (no beat runs here) but show a countdown: the next slot is a minute away.
    Strategy.objects.filter(pk=copy.pk).update(next_run_at=timezone.now() + timedelta(minutes=1))
    closed_trades(copy)
    return {"user": demo, "reviewer": reviewer, "copy": copy, "kalshi": kalshi}


def closed_trades(strategy: Strategy) -> None:
    """A paper track record to chart: closed positions, as the ledger keeps them."""
    from trading.models import Position

    now = timezone.now()
    for index, pnl in enumerate(["14.20", "-6.10", "9.75", "22.40", "-3.30", "11.05"]):
        Position.objects.create(strategy=strategy, book="paper", venue="polymarket", market_id=f"token-{index}",
                                market_name=f"Market {index}", side="yes", status="closed", quantity=0,
                                cost_basis_usd=0, realized_pnl_usd=Decimal(pnl),
                                opened_at=now - timedelta(days=6 - index, hours=2),
                                closed_at=now - timedelta(days=6 - index))


def log_in(page: Page, base: str, username: str = "demo") -> None:
    page.goto(f"{base}/strategies/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/strategies/")
    # The buttons are on screen before htmx (a deferred script) wires them at DOMContentLoaded; a press in between
    # submits the bare form and leaves the page, as it would for a person without JavaScript (a CI failure of
    # test_a_button_swapped_in_works_at_once on a loaded machine ended on /strategies/<id>/).
    page.wait_for_load_state("load")


def card(page: Page, strategy: Strategy) -> Any:
    return page.locator(f"#strategy-{strategy.pk}")


def canvas_has_ink(page: Page) -> bool:
    """Whether any chart canvas has a painted (non-transparent) pixel."""
    return bool(page.evaluate("""() => [...document.querySelectorAll('[data-chart] canvas')].some(canvas => {
        if (!canvas.width || !canvas.height) return false;
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
        return false;
    })"""))


def test_log_in_see_the_cards_and_every_tab(page: Page, dashboard: str, demo, console_errors, screenshot) -> None:
    log_in(page, dashboard)
    copy, kalshi = card(page, demo["copy"]), card(page, demo["kalshi"])
    expect(copy.locator("h2")).to_have_text("Polymarket Copy Trader")
    expect(copy.locator("[data-badge]")).to_have_text("Active")
    expect(copy.locator(".mode")).to_have_text("Paper")
    expect(copy).to_contain_text("Runs every 60 seconds")
    expect(copy.locator(".countdown")).to_have_text(re.compile(r"^(\d+ s|1 min \d\d s)$"))
    expect(copy.locator("button[data-action=pause]")).to_be_visible()
    expect(copy.locator("button[data-action=test-run]")).to_be_visible()
    expect(kalshi.locator("[data-badge]")).to_have_text("Pending approval")
    expect(kalshi).to_contain_text("Runs every 5 minutes")
    expect(page.locator("a.button", has_text="Create New")).to_be_visible()
    screenshot("01-cards")

    copy.locator("h2 a").click()
    expect(page).to_have_url(f"{dashboard}/strategies/{demo['copy'].pk}/")
    expect(page.locator(".checklist")).to_contain_text("Closed paper trades")
    expect(page.locator(".figures").first).to_contain_text("$48.00")  # realized: the six trades' sum
    expect(page.locator("[data-chart=equity-paper]")).to_have_attribute("data-drawn", "1")
    page.wait_for_timeout(300)  # one animation frame for the canvas
    assert canvas_has_ink(page), "the equity chart drew nothing"
    first_time = page.locator("time[data-local]").first
    assert (first_time.get_attribute("title") or "").endswith(" UTC")  # local time shown, UTC on hover
    screenshot("02-overview")

    for tab, marker in [("Execution History", "No runs yet"), ("Live Activity", "Log"),
                        ("Versions", "Files of v1"), ("Backtests", "No backtests yet: start one above")]:
        page.locator("nav.tabs a", has_text=tab).click()
        expect(page.locator("nav.tabs a[aria-current=page]")).to_have_text(tab)
        expect(page.locator(".tab-body")).to_contain_text(marker)
        screenshot(f"03-{tab.lower().replace(' ', '-')}")


def test_a_test_run_streams_into_live_activity_without_a_reload(page: Page, dashboard: str, demo, console_errors,
                                                                  screenshot) -> None:
    log_in(page, dashboard)
    page.goto(f"{dashboard}/strategies/{demo['copy'].pk}/live/")
    expect(page.locator(".conn")).to_have_attribute("data-conn", "live")
    expect(page.locator(".live-empty")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    card(page, demo["copy"]).locator("button[data-action=test-run]").click()
    expect(card(page, demo["copy"]).locator(".flash")).to_contain_text("Test run queued")
    expect(page.locator(".live-log li[data-seq]").first).to_be_visible(timeout=WAIT)
    expect(page.locator(".live-state")).to_contain_text("succeeded", timeout=WAIT)
    assert page.evaluate("window.__sameDocument") is True  # the lines came over the socket, not a reload
    run = Execution.objects.get(strategy=demo["copy"])
    assert run.trigger == "dry_run" and run.status == "succeeded"
    lines = page.locator(f".live-log li[data-execution='{run.pk}']")
    assert lines.count() == run.logs.count()
    assert lines.nth(0).inner_text().endswith(run.logs.order_by("seq")[0].message)
    if run.actions.exists():
        expect(page.locator(".live-feed li").first).to_be_visible()
    screenshot("04-live-activity-after-test-run")

    # The level filter and the search hide lines and bring them back (issue 24, item 12).
    system = run.logs.filter(level="system").count()
    assert system >= 3  # started, signals and orders, finished: every run has the worker's lines
    page.locator("[data-log-level]").select_option("system")
    expect(page.locator(".live-log li[data-seq]:visible")).to_have_count(system)
    page.locator("[data-log-search]").fill("RUN STARTED")
    expect(page.locator(".live-log li[data-seq]:visible")).to_have_count(1)
    page.locator("[data-log-level]").select_option("")
    page.locator("[data-log-search]").fill("")
    expect(page.locator(".live-log li[data-seq]:visible")).to_have_count(run.logs.count())

    page.locator("nav.tabs a", has_text="Execution History").click()
    page.locator(f"#run-{run.pk} summary").click()
    expect(page.locator(f"#run-body-{run.pk} .terminal")).to_be_visible()
    screenshot("05-history-run-expanded")


def test_pause_then_enable_without_a_reload(page: Page, dashboard: str, demo, console_errors) -> None:
    log_in(page, dashboard)
    page.evaluate("window.__sameDocument = true")
    copy = card(page, demo["copy"])
    copy.locator("button[data-action=pause]").click()
    expect(copy.locator("[data-badge]")).to_have_text("Paused")
    expect(copy).to_contain_text("Paused: paused from the dashboard")
    expect(copy).to_contain_text("not scheduled")
    assert not Strategy.objects.get(pk=demo["copy"].pk).enabled
    copy.locator("button[data-action=enable]").focus()
    page.keyboard.press("Enter")  # usable with the keyboard
    expect(copy.locator("[data-badge]")).to_have_text("Active")
    expect(copy.locator("button[data-action=pause]")).to_be_visible()
    assert Strategy.objects.get(pk=demo["copy"].pk).enabled
    assert page.evaluate("window.__sameDocument") is True


def test_a_button_swapped_in_works_at_once(page: Page, dashboard: str, demo, console_errors) -> None:
    # The card's buttons are replaced by each answer; a press the moment the new card is in (before htmx's
    # default 20 ms settle) submitted the bare form and navigated away (CI flake of the test above).
    log_in(page, dashboard)
    page.evaluate("window.__sameDocument = true")
    page.evaluate("""sid => {
        const enable = () => document.querySelector(`#strategy-${sid} button[data-action=enable]`);
        const pause = () => document.querySelector(`#strategy-${sid} button[data-action=pause]`);
        const answered = () => {  // the Enable's answer is in: the card has its Pause again
            if (!pause()) return;
            document.body.removeEventListener('htmx:afterSwap', answered);
            window.__enableAnswered = true;
        };
        const swapped = () => {  // the card's swap, not the portfolio's that loads beside it
            if (!enable()) return;
            document.body.removeEventListener('htmx:afterSwap', swapped);
            document.body.addEventListener('htmx:afterSwap', answered);
            setTimeout(() => enable().click(), 0);
        };
        document.body.addEventListener('htmx:afterSwap', swapped);
    }""", demo["copy"].pk)
    copy = card(page, demo["copy"])
    copy.locator("button[data-action=pause]").click()
    # The Pause on screen proves nothing alone (it is there before the click's answer): wait for Enable's answer.
    page.wait_for_function("() => window.__enableAnswered === true")
    expect(copy.locator("button[data-action=pause]")).to_be_visible()
    expect(copy.locator("[data-badge]")).to_have_text("Active")
    assert Strategy.objects.get(pk=demo["copy"].pk).enabled
    assert page.evaluate("window.__sameDocument") is True


def test_create_new_issues_a_key_once_and_uploads_a_strategy(page: Page, dashboard: str, demo, console_errors,
                                                              screenshot, tmp_path: Path) -> None:
    log_in(page, dashboard)
    page.locator("a.button", has_text="Create New").click()
    page.fill("input[name=label]", "my agent")
    page.click("text=Create key")
    key = page.locator("[data-new-key]").inner_text()
    assert key.startswith("shk_")
    screenshot("06-create-new-key")
    page.goto(f"{dashboard}/strategies/new/")
    assert key not in page.content()  # shown once

    broken = tmp_path / "broken"
    broken.mkdir()
    files = scripts_files(name="Uploaded bot", polling_interval=2)
    files["exit.py"] = "def should_exit(ctx):\n    return None\n"
    for name, content in files.items():
        (broken / name).write_text(content)
    page.set_input_files("input[type=file]", [str(path) for path in sorted(broken.iterdir())])
    page.click("button:has-text('Deploy')")
    errors = page.locator("#upload-errors")
    expect(errors).to_contain_text("config.json: polling_interval")
    expect(errors).to_contain_text("exit.py: line 1: should_exit takes 1 argument(s)")
    screenshot("07-create-new-upload-errors")
    # the refused upload's answer, as intended (the reason phrase in brackets is the server's: gunicorn names it)
    assert [error.split(" (")[0] for error in console_errors] == [
        "console: Failed to load resource: the server responded with a status of 422"]
    console_errors.clear()
    assert not Strategy.objects.filter(name="Uploaded bot").exists()

    page.set_input_files("input[type=file]", [str(path) for path in sorted((EXAMPLES / "alpaca_mean_reversion").iterdir())])
    page.click("button:has-text('Deploy')")
    expect(page.locator(".banner")).to_contain_text("waits for a reviewer")
    expect(page.locator(".details-head h2")).to_have_text("Alpaca ETF Mean Reversion")


def test_a_version_diff(page: Page, dashboard: str, demo, console_errors, screenshot) -> None:
    files = example_files("polymarket_copy_trader")
    files["strategy.py"] = files["strategy.py"].replace("stop_loss", "stop_loss_pct")
    version, _ = strategy_version_create(strategy=demo["copy"], owner=demo["user"], files=files)
    strategy_version_approve(version=version, by=demo["reviewer"])
    log_in(page, dashboard)
    page.goto(f"{dashboard}/strategies/{demo['copy'].pk}/versions/")
    expect(page.locator("table.versions")).to_contain_text("reviewer")
    expect(page.locator(".diff[data-file='strategy.py'] .diff-add").first).to_contain_text("stop_loss_pct")
    expect(page.locator(".diff[data-file='strategy.py'] .diff-del").first).to_contain_text("stop_loss")
    expect(page.locator(".source[data-file='strategy.py'] .code .k").first).to_be_visible()  # highlighted
    screenshot("08-versions-diff")


def test_phone_width_and_dark_mode(page: Page, dashboard: str, demo, console_errors, screenshot) -> None:
    log_in(page, dashboard)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{dashboard}/strategies/{demo['copy'].pk}/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at phone width ({width}px)"
    screenshot("09-phone-overview")
    page.emulate_media(color_scheme="dark")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{dashboard}/strategies/{demo['copy'].pk}/")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)", background
    screenshot("10-dark-overview", full_page=False)


def test_another_user_sees_nothing_of_demos(page: Page, dashboard: str, demo, console_errors) -> None:
    get_user_model().objects.create_user("mallory", password=PASSWORD)
    log_in(page, dashboard, "mallory")
    expect(page.locator(".cards-panel")).to_contain_text("No strategies yet")
    assert "Polymarket Copy Trader" not in page.content()
    response = page.goto(f"{dashboard}/strategies/{demo['copy'].pk}/")
    assert response is not None and response.status == 404
    page.goto(f"{dashboard}/strategies/")
    code = page.evaluate(f"""() => new Promise(resolve => {{
        const socket = new WebSocket("ws://" + location.host + "/ws/strategies/{demo['copy'].pk}/");
        socket.onclose = event => resolve(event.code);
    }})""")
    assert code == 4403
    # The browser reports the 404 page we asked for (whenever its console gets to it); nothing else.
    page.wait_for_timeout(200)
    console_errors[:] = [error for error in console_errors if "status of 404" not in error]


def test_a_backtest_shows_its_progress_live_then_its_results_and_charts(page: Page, dashboard: str, demo,
                                                                       console_errors, screenshot) -> None:
    import json

    from strategies.models import Backtest
    from tests.backtest.conftest import sma_cross_files

    files = sma_cross_files()
    config = json.loads(files["config.json"])
    config["parameters"]["symbol"] = "AAPL"  # a stock the simulator serves bars of
    files["config.json"] = json.dumps(config)
    strategy = strategy_deploy(owner=demo["user"], files=files).strategy
    log_in(page, dashboard)
    page.goto(f"{dashboard}/strategies/{strategy.pk}/backtests/")
    expect(page.locator("[data-empty=backtests]")).to_contain_text("No backtests yet: start one above")
    page.fill("input[name=start]", "2023-01-01")
    page.fill("input[name=cash]", "10000")
    page.click("[data-backtest-form] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/backtests/\?backtest=\d+$"))
    backtest = Backtest.objects.get(strategy=strategy)

    # Progress arrives over the socket: the bar moves without a reload, then the page reloads on success.
    page.evaluate("window.__sameDocument = true")
    page.wait_for_function("() => { const bar = document.querySelector('[data-backtest-progress]');"
                           " return bar && Number(bar.getAttribute('aria-valuenow')) > 0 && window.__sameDocument; }",
                           timeout=WAIT)
    expect(page.locator("[data-backtest-progress-text]")).to_contain_text("steps")
    screenshot("11-backtest-progress", full_page=False)
    expect(page.locator("[data-backtest]")).to_have_attribute("data-status", "succeeded", timeout=WAIT * 4)
    expect(page.locator("[data-chart=backtest-equity]")).to_have_attribute("data-drawn", "1")
    expect(page.locator("[data-chart=backtest-price]")).to_have_attribute("data-drawn", "1")
    page.wait_for_timeout(300)  # one animation frame for the canvas
    assert canvas_has_ink(page), "the backtest's charts drew nothing"
    backtest.refresh_from_db()
    assert backtest.status == "succeeded"
    expect(page.locator("[data-backtest-metrics]")).to_contain_text("Annual return")
    expect(page.locator("[data-backtest-trades] tbody tr")).to_have_count(len(backtest.trades))
    expect(page.locator("[data-backtest-list] tbody tr")).to_have_count(1)
    screenshot("12-backtest-results")
