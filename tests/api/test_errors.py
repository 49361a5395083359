"""One error shape for every failure, and a 4xx (never a 5xx) for every bad input."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from accounts.services import api_key_issue
from tests.api.conftest import Api, error

pytestmark = pytest.mark.django_db


def test_an_unknown_path_under_the_api_is_a_json_404(api) -> None:
    response = api.get("/api/v1/no-such-thing/")
    assert response.status_code == 404 and error(response)["type"] == "not_found"


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing/", "/api/nothing/", "/api/v1/strategies/1/nothing/"])
def test_an_unknown_path_under_the_api_is_a_json_404_with_debug_on_too(api, settings, path: str) -> None:
    settings.DEBUG = True  # as `make run` writes .env: Django's own HTML 404 page would answer
    response = api.get(path)
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert error(response)["type"] == "not_found"
    assert "html" in api.get("/no-such-page/")["Content-Type"]  # pages outside the API keep Django's


def test_a_non_numeric_or_huge_id_is_404_not_a_database_error(api) -> None:
    for path in ("/api/v1/strategies/abc/", "/api/v1/strategies/99999999999999999999999/",
                 "/api/v1/executions/9223372036854775808/", "/api/v1/strategies/999999999999999999/"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert error(response)["type"] == "not_found"


def test_malformed_json_is_a_parse_error(api) -> None:
    response = api.client.post("/api/v1/strategies/", data="{not json", content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {api.key}")
    assert response.status_code == 400 and error(response)["type"] == "parse_error"


def test_a_body_nested_too_deeply_is_a_parse_error(api) -> None:
    body = '{"files": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = api.client.post("/api/v1/strategies/", data=body, content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {api.key}")
    assert response.status_code == 400 and error(response)["type"] == "parse_error"
    assert "nested more than" in error(response)["message"]


def test_a_raw_nan_in_a_body_is_a_parse_error(api) -> None:
    response = api.client.post("/api/v1/strategies/", data='{"files": NaN}', content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {api.key}")
    assert response.status_code == 400 and error(response)["type"] == "parse_error"


def _body_of(size: int) -> str:
    """A file upload whose JSON body is exactly `size` bytes."""
    empty = json.dumps({"filename": "a.py", "content": ""})
    return json.dumps({"filename": "a.py", "content": "x" * (size - len(empty))})


@pytest.mark.parametrize("headers", [{}, {"HTTP_IDEMPOTENCY_KEY": "big-1"}])
def test_a_body_over_the_bound_is_413_and_is_not_parsed(api, settings, headers: dict[str, str]) -> None:
    bound = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = api.client.post("/api/v1/files/", data=_body_of(bound + 1), content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {api.key}", **headers)
    assert response.status_code == 413
    body = error(response)
    assert body["type"] == "request_too_large" and f"{bound} bytes" in body["message"]
    at_the_bound = api.client.post("/api/v1/files/", data=_body_of(bound), content_type="application/json",
                                   HTTP_AUTHORIZATION=f"Bearer {api.key}", **headers)
    assert at_the_bound.status_code == 400  # read and parsed: its content is longer than a file may be
    assert error(at_the_bound)["issues"][0]["path"] == "content"


def test_a_form_body_is_415(api) -> None:
    response = api.client.post("/api/v1/files/", data={"filename": "a.py"}, HTTP_AUTHORIZATION=f"Bearer {api.key}")
    assert response.status_code == 415 and error(response)["type"] == "unsupported_media_type"


def test_a_body_that_is_not_an_object_is_a_validation_error(api) -> None:
    for body in ([1, 2], "text", 3, None):
        response = api.post("/api/v1/strategies/", body)
        assert response.status_code == 400, body
        assert error(response)["type"] == "validation_error"


def test_a_nul_character_in_a_file_is_a_validation_error_naming_the_field(api) -> None:
    response = api.post("/api/v1/files/", {"filename": "entry.py", "content": "x = 1\x00"})
    assert response.status_code == 400
    body = error(response)
    assert body["type"] == "validation_error" and body["issues"][0]["path"] == "content"


def test_a_wrong_method_is_405(api) -> None:
    response = api.delete("/api/v1/strategies/")
    assert response.status_code == 405 and error(response)["type"] == "method_not_allowed"


def test_throttled_requests_get_429_with_retry_after(api, settings) -> None:
    settings.API_THROTTLE_RATES = {"read": "3/min", "write": "3/min"}
    codes = [api.get("/api/v1/strategies/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = api.get("/api/v1/strategies/")
    body = error(response)
    assert body["type"] == "throttled" and int(response["Retry-After"]) > 0
    assert "Retry-After" in body["message"]


def test_a_users_keys_share_one_budget(api, reader, settings) -> None:
    """Minting keys buys no requests: alice's second key finds the budget her first one spent."""
    settings.API_THROTTLE_RATES = {"read": "2/min", "write": "5/min"}
    assert [api.get("/api/v1/keys/").status_code for _ in range(2)] == [200, 200]
    response = reader.get("/api/v1/keys/")
    assert response.status_code == 429 and error(response)["type"] == "throttled"


def test_reads_and_writes_are_throttled_apart_and_per_user(api, make_user, settings) -> None:
    settings.API_THROTTLE_RATES = {"read": "2/min", "write": "5/min"}
    assert [api.get("/api/v1/keys/").status_code for _ in range(3)] == [200, 200, 429]
    bob = Api(Client(), api_key_issue(user=make_user("bob"), label="bob's agent"))
    assert bob.get("/api/v1/keys/").status_code == 200  # another user has their own count
    response = api.post("/api/v1/files/", {"filename": "a.py", "content": "x = 1\n"})
    assert response.status_code == 201  # writes are counted apart from reads
