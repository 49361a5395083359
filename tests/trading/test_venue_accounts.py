"""Venue credentials are encrypted at rest and never readable back through the admin."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from trading.models import VenueAccount
from trading.services import CredentialsInvalid, venue_account_credentials, venue_account_save
from trading.simulator.credentials import new_rsa_private_key_pem

pytestmark = pytest.mark.django_db
SECRET = "sk-live-8d7f6e5a4b3c2d1e"


def test_credentials_are_stored_encrypted_and_decrypt_for_the_worker(alice) -> None:
    account = venue_account_save(owner=alice, venue="alpaca", credentials={"api_key": "AK1", "secret_key": SECRET})
    stored = bytes(VenueAccount.objects.get(pk=account.pk).credentials_encrypted)
    assert SECRET.encode() not in stored
    assert account.credential_names == ["api_key", "secret_key"]
    assert venue_account_credentials(VenueAccount.objects.get(pk=account.pk)) == {
        "api_key": "AK1",
        "secret_key": SECRET,
    }


def test_empty_credential_values_are_refused(alice) -> None:
    with pytest.raises(CredentialsInvalid, match="credentials.secret_key must be a non-empty string"):
        venue_account_save(owner=alice, venue="alpaca", credentials={"api_key": "AK1", "secret_key": ""})
    assert VenueAccount.objects.count() == 0


def test_the_admin_never_shows_the_credentials(alice) -> None:
    admin_user = get_user_model().objects.create_superuser("root", password="pw-for-tests-1")
    account = venue_account_save(owner=alice, venue="alpaca", credentials={"api_key": "AK1", "secret_key": SECRET})
    client = Client()
    client.force_login(admin_user)
    for url in (f"/admin/trading/venueaccount/{account.pk}/change/", "/admin/trading/venueaccount/"):
        page = client.get(url)
        assert page.status_code == 200
        assert SECRET not in page.content.decode()
    assert "secret_key" in client.get("/admin/trading/venueaccount/").content.decode()


def test_the_admin_replaces_credentials_write_only(alice) -> None:
    admin_user = get_user_model().objects.create_superuser("root", password="pw-for-tests-1")
    pem = new_rsa_private_key_pem().decode()
    account = venue_account_save(owner=alice, venue="kalshi", credentials={"key_id": "K1", "private_key": pem})
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        f"/admin/trading/venueaccount/{account.pk}/change/",
        {
            "owner": alice.pk,
            "venue": "kalshi",
            "label": "default",
            "new_credentials": json.dumps({"key_id": "K2", "private_key": pem}),
        },
    )
    assert response.status_code == 302
    assert venue_account_credentials(VenueAccount.objects.get(pk=account.pk)) == {"key_id": "K2", "private_key": pem}
    bad = client.post(
        f"/admin/trading/venueaccount/{account.pk}/change/",
        {
            "owner": alice.pk,
            "venue": "kalshi",
            "label": "default",
            "new_credentials": '["K3"]',
        },
    )
    assert "must be a JSON object of non-empty strings" in bad.content.decode()


@pytest.mark.parametrize(("venue", "credentials", "error"), [
    ("kalshi", {"key_id": "K1"}, "credentials.private_key is required; kalshi accounts have key_id, private_key"),
    ("kalshi", {"key_id": "K1", "private_key": "not a key"},
     "credentials.private_key must be the PEM text of the API key's RSA private key"),
    ("alpaca", {"api_key": "AK1", "secret": "S"}, "credentials.secret_key is required"),
    ("alpaca", {"api_key": "AK1", "secret_key": "S", "paper": "yes"}, "credentials.paper is not a credential alpaca uses"),
    ("polymarket", {"private_key": "my wallet"}, "credentials.private_key must be the wallet's private key: 64 hex"),
    ("polymarket", {"api_key": "k"}, "credentials.private_key is required; polymarket accounts have private_key "
                                     "(optional: api_key, api_secret, api_passphrase, funder)"),
])
def test_credentials_must_be_what_the_venue_signs_with(alice, venue: str, credentials: dict[str, str],
                                                       error: str) -> None:
    with pytest.raises(CredentialsInvalid, match=error.replace("(", r"\(").replace(")", r"\)")):
        venue_account_save(owner=alice, venue=venue, credentials=credentials)
    assert VenueAccount.objects.count() == 0


def test_the_admin_names_the_missing_credential(alice) -> None:
    admin_user = get_user_model().objects.create_superuser("root", password="pw-for-tests-1")
    client = Client()
    client.force_login(admin_user)
    page = client.post("/admin/trading/venueaccount/add/", {
        "owner": alice.pk, "venue": "alpaca", "label": "default", "new_credentials": '{"api_key": "AK1"}'})
    assert page.status_code == 200
    assert "credentials.secret_key is required; alpaca accounts have api_key, secret_key" in page.content.decode()
    assert VenueAccount.objects.count() == 0
