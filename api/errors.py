"""One error shape for every answer of the API that is not a success:

    {"error": {"type": "...", "message": "...", "issues": [{"file", "path", "line", "message"}]}}

`type` is what an agent branches on; `issues` lists every problem at once (a validation error names
the file, the JSON path or the line). Nothing an agent sends gets a 5xx: an unexpected exception is
logged and answered 500 in the same shape, and is a bug to fix.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from strategyhub.lib.refusal import Refused, issue, summary

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An error with its own `type`; raise it from a view."""

    def __init__(self, status_code: int, type_: str, message: str, issues: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.type = type_
        self.message = message
        self.issues = issues or []
        self.headers = headers or {}


def error_body(type_: str, message: str, issues: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"type": type_, "message": message, "issues": issues or []}}


def _flatten(detail: Any, path: str = "") -> list[dict[str, Any]]:
    """DRF's nested ValidationError detail -> one issue per leaf, with its JSON path."""
    if isinstance(detail, dict):
        found: list[dict[str, Any]] = []
        for key, value in detail.items():
            key = str(key)
            child = path if key == "non_field_errors" else (f"{path}.{key}" if path else key)
            found += _flatten(value, child)
        return found
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [issue(f"{path}: {item}" if path else str(item), path=path or None) for item in detail]
        found = []
        for index, value in enumerate(detail):
            found += _flatten(value, f"{path}[{index}]")
        return found
    return [issue(f"{path}: {detail}" if path else str(detail), path=path or None)]


_TYPES: dict[type[exceptions.APIException], str] = {
    exceptions.ParseError: "parse_error",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every exception of a view, in the one shape."""
    if isinstance(exc, Refused):  # every domain refusal, in one place: views never translate them
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return Response(error_body(exc.type, exc.message, exc.issues_json()), status=exc.status, headers=headers)
    if isinstance(exc, RequestDataTooBig):  # from the parser, or Django's own check when a body is read whole
        exc = ApiError(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "request_too_large",
                       f"the request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes; send less")
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)  # sets WWW-Authenticate and Retry-After
    if response is None:
        logger.exception("unhandled error in the API", exc_info=exc)
        return Response(error_body("internal_error", "an unexpected error; it was logged and will be fixed"),
                        status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if isinstance(exc, ApiError):
        response.data = error_body(exc.type, exc.message, exc.issues)
        for name, value in exc.headers.items():
            response[name] = value
    elif isinstance(exc, exceptions.ValidationError):
        issues = _flatten(exc.detail)
        response.data = error_body("validation_error", summary(issues), issues)
    else:
        assert isinstance(exc, exceptions.APIException)
        type_ = next((name for cls, name in _TYPES.items() if isinstance(exc, cls)), "error")
        message = str(exc.detail) if not isinstance(exc.detail, dict | list) else "; ".join(
            one["message"] for one in _flatten(exc.detail))
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            message = f"too many requests for this key: retry in {int(wait) + 1} s (see Retry-After)"
        response.data = error_body(type_, message)
    return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("not_found", f"no such resource: {request.path}"), status=404)
    return defaults.page_not_found(request, exception or Http404())


class ApiNotFoundMiddleware(MiddlewareMixin):
    """An unknown path under /api/ is the JSON not_found even under DEBUG (as `make run` has it), where Django
    answers with its HTML debug page and never calls handler404."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        json = response.get("Content-Type", "").startswith("application/json")
        if response.status_code == 404 and _is_api(request) and not json:
            return handler404(request)
        return response


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("internal_error", "an unexpected error; it was logged and will be fixed"),
                            status=500)
    return defaults.server_error(request)
