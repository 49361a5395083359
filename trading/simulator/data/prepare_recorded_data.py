"""One-off: shrink the shared recorded Polymarket data into the CSV.gz files shipped here.

Run from the project root with pyarrow installed (the simulator itself never needs pyarrow):
    python trading/simulator/data/prepare_recorded_data.py /path/to/shared/data
"""

from __future__ import annotations

import csv
import gzip
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUOTE_EVERY = 4  # keep one quote in four (~8 minutes apart) to keep the file small
BOOK_EVERY = 4  # keep one book snapshot in four (~4 seconds apart)
BOOK_LEVELS = 10  # keep the best ten levels of each side


def shrink_quotes(source: Path) -> None:
    counters: dict[str, int] = {}
    with gzip.open(source / "polymarket_quotes/quotes_subset_40_markets.csv.gz", "rt", newline="") as src, gzip.open(
        HERE / "polymarket_quotes.csv.gz", "wt", newline=""
    ) as dst:
        reader = csv.DictReader(src)
        writer = csv.writer(dst)
        writer.writerow(["ts", "slug", "bid", "ask"])
        for row in reader:
            seen = counters.get(row["slug"], 0)
            counters[row["slug"]] = seen + 1
            if seen % QUOTE_EVERY == 0 and row["bid"] and row["ask"]:
                writer.writerow([row["ts"], row["slug"], row["bid"], row["ask"]])
    shutil.copyfile(source / "polymarket_quotes/markets_subset_40.csv", HERE / "polymarket_quote_markets.csv")


def _top(prices: list[float], sizes: list[float]) -> list[tuple[float, float]]:
    return list(zip(prices, sizes, strict=True))[:BOOK_LEVELS]


def shrink_books(source: Path) -> None:
    import pyarrow.parquet as pq  # a one-off conversion tool: pyarrow is not a dependency of the project

    markets = pq.read_table(source / "polymarket_books/markets.parquet").to_pylist()
    with open(HERE / "polymarket_book_markets.csv", "w", newline="") as dst:
        writer = csv.writer(dst)
        writer.writerow(["market_id", "slug", "question", "start_ts", "end_ts", "payout_up", "payout_down"])
        for market in markets:
            writer.writerow(
                [market[k] for k in ("market_id", "slug", "question", "start_ts", "end_ts", "payout_up", "payout_down")]
            )
    counters: dict[tuple[str, str], int] = {}
    rows = pq.read_table(source / "polymarket_books/books.parquet").to_pylist()
    with gzip.open(HERE / "polymarket_books.csv.gz", "wt", newline="") as dst:
        writer = csv.writer(dst)
        writer.writerow(["market_id", "ts_ms", "side", "bids", "asks"])
        for row in sorted(rows, key=lambda r: (r["market_id"], r["side"], r["ts"])):
            key = (row["market_id"], row["side"])
            seen = counters.get(key, 0)
            counters[key] = seen + 1
            if seen % BOOK_EVERY:
                continue
            bids = " ".join(f"{p:g}:{s:g}" for p, s in _top(row["bid_px"], row["bid_sz"]))
            asks = " ".join(f"{p:g}:{s:g}" for p, s in _top(row["ask_px"], row["ask_sz"]))
            writer.writerow([row["market_id"], row["ts"], row["side"], bids, asks])


if __name__ == "__main__":
    shared = Path(sys.argv[1])
    shrink_quotes(shared)
    shrink_books(shared)
    shutil.copyfile(shared / "polymarket_quotes/LICENSE", HERE / "LICENSE-polymarket-quotes")
    shutil.copyfile(shared / "polymarket_quotes/NOTICE", HERE / "NOTICE-polymarket-quotes")
