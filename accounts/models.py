"""API keys for agents, and the answers to POSTs sent with an Idempotency-Key.

Only a key's hash is stored; the key is shown once, when issued.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class ApiKeyScope(models.TextChoices):
    # agent: read, deploy, new versions, test run, run now, pause/enable the owner's strategies.
    AGENT = "agent", "Agent (read and write, never approve)"
    READ = "read", "Read only"


class ApiKey(models.Model):
    Scope = ApiKeyScope

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    prefix = models.CharField(max_length=16, unique=True, help_text="Public part, to find the key without its secret.")
    key_hash = models.CharField(max_length=64)
    label = models.CharField(max_length=80, blank=True)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.AGENT)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(key_hash__regex=r"^[0-9a-f]{64}$"), name="api_key_hash_is_hex"),
            models.CheckConstraint(condition=Q(scope__in=ApiKeyScope.values), name="api_key_scope_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · shk_{self.prefix}… ({self.scope})"

    @property
    def can_write(self) -> bool:
        return self.scope == ApiKeyScope.AGENT


class IdempotentRequest(models.Model):
    """The first answer to a POST sent with an `Idempotency-Key`, replayed to every retry of it.

    A row without `status_code` is a request still being answered: a concurrent retry waits (409).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="sha256 of the method, path and body.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotent_request_unique_key"),
        ]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.user} · {self.key} ({self.status_code or 'in progress'})"
