"""Every page of the dashboard at phone width (390 px) and at 1280 px, with real data: the copy trader's paper
cycles on the venue simulator (orders, positions, refusals and log lines naming 77-digit Polymarket token ids),
a failed run, two versions, a finished Alpaca backtest and a failed one, API keys and a refused upload.
No page scrolls sideways, the tab bar shows every tab, a table keeps its right columns inside its own scroll box,
and no table, log or action shows a bare token id or an unformatted number. Screenshots of every page at both
widths land in var/test/screenshots/ (`every-width-<page>-<width>.png`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from strategies.backtests import backtest_start, default_data
from strategies.cycle.run import execution_run, positions_close
from strategies.models import Backtest, Execution, ExecutionAction, Strategy
from strategies.services import strategy_deploy, strategy_version_approve, strategy_version_create
from strategies.tasks import backtest_run
from tests.backtest.conftest import sma_cross_files
from tests.browser.test_dashboard import demo, log_in  # noqa: F401  (demo is a fixture)
from tests.conftest import EXAMPLES, example_files, scripts_files
from trading.models import Order, Position

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("venues_on_simulator")]

PHONE, DESKTOP = 390, 1280
TOKEN_ID = re.compile(r"\d{20,}")  # a Polymarket token id is 70-odd digits; nothing else shown is this long
TRAILING_ZEROS = re.compile(r"\d\.\d{2,}0(?!\d)")  # 776.28000000, 0.3700: more places than the value has
TOO_MANY_PLACES = re.compile(r"\d\.\d{5,}")  # -53.783453: money has 2 places, a price at most 4
UNNAMED_TOKEN = "7" * 77  # a position the venue gave no name for: shown shortened, the full id on hover
FAILED_TRACEBACK = ("Traceback (most recent call last):\n  File \"entry.py\", line 3, in should_enter\n"
                    "    raise ValueError(\"no quotes\")\nValueError: no quotes")


@pytest.fixture
def shown(demo: dict[str, Any]) -> dict[str, Any]:  # noqa: F811  (the imported fixture)
    """Everything a person sees on each page, made through the services and the cycle."""
    copy: Strategy = demo["copy"]
    for _ in range(2):  # the first buys and is refused at max_positions, the second marks
        run = execution_run(strategy_id=copy.pk, trigger=Execution.Trigger.MANUAL)
        assert run.status == "succeeded", run.error
    # An exit, whatever the simulator's prices do: a person closes one position through the desk (dashboard's Close).
    first = Position.objects.filter(strategy=copy, status="open").order_by("pk").first()
    assert first is not None
    closing = positions_close(strategy_id=copy.pk, by="demo", position_ids=[first.pk])
    assert closing.status == "succeeded" and closing.actions.filter(kind="position_closed").exists(), closing.error
    Position.objects.create(strategy=copy, book="paper", venue="polymarket", market_id=UNNAMED_TOKEN, side="yes",
                            quantity=Decimal("12.50000000"), cost_basis_usd=Decimal("6.250000"),
                            current_price=Decimal("0.510000"), opened_at=timezone.now() - timedelta(hours=1))

    files = scripts_files(name="Broken bot")
    files["entry.py"] = "def should_enter(ctx):\n    raise ValueError('no quotes')\n"
    broken = strategy_deploy(owner=demo["user"], files=files).strategy
    failed = execution_run(strategy_id=broken.pk, trigger=Execution.Trigger.MANUAL, dry_run=True)
    assert failed.status == "failed" and "\n" in failed.error

    files = example_files("polymarket_copy_trader")
    files["strategy.py"] = files["strategy.py"].replace("stop_loss", "stop_loss_pct")
    version, _ = strategy_version_create(strategy=copy, owner=demo["user"], files=files)
    strategy_version_approve(version=version, by=demo["reviewer"])

    files = sma_cross_files()
    config = json.loads(files["config.json"])
    config["parameters"]["symbol"] = "AAPL"  # a stock the simulator serves bars of
    files["config.json"] = json.dumps(config)
    alpaca = strategy_deploy(owner=demo["user"], files=files)
    day = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    backtest = backtest_start(enqueue=backtest_run, version=alpaca, created_by=demo["user"],
                              data=default_data(alpaca.config, None), start=day - timedelta(days=400), end=None,
                              cash=Decimal("10000"))
    backtest.refresh_from_db()
    assert backtest.status == "succeeded", backtest.error
    now = timezone.now()
    Backtest.objects.create(strategy=alpaca.strategy, version=alpaca, created_by=demo["user"],
                            data_source=Backtest.Source.ALPACA_HISTORY, data_spec={"symbol": "AAPL"},
                            status=Backtest.Status.FAILED, error=FAILED_TRACEBACK, started_at=now, finished_at=now)
    return {**demo, "broken": broken, "failed_run": failed, "alpaca": alpaca.strategy, "backtest": backtest}


def pages(base: str, shown: dict[str, Any]) -> list[tuple[str, str]]:
    copy, alpaca = f"{base}/strategies/{shown['copy'].pk}", f"{base}/strategies/{shown['alpaca'].pk}"
    broken = f"{base}/strategies/{shown['broken'].pk}"
    return [("cards", f"{base}/strategies/"), ("overview", f"{copy}/"), ("history", f"{copy}/history/"),
            ("run", f"{copy}/runs/{Execution.objects.filter(strategy=shown['copy']).earliest('id').pk}/"),
            ("failed-run", f"{broken}/runs/{shown['failed_run'].pk}/"), ("live", f"{copy}/live/"),
            ("versions", f"{copy}/versions/"),
            ("backtests", f"{alpaca}/backtests/?backtest={shown['backtest'].pk}"),
            ("failed-backtest", f"{alpaca}/backtests/?backtest={Backtest.objects.get(status='failed').pk}"),
            ("create-new", f"{base}/strategies/new/")]


def problems(page: Page) -> list[str]:
    """What is wrong with the page as laid out now, in words."""
    return list(page.evaluate("""() => {
        const width = window.innerWidth, found = [];
        const page = document.documentElement.scrollWidth;
        if (page > width) {
            // Name the outermost elements that stick out: not those inside a box that scrolls itself, unless
            // positioned against the page (an absolute box escapes a scroller that is not positioned).
            const scrolls = el => ["auto", "scroll", "hidden"].includes(getComputedStyle(el).overflowX);
            const escapes = el => getComputedStyle(el).position === "absolute";
            const wide = [...document.querySelectorAll("body *")].filter(el => {
                if (el.getBoundingClientRect().right <= width + 0.5) return false;
                for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
                    if ((scrolls(up) && !escapes(el)) || up.getBoundingClientRect().right > width + 0.5) return false;
                }
                return true;
            }).slice(0, 3).map(el => `${el.tagName.toLowerCase()}.${[...el.classList].join(".")}`);
            found.push(`the page scrolls sideways: ${page}px wide at ${width}px (${wide.join(", ")})`);
        }
        const panel = document.querySelector(".details");
        if (panel && panel.getBoundingClientRect().right <= width + 0.5) {  // nothing sticks out of the panel
            const edge = panel.getBoundingClientRect().right;
            const inScroller = el => {
                for (let up = el.parentElement; up && up !== panel; up = up.parentElement) {
                    if (["auto", "scroll", "hidden"].includes(getComputedStyle(up).overflowX)) return true;
                }
                return false;
            };
            for (const el of panel.querySelectorAll("*")) {
                if (el.getBoundingClientRect().right > edge + 0.5 && !inScroller(el)
                    && getComputedStyle(el).position !== "absolute") {
                    found.push(`${el.tagName.toLowerCase()}.${[...el.classList].join(".")} sticks out of the panel`);
                }
            }
        }
        for (const tab of document.querySelectorAll("nav.tabs a")) {
            const box = tab.getBoundingClientRect();
            if (box.left < 0 || box.right > width + 0.5) found.push(`tab "${tab.textContent}" is cut`);
        }
        for (const table of document.querySelectorAll("main table")) {
            const box = table.getBoundingClientRect();
            if (box.right <= width + 0.5) continue;
            let scroller = table.parentElement;
            while (scroller && !["auto", "scroll"].includes(getComputedStyle(scroller).overflowX)) {
                scroller = scroller.parentElement;
            }
            if (!scroller || scroller.getBoundingClientRect().right > width + 0.5) {
                found.push(`a table loses its right columns: ${table.className || table.dataset.backtestList
                            || table.querySelector("th")?.textContent}`);
            }
        }
        return found;
    }"""))


def shown_text(page: Page, selector: str) -> str:
    return "\n".join(page.locator(selector).all_inner_texts())


def formatting_problems(page: Page) -> list[str]:
    found = []
    tables = shown_text(page, "main table, main dl")
    for pattern, what in ((TRAILING_ZEROS, "a number with trailing zeros"),
                          (TOO_MANY_PLACES, "a number with more places than money or a price has")):
        found += [f"{what}: {match}" for match in pattern.findall(tables)]
    words = shown_text(page, "main table, main .actions-list, main .terminal")
    found += [f"a bare token id: {match[:12]}…" for match in TOKEN_ID.findall(words)]
    found += [f"a number with trailing zeros in a log or an action: {match}"
              for match in TRAILING_ZEROS.findall(shown_text(page, "main .actions-list, main .terminal"))]
    found += ["a loss written $-…" for _ in re.findall(r"\$-\d", shown_text(page, "main"))]
    return found


def visit(page: Page, name: str, url: str, width: int, screenshot: Callable[..., Path]) -> None:
    page.set_viewport_size({"width": width, "height": 844 if width == PHONE else 900})
    page.goto(url)
    if name == "live":
        expect(page.locator(".live-log li[data-seq]").first).to_be_visible(timeout=10_000)
        expect(page.locator(".live-feed li").first).to_be_visible()
    if name == "history":
        page.locator("#runs summary").first.click()
        expect(page.locator(".run-body .run-detail").first).to_be_visible()
    page.wait_for_timeout(200)  # the charts' first frame
    screenshot(f"every-width-{name}-{width}")


def test_no_page_scrolls_sideways_at_phone_width(page: Page, dashboard: str, shown, console_errors,
                                                 screenshot) -> None:
    log_in(page, dashboard)
    found = {}
    for name, url in pages(dashboard, shown):
        for width in (DESKTOP, PHONE):
            visit(page, name, url, width, screenshot)
            if width == PHONE and (wrong := problems(page)):
                found[name] = wrong
    # Create New after a key is made and an upload refused: the key, and errors naming file and line.
    panels = [page.locator(selector).bounding_box() for selector in (".details", ".cards-panel")]
    assert panels[0] and panels[1] and panels[0]["y"] < panels[1]["y"], "Create New is below every card"
    page.fill("input[name=label]", "my agent")
    page.click("text=Create key")
    expect(page.locator("[data-new-key]")).to_be_visible()
    found.update({"create-new-key": wrong} if (wrong := problems(page)) else {})
    screenshot(f"every-width-create-new-key-{PHONE}")
    page.set_input_files("input[type=file]", [str(path) for path in sorted((EXAMPLES / "kalshi_favourite_longshot")
                                                                           .iterdir()) if path.suffix == ".py"])
    page.click("button:has-text('Deploy')")
    expect(page.locator("#upload-errors")).to_be_visible()
    found.update({"create-new-upload": wrong} if (wrong := problems(page)) else {})
    screenshot(f"every-width-create-new-upload-{PHONE}")
    console_errors[:] = [error for error in console_errors if "status of 422" not in error]  # the refused upload
    page.goto(f"{dashboard}/strategies/")
    expect(page.locator(".details")).to_be_hidden()  # no "Pick a strategy" box under the cards on a phone
    assert found == {}, json.dumps(found, indent=1)


def test_numbers_are_formatted_and_markets_named(page: Page, dashboard: str, shown, console_errors) -> None:
    log_in(page, dashboard)
    found = {}
    for name, url in pages(dashboard, shown):
        page.goto(url)
        if name == "live":
            expect(page.locator(".live-feed li").first).to_be_visible(timeout=10_000)
        if wrong := formatting_problems(page):
            found[name] = wrong
    assert found == {}, json.dumps(found, indent=1)


def test_orders_positions_and_actions_name_their_market(page: Page, dashboard: str, shown, console_errors) -> None:
    copy = shown["copy"]
    held = Position.objects.filter(strategy=copy, status="open").exclude(market_name="").first()
    order = Order.objects.filter(strategy=copy).exclude(market_name="").order_by("-created_at").first()
    assert held is not None and order is not None and TOKEN_ID.fullmatch(order.market_id)
    log_in(page, dashboard)
    page.goto(f"{dashboard}/strategies/{copy.pk}/")
    positions = page.locator("table[data-positions]")
    expect(positions.locator(f"[title='{held.market_id}']").first).to_have_text(held.market_name)
    unnamed = positions.locator(f"[title='{UNNAMED_TOKEN}']")
    expect(unnamed).to_have_text(re.compile(r"^7{4,8}…7{4,8}$"))  # shortened, the whole id on hover
    expect(page.locator("table[data-orders]")).to_contain_text(order.market_name)
    expect(page.locator("table[data-orders]")).to_contain_text(f"{order.quantity.normalize():f}")  # 47.19000000

    actions = ExecutionAction.objects.filter(execution__strategy=copy).order_by("id")
    refused = next(a for a in actions if a.kind == "order_refused" and a.payload.get("market_name"))
    placed = next(a for a in actions if a.kind == "order_placed" and a.payload.get("market_name"))
    assert refused.payload["market_name"] not in refused.message  # the desk's refusal says only why
    page.goto(f"{dashboard}/strategies/{copy.pk}/runs/{refused.execution_id}/")
    shown_refusal = page.locator(".actions-list .kind-order_refused").first
    expect(shown_refusal).to_contain_text(refused.payload["check"])
    expect(shown_refusal).to_contain_text(refused.payload["market_name"])  # the refusal names its market
    expect(page.locator(".actions-list .kind-order_placed").first).to_contain_text(placed.payload["market_name"])
    expect(page.locator(".terminal")).to_contain_text(placed.payload["market_name"])  # the log line of the order
    refusal_lines = page.locator(".terminal li", has_text=refused.payload["check"])
    expect(refusal_lines.filter(has_text=refused.payload["market_name"])).not_to_have_count(0)  # its log line too

    # An exit's signal carries no name: the position it closes does.
    closed = next(a for a in actions if a.kind == "position_closed")
    closed_market = Position.objects.get(pk=closed.payload["position_id"]).market_name
    page.goto(f"{dashboard}/strategies/{copy.pk}/runs/{closed.execution_id}/")
    expect(page.locator(".actions-list .kind-position_closed").first).to_contain_text(closed_market)

    # The copy trader closes positions of its own too (it sells when the wallet does): the feed holds the newest.
    newest = ExecutionAction.objects.filter(execution__strategy=copy, kind="position_closed").order_by("-id").first()
    assert newest is not None
    newest_market = Position.objects.get(pk=newest.payload["position_id"]).market_name
    page.goto(f"{dashboard}/strategies/{copy.pk}/live/")
    expect(page.locator(".live-feed .kind-position_closed", has_text=newest_market)).not_to_have_count(0)
    expect(page.locator(".live-feed .kind-order_refused").filter(
        has_text=re.compile(rf"{refused.payload['check']}.* — .+, (YES|NO)$"))).not_to_have_count(0)
    expect(page.locator(".live-log")).to_contain_text(placed.payload["market_name"])
    refusal_lines = page.locator(".live-log li", has_text=refused.payload["check"])
    expect(refusal_lines.filter(has_text=refused.payload["market_name"])).not_to_have_count(0)


def test_backtests_read_as_words_dates_and_a_traceback(page: Page, dashboard: str, shown, console_errors) -> None:
    log_in(page, dashboard)
    backtests = f"{dashboard}/strategies/{shown['alpaca'].pk}/backtests/"
    page.goto(f"{backtests}?backtest={shown['backtest'].pk}")
    metrics = page.locator("[data-backtest-metrics]")
    expect(metrics).to_contain_text("Annual return")
    expect(metrics).to_contain_text("Max drawdown")
    labels = metrics.locator("dt").all_inner_texts()
    assert not [label for label in labels if "_" in label or re.search(r"\b(pct|ann|usd)\b", label)], labels
    listed = page.locator("[data-backtest-list]")
    expect(listed).not_to_contain_text("start →")
    expect(listed).not_to_contain_text("→ end")
    first_day = shown["backtest"].metrics["start"][:10]
    expect(listed).to_contain_text(first_day)  # the data's real first day, though none was asked for

    failed = Backtest.objects.get(status="failed")
    page.goto(f"{backtests}?backtest={failed.pk}")
    traceback = page.locator("pre.traceback")
    expect(traceback).to_contain_text("ValueError: no quotes")
    assert traceback.inner_text().count("\n") >= 3  # its lines kept, not one flattened paragraph
    expect(page.locator("[data-backtest-list]")).to_contain_text("—")  # no range asked, none known
