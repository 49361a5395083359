"""The one refusal: every domain error the platform answers with subclasses `Refused`.

What was refused (`type`, what an agent branches on), why (`message`), each problem (`issues`: file, JSON path,
line and message, every one at once) and the HTTP status the API answers with. The API maps it to its one error
shape in one place (api/errors.py); the dashboard, the admin and the commands show the message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar


def issue(message: str, *, path: str | None = None, file: str | None = None, line: int | None = None) -> dict[str, Any]:
    """One problem, in the shape of the API's `issues`."""
    return {"file": file, "path": path, "line": line, "message": message}


def summary(issues: Sequence[dict[str, Any]]) -> str:
    """One message for several problems: the first five, and how many there are."""
    count = len(issues)
    if count == 1:
        return str(issues[0]["message"])
    return f"{count} problems: " + "; ".join(str(one["message"]) for one in issues[:5]) + ("; …" if count > 5 else "")


class Refused(Exception):
    """A refusal with its reason. Subclasses set `type` and `status`; `issues` defaults to none."""

    type: ClassVar[str] = "refused"
    status: ClassVar[int] = 409
    retry_after: int | None = None  # seconds, for a refusal that passes with time (429): the Retry-After header

    def __init__(self, message: str, *, issues: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.message = message
        self._issues = list(issues)

    def issues_json(self) -> list[dict[str, Any]]:
        return self._issues
