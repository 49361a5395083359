"""A user's CSV: every row the backtest cannot use is refused with the file, the line and the column named, and the
fast pass over a good file reads exactly what the checked pass reads."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from trading.backtest.data import DataError, _rows_checked, _rows_fast, iso, iso_many, load_csv

HEADER = "date,open,high,low,close,volume\n"
GOOD = "2024-01-02,10,11,9,10.5,100\n2024-01-03,10.5,12,10,11,200\n"


@pytest.mark.parametrize(("rows", "message"), [
    ("2024-01-02,10,11,9\n", "bars.csv: line 2: 4 columns, the header has 6"),
    (",10,11,9,10.5,100\n", "bars.csv: line 2, column date: the timestamp is empty"),
    ("yesterday,10,11,9,10.5,100\n", "bars.csv: line 2, column date: 'yesterday' is not an ISO 8601 time or a unix"),
    ("2024-01-05,10,eleven,9,10.5,100\n", "bars.csv: line 2, column high: 'eleven' is not a number"),
    ("2024-01-05,10,11,NaN,10.5,100\n", "bars.csv: line 2, column low: 'NaN' is not a finite number"),
    ("2024-01-05,10,11,9,10.5,Infinity\n", "bars.csv: line 2, column volume: 'Infinity' is not a finite number"),
    ("2024-01-05,10,11,0,10.5,100\n", "bars.csv: line 2: prices must be > 0"),
    ("2024-01-05,10,11,-9,10.5,100\n", "bars.csv: line 2: prices must be > 0"),
    ("2024-01-03,10,11,9,10.5,100\n", "bars.csv: line 4: the timestamp 2024-01-03 appears twice"),
])
def test_a_bad_row_is_refused_naming_the_file_the_line_and_the_column(rows: str, message: str) -> None:
    text = HEADER + rows + GOOD if "twice" not in message else HEADER + GOOD + rows

    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_csv("bars.csv", symbol="X", text=text)


def test_a_bad_row_after_blank_lines_is_named_by_its_own_line_number() -> None:
    text = HEADER + GOOD + "\n , , , , , \n" + "2024-01-09,10,11,9,abc,100\n"

    with pytest.raises(DataError, match="bars.csv: line 6, column close: 'abc' is not a number"):
        load_csv("bars.csv", symbol="X", text=text)


def test_one_row_is_not_enough() -> None:
    with pytest.raises(DataError, match="bars.csv: needs at least two rows of bars, got 1"):
        load_csv("bars.csv", symbol="X", text=HEADER + "2024-01-02,10,11,9,10.5,100\n\n")


def test_blank_lines_are_skipped_and_awkward_but_good_cells_are_read_exactly() -> None:
    text = ("Timestamp , Open,HIGH,low,Close\n"
            "1704240000000, 10.50 ,1_100,9.0,1e1\n"  # milliseconds; padded, underscored and exponent numbers
            "\n"
            " , , , , \n"
            "2024-01-02T00:00:00Z,11,12,10,11.25\n")  # out of order, ISO with Z; no volume column

    bars = load_csv("bars.csv", symbol="X", text=text).bars

    assert [bar.start for bar in bars] == [1704153600.0, 1704240000.0]
    assert [repr(bar.open) for bar in bars] == ["Decimal('11')", "Decimal('10.50')"]
    assert [repr(bar.high) for bar in bars] == ["Decimal('12')", "Decimal('1100')"]
    assert [repr(bar.close) for bar in bars] == ["Decimal('11.25')", "Decimal('1E+1')"]
    assert [bar.volume for bar in bars] == [Decimal(0), Decimal(0)]


def _random_cell(rng: random.Random) -> str:
    value = Decimal(rng.randint(1, 10**6)).scaleb(-rng.randint(0, 6))
    text = rng.choice([str(value), f"{value:f}", f"{value:e}", f"{value:f}0"])
    return rng.choice(["", " ", "\t"]) + text + rng.choice(["", " "])


def _random_csv(rng: random.Random) -> str:
    start = 1_600_000_000 + rng.randint(0, 10**6)
    times = [start + 60 * index for index in range(rng.randint(2, 40))]
    rng.shuffle(times)
    lines = ["time,open,high,low,close" + rng.choice(["", ",volume"])]
    for moment in times:
        stamp = rng.choice([str(moment), f"{moment}000", f"{moment}.5",
                            f"{datetime.fromtimestamp(moment, UTC):%Y-%m-%dT%H:%M:%S}" + rng.choice(["", "Z", "+00:00"])])
        cells = [_random_cell(rng) for _ in range(5 if lines[0].endswith("volume") else 4)]
        lines.append(",".join([stamp, *cells]))
        if rng.random() < 0.1:
            lines.append("")
    return "\n".join(lines) + "\n"


def test_the_fast_pass_reads_a_good_file_exactly_as_the_checked_pass_does() -> None:
    rng = random.Random(7)  # noqa: S311 - seeded test data
    for _ in range(300):
        text = _random_csv(rng)
        header = next(csv.reader(io.StringIO(text)))
        where: dict[str, int] = {name: header.index(name) for name in ("open", "high", "low", "close", "volume")
                                 if name in header}
        reader = csv.reader(io.StringIO(text))
        next(reader)
        fast = _rows_fast(reader, len(header), 0, where)
        reader = csv.reader(io.StringIO(text))
        next(reader)
        checked = _rows_checked(reader, "bars.csv", header, 0, where)

        assert fast is not None, text  # a good file takes the fast pass, or this compares nothing
        assert [tuple(map(repr, row)) for row in fast] == [tuple(map(repr, row)) for row in checked], text


@pytest.mark.parametrize("row", [
    ",,,,", "2024-01-05,10,11,9", "2024-01-05,10,11,x,9", "2024-01-05,10,11,sNaN,9", "2024-01-05,10,11,9,0",
    "2024-01-05,10,11,9,-1E+2", "2024-01-05,10,11,9,Infinity", "someday,10,11,9,10", "2024-01-02,10,11,9,10",
])
def test_the_fast_pass_gives_way_on_anything_it_would_have_to_explain_or_skip(row: str) -> None:
    text = "time,open,high,low,close\n2024-01-02,10,11,9,10\n" + row + "\n"
    reader = csv.reader(io.StringIO(text))
    next(reader)

    assert _rows_fast(reader, 5, 0, {"open": 1, "high": 2, "low": 3, "close": 4}) is None


def test_a_series_times_are_formatted_as_iso_formats_each_of_them() -> None:
    rng = random.Random(11)  # noqa: S311 - seeded test data
    moments = [float(rng.randint(-62135596800, 253402300799)) for _ in range(20000)]  # whole seconds, years 1-9999
    moments += [1704067200.0 + 60 * index for index in range(3000)]  # a day's minutes, then the next day's
    moments += [0.0, -0.0, -1.0, 86399.0, -86400.0, 1.5, 1e9 + 0.25, -62135596800.0, 253402300799.0]

    assert iso_many(moments) == [iso(moment) for moment in moments]
    assert iso_many([1704067200, 3]) == ["2024-01-01T00:00:00Z", "1970-01-01T00:00:03Z"]  # ints too
