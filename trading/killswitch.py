"""The global kill switch: refuse every live order and pause live strategies (docs/money.md, "Kill switch").

Pausing is the strategies' own service: engaging sends `kill_switch_engaged_signal`, and
strategies/apps.py connects `strategies_pause_live` to it (trading imports nothing from strategies).

Two ways to engage it: `KILL_SWITCH=1` in the environment (read at start) or the admin's
Kill switch page (a row, so every worker sees it on its next order). Disengaging refuses
nothing any more but re-enables nothing either: a person enables each live strategy again.
Paper trading and dry runs are not affected.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from trading.models import KillSwitch

# Sent inside the transaction that engages the switch, with `reason`; each receiver returns how many
# strategies it paused. Connected in strategies/apps.py.
kill_switch_engaged_signal = Signal()


def kill_switch_engaged() -> bool:
    if settings.KILL_SWITCH:
        return True
    return KillSwitch.objects.filter(pk=1, engaged=True).exists()


def kill_switch_reason() -> str:
    if settings.KILL_SWITCH:
        return "KILL_SWITCH is set in the environment"
    row = KillSwitch.objects.filter(pk=1).first()
    return (row.reason or "engaged from the admin") if row and row.engaged else ""


@transaction.atomic
def kill_switch_set(*, engaged: bool, by: AbstractBaseUser | None, reason: str = "") -> int:
    """Engage or release the switch; engaging pauses every enabled live strategy. Returns how many it paused."""
    reason = reason.strip()
    if engaged and not reason:
        raise ValueError("reason: say why the kill switch is engaged; it is shown on every paused strategy")
    row, _ = KillSwitch.objects.select_for_update().get_or_create(pk=1)
    row.engaged, row.reason, row.changed_at = engaged, reason[:500], timezone.now()
    row.changed_by_id = by.pk if by is not None else None
    row.save()
    if not engaged:
        return 0
    paused = 0
    for _, answer in kill_switch_engaged_signal.send(sender=KillSwitch, reason=reason):
        paused += answer if isinstance(answer, int) else 0  # each receiver says how many it paused
    return paused
