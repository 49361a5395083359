"""POST /api/v1/files/: upload one file; GET it back."""

from __future__ import annotations

import hashlib

import pytest

from chatfiles.models import ChatFile
from tests.api.conftest import error

pytestmark = pytest.mark.django_db


def test_it_stores_a_file_and_answers_its_shape(api) -> None:
    response = api.post("/api/v1/files/", {"filename": "entry.py", "content": "x = 1\n", "chat_id": "chat-7"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "filename", "sha256", "size", "chat_id", "created_at"}
    assert body["sha256"] == hashlib.sha256(b"x = 1\n").hexdigest()
    assert (body["filename"], body["size"], body["chat_id"]) == ("entry.py", 6, "chat-7")
    assert api.get(f"/api/v1/files/{body['id']}/").json()["content"] == "x = 1\n"


def test_it_validates_every_field_at_once(api) -> None:
    response = api.post("/api/v1/files/", {"filename": "../etc/passwd", "chat_id": "x" * 200})
    assert response.status_code == 400
    body = error(response)
    assert body["type"] == "validation_error"
    assert sorted(i["path"] for i in body["issues"]) == ["chat_id", "content", "filename"]
    assert not ChatFile.objects.exists()


def test_another_users_file_is_404(api, bob) -> None:
    theirs = ChatFile.objects.create(owner=bob, filename="entry.py", content="x = 1\n")
    assert api.get(f"/api/v1/files/{theirs.pk}/").status_code == 404


def test_a_read_key_cannot_upload(reader) -> None:
    response = reader.post("/api/v1/files/", {"filename": "entry.py", "content": "x"})
    assert response.status_code == 403 and error(response)["type"] == "permission_denied"
