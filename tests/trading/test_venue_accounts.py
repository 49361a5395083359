"""Venue credentials are encrypted at rest and never readable back through the admin."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from trading.models import VenueAccount
from trading.services import CredentialsInvalid, venue_account_credentials, venue_account_save

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
    account = venue_account_save(owner=alice, venue="kalshi", credentials={"key_id": "K1"})
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        f"/admin/trading/venueaccount/{account.pk}/change/",
        {
            "owner": alice.pk,
            "venue": "kalshi",
            "label": "default",
            "new_credentials": '{"key_id": "K2"}',
        },
    )
    assert response.status_code == 302
    assert venue_account_credentials(VenueAccount.objects.get(pk=account.pk)) == {"key_id": "K2"}
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
