from typing import Any

from django.apps import AppConfig


def _pause_live_on_kill_switch(*, reason: str, **kwargs: Any) -> int:
    """Engaging the kill switch pauses every enabled live strategy: the one pause service, strategies'."""
    from strategies.services import strategies_pause_live

    return strategies_pause_live(reason)


class StrategiesConfig(AppConfig):
    name = "strategies"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from trading.killswitch import kill_switch_engaged_signal

        kill_switch_engaged_signal.connect(_pause_live_on_kill_switch, dispatch_uid="strategies.pause_live")
