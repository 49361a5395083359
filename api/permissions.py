"""Who may do what through the API: a `read` key only reads; no key of any scope approves anything."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from accounts.models import ApiKey


class KeyScope(permissions.BasePermission):
    message = "this API key has the read scope: it can only read (issue an agent key to deploy or run)"

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        api_key = request.auth
        # A browser session (the dashboard's user) writes as the agent scope does.
        return not isinstance(api_key, ApiKey) or api_key.can_write
