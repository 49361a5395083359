"""A backtest holds the worker's cyclic garbage collector off while it runs (strategyhub.lib.gc_pause), and gives it
back as it found it: after a success, after a refusal, and only when the last of overlapping backtests ends."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from strategies.backtests import backtest_create, backtest_execute, csv_store
from strategies.services import strategy_deploy
from strategyhub.lib.gc_pause import collection_paused
from tests.backtest.conftest import EXAMPLE, goog_csv

pytestmark = pytest.mark.django_db
REFERENCE = ["--csv", str(goog_csv()), "--symbol", "GOOG", "--cash", "10000", "--commission", "0.002", "--json"]


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generations of the collections this process ran, as they start."""
    seen: list[int] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen.append(int(info["generation"]))

    gc.callbacks.append(count)
    try:
        yield seen
    finally:
        gc.callbacks.remove(count)


def test_a_saved_backtest_runs_no_collection_and_gives_the_collector_back(settings, alice, collections) -> None:
    settings.BACKTEST_LOOKAHEAD_CHECK = False
    files = {path.name: path.read_text() for path in EXAMPLE.iterdir() if path.is_file()}
    version = strategy_deploy(owner=alice, files=files)
    row = backtest_create(version=version, created_by=None,
                          data=csv_store(goog_csv().read_text(), symbol="GOOG", filename="GOOG.csv"),
                          cash=Decimal(10_000), commission=Decimal("0.002"))
    assert gc.isenabled()
    gc.collect()
    collections.clear()

    done = backtest_execute(backtest_id=row.pk)

    held_off = list(collections)
    assert done.status == "succeeded" and len(done.trades) == 46
    # 2,148 bars, the curve, the run's records and the row, written with no collection inside (about 200 without
    # the pause), then the young ones collected once, as the pause ends
    assert held_off == [0], held_off
    assert gc.isenabled()
    kept: list[list[int]] = [[] for _ in range(20_000)]  # and it collects again on its own
    assert collections and len(kept) == 20_000


def test_the_command_gives_the_collector_back_after_a_backtest_and_after_a_refusal(settings, tmp_path: Path) -> None:
    settings.BACKTEST_LOOKAHEAD_CHECK = False
    call_command("strategy_backtest", str(EXAMPLE), *REFERENCE, stdout=StringIO(), stderr=StringIO())
    assert gc.isenabled()

    bad = tmp_path / "bars.csv"
    bad.write_text("Date,Open,High,Low,Close\n2024-01-01,1,2,0.5,1.5\n2024-01-02,1,2,zero,1.5\n")
    with pytest.raises(CommandError, match="line 3"):
        call_command("strategy_backtest", str(EXAMPLE), "--csv", str(bad), "--symbol", "X", "--json",
                     stdout=StringIO(), stderr=StringIO())
    assert gc.isenabled()


def test_overlapping_backtests_give_the_collector_back_when_the_last_ends_and_not_to_a_caller_who_had_it_off() -> None:
    first_in, second_out = threading.Event(), threading.Event()
    seen: list[bool] = []

    def second() -> None:
        first_in.wait(5)
        with collection_paused():
            seen.append(gc.isenabled())
        second_out.set()

    thread = threading.Thread(target=second)
    thread.start()
    with collection_paused():
        first_in.set()
        second_out.wait(5)
        seen.append(gc.isenabled())  # the other one has left: still off, this one holds it
    thread.join()
    assert seen == [False, False] and gc.isenabled()

    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()  # the caller had turned it off: it stays off
    finally:
        gc.enable()
