"""A user holds at most API_KEYS_PER_USER active keys: minting more is refused, in the dashboard and the command."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from accounts.models import ApiKey
from accounts.services import ApiKeyLimit, api_key_issue, api_key_revoke

pytestmark = pytest.mark.django_db


def test_the_dashboard_refuses_a_key_past_the_limit_and_a_revoked_one_frees_its_place(alice, settings) -> None:
    settings.API_KEYS_PER_USER = 2
    client = Client()
    client.force_login(alice)
    assert [client.post("/strategies/new/keys/", {"label": f"k{n}"}).status_code for n in range(2)] == [200, 200]
    refused = client.post("/strategies/new/keys/", {"label": "one too many"})
    assert refused.status_code == 409
    assert b"No key created: you have 2 active API keys" in refused.content and b"data-new-key" not in refused.content
    assert ApiKey.objects.filter(user=alice).count() == 2
    api_key_revoke(api_key=ApiKey.objects.filter(user=alice).earliest("created_at"))
    assert client.post("/strategies/new/keys/", {"label": "again"}).status_code == 200
    assert ApiKey.objects.filter(user=alice, revoked_at__isnull=True).count() == 2


def test_the_service_and_the_command_refuse_it_too(alice, settings) -> None:
    settings.API_KEYS_PER_USER = 1
    api_key_issue(user=alice)
    with pytest.raises(ApiKeyLimit, match="revoke one you no longer use"):
        api_key_issue(user=alice, scope="read")
    with pytest.raises((ApiKeyLimit, CommandError)):
        call_command("issue_api_key", "alice")
    assert ApiKey.objects.filter(user=alice).count() == 1
