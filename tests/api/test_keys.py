"""API keys: scopes, listing, labelling and revoking by their owner; `issue_api_key --scope`."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import ApiKey
from accounts.services import api_key_find, api_key_issue
from tests.api.conftest import Api, error

pytestmark = pytest.mark.django_db


def test_issue_api_key_gives_the_scope_asked_for(alice) -> None:
    out = StringIO()
    call_command("issue_api_key", "alice", "--scope", "read", "--label", "grafana", stdout=out)
    api_key = api_key_find(out.getvalue().strip())
    assert api_key is not None and (api_key.scope, api_key.label) == ("read", "grafana")


def test_issue_api_key_defaults_to_the_agent_scope(alice) -> None:
    out = StringIO()
    call_command("issue_api_key", "alice", stdout=out)
    api_key = api_key_find(out.getvalue().strip())
    assert api_key is not None and api_key.scope == "agent"


def test_it_lists_only_the_owners_keys_never_their_secrets(api, agent_key, read_key, bob) -> None:
    api_key_issue(user=bob, label="bob's")
    response = api.get("/api/v1/keys/")
    assert response.status_code == 200
    keys = response.json()
    assert sorted(k["label"] for k in keys) == ["agent", "dashboard reader"]
    current = [k for k in keys if k["current"]]
    assert len(current) == 1 and agent_key.startswith(current[0]["prefix"] + "_")
    secret = agent_key.split("_", 2)[2]  # the whole secret: token_urlsafe may put "_" in it
    assert all(secret not in str(k) for k in keys)


def test_the_owner_labels_a_key(api, read_key) -> None:
    key = ApiKey.objects.get(label="dashboard reader")
    response = api.patch(f"/api/v1/keys/{key.pk}/", {"label": "  monitoring  "})
    assert response.status_code == 200 and response.json()["label"] == "monitoring"


def test_a_revoked_key_is_refused_401(api, read_key) -> None:
    key = ApiKey.objects.get(label="dashboard reader")
    response = api.post(f"/api/v1/keys/{key.pk}/revoke/")
    assert response.status_code == 200 and response.json()["revoked_at"]
    response = Api(Client(), read_key).get("/api/v1/strategies/")
    assert response.status_code == 401 and error(response)["type"] == "authentication_failed"


def test_a_read_key_cannot_label_or_revoke(reader, agent_key) -> None:
    key = ApiKey.objects.get(label="agent")
    assert reader.patch(f"/api/v1/keys/{key.pk}/", {"label": "x"}).status_code == 403
    response = reader.post(f"/api/v1/keys/{key.pk}/revoke/")
    assert response.status_code == 403 and error(response)["type"] == "permission_denied"
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_another_users_key_is_404(api, bob) -> None:
    api_key_issue(user=bob)
    bobs = ApiKey.objects.get(user=bob)
    assert api.post(f"/api/v1/keys/{bobs.pk}/revoke/").status_code == 404
    assert ApiKey.objects.get(pk=bobs.pk).revoked_at is None


def test_no_credentials_is_401_with_www_authenticate(anonymous) -> None:
    response = anonymous.get("/api/v1/strategies/")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Bearer"
    assert error(response)["type"] == "not_authenticated"


def test_a_malformed_key_is_401(client) -> None:
    response = client.get("/api/v1/strategies/", HTTP_AUTHORIZATION="Bearer shk_\x00_x")
    assert response.status_code == 401 and error(response)["type"] == "authentication_failed"


def test_no_key_can_approve_there_is_no_such_route(api, staff) -> None:
    from strategies.services import strategy_deploy
    from tests.conftest import scripts_files

    strategy = strategy_deploy(owner=ApiKey.objects.get(label="agent").user, files=scripts_files()).strategy
    for path in (f"/api/v1/strategies/{strategy.pk}/approve/", f"/api/v1/strategies/{strategy.pk}/versions/1/approve/"):
        assert api.post(path).status_code == 404
    response = api.patch(f"/api/v1/strategies/{strategy.pk}/", {"status": "approved"})
    assert response.status_code == 405 and error(response)["type"] == "method_not_allowed"
    strategy.refresh_from_db()
    assert strategy.status == "pending_approval"
