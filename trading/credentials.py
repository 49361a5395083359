"""Encryption at rest for venue credentials (Fernet, key derived from settings.CREDENTIALS_KEY)."""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class CredentialsError(Exception):
    pass


def _fernet() -> Fernet:
    digest = hashlib.sha256(b"strategyhub-venue-credentials:" + settings.CREDENTIALS_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def credentials_encrypt(credentials: dict[str, str]) -> bytes:
    return _fernet().encrypt(json.dumps(credentials, sort_keys=True).encode())


def credentials_decrypt(token: bytes) -> dict[str, str]:
    try:
        data: dict[str, str] = json.loads(_fernet().decrypt(bytes(token)))
    except InvalidToken:
        raise CredentialsError("venue credentials cannot be decrypted: CREDENTIALS_KEY changed?") from None
    return data
