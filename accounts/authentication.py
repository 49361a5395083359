"""DRF authentication by API key: `Authorization: Bearer shk_…`. `request.auth` is the ApiKey."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import ApiKey
from accounts.services import api_key_find


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header.startswith(f"{self.keyword} "):
            return None
        api_key = api_key_find(header[len(self.keyword) + 1 :].strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed("invalid or revoked API key")
        return api_key.user, api_key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
