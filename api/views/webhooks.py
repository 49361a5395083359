"""/api/v1/webhooks/: endpoints, their deliveries and a test event."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import DateTimeField

from api import serializers as s
from api.views.base import ERRORS, ApiView, ListView, Page, answers
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.selectors import webhook_deliveries_for_endpoint, webhook_endpoints_for_user
from webhooks.services import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
    webhook_ping,
)


def _webhook_data(endpoint: WebhookEndpoint, *, secret: bool = False) -> dict[str, Any]:
    when = DateTimeField().to_representation
    data = {"id": str(endpoint.pk), "url": endpoint.url, "events": list(endpoint.events),
            "description": endpoint.description, "enabled": endpoint.enabled,
            "created_at": when(endpoint.created_at), "updated_at": when(endpoint.updated_at)}
    if secret:
        data["secret"] = endpoint.secret
    return data


def _delivery_data(delivery: WebhookDelivery) -> dict[str, Any]:
    when = DateTimeField().to_representation
    return {"id": str(delivery.pk), "event_id": str(delivery.event_id), "event_type": delivery.event_type,
            "status": delivery.status, "attempts": delivery.attempts,
            "next_attempt_at": when(delivery.next_attempt_at) if delivery.next_attempt_at else None,
            "last_attempt_at": when(delivery.last_attempt_at) if delivery.last_attempt_at else None,
            "last_status_code": delivery.last_status_code, "last_error": delivery.last_error or None,
            "created_at": when(delivery.created_at),
            "delivered_at": when(delivery.delivered_at) if delivery.delivered_at else None,
            "payload": delivery.payload}


class WebhookListView(ApiView):
    @extend_schema(operation_id="webhooks_list", responses=answers(s.WebhookSerializer(many=True)),
                   summary="Your webhook endpoints (never their secrets)")
    def get(self, request: Request) -> Response:
        return Response([_webhook_data(e) for e in webhook_endpoints_for_user(request.user)])  # type: ignore[arg-type]

    @extend_schema(operation_id="webhooks_create", request=s.WebhookCreateSerializer,
                   responses=answers(s.WebhookCreatedSerializer, 201),
                   summary="Add a webhook endpoint; the answer holds its signing secret, shown this once")
    def post(self, request: Request) -> Response:
        data = self.valid(s.WebhookCreateSerializer, request.data)
        endpoint = webhook_endpoint_create(user=request.user, url=data["url"],  # type: ignore[arg-type]
                                           events=data["events"], description=data["description"])
        return Response(_webhook_data(endpoint, secret=True), status=201)


class WebhookView(ApiView):
    def endpoint(self, webhook_id: int) -> WebhookEndpoint:
        endpoint = webhook_endpoints_for_user(self.request.user).filter(pk=webhook_id).first()  # type: ignore[arg-type]
        if endpoint is None:
            raise NotFound(f"you have no webhook {webhook_id}")
        return endpoint


class WebhookDetailView(WebhookView):
    @extend_schema(operation_id="webhooks_retrieve", responses=answers(s.WebhookSerializer),
                   summary="Read one webhook endpoint")
    def get(self, request: Request, webhook_id: int) -> Response:
        return Response(_webhook_data(self.endpoint(webhook_id)))

    @extend_schema(operation_id="webhooks_update", request=s.WebhookUpdateSerializer,
                   responses=answers(s.WebhookSerializer),
                   summary="Change a webhook's URL, events, description, or enable / disable it")
    def patch(self, request: Request, webhook_id: int) -> Response:
        endpoint = self.endpoint(webhook_id)
        data = self.valid(s.WebhookUpdateSerializer, request.data)
        endpoint = webhook_endpoint_update(endpoint=endpoint, **data)
        return Response(_webhook_data(endpoint))

    @extend_schema(operation_id="webhooks_delete", responses={204: None, **ERRORS},
                   summary="Delete a webhook endpoint and its deliveries")
    def delete(self, request: Request, webhook_id: int) -> Response:
        webhook_endpoint_delete(endpoint=self.endpoint(webhook_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListView(ListView, WebhookView):
    serializer_class = s.WebhookDeliverySerializer
    pagination_class = Page

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        return webhook_deliveries_for_endpoint(self.endpoint(self.kwargs["webhook_id"]))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        assert page is not None
        return self.get_paginated_response([_delivery_data(d) for d in page])

    @extend_schema(operation_id="webhooks_deliveries", summary="A webhook's deliveries, newest first",
                   responses={200: s.WebhookDeliverySerializer(many=True), **ERRORS})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class WebhookTestView(WebhookView):
    @extend_schema(operation_id="webhooks_test", request=s.EmptySerializer,
                   responses=answers(s.WebhookDeliverySerializer, 202),
                   summary="Send a signed `ping` event to this endpoint now; read its delivery to see the answer")
    def post(self, request: Request, webhook_id: int) -> Response:
        delivery = webhook_ping(endpoint=self.endpoint(webhook_id))
        return Response(_delivery_data(delivery), status=status.HTTP_202_ACCEPTED)
