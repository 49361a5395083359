"""One signed attempt at a webhook delivery (docs/api.md#webhooks), and the URL policy every attempt keeps.

`webhook_deliver` claims one due delivery with a conditional update, POSTs it with short timeouts to the address
it checked, and records the answer or the next attempt.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from strategyhub.lib.refusal import Refused, issue
from webhooks.models import WebhookDelivery, WebhookDeliveryStatus

logger = logging.getLogger(__name__)

# After the n-th failed attempt the next one is due RETRY_DELAYS[n - 1] seconds later; after the last, it failed.
RETRY_DELAYS = (10, 60, 300, 1800, 7200, 21600)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
CONNECT_SECONDS, READ_SECONDS = 3.0, 5.0
# A claimed attempt is due again after this lease, should its worker die mid-request (the sweep finds it).
LEASE_SECONDS = 60
USER_AGENT = "StrategyHub-Webhooks/1"


class WebhookInvalid(Refused, ValueError):
    """A bad endpoint field; `field` names it."""

    type = "validation_error"
    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, issues=[issue(message, path=field)])
        self.field = field


# --- URLs -------------------------------------------------------------------------------------------


def webhook_addresses(url: str, *, resolve: bool = True) -> list[str]:
    """The addresses a POST to `url` may connect to, resolved once and checked, or WebhookInvalid("url") saying why
    StrategyHub will not POST there: only http(s), and, unless WEBHOOK_ALLOW_PRIVATE_URLS, only public addresses.

    An attempt connects to these very addresses: resolving the name again could answer another one (DNS
    rebinding). `resolve=False` checks the URL's form alone (saving an endpoint while private URLs are allowed).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise WebhookInvalid("url", f"url must be an http:// or https:// URL, got scheme {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise WebhookInvalid("url", "url must name a host")
    if parts.username or parts.password:
        raise WebhookInvalid("url", "url must not carry a user name or password (sign with the endpoint's secret "
                                    "instead)")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise WebhookInvalid("url", "url has an invalid port") from None
    if not resolve:
        return []
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise WebhookInvalid("url", f"url host {parts.hostname!r} does not resolve ({exc})") from None
    addresses = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
    for address in addresses:
        if not settings.WEBHOOK_ALLOW_PRIVATE_URLS and not ipaddress.ip_address(address).is_global:
            raise WebhookInvalid("url", f"url host {parts.hostname!r} resolves to {address}, a private, loopback or "
                                        "link-local address (set WEBHOOK_ALLOW_PRIVATE_URLS=1 to allow it)")
    return addresses


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The `StrategyHub-Signature` header: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_body(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def _claim(delivery_id: int, now: datetime) -> WebhookDelivery | None:
    """Take a due delivery for one attempt; None when it is not due, done, or another task holds it."""
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now,
    ).update(attempts=F("attempts") + 1, last_attempt_at=now, next_attempt_at=now + timedelta(seconds=LEASE_SECONDS))
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()  # None: just deleted


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """(status code, error): the receiver's answer, or None and why there was none.

    Connects to an address checked by `webhook_addresses`, with the URL's own Host header and, for https, its
    host name for SNI and the certificate check. The receiver's body is never read: it could be anything the
    URL's host serves (an internal error page), and `last_error` is shown to the endpoint's owner.
    """
    endpoint = delivery.endpoint
    try:
        addresses = webhook_addresses(endpoint.url)
    except WebhookInvalid as exc:
        return None, f"not sent: {exc}"
    url = httpx.URL(endpoint.url)
    body = webhook_body(delivery)
    headers = {
        "Host": url.netloc.decode("ascii"),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "StrategyHub-Event": delivery.event_type,
        "StrategyHub-Delivery": str(delivery.pk),
        "StrategyHub-Signature": webhook_signature(secret=endpoint.secret, timestamp=int(time.time()), body=body),
    }
    error = ""
    # trust_env=False: a proxy from the environment would resolve the name again, out of our sight.
    with httpx.Client(timeout=httpx.Timeout(READ_SECONDS, connect=CONNECT_SECONDS), follow_redirects=False,
                      trust_env=False) as client:
        for address in addresses:  # the next address only when this one cannot be reached
            try:
                with client.stream("POST", url.copy_with(host=address), content=body, headers=headers,
                                   extensions={"sni_hostname": url.host}) as response:
                    code = response.status_code
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                error = f"{type(exc).__name__} to {address}: {exc}"[:500]
                continue
            except httpx.HTTPError as exc:
                return None, f"{type(exc).__name__}: {exc}"[:500]
            if 200 <= code < 300:
                return code, ""
            return code, f"answered {code}" + (" (redirects are not followed)" if 300 <= code < 400 else "")
    return None, error or f"not sent: url host {url.host!r} has no address"


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """One attempt at a due delivery; None when there was nothing to do (done, not due, or taken).

    The claim is a conditional update, so a task delivered twice never POSTs twice. A receiver is told
    of an event at least once: should a worker die between the answer and its record, the event is sent
    again after the lease, with the same `StrategyHub-Delivery` id for the receiver to drop it.
    """
    delivery = _claim(delivery_id, timezone.now())
    if delivery is None:
        return None
    code, error = _post(delivery)
    now = timezone.now()
    if not error:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = WebhookDeliveryStatus.DELIVERED, now, None
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = WebhookDeliveryStatus.FAILED, None
    else:
        assert delivery.last_attempt_at is not None  # set by the claim
        delivery.next_attempt_at = delivery.last_attempt_at + timedelta(seconds=RETRY_DELAYS[delivery.attempts - 1])
    delivery.last_status_code, delivery.last_error = code, error
    delivery.save(update_fields=["status", "delivered_at", "next_attempt_at", "last_status_code", "last_error"])
    if error:
        logger.info("webhook delivery %s, attempt %s: %s", delivery.pk, delivery.attempts, error)
    return delivery
