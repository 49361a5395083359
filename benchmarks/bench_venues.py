"""Venue simulator throughput and adapter read latency against a plain HTTP GET.

    python benchmarks/bench_venues.py [--seconds 3] [--samples 400] [--threads 4]

The simulator runs in its own process (as `manage.py venue_simulator` would), so client and
server do not share a GIL. Adapters run with rate limiting off: the venues' documented limits
(e.g. Alpaca's 200 requests/minute) would otherwise be what is measured.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trading.simulator.credentials import dev_credentials  # noqa: E402 - after the path tweak
from trading.venues.alpaca import AlpacaVenue  # noqa: E402
from trading.venues.kalshi import KalshiSigner, KalshiVenue  # noqa: E402
from trading.venues.polymarket import PolymarketVenue  # noqa: E402

SERVER = """
import sys
from pathlib import Path
from trading.simulator import SimulatorConfig, VenueSimulator
sim = VenueSimulator(SimulatorConfig(port=0, speed=0, key_dir=Path(sys.argv[1])))
print(sim.url, sim.polymarket.long_lived[0].token_ids[0], flush=True)
sim.serve_forever()
"""


def requests_get(session: requests.Session, url: str, headers: dict[str, str]) -> Callable[[], object]:
    return lambda: session.get(url, headers=headers, timeout=5)


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return statistics.median(ordered) * 1000, at(0.90), at(0.99)


def timed(call: Callable[[], object], samples: int) -> list[float]:
    for _ in range(20):  # warm up connections and caches
        call()
    results = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        results.append(time.perf_counter() - started)
    return results


def throughput(url: str, seconds: float, threads: int) -> float:
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def worker(index: int) -> None:
        with requests.Session() as session:
            while time.monotonic() < stop:
                session.get(url, timeout=5).raise_for_status()
                counts[index] += 1

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return sum(counts) / seconds


def plain_http_client(base: str, path: str, headers: dict[str, str]) -> Callable[[], object]:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port))

    def get() -> object:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.read()

    return get


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    key_dir = Path(tempfile.mkdtemp(prefix="bench-venues-"))
    # Our own interpreter running the constant SERVER script above.
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(key_dir)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert server.stdout is not None
        base, token = server.stdout.readline().split()
        dev = dev_credentials(key_dir)
        poly = PolymarketVenue(clob_url=f"{base}/polymarket/clob", gamma_url=f"{base}/polymarket/gamma",
                               data_url=f"{base}/polymarket/data", rate_limits=None)
        kalshi = KalshiVenue(f"{base}/kalshi/trade-api/v2",
                             KalshiSigner.from_file(dev.kalshi_key_id, dev.kalshi_private_key_path), rate_limits=None)
        alpaca = AlpacaVenue(dev.alpaca_api_key, dev.alpaca_secret_key, trading_url=f"{base}/alpaca/trading",
                             data_url=f"{base}/alpaca/data", rate_limits=None)
        alpaca_headers = {"APCA-API-KEY-ID": dev.alpaca_api_key, "APCA-API-SECRET-KEY": dev.alpaca_secret_key}
        ticker = "KXSIMFED-26DEC31-T4.00"
        reads = [
            ("polymarket order book", f"/polymarket/clob/book?token_id={token}", {},
             lambda: poly.get_order_book(token)),
            ("kalshi order book", f"/kalshi/trade-api/v2/markets/{ticker}/orderbook", {},
             lambda: kalshi.get_order_book(ticker)),
            ("alpaca latest quote", "/alpaca/data/v2/stocks/quotes/latest?symbols=AAPL", alpaca_headers,
             lambda: alpaca.get_latest_quote("AAPL")),
        ]

        rps = throughput(f"{base}/polymarket/clob/book?token_id={token}", args.seconds, args.threads)
        print(f"\nSimulator throughput: {rps:,.0f} requests/s "
              f"(GET /polymarket/clob/book, {args.threads} keep-alive clients, {args.seconds:.0f} s)\n")
        print(f"{'read':<24}{'client':<26}{'median ms':>10}{'p90 ms':>9}{'p99 ms':>9}")
        print("-" * 78)
        for name, path, headers, adapter_read in reads:
            session = requests.Session()
            rows: list[tuple[str, Callable[[], object]]] = [
                ("plain GET (http.client)", plain_http_client(base, path, headers)),
                ("plain GET (requests)", requests_get(session, base + path, headers)),
                ("adapter", adapter_read),
            ]
            medians = {}
            for label, call in rows:
                median, p90, p99 = percentiles(timed(call, args.samples))
                medians[label] = median
                print(f"{name:<24}{label:<26}{median:>10.3f}{p90:>9.3f}{p99:>9.3f}")
            overhead = medians["adapter"] - medians["plain GET (requests)"]
            print(f"{'':<24}{'adapter − requests GET':<26}{overhead:>10.3f}"
                  f"   {'within 2 ms target' if overhead <= 2 else 'OVER the 2 ms target'}")
            print("-" * 78)
        for venue in (poly, kalshi, alpaca):
            venue.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
