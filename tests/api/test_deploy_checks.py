"""Deploy-time checks through POST /api/v1/strategies/: what the sandbox cannot run is refused with file and line."""

from __future__ import annotations

from typing import Any

import pytest

from strategies.models import Strategy
from tests.api.conftest import error, kalshi_files

pytestmark = pytest.mark.django_db

EXIT = "def should_exit(ctx, position):\n    return None\n"


def issues_for(api, entry: str, **config) -> list[dict[str, Any]]:
    files = kalshi_files(**config)
    files["entry.py"], files["exit.py"] = entry, EXIT
    response = api.post("/api/v1/strategies/", {"files": files})
    assert response.status_code == 400, response.json()
    assert not Strategy.objects.exists()
    issues: list[dict[str, Any]] = error(response)["issues"]
    return issues


def test_imports_the_sandbox_cannot_provide(api) -> None:
    entry = "import json\nimport numpy as np\nimport requests\nfrom strategies.models import Strategy\n" \
            "from strategies.sdk import EntrySignal\n\ndef should_enter(ctx):\n    return []\n"
    issues = issues_for(api, entry)
    assert [(i["file"], i["line"]) for i in issues] == [("entry.py", 3), ("entry.py", 4)]
    assert "imports requests, which the sandbox cannot provide" in issues[0]["message"]
    assert "only strategies.sdk" in issues[1]["message"]


def test_venue_methods_the_sdk_does_not_have(api) -> None:
    entry = ("async def should_enter(ctx):\n    k = await ctx.kalshi\n    k.get_orderbok('X')\n"
             "    ctx.polymarket.get_positions()\n    ctx.venue.get_market('X')\n    return []\n")
    issues = issues_for(api, entry)
    assert [i["line"] for i in issues] == [3, 4]
    assert "ctx.kalshi has no method 'get_orderbok': did you mean 'get_orderbook'?" in issues[0]["message"]
    assert "get_order_book" in issues[1]["message"]  # the list of what ctx.polymarket offers


def test_signals_that_cannot_be_right_for_the_platform(api) -> None:
    entry = ("from strategies.sdk import EntrySignal\n\ndef should_enter(ctx):\n"
             "    return [EntrySignal(market_id='X', side='buy', reason='r', confidence=1.5, limit_price=45,\n"
             "                        size=10)]\n")
    messages = [i["message"] for i in issues_for(api, entry)]
    assert any("EntrySignal has no field 'size'" in m for m in messages)
    assert any("side must be 'yes' or 'no' on kalshi, got 'buy'" in m for m in messages)
    assert any("confidence must be in [0, 1], got 1.5" in m for m in messages)
    assert any("limit_price must be in (0, 1) on kalshi" in m for m in messages)


def test_a_nul_in_config_json_is_refused(api) -> None:
    files = kalshi_files(description="a\u0000b")
    response = api.post("/api/v1/strategies/", {"files": files})
    assert response.status_code == 400 and "NUL" in error(response)["message"]


def test_the_shipped_examples_pass_every_check(api, settings) -> None:
    from tests.conftest import example_files

    settings.API_THROTTLE_RATES = {"read": None, "write": None}
    for name in ("polymarket_copy_trader", "kalshi_favourite_longshot", "alpaca_mean_reversion"):
        from strategies.validation import strategy_files_validate

        strategy_files_validate(example_files(name))  # raises with the issues if a check misfires
