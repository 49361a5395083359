"""Every page carries a Content-Security-Policy that allows no inline script; HSTS and the TLS proxy header are
switched on from the environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


@pytest.mark.parametrize("path", ["/accounts/login/", "/strategies/", "/admin/", "/admin/login/",
                                  "/admin/strategies/strategy/"])
def test_pages_carry_a_csp_without_inline_script(make_user, path) -> None:
    client = Client()
    client.force_login(make_user("keeper", staff=True, perms=("strategies.view_strategy",)))
    if path.endswith("login/"):
        client.logout()
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    directives = policy(response)
    assert directives["script-src"] == ["'self'"] and directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"] and directives["base-uri"] == ["'self'"]
    assert "'unsafe-inline'" not in directives["default-src"] + directives["style-src"]
    body = response.content.decode()
    assert "<script>" not in body and " onclick=" not in body and " onload=" not in body


def test_hsts_is_sent_over_https_when_set(settings) -> None:
    # Django's SecurityMiddleware reads its settings when a client first loads it: a new Client after each change.
    assert "Strict-Transport-Security" not in Client().get("/accounts/login/", secure=True)  # off by default
    settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = 31536000, True
    settings.SECURE_HSTS_PRELOAD = True
    assert Client().get("/accounts/login/", secure=True)["Strict-Transport-Security"] == \
        "max-age=31536000; includeSubDomains; preload"
    assert "Strict-Transport-Security" not in Client().get("/accounts/login/")  # never over plain http
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # USE_X_FORWARDED_PROTO=1
    behind_proxy = Client().get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})
    assert behind_proxy["Strict-Transport-Security"].startswith("max-age=31536000")


def _settings(**environ: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECURE_HSTS_SECONDS", "USE_X_FORWARDED_PROTO"}}
    env.update(environ, STRATEGYHUB_DOTENV="off", SECRET_KEY="k")
    done = subprocess.run(
        [sys.executable, "-c", "from strategyhub import settings as s; print(s.SECURE_HSTS_SECONDS, "
         "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, s.SECURE_PROXY_SSL_HEADER)"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip().split(maxsplit=3)


def test_hsts_and_the_proxy_header_come_from_the_environment(tmp_path) -> None:
    assert _settings(STRATEGYHUB_VAR_DIR=str(tmp_path)) == ["0", "False", "False", "None"]
    assert _settings(STRATEGYHUB_VAR_DIR=str(tmp_path), SECURE_HSTS_SECONDS="63072000",
                     SECURE_HSTS_INCLUDE_SUBDOMAINS="1", SECURE_HSTS_PRELOAD="1", USE_X_FORWARDED_PROTO="1") == [
        "63072000", "True", "True", "('HTTP_X_FORWARDED_PROTO', 'https')"]
