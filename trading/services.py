"""Writes for the trading app."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from trading.credentials import credentials_decrypt, credentials_encrypt
from trading.models import VenueAccount


class CredentialsInvalid(ValueError):
    pass


@transaction.atomic
def venue_account_save(
    *, owner: User, venue: str, credentials: dict[str, str], label: str = "default", is_live: bool = False
) -> VenueAccount:
    """Create or replace the credentials of one venue account; the values are stored encrypted only."""
    for name, value in credentials.items():
        if not isinstance(value, str) or not value:
            raise CredentialsInvalid(f"credentials.{name} must be a non-empty string")
    if not credentials:
        raise CredentialsInvalid("credentials must name at least one key")
    account, _ = VenueAccount.objects.select_for_update().get_or_create(
        owner=owner, venue=venue, label=label, defaults={"credentials_encrypted": b""}
    )
    account.is_live = is_live
    account.credentials_encrypted = credentials_encrypt(credentials)
    account.credential_names = sorted(credentials)
    account.save()
    return account


def venue_account_credentials(account: VenueAccount) -> dict[str, str]:
    """For the worker only: the decrypted credentials. Never serialise this."""
    return credentials_decrypt(bytes(account.credentials_encrypted))
