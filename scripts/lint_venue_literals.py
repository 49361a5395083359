"""`make lint`: no code outside trading/venues and the simulator compares a venue's name as a string literal.

Venues are named by `Platform` and described by their traits (`trading.venues.platforms.TRAITS`): code that asks
`venue == "kalshi"` hides which property of Kalshi it means, and a new venue would have to find every such line.

    python scripts/lint_venue_literals.py [PATH ...]   (default: the project's packages)
Exit 1 listing each comparison (file:line), 0 when there is none.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["strategies", "trading", "strategyhub", "chatfiles", "accounts", "servers", "webhooks"]
ALLOWED = ["trading/venues/", "trading/simulator", "/migrations/", "strategies/examples/"]
VENUES = {"polymarket", "kalshi", "alpaca"}


def _names_a_venue(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value.lower() in VENUES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_names_a_venue(element) for element in node.elts)
    return False


def venue_comparisons(path: Path) -> Iterator[int]:
    """The lines of `path` where a comparison (==, !=, in, not in, is) has a venue's name as a literal operand."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
        elif isinstance(node, ast.MatchValue):
            operands = [node.value]
        else:
            continue
        if any(map(_names_a_venue, operands)):
            yield node.lineno


def _files(arguments: list[str]) -> Iterator[Path]:
    for argument in arguments or [str(ROOT / package) for package in PACKAGES]:
        path = Path(argument)
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            relative = file.resolve().as_posix()
            if not any(allowed in relative for allowed in ALLOWED):
                yield file


def main(arguments: list[str]) -> int:
    found = [f"{file}:{line}" for file in _files(arguments) for line in venue_comparisons(file)]
    for place in found:
        print(f"{place}: a venue's name compared as a literal; read its traits (trading.venues.platforms.traits)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
