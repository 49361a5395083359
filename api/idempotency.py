"""`Idempotency-Key` on every POST: a retry with the same key and body gets the first answer again.

The first request with a key stores its answer (any status but 5xx, 429 and 409-in-progress); a retry
with the same key and the same method, path and body replays it (with `Idempotent-Replayed: true`)
and never creates a second strategy, version or run. The same key with another body is refused 422
`idempotency_key_reused`; while the first request is still being answered, a retry gets 409
`idempotency_in_progress`. Keys are per user and kept for IDEMPOTENCY_KEY_TTL.

A field shown once (a webhook's signing secret) is never stored: a replay has it null, and a note saying so.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import IdempotentRequest
from api.errors import ApiError

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces
TTL = timedelta(hours=24)
STALE = timedelta(minutes=10)  # a request still "in progress" after this died with its process
REPLAYED_HEADERS = ("Location", "Retry-After")
# Answer fields shown once and never kept for a replay, each with the note a replay carries instead.
SHOWN_ONCE = {"secret": "the signing secret was shown once, in the first answer, and is not kept for retries; "
                        "for a new one create a new endpoint and delete this one"}


class Replay(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


@dataclass
class Pending:
    row_id: int


def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    for part in (request.method or "", request.path, request.META.get("QUERY_STRING", "")):
        digest.update(part.encode() + b"\0")
    digest.update(request._request.body)
    return digest.hexdigest()


def idempotency_begin(request: Request) -> Pending | None:
    """Before the view runs: replay (raise Replay), refuse, or claim the key (returned as Pending)."""
    key = request.headers.get(HEADER)
    if key is None or request.method != "POST":
        return None
    if not KEY_PATTERN.match(key):
        raise ApiError(400, "validation_error", f"{HEADER} must be 1 to 255 printable ASCII characters without spaces",
                       [{"file": None, "path": HEADER, "line": None,
                         "message": f"{HEADER} must be 1 to 255 printable ASCII characters without spaces"}])
    fingerprint = _fingerprint(request)
    user = request.user
    assert isinstance(user, User)  # the view's permissions ran first
    now = timezone.now()
    for _ in range(2):
        try:
            with transaction.atomic():
                row = IdempotentRequest.objects.create(user=user, key=key, fingerprint=fingerprint)
            return Pending(row.pk)
        except IntegrityError:
            pass
        existing = IdempotentRequest.objects.filter(user=user, key=key).first()
        if existing is None:
            continue  # deleted between the two statements: try to claim it again
        expired = existing.created_at < now - TTL
        stale = existing.status_code is None and existing.created_at < now - STALE
        if expired or stale:
            IdempotentRequest.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing.fingerprint != fingerprint:
            raise ApiError(422, "idempotency_key_reused",
                           f"this {HEADER} was first sent with another method, path or body; "
                           "use a new key for a new request")
        if existing.status_code is None:
            raise ApiError(409, "idempotency_in_progress",
                           f"a request with this {HEADER} is still being answered; retry in a few seconds",
                           headers={"Retry-After": "2"})
        response = Response(existing.response, status=existing.status_code, headers=existing.headers)
        response["Idempotent-Replayed"] = "true"
        raise Replay(response)
    raise ApiError(409, "idempotency_in_progress", f"this {HEADER} is contended; retry in a few seconds",
                   headers={"Retry-After": "2"})


def idempotency_finish(pending: Pending, response: Response) -> None:
    """After the view: keep the answer for retries, or free the key when the answer must not be replayed."""
    if response.status_code >= 500 or response.status_code == 429 or (
        response.status_code == 409 and _type(response) == "idempotency_in_progress"
    ):
        IdempotentRequest.objects.filter(pk=pending.row_id).delete()
        return
    body = json.loads(JSONRenderer().render(response.data)) if response.data is not None else None
    if isinstance(body, dict):
        for field in SHOWN_ONCE.keys() & body.keys():
            body[field], body[f"{field}_note"] = None, SHOWN_ONCE[field]
    headers = {name: response[name] for name in REPLAYED_HEADERS if response.has_header(name)}
    IdempotentRequest.objects.filter(pk=pending.row_id).update(status_code=response.status_code, response=body,
                                                               headers=headers)


def _type(response: Response) -> Any:
    data = response.data
    return data.get("error", {}).get("type") if isinstance(data, dict) else None
