"""How deep JSON text nests, read before it is parsed.

json.loads recurses once an object or list deep, as does every walk over what it returns: a body of
100,000 brackets overflows the stack (RecursionError, a 500) before any check on the value can run.
"""

from __future__ import annotations

import re

# A whole string (so brackets inside it do not count), or one bracket.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def json_too_deep(text: str, limit: int) -> tuple[int, int] | None:
    """Where `text` opens its object or list nested `limit` + 1 deep, as (line, column) from 1; None if nowhere."""
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                start = match.start()
                return text.count("\n", 0, start) + 1, start - text.rfind("\n", 0, start)
        elif token in ("]", "}"):
            depth -= 1
    return None
