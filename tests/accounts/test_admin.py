"""Staff see API keys in the admin and may relabel one; a revoked key stays revoked for good."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import ApiKey
from accounts.services import api_key_find, api_key_issue, api_key_revoke, api_key_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(make_user) -> Client:
    client = Client()
    client.force_login(make_user("keeper", staff=True, perms=("accounts.view_apikey", "accounts.change_apikey")))
    return client


def test_a_revoked_key_cannot_be_unrevoked_in_the_admin(admin_client: Client, alice) -> None:
    raw = api_key_issue(user=alice, label="leaked")
    api_key = api_key_find(raw)
    assert api_key is not None
    api_key_revoke(api_key=api_key)
    response = admin_client.post(f"/admin/accounts/apikey/{api_key.pk}/change/",
                                 {"label": "leaked, revoked", "revoked_at_0": "", "revoked_at_1": ""})
    assert response.status_code == 302  # saved: the label may change
    api_key = ApiKey.objects.get(pk=api_key.pk)
    assert api_key.label == "leaked, revoked" and api_key.revoked_at is not None
    assert api_key_user(raw) is None


def test_staff_revoke_a_key_with_the_action(admin_client: Client, alice) -> None:
    raw = api_key_issue(user=alice, label="leaked")
    api_key = api_key_find(raw)
    assert api_key is not None
    response = admin_client.post("/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [api_key.pk]},
                                 follow=True)
    assert "1 key(s) revoked" in response.content.decode()
    assert api_key_user(raw) is None
