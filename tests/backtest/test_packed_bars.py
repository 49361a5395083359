"""The bars a backtest ships into its sandboxed run come out there as the very bars the worker parsed."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal

from tests.backtest.conftest import goog_csv
from trading.backtest.data import Bar, load_csv, pack_bars, unpack_bars


def test_packed_bars_unpack_in_the_run_to_the_bars_the_worker_parsed() -> None:
    parsed = load_csv(goog_csv(), symbol="GOOG")
    shipped = json.loads(json.dumps(pack_bars({"GOOG": parsed})))  # as the spec frame carries them

    unpacked = unpack_bars(shipped)["GOOG"]

    assert unpacked.period == parsed.period == 86400.0
    assert len(unpacked.bars) == len(parsed.bars) == 2148
    for mine, theirs in zip(unpacked.bars, parsed.bars, strict=True):
        # Built field by field as the dataclass builds them: a field the fast path missed fails here.
        rebuilt = Bar(*(getattr(theirs, f.name) for f in dataclasses.fields(Bar)))
        assert dataclasses.astuple(mine) == dataclasses.astuple(rebuilt)
        assert vars(mine) == vars(rebuilt)
    start = datetime(2004, 8, 19, tzinfo=UTC).timestamp()  # the CSV's first row: 2004-08-19,100,104.06,95.96,100.34,…
    assert unpacked.bars[0] == Bar(start, start + 86400, Decimal("100"), Decimal("104.06"), Decimal("95.96"),
                                   Decimal("100.34"), Decimal("22351900"))
