"""The replay's shortcuts give what the long way gives: it holds the run's record against its own outcome as canonical
JSON (sorted keys, `str` for what JSON cannot hold), and its shortcut for plainly equal values must never call equal
what the encoder tells apart; its step outcome, built without the frozen dataclass's __init__, is the one __init__
builds, every field set."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from trading.backtest.engine import StepOutcome
from trading.backtest.replay import _canonical, _identical, _Record

NESTED: Any = []
for _ in range(5000):  # deeper than the interpreter's recursion limit: the encoder's verdict stands
    NESTED = [NESTED]

PAIRS: list[tuple[Any, Any]] = [
    ({}, {}), ([], []), (None, None), ("a", "a"), ("a", "b"), (1, 1), (1, 2),
    (1, 1.0), (True, 1), (False, 0), (0.0, -0.0), (1.5, 1.5), (float("nan"), float("nan")), (1e16, 1.0e16),
    (Decimal("1.0"), "1.0"), (Decimal("1.0"), Decimal("1.00")), (Decimal("2"), Decimal("2")),
    ([1, 2], (1, 2)), ((1, 2), (1, 2)), ({"a": 1, "b": [2, 3]}, {"b": [2, 3], "a": 1}),
    ({"a": 1}, {"a": 1, "b": None}), ({"a": 1}, {"b": 1}), ({1: "x"}, {"1": "x"}), ({"1": "x"}, {"1": "x"}),
    ({"entries": [], "exits": [], "orders": [], "state": {}, "failed": False},
     {"entries": [], "exits": [], "orders": [], "state": {}, "failed": False}),
    ({"entries": [{"confidence": 1.0}]}, {"entries": [{"confidence": 1}]}),
    ({"state": {"n": True}}, {"state": {"n": 1}}), ([None], [None, None]), ("é", "é"),
]


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_identical_is_equal_canonical_json(a: Any, b: Any) -> None:
    assert _identical(a, b) == (_canonical(a) == _canonical(b))
    assert _identical(b, a) == (_canonical(b) == _canonical(a))


def test_a_state_nested_deeper_than_the_recursion_limit_is_judged_by_the_encoder() -> None:
    with pytest.raises(RecursionError):  # as before the shortcut: the encoder cannot hold it either
        _identical(NESTED, NESTED)


def test_a_replayed_steps_outcome_is_the_one_its_init_builds() -> None:
    record = _Record(entries=[{"market_id": "GOOG"}], exits=[{"position_id": "p"}], logs=[("info", "hi")],
                     error="boom", traceback="Traceback")
    fast = StepOutcome.of_run("failed", record.entries, record.exits, {"n": 1}, record.error, record.traceback,
                              record.logs)
    built = StepOutcome("failed", record.entries, record.exits, {"n": 1}, "boom", "Traceback", record.logs)
    assert fast == built  # a field the shortcut missed fails here, or in the next line
    assert vars(fast) == vars(built) and set(vars(fast)) == {f.name for f in dataclasses.fields(StepOutcome)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.status = "succeeded"  # type: ignore[misc]
