"""The lean read path of the three hottest routes (issue 22): GET /api/v1/strategies/,
/api/v1/strategies/{id}/executions/ and /api/v1/executions/{id}/, answered without DRF's request, authentication,
serializer and pagination machinery, in one SQL statement (two for a run's detail).

The answer is byte for byte the one the DRF view gives (tests/api/test_lean.py compares them), so the published
schema holds. Only the common, successful case is served here: a request this path does not handle exactly
(no `Bearer` key, an unknown or revoked key, a throttled request, an unusual or invalid parameter, a cursor with an
offset, a row that is not the caller's, an empty page) is handed to the DRF view, which answers it as before
(the error shapes live there, in one place). A request is counted by the throttle once, whichever path answers.

The key: a per-process cache of verified keys (accounts.services.api_key_known), trusted only while the
revocation version read in the throttle's one Redis round trip is the one it was verified under.
"""

from __future__ import annotations

import json
import math
from base64 import b64decode, b64encode
from typing import Any
from urllib import parse

from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.urls import remove_query_param, replace_query_param

from accounts.services import KnownKey, api_key_forget, api_key_known, api_key_verify, revocations_key
from api.selectors import execution_lines, execution_rows, strategy_rows_page
from api.serializers.common import iso
from api.serializers.strategies import strategy_row
from api.throttles import LEAN_VERDICT, throttle_hit, user_ident
from strategies.models import Execution, ExecutionTrigger, Mode, StrategyStatus
from trading.venues.platforms import Platform

STRATEGY_FILTERS = {"status": set(StrategyStatus.values), "mode": set(Mode.values), "platform": set(Platform.values)}
EXECUTION_FILTERS = {"status": set(Execution.Status.values), "trigger": set(ExecutionTrigger.values)}
PAGE_SIZE, MAX_PAGE_SIZE = 50, 200  # api.views.base.Page and ExecutionCursor
_renderer = JSONRenderer()


def _caller(request: HttpRequest) -> KnownKey | None:
    """The verified key of a `Bearer` request, counted by the throttle; None hands the request to DRF (with the
    throttle's verdict left on it when it was counted)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("Bearer "):
        return None
    raw_key = header[7:].strip()
    known = api_key_known(raw_key)
    if known is not None:
        hit = throttle_hit(scope="read", ident=user_ident(known.user_id, known.user_joined),
                           also_get=revocations_key())
        if hit.extra != known.revocations:  # something was revoked since: verify again (this request is counted)
            api_key_forget(raw_key)
            known = api_key_verify(raw_key)
    else:
        known = api_key_verify(raw_key)
        if known is None:
            return None  # DRF answers 401
        hit = throttle_hit(scope="read", ident=user_ident(known.user_id, known.user_joined))
    setattr(request, LEAN_VERDICT, hit.retry_after)
    return None if known is None or hit.retry_after is not None else known


def _answer(data: Any, allow: str) -> HttpResponse:
    response = HttpResponse(_renderer.render(data), content_type="application/json")
    response["Allow"] = allow
    return response


def _single(query: QueryDict, allowed: set[str]) -> dict[str, str] | None:
    """The query's parameters, when each is known and given once; None otherwise."""
    if not set(query) <= allowed or any(len(values) != 1 for values in query.lists()):
        return None
    return {name: str(query[name]) for name in query}


def _page_size(params: dict[str, str]) -> int:
    try:  # as DRF's pagination reads page_size: a whole number > 0, at most the maximum; the default otherwise
        size = int(params["page_size"])
    except (KeyError, ValueError):
        return PAGE_SIZE
    return PAGE_SIZE if size <= 0 else min(size, MAX_PAGE_SIZE)


def _filters(params: dict[str, str], choices: dict[str, set[str]]) -> dict[str, str] | None:
    filters = {name: params[name] for name in choices if name in params}
    return filters if all(value in choices[name] for name, value in filters.items()) else None


def strategy_list(request: HttpRequest, allow: str) -> HttpResponse | None:
    params = _single(request.GET, {"page", "page_size", *STRATEGY_FILTERS})
    if params is None:
        return None
    filters = _filters(params, STRATEGY_FILTERS)
    page = params.get("page", "1")
    if filters is None or not (page.isascii() and page.isdigit() and page[0] != "0" and len(page) <= 9):
        return None
    caller = _caller(request)
    if caller is None:
        return None
    size, number = _page_size(params), int(page)
    count, rows = strategy_rows_page(owner_id=caller.user_id, filters=filters, limit=size, offset=(number - 1) * size)
    if count is None:
        if number != 1:
            return None  # past the last page: DRF's 404
        count = 0
    pages = max(1, math.ceil(count / size))
    url = request.build_absolute_uri()
    base = request.build_absolute_uri("/strategies/")
    return _answer({
        "count": count,
        "next": replace_query_param(url, "page", number + 1) if number < pages else None,
        "previous": None if number == 1 else (remove_query_param(url, "page") if number == 2
                                              else replace_query_param(url, "page", number - 1)),
        "results": [strategy_row(row, base) for row in rows],
    }, allow)


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    started, finished = row["started_at"], row["finished_at"]
    return {
        "id": str(row["id"]), "strategy_id": str(row["strategy_id"]), "version": row["version"],
        "trigger": row["trigger"], "mode": row["mode"], "status": row["status"],
        "scheduled_for": iso(row["scheduled_for"]),
        "started_at": iso(started) if started else None, "finished_at": iso(finished) if finished else None,
        "duration_ms": round((finished - started).total_seconds() * 1000) if started and finished else None,
        "entries": row["entries"], "exits": row["exits"], "error": row["error"] or None,
    }


def _cursor(position: str | None) -> tuple[bool, str | None] | None:
    """(reverse, position) of an ExecutionCursor cursor without an offset; None for any other cursor."""
    if position is None:
        return False, None
    try:
        tokens = parse.parse_qs(b64decode(position.encode("ascii"), validate=True).decode("ascii"),
                                keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    if not set(tokens) <= {"p", "r"} or any(len(v) != 1 for v in tokens.values()):
        return None
    at, reverse = tokens.get("p", [None])[0], tokens.get("r", ["0"])[0]
    if at is None or not (at.isascii() and at.isdigit() and len(at) <= 18) or reverse not in ("0", "1"):
        return None
    return reverse == "1", at


def _link(url: str, *, reverse: bool, position: str) -> str:
    tokens = {"r": "1", "p": position} if reverse else {"p": position}
    encoded = b64encode(parse.urlencode(tokens).encode("ascii")).decode("ascii")
    return replace_query_param(url, "cursor", encoded)


def execution_list(request: HttpRequest, allow: str, strategy_id: int) -> HttpResponse | None:
    params = _single(request.GET, {"cursor", "page_size", *EXECUTION_FILTERS})
    if params is None:
        return None
    filters = _filters(params, EXECUTION_FILTERS)
    cursor = _cursor(params.get("cursor"))
    if filters is None or cursor is None:
        return None
    caller = _caller(request)
    if caller is None:
        return None
    reverse, at = cursor
    size = _page_size(params)
    rows = execution_rows(owner_id=caller.user_id, strategy_id=strategy_id, filters=filters, limit=size + 1,
                          before=int(at) if at is not None and not reverse else None,
                          after=int(at) if reverse and at is not None else None)
    if not rows:
        return None  # not the caller's strategy (404), or an empty page: DRF answers
    # As DRF's CursorPagination over unique ids: the extra row says whether there is more beyond this page.
    more, page = len(rows) > size, rows[:size]
    if reverse:
        page.reverse()
    url = request.build_absolute_uri()
    newer = (at is not None and not reverse) or (reverse and more)  # a page before this one (newer runs)
    older = more if not reverse else True
    return _answer({
        "next": _link(url, reverse=False, position=str(page[-1]["id"])) if older else None,
        "previous": _link(url, reverse=True, position=str(page[0]["id"])) if newer else None,
        "results": [_summary(row) for row in page],
    }, allow)


def execution_detail(request: HttpRequest, allow: str, execution_id: int) -> HttpResponse | None:
    if request.GET:
        return None
    caller = _caller(request)
    if caller is None:
        return None
    rows = execution_rows(owner_id=caller.user_id, execution_id=execution_id, with_state=True)
    if not rows:
        return None  # DRF's 404
    row = rows[0]
    logs, actions = [], []
    for table, seq, ts, word, message, payload in execution_lines(execution_id):
        if table == 0:
            logs.append({"seq": seq, "ts": iso(ts), "level": word, "message": message})
        else:
            actions.append({"seq": seq, "ts": iso(ts), "kind": word, "message": message,
                            "payload": json.loads(payload) if isinstance(payload, str) else payload})
    state = json.loads(row["state_after"]) if isinstance(row["state_after"], str) else row["state_after"]
    return _answer({**_summary(row), "logs": logs, "actions": actions,
                    "state_after": state if isinstance(state, dict) else None}, allow)


def enabled() -> bool:
    return bool(settings.API_LEAN_READS)
