"""`make lint` refuses a venue's name compared as a literal outside trading/venues (scripts/lint_venue_literals.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from django.conf import settings

SCRIPT = Path(settings.BASE_DIR) / "scripts" / "lint_venue_literals.py"


def lint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, paths)], capture_output=True, text=True,
                          check=False, timeout=120)


def test_it_names_each_comparison_with_a_venue_literal(tmp_path: Path) -> None:
    planted = tmp_path / "desk.py"
    planted.write_text('def fee(venue, side):\n    if venue == "kalshi":\n        return 1\n'
                       '    return side != "no" and venue in ("Alpaca", "nyse")\n'
                       'def ok(venue):\n    return {"kalshi": 1}.get(venue) or venue == "nyse"\n')
    result = lint(planted)
    assert result.returncode == 1
    assert [line.split(": ")[0] for line in result.stdout.splitlines()] == [f"{planted}:2", f"{planted}:4"]


def test_the_project_compares_no_venue_literal_outside_the_venues() -> None:
    result = lint()
    assert result.returncode == 0, result.stdout
