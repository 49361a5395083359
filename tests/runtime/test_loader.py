"""The loader: both layouts into BaseStrategy, sync and async, versions cached by content hash."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runtime.cycle import run_cycle_in_process
from runtime.loader import StrategyLoadError, load_strategy, strategy_hash
from runtime.sdk import BaseStrategy
from tests.runtime.test_sdk import RecordingTransport

EXAMPLES = Path(__file__).resolve().parents[2] / "strategies" / "examples"
CONFIG = json.dumps({"platform": "polymarket", "parameters": {"threshold": 0.4}})

CLASS_SYNC = """
from strategies.sdk import BaseStrategy, EntrySignal, ExitSignal

class Threshold(BaseStrategy):
    def should_enter(self, ctx):
        return [EntrySignal("m1", "yes", f"below {self.get_param('threshold')}")]

    def should_exit(self, ctx, position):
        return ExitSignal(position.position_id, "done", fraction=0.5)
"""

CLASS_ASYNC = """
import asyncio
from servers.strategies import BaseStrategy, EntrySignal

class Waiter(BaseStrategy):
    async def should_enter(self, ctx):
        poly = await ctx.polymarket
        book = await poly.get_order_book("m1")
        await asyncio.sleep(0)
        self.state["seen"] = book["bids"]
        return [EntrySignal("m1", "no", "async")]
"""


def run(files: dict[str, str], **ctx: Any) -> tuple[dict[str, Any], RecordingTransport]:
    transport = RecordingTransport(reply={"bids": [1, 2]})
    definition = load_strategy(files)
    context = {"strategy_id": "1", "now": datetime.now(UTC).isoformat(), **ctx}
    return run_cycle_in_process(definition, context, transport, state_bytes_limit=65536), transport


def test_class_layout_loads_into_base_strategy() -> None:
    definition = load_strategy({"strategy.py": CLASS_SYNC, "config.json": CONFIG})
    assert definition.layout == "class"
    assert issubclass(definition.strategy_class, BaseStrategy)
    result, transport = run(
        {"strategy.py": CLASS_SYNC, "config.json": CONFIG},
        positions=[{"position_id": "p1", "market_id": "m0", "size": 10}],
    )
    assert result["error"] is None
    assert result["entries"][0]["reason"] == "below 0.4"
    assert result["exits"] == [{"position_id": "p1", "reason": "done", "fraction": 0.5}]
    assert [c[2]["intent"] for c in transport.calls] == ["exit", "entry"]


def test_async_methods_are_awaited() -> None:
    result, transport = run({"strategy.py": CLASS_ASYNC, "config.json": CONFIG})
    assert result["error"] is None, result
    assert result["state"] == {"seen": [1, 2]}
    assert transport.calls[0] == ("polymarket", "get_order_book", {"token_id": "m1"})


def test_scripts_layout_sync_and_async() -> None:
    entry = "from strategies.sdk import EntrySignal\nasync def should_enter(ctx):\n    return [EntrySignal('m', 'yes', 'r')]\n"
    exit_ = "from strategies.sdk import ExitSignal\ndef should_exit(ctx, position):\n    return ExitSignal(position.position_id, 'x')\n"
    files = {"entry.py": entry, "exit.py": exit_, "config.json": CONFIG}
    assert load_strategy(files).layout == "scripts"
    result, _ = run(files, positions=[{"position_id": "9", "market_id": "m"}])
    assert result["error"] is None and len(result["entries"]) == 1 and result["exits"][0]["position_id"] == "9"


def test_versions_are_cached_by_content_hash() -> None:
    files = {"strategy.py": CLASS_SYNC, "config.json": CONFIG}
    first = load_strategy(files)
    assert load_strategy(dict(files)) is first
    changed = {**files, "strategy.py": CLASS_SYNC.replace("below", "under")}
    second = load_strategy(changed)
    assert second is not first and second.version_hash == strategy_hash(changed) != first.version_hash
    result, _ = run(changed)
    assert result["entries"][0]["reason"] == "under 0.4"  # the new version runs, no restart


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"strategy.py": "x = 1\n"}, "strategy.py: must define one subclass of BaseStrategy, found none"),
        (
            {"strategy.py": "from strategies.sdk import BaseStrategy\nclass A(BaseStrategy):\n    def should_enter(s, c): return []\n"
             "class B(BaseStrategy):\n    def should_enter(s, c): return []\n"},
            "found 2: A, B",
        ),
        ({"strategy.py": "def broken(:\n"}, "strategy.py: line 1:"),
        ({"entry.py": "def should_enter(ctx): return []\n", "exit.py": "x = 1\n"}, "exit.py: must define should_exit"),
        ({"entry.py": "", "exit.py": "", "strategy.py": ""}, "both layouts present"),
        ({"config.json": "{}"}, "a strategy is either entry.py"),
        ({"strategy.py": "", "config.json": "{nope"}, "config.json: not valid JSON"),
    ],
)  # fmt: skip
def test_load_errors_name_the_file(files: dict[str, str], message: str) -> None:
    with pytest.raises(StrategyLoadError, match=message.replace("(", r"\(")):
        load_strategy(files)


def test_user_traceback_keeps_only_user_frames() -> None:
    entry = "def helper():\n    return 1 / 0\n\ndef should_enter(ctx):\n    return helper()\n"
    result, _ = run({"entry.py": entry, "exit.py": "def should_exit(c, p):\n    return None\n", "config.json": CONFIG})
    assert result["error"] == "ZeroDivisionError: division by zero"
    trace = str(result["traceback"])
    assert 'File "entry.py", line 5, in should_enter' in trace and 'File "entry.py", line 2, in helper' in trace
    assert "/runtime/" not in trace and "return 1 / 0" in trace


def test_a_wrong_signal_fails_the_cycle_naming_field_and_value() -> None:
    entry = (
        "from strategies.sdk import EntrySignal\ndef should_enter(ctx):\n    return [EntrySignal('m', 'buy', 'r')]\n"
    )
    result, transport = run(
        {"entry.py": entry, "exit.py": "def should_exit(c, p): return None\n", "config.json": CONFIG}
    )
    assert result["error"] == (
        "should_enter returned an invalid signal #0: EntrySignal.side must be yes or no on polymarket, got 'buy'"
    )
    assert transport.calls == []  # nothing executed


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()))
def test_the_shipped_examples_load(example: str) -> None:
    files = {path.name: path.read_text() for path in (EXAMPLES / example).iterdir() if path.is_file()}
    definition = load_strategy(files)
    assert definition.layout in {"scripts", "class"}


def test_a_rehearsal_leaves_nothing_of_its_strategy_in_the_process() -> None:
    import linecache
    import sys

    from runtime.cycle import REHEARSAL, cycle_rehearse
    from runtime.loader import _cache, strategy_forget

    version = strategy_hash(REHEARSAL)
    cycle_rehearse()
    assert version not in _cache
    assert not [name for name in sys.modules if name.startswith(f"strategy_{version[:12]}")]
    assert "rehearsal" not in "".join(linecache.getlines("entry.py"))
    # a user strategy of the very same files is loaded anew: its module bodies run in its own cycle
    load_strategy(dict(REHEARSAL))
    assert version in _cache
    strategy_forget(REHEARSAL)


ORDERS = """
from strategies.sdk import BaseStrategy, EntrySignal
from runtime.sdk import VenueResult

class Noted(VenueResult):
    def __await__(self):
        async def noted():
            self.state["awaited"] = True
            return self
        return noted().__await__()

class Orders(BaseStrategy):
    def should_enter(self, ctx):
        return [EntrySignal("m1", "yes", "an order")]

    def execute_entry(self, ctx, signal):
        reply = super().execute_entry(ctx, signal)
        if not self.get_param("own_reply"):
            return reply
        noted = Noted(reply)
        noted.state = self.state
        return noted
"""


@pytest.mark.parametrize("own_reply", [False, True])
def test_a_reply_is_awaited_only_when_awaiting_it_does_something(monkeypatch: pytest.MonkeyPatch,
                                                                  own_reply: bool) -> None:
    import asyncio

    loops: list[int] = []
    new_event_loop = asyncio.new_event_loop

    def counted() -> asyncio.AbstractEventLoop:
        loops.append(1)
        return new_event_loop()

    monkeypatch.setattr(asyncio, "new_event_loop", counted)
    config = json.dumps({"platform": "polymarket", "parameters": {"own_reply": own_reply}})
    result, transport = run({"strategy.py": ORDERS, "config.json": config})
    assert result["error"] is None, result
    assert [c[2]["market_id"] for c in transport.calls] == ["m1"]
    # The SDK's reply awaits to itself: returned as it is, no event loop; a subclass's own __await__ still runs.
    assert (loops, result["state"]) == (([1], {"awaited": True}) if own_reply else ([], {}))
