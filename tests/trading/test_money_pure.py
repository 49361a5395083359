"""Sizing, the risk checks and fees are pure functions of plain values: importing them loads no Django, no
models and no settings, so paper, live and the backtest can all call the same code."""

from __future__ import annotations

import subprocess
import sys

from django.conf import settings

PURE = ("trading.capital", "trading.risk", "trading.fees")


def test_the_money_rules_import_no_django_no_models_and_no_settings() -> None:
    program = (
        f"import sys; import {', '.join(PURE)}; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'strategies', 'strategyhub') "
        "or m in ('trading.models', 'trading.selectors')); "
        "print(','.join(loaded))"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=settings.BASE_DIR,
                          env={"PATH": "/usr/bin:/bin"}, check=True, timeout=60)
    assert done.stdout.strip() == ""
