"""Whose venue account an order goes to: `venue_client_for(owner_id=…, venue=…, live=…)`.

- Paper needs no account: its client reads market data with the settings' credentials (or the
  venue's public endpoints).
- Live orders, look-ups, reconciliation and recovery go to the strategy owner's own
  `VenueAccount` for the venue (the one labelled "default" when they have several).
- The settings' credentials are the operator's own account: used live only for the user named by
  `OPERATOR_ACCOUNT_USERNAME`, and only while that user has no account of their own there.
- Anyone else without an account gets `NoVenueAccount`, whose message says what to do.

See docs/decisions/0003-venue-accounts.md.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model

from trading.credentials import CredentialsError
from trading.models import VenueAccount
from trading.services import venue_account_credentials
from trading.venues import VenueClient, venue_client
from trading.venues.errors import VenueError

VENUE_NAMES = {"polymarket": "Polymarket", "kalshi": "Kalshi", "alpaca": "Alpaca"}
WHERE_TO_ADD = "Admin → Trading → Venue accounts"


class NoVenueAccount(VenueError):
    """A live order, look-up or reconciliation for a user with no usable account at the venue."""


def venue_account_for(*, owner_id: int, venue: str) -> VenueAccount | None:
    """The owner's account at `venue`: the only one, or the one labelled "default"; None when they have none.

    Raises NoVenueAccount when several are stored and none is labelled "default": guessing which
    one trades would be worse than asking.
    """
    accounts = list(VenueAccount.objects.filter(owner_id=owner_id, venue=venue).order_by("label"))
    if len(accounts) <= 1:
        return accounts[0] if accounts else None
    default = [account for account in accounts if account.label == "default"]
    if default:
        return default[0]
    labels = ", ".join(account.label for account in accounts)
    raise NoVenueAccount(venue, f"{len(accounts)} {VENUE_NAMES[venue]} accounts ({labels}) and none is labelled "
                                f"'default': label the one to trade 'default' in {WHERE_TO_ADD}")


def is_operator(owner_id: int) -> bool:
    """True for the user whose live orders may use the settings' credentials (OPERATOR_ACCOUNT_USERNAME)."""
    username = settings.OPERATOR_ACCOUNT_USERNAME
    return bool(username) and get_user_model().objects.filter(pk=owner_id, username=username).exists()


def venue_client_for(*, owner_id: int, venue: str, live: bool) -> VenueClient:
    """The client a strategy of `owner_id` uses at `venue`; live: signed with that owner's own account."""
    if not live:
        return venue_client(venue)
    account = venue_account_for(owner_id=owner_id, venue=venue)
    if account is not None:
        try:
            return venue_client(venue, credentials=venue_account_credentials(account))
        except (CredentialsError, ValueError, TypeError) as error:  # undecryptable or malformed: say so, refuse
            raise NoVenueAccount(venue, f"the {VENUE_NAMES[venue]} account '{account.label}' cannot be used "
                                        f"({error}): save its credentials again in {WHERE_TO_ADD}") from None
    if is_operator(owner_id):
        return venue_client(venue)
    raise NoVenueAccount(venue, f"no {VENUE_NAMES[venue]} account: add one in {WHERE_TO_ADD} (live orders go to "
                                "their owner's own venue account)")
