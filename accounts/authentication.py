"""DRF authentication by API key: `Authorization: Bearer shk_…`."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.services import api_key_user


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header.startswith(f"{self.keyword} "):
            return None
        user = api_key_user(header[len(self.keyword) + 1 :].strip())
        if user is None:
            raise exceptions.AuthenticationFailed("invalid or revoked API key")
        return user, None

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
