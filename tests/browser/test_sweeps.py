"""A parameter sweep in a real browser: started from the Backtests tab's form, run by the slow lane's worker, its
progress shown as the section polls itself, then the ranking with the trials, the deflated Sharpe and the
out-of-sample check; a ranked point opens as a backtest of its own."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from strategies.models import Sweep
from strategies.services import strategy_deploy
from tests.backtest.conftest import sma_cross_files
from tests.backtest.test_task import SLOW_STEPS
from tests.browser.test_dashboard import WAIT, demo, log_in  # noqa: F401 - demo is a fixture

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_sweep_from_the_form_shows_its_progress_then_its_ranking(
        page: Page, dashboard: str, demo: Any, console_errors: list[str], screenshot: Any) -> None:  # noqa: F811
    files = sma_cross_files()
    # 10 ms a step: one backtest runs in a tenth of a second now, and 8 of them ended before the section's first
    # 2-second poll (the page then reloads once, finished, and the progress is never seen climbing)
    files["entry.py"] += SLOW_STEPS.replace("0.02", "0.01").replace("20 ms", "10 ms")
    config = json.loads(files["config.json"])
    config["parameters"]["symbol"] = "AAPL"  # a stock the simulator serves bars of
    files["config.json"] = json.dumps(config)
    strategy = strategy_deploy(owner=demo["user"], files=files).strategy
    log_in(page, dashboard)
    page.goto(f"{dashboard}/strategies/{strategy.pk}/backtests/")
    # 8 points: long enough that a poll every 2 s sees it between its first point and its last
    page.fill("[data-sweep-form] textarea[name=parameters]", '{"fast": [5, 10, 15, 20], "slow": [20, 30]}')
    page.select_option("[data-sweep-form] select[name=metric]", "return_pct")
    page.fill("[data-sweep-form] input[name=cash]", "10000")
    page.click("[data-sweep-form] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/backtests/\?sweep=\d+$"))
    sweep = Sweep.objects.get(strategy=strategy)
    section = page.locator(f"[data-sweep='{sweep.pk}']")
    expect(section.locator("[data-sweep-progress-text]")).to_contain_text("of 8 points done")

    # the section re-reads itself every 2 s: points done climb without a reload, then the ranking shows
    page.evaluate("window.__sameDocument = true")
    page.wait_for_function(f"() => {{ const bar = document.querySelector(\"[data-sweep='{sweep.pk}'] "
                           "[data-sweep-progress]\"); return bar && Number(bar.getAttribute('aria-valuenow')) > 0 "
                           "&& window.__sameDocument; }", timeout=WAIT * 2)
    screenshot("21-sweep-progress", full_page=False)
    expect(page.locator(f"[data-sweep='{sweep.pk}']")).to_have_attribute("data-status", "succeeded", timeout=WAIT * 4)
    # finished, the page reloads once (HX-Refresh) so the list of past sweeps says so too
    expect(page.locator("[data-sweep-list] tbody tr").first).to_contain_text("Succeeded")
    expect(page.locator("[data-sweep-list] tbody tr").first).to_contain_text("8 / 8")
    section = page.locator(f"[data-sweep='{sweep.pk}']")
    expect(section.locator("[data-sweep-progress-text]")).to_contain_text("8 of 8 points done")
    expect(section.locator("[data-sweep-trials]")).to_have_text("8")
    expect(section.locator("[data-sweep-dsr]")).to_have_text(re.compile(r"^[01]\.\d{3}$"))
    expect(section.locator("[data-sweep-luck]")).to_be_visible()
    expect(section.locator("[data-sweep-oos-return]")).to_contain_text("%")
    expect(section.locator("[data-sweep-ranking] tbody tr")).to_have_count(8)
    screenshot("22-sweep-ranking")

    section.locator("[data-sweep-ranking] tbody tr").first.locator("a").click()
    expect(page.locator("[data-backtest]")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("[data-backtest-metrics]")).to_contain_text("Return")
    assert console_errors == []
