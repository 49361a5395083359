"""Orders, fills and positions are read-only records; venue credentials are write-only."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from trading.credentials import credentials_encrypt
from trading.killswitch import kill_switch_set
from trading.models import Fill, KillSwitch, Order, Position, VenueAccount
from trading.services import CredentialsInvalid, venue_credentials_check
from trading.venues import ACCOUNT_CREDENTIALS


class ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ReadOnly):
    list_display = [
        "client_order_id",
        "strategy",
        "book",
        "venue",
        "market_id",
        "side",
        "quantity",
        "limit_price",
        "status",
        "created_at",
    ]
    list_filter = ["book", "venue", "status"]
    search_fields = ["client_order_id", "venue_order_id", "market_id", "strategy__name"]


@admin.register(Fill)
class FillAdmin(ReadOnly):
    list_display = ["order", "book", "quantity", "price", "fee_usd", "filled_at"]
    list_filter = ["book"]


@admin.register(Position)
class PositionAdmin(ReadOnly):
    list_display = [
        "strategy",
        "book",
        "venue",
        "market_id",
        "side",
        "status",
        "quantity",
        "cost_basis_usd",
        "realized_pnl_usd",
        "opened_at",
        "closed_at",
    ]
    list_filter = ["book", "venue", "status"]


class VenueAccountForm(forms.ModelForm):  # type: ignore[type-arg]
    new_credentials = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text='JSON object, e.g. {"api_key": "…", "secret_key": "…"}. Stored encrypted; never shown again. '
        "Leave empty to keep the current credentials. Keys per venue: "
        + "; ".join(f"{venue}: {', '.join(required)}" + (f" (optional: {', '.join(optional)})" if optional else "")
                    for venue, (required, optional) in ACCOUNT_CREDENTIALS.items())
        + ". Live orders of this owner on this venue go to this account (the one labelled 'default' if several).",
    )

    class Meta:
        model = VenueAccount
        fields = ["owner", "venue", "label", "is_live"]

    def clean_new_credentials(self) -> dict[str, str] | None:
        raw = self.cleaned_data["new_credentials"].strip()
        if not raw:
            if self.instance.pk is None:
                raise forms.ValidationError("new credentials are required for a new account")
            return None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc.msg}") from None
        if not isinstance(value, dict) or not value or not all(isinstance(v, str) and v for v in value.values()):
            raise forms.ValidationError("must be a JSON object of non-empty strings")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        credentials, venue = data.get("new_credentials"), data.get("venue")
        if not credentials and self.instance.pk is not None and venue != self.instance.venue:
            self.add_error("new_credentials", "new credentials are required when the venue changes")
        if credentials and venue:
            try:
                venue_credentials_check(venue, credentials)
            except CredentialsInvalid as exc:
                self.add_error("new_credentials", str(exc))
        return data

    def save(self, commit: bool = True) -> VenueAccount:
        account: VenueAccount = super().save(commit=False)
        credentials = self.cleaned_data.get("new_credentials")
        if credentials:
            account.credentials_encrypted = credentials_encrypt(credentials)
            account.credential_names = sorted(credentials)
        if commit:
            account.save()
        return account


@admin.register(VenueAccount)
class VenueAccountAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = VenueAccountForm
    list_display = ["owner", "venue", "label", "is_live", "credential_names", "updated_at"]
    readonly_fields = ["credential_names", "updated_at"]


class KillSwitchForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = KillSwitch
        fields = ["engaged", "reason"]
        help_texts = {
            "engaged": "On: every live order is refused and every live strategy is paused. Paper trading goes on.",
            "reason": "Required to engage; shown on every strategy it pauses. Releasing re-enables nothing: "
            "enable each live strategy again yourself.",
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("engaged") and not str(data.get("reason", "")).strip():
            self.add_error("reason", "say why the kill switch is engaged")
        return data


@admin.register(KillSwitch)
class KillSwitchAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """One row: the list page goes straight to it; saving goes through `kill_switch_set`."""

    form = KillSwitchForm
    readonly_fields = ["changed_by", "changed_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        KillSwitch.objects.get_or_create(pk=1)
        return HttpResponseRedirect(reverse("admin:trading_killswitch_change", args=[1]))

    def save_model(self, request: HttpRequest, obj: KillSwitch, form: Any, change: bool) -> None:
        paused = kill_switch_set(engaged=obj.engaged, by=request.user, reason=obj.reason)  # type: ignore[arg-type]
        if obj.engaged:
            self.message_user(request, f"Kill switch ENGAGED: live orders are refused; {paused} live "
                              f"strateg{'y' if paused == 1 else 'ies'} paused.", messages.WARNING)
        else:
            self.message_user(request, "Kill switch released. Paused live strategies stay paused until enabled.")
