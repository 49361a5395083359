"""/api/v1/keys/ and /api/v1/tools/: the caller's API keys, and the tool definitions for function calling."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import DateTimeField

from accounts.models import ApiKey
from accounts.services import api_key_label, api_key_revoke
from api import serializers as s
from api.views.base import ApiView, answers


def _key_data(api_key: ApiKey, request: Request) -> dict[str, Any]:
    when = DateTimeField().to_representation
    return {"id": str(api_key.pk), "prefix": f"shk_{api_key.prefix}", "label": api_key.label, "scope": api_key.scope,
            "created_at": when(api_key.created_at),
            "last_used_at": when(api_key.last_used_at) if api_key.last_used_at else None,
            "revoked_at": when(api_key.revoked_at) if api_key.revoked_at else None,
            "current": isinstance(request.auth, ApiKey) and request.auth.pk == api_key.pk}


class KeyListView(ApiView):
    @extend_schema(operation_id="keys_list", responses=answers(s.ApiKeySerializer(many=True)),
                   summary="Your API keys (never their secrets)")
    def get(self, request: Request) -> Response:
        return Response([_key_data(k, request) for k in ApiKey.objects.filter(user=request.user)])  # type: ignore[misc]


class KeyView(ApiView):
    def key(self, key_id: int) -> ApiKey:
        api_key = ApiKey.objects.filter(user=self.request.user, pk=key_id).first()  # type: ignore[misc]
        if api_key is None:
            raise NotFound(f"you have no API key {key_id}")
        return api_key


class KeyDetailView(KeyView):
    @extend_schema(operation_id="keys_label", request=s.KeyLabelSerializer, responses=answers(s.ApiKeySerializer),
                   summary="Label one of your API keys")
    def patch(self, request: Request, key_id: int) -> Response:
        api_key = self.key(key_id)
        data = self.valid(s.KeyLabelSerializer, request.data)
        return Response(_key_data(api_key_label(api_key=api_key, label=data["label"]), request))


class KeyRevokeView(KeyView):
    @extend_schema(operation_id="keys_revoke", request=s.EmptySerializer, responses=answers(s.ApiKeySerializer),
                   summary="Revoke one of your API keys, for good")
    def post(self, request: Request, key_id: int) -> Response:
        return Response(_key_data(api_key_revoke(api_key=self.key(key_id)), request))


class ToolsView(ApiView):
    @extend_schema(operation_id="tools_list", parameters=[
        OpenApiParameter("format", str, enum=["openai", "anthropic", "mcp"], description="Whose tool format.")],
        responses=answers(s.ToolsSerializer), summary="Tool definitions for LLM function calling and MCP")
    def get(self, request: Request) -> Response:
        from api.tools import tool_definitions

        data = self.valid(s.ToolsFormatSerializer, request.query_params)
        return Response({"format": data["format"], "tools": tool_definitions(data["format"])})
