"""A saved backtest's CSV lives in the database: a worker on another host (another var/) runs it."""

from __future__ import annotations

import hashlib
import importlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps

from strategies.backtests import backtest_create, backtest_execute, csv_store
from strategies.models import BacktestCsv
from strategies.services import strategy_deploy
from tests.backtest.conftest import EXAMPLE, goog_csv

pytestmark = pytest.mark.django_db


def test_a_saved_csv_backtest_runs_on_a_host_whose_var_is_empty(settings: Any, alice: Any, tmp_path: Path) -> None:
    settings.BACKTEST_LOOKAHEAD_CHECK = False
    version = strategy_deploy(owner=alice, files={p.name: p.read_text() for p in EXAMPLE.iterdir() if p.is_file()})
    data = csv_store(goog_csv().read_text(), symbol="GOOG", filename="GOOG.csv")
    backtest = backtest_create(version=version, created_by=alice, data=data, cash=Decimal(10000),
                               commission=Decimal("0.002"))

    settings.VAR_DIR = str(tmp_path / "another-host")  # the worker's own disk has nothing of it
    done = backtest_execute(backtest_id=backtest.pk)

    assert done.status == "succeeded", done.error
    assert len(done.trades) == 46
    assert BacktestCsv.objects.get(sha256=data.spec["sha256"]).filename == "GOOG.csv"


def test_the_same_csv_twice_is_stored_once(alice: Any) -> None:
    text = goog_csv().read_text()
    first = csv_store(text, symbol="GOOG", filename="GOOG.csv")
    second = csv_store(text, symbol="GOOGL", filename="copy.csv")
    assert first.spec["sha256"] == second.spec["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert BacktestCsv.objects.count() == 1


def test_the_migration_moves_saved_backtests_csvs_from_var_into_the_database(
        settings: Any, alice: Any, tmp_path: Path) -> None:
    settings.BACKTEST_LOOKAHEAD_CHECK = False
    version = strategy_deploy(owner=alice, files={p.name: p.read_text() for p in EXAMPLE.iterdir() if p.is_file()})
    data = csv_store(goog_csv().read_text(), symbol="GOOG", filename="GOOG.csv")
    backtest = backtest_create(version=version, created_by=alice, data=data, cash=Decimal(10000),
                               commission=Decimal("0.002"))
    text = BacktestCsv.objects.get().content
    BacktestCsv.objects.all().delete()  # as before the migration: the file on disk only
    settings.VAR_DIR = str(tmp_path)
    folder = tmp_path / "backtests" / "csv"
    folder.mkdir(parents=True)
    (folder / f"{data.spec['sha256']}.csv").write_text(text)
    (folder / f"{'0' * 64}.csv").write_text("a file no backtest names\n")  # left where it is

    migration = importlib.import_module("strategies.migrations.0008_backtest_csv_in_database")
    migration.csv_files_into_the_database(apps, None)

    assert list(BacktestCsv.objects.values_list("sha256", "filename")) == [(data.spec["sha256"], "GOOG.csv")]
    assert backtest_execute(backtest_id=backtest.pk).status == "succeeded"
