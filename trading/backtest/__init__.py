"""Backtests: a strategy version's own files over history, with paper's sizing, risk checks, fills and fees.

- `data`: bar series (a user's CSV, venue history) and recorded prediction-market books;
- `engine`: the clock, reads as of `ctx.now`, orders, fills, settlement, the equity curve;
- `metrics`: backtesting.py's metric set.

Imports nothing from `strategies`: the strategy is reached through a `StepRunner` (see
`strategies/backtests.py`). See docs/backtest.md.
"""
