"""One error hierarchy for every venue: callers catch these, never an SDK's own exceptions."""

from __future__ import annotations


class VenueError(Exception):
    """A venue refused or failed a request; `message` is the venue's own text where it sent one."""

    retryable = False

    def __init__(self, venue: str, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(f"{venue}: {message}" + (f" (HTTP {status})" if status else ""))
        self.venue = venue
        self.message = message
        self.status = status
        self.retry_after = retry_after


class InvalidRequest(VenueError):
    """400 / 422: the request itself is wrong; sending it again cannot help."""


class OrderRejected(InvalidRequest):
    """The venue understood the order and refused it (balance, price, size, market closed…)."""


class DuplicateOrder(VenueError):
    """409 / 422 / a repeated order hash: an order with this idempotency key already exists."""


class AuthenticationFailed(VenueError):
    """401 / 403: missing, wrong or expired credentials, or a bad signature."""


class NotFound(VenueError):
    """404: no such market, instrument or order."""


class RateLimited(VenueError):
    """429; `retry_after` holds the venue's hint in seconds when it gave one."""

    retryable = True


class VenueUnavailable(VenueError):
    """5xx: the venue failed; safe to retry reads and idempotent writes."""

    retryable = True


class VenueTimeout(VenueError):
    """No answer in time. For a write the outcome is unknown until the venue is asked."""

    retryable = True


class VenueConnectionError(VenueError):
    """The connection failed or was dropped before an answer arrived."""

    retryable = True


class MalformedResponse(VenueError):
    """The venue answered with something that is not the JSON shape it documents."""

    retryable = True


class OrderOutcomeUnknown(VenueTimeout):
    """Every attempt to submit an order failed in transit: settle it by asking the venue, never re-send blindly."""

    retryable = False


def error_for_status(venue: str, status: int, message: str, retry_after: float | None = None) -> VenueError:
    """The typed error for an HTTP status a venue answered with."""
    if status == 429:
        return RateLimited(venue, message or "rate limited", status=status, retry_after=retry_after)
    if status in (401, 403):
        return AuthenticationFailed(venue, message, status=status)
    if status == 404:
        return NotFound(venue, message, status=status)
    if status == 409:
        return DuplicateOrder(venue, message, status=status)
    if status >= 500:
        return VenueUnavailable(venue, message, status=status, retry_after=retry_after)
    return InvalidRequest(venue, message, status=status)
