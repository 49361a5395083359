"""`manage.py strategy_backtest`: the reference case end to end, sandbox included; ID and DIR; bad input."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from strategies.models import Backtest, BacktestCsv, Strategy
from strategies.services import strategy_deploy
from tests.backtest.conftest import EXAMPLE, goog_csv

pytestmark = pytest.mark.django_db


def backtest(*args: str) -> tuple[dict[str, Any], str]:
    out, err = StringIO(), StringIO()
    call_command("strategy_backtest", *args, "--json", stdout=out, stderr=err)
    return json.loads(out.getvalue()), err.getvalue()


def reference_args() -> list[str]:
    return ["--csv", str(goog_csv()), "--symbol", "GOOG", "--cash", "10000", "--commission", "0.002"]


def test_the_reference_case_through_the_command_gives_backtesting_py_s_trades(
        settings, reference_stats: Any, capsys: pytest.CaptureFixture[str]) -> None:
    settings.BACKTEST_LOOKAHEAD_CHECK = False
    shaped, _ = backtest(str(EXAMPLE), *reference_args())

    assert shaped["id"] is None and shaped["status"] == "succeeded"
    assert set(shaped) >= {"id", "status", "metrics", "trades", "equity", "open_positions"}
    expected = reference_stats._trades
    assert len(shaped["trades"]) == len(expected) == 46
    for ours, (_, theirs) in zip(shaped["trades"], expected.iterrows(), strict=True):
        assert set(ours) == {"market_id", "side", "entry_time", "exit_time", "entry_price", "exit_price", "quantity",
                             "pnl", "fees"}
        assert (ours["entry_time"][:10], ours["exit_time"][:10]) == (
            theirs.EntryTime.date().isoformat(), theirs.ExitTime.date().isoformat())
        assert (Decimal(ours["entry_price"]), Decimal(ours["exit_price"])) == (
            Decimal(str(theirs.EntryPrice)), Decimal(str(theirs.ExitPrice)))
        cost = Decimal(ours["quantity"]) * Decimal(ours["entry_price"])
        assert float(Decimal(ours["pnl"]) / cost) == pytest.approx(theirs.ReturnPct, abs=1e-8)  # net of fees
    assert len(shaped["equity"]) == 2148 and shaped["equity"][0] == ["2004-08-19T00:00:00Z", "10000.00"]
    dates = [line.split(",")[0] for line in goog_csv().read_text().splitlines()[1:]]
    assert [moment for moment, _ in shaped["equity"]] == [f"{date}T00:00:00Z" for date in dates]  # each bar's own
    assert shaped["metrics"]["trades"] == 46 and len(shaped["open_positions"]) == 1
    assert "backtest:" in capsys.readouterr().err  # progress went to stderr, never into the JSON
    assert not BacktestCsv.objects.exists()  # a folder's run is this process's: its CSV is kept nowhere


def test_a_saved_strategy_is_backtested_as_a_backtest_row(settings, alice) -> None:
    settings.BACKTEST_LOOKAHEAD_CHECK = False
    files = {path.name: path.read_text() for path in EXAMPLE.iterdir() if path.is_file()}
    version = strategy_deploy(owner=alice, files=files)

    shaped, _ = backtest(str(version.strategy_id), *reference_args())

    row = Backtest.objects.get(pk=int(shaped["id"]))
    assert (row.status, row.version_id, row.progress, row.data_source) == ("succeeded", version.pk, 100.0, "csv")
    assert row.parameters == {"cash": "10000", "commission": "0.002", "polling_interval": 86400}
    assert len(row.trades) == 46 and row.metrics["trades"] == 46 and row.duration_ms and row.duration_ms > 0
    assert row.started_at and row.finished_at and row.started_at <= row.finished_at
    assert shaped["trades"][0]["entry_time"].startswith("2004-12-06")


def test_a_folder_is_validated_like_a_deploy_and_nothing_is_saved(tmp_path: Path) -> None:
    for path in EXAMPLE.iterdir():
        (tmp_path / path.name).write_text(path.read_text())
    config = json.loads((tmp_path / "config.json").read_text())
    config["capital"]["max_positions"] = "five"
    (tmp_path / "config.json").write_text(json.dumps(config))

    with pytest.raises(CommandError, match="capital.max_positions must be an integer") as raised:
        backtest(str(tmp_path), *reference_args())

    assert raised.value.returncode == 2
    assert not Strategy.objects.exists() and not Backtest.objects.exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--csv", "x.csv"], "--symbol SYMBOL is required with --csv"),
    (["--commission", "0.002"], "--commission applies to CSV data only"),
    (["--cash", "-5"], "--cash must be > 0 USD"),
    (["--start", "yesterday"], "--start: 'yesterday' is not an ISO 8601 time"),
    (["--start", "2010-01-01", "--end", "2009-01-01"], "--start must be before --end"),
    (["--commission", "0.5", "--csv", "x.csv", "--symbol", "X"], r"--commission must be a relative fee in \[0, 0.1\)"),
])
def test_bad_flags_are_refused_naming_the_flag(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        backtest(str(EXAMPLE), *args)


def test_a_bad_csv_is_refused_naming_the_line(tmp_path: Path) -> None:
    csv = tmp_path / "bars.csv"
    csv.write_text("Date,Open,High,Low,Close\n2024-01-01,1,2,0.5,1.5\n2024-01-02,1,2,zero,1.5\n")
    with pytest.raises(CommandError, match="bars.csv: line 3, column Low: 'zero' is not a number"):
        backtest(str(EXAMPLE), "--csv", str(csv), "--symbol", "X")


def test_a_csv_backtest_loads_no_venue_sdk(tmp_path: Path) -> None:
    """The venue adapters and their SDKs (the Polymarket and Alpaca clients: ≈ 1.3 s of imports) load only when
    history is fetched: a backtest on a CSV, through the command in a fresh process, imports none of them."""
    import subprocess
    import sys

    script = (
        "import django, io, json, sys\n"
        "django.setup()\n"
        "from django.core.management import call_command\n"
        "out = io.StringIO()\n"
        f"call_command('strategy_backtest', {str(EXAMPLE)!r}, '--csv', {str(goog_csv())!r}, '--symbol', 'GOOG',"
        " '--json', stdout=out, stderr=io.StringIO())\n"
        "assert json.loads(out.getvalue())['status'] == 'succeeded'\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('polymarket', 'alpaca', 'kalshi_python')"
        " or name in ('trading.venues.polymarket', 'trading.venues.alpaca', 'trading.venues.kalshi')))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
