"""Writes for the trading app."""

from __future__ import annotations

import re

from django.contrib.auth.models import User
from django.db import transaction

from strategyhub.lib.refusal import Refused
from trading.credentials import credentials_decrypt, credentials_encrypt
from trading.models import VenueAccount
from trading.venues import ACCOUNT_CREDENTIALS
from trading.venues.platforms import traits


class CredentialsInvalid(Refused, ValueError):
    """A venue account's credentials are not what its adapter signs with; the message names the key."""

    type = "validation_error"
    status = 400


def venue_credentials_check(venue: str, credentials: dict[str, str]) -> None:
    """Raise CredentialsInvalid naming the key when `credentials` are not what `venue`'s adapter signs with."""
    if venue not in ACCOUNT_CREDENTIALS:
        raise CredentialsInvalid(f"venue must be one of {', '.join(ACCOUNT_CREDENTIALS)}, got {venue!r}")
    if not credentials:
        raise CredentialsInvalid("credentials must name at least one key")
    for name, value in credentials.items():
        if not isinstance(value, str) or not value:
            raise CredentialsInvalid(f"credentials.{name} must be a non-empty string")
    required, optional = ACCOUNT_CREDENTIALS[venue]
    missing = [name for name in required if name not in credentials]
    unknown = sorted(set(credentials) - set(required) - set(optional))
    if missing or unknown:
        allowed = ", ".join(required) + (f" (optional: {', '.join(optional)})" if optional else "")
        problem = (f"credentials.{missing[0]} is required" if missing
                   else f"credentials.{unknown[0]} is not a credential {venue} uses")
        raise CredentialsInvalid(f"{problem}; {venue} accounts have {allowed}")
    if traits(venue).private_key == "hex64" and not re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", credentials["private_key"]):
        raise CredentialsInvalid("credentials.private_key must be the wallet's private key: 64 hex digits, "
                                 "optionally after 0x")
    if traits(venue).private_key == "pem":
        from cryptography.hazmat.primitives import serialization

        try:
            serialization.load_pem_private_key(credentials["private_key"].encode(), password=None)
        except (ValueError, TypeError):
            raise CredentialsInvalid("credentials.private_key must be the PEM text of the API key's RSA private "
                                     "key (-----BEGIN PRIVATE KEY----- …)") from None


@transaction.atomic
def venue_account_save(
    *, owner: User, venue: str, credentials: dict[str, str], label: str = "default", is_live: bool = False
) -> VenueAccount:
    """Create or replace the credentials of one venue account; the values are stored encrypted only."""
    venue_credentials_check(venue, credentials)
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
