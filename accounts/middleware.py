"""Refuses a login POST, at the dashboard's door or the admin's, while its account or client is locked
(accounts/logins.py): 429 with Retry-After and a page saying when to try again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from accounts.logins import client_address, login_retry_after


class LoginThrottleMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path in (reverse("login"), reverse("admin:login")):
            retry_after = login_retry_after(username=request.POST.get("username", ""),
                                            client=client_address(request))
            if retry_after is not None:
                response = render(request, "registration/login_throttled.html", {
                    "minutes": -(-retry_after // 60), "until": timezone.now() + timedelta(seconds=retry_after),
                    "login_url": request.get_full_path()}, status=429)
                response["Retry-After"] = str(retry_after)
                return response
        return self.get_response(request)
