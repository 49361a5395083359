"""Venue adapters behind one interface; `venue_client(platform)` builds one from settings.VENUES.

With no `credentials`, the settings' credentials are used (the operator's own account); when a
venue's URLs point at the venue simulator and none are configured, the simulator's development
credentials. With `credentials` (a user's `VenueAccount`), only those are used: never mixed with
the settings' ones, never a development fallback (see docs/venues.md, "Accounts").
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from trading.venues.base import VenueClient
from trading.venues.errors import VenueError
from trading.venues.platforms import PLATFORMS

# The credential names of each venue: (required, optional). A VenueAccount stores exactly these.
ACCOUNT_CREDENTIALS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "polymarket": (("private_key",), ("api_key", "api_secret", "api_passphrase", "funder")),
    "kalshi": (("key_id", "private_key"), ()),
    "alpaca": (("api_key", "secret_key"), ()),
}
# Names in settings.VENUES that are credentials rather than endpoints.
SETTINGS_CREDENTIALS = {
    "polymarket": ("private_key", "api_key", "api_secret", "api_passphrase", "funder"),
    "kalshi": ("key_id", "private_key_path", "private_key"),
    "alpaca": ("api_key", "secret_key"),
}


def simulator_key_dir() -> Path:
    """Where the simulator keeps its dev Kalshi key pair; shared by the simulator and the adapters."""
    from django.conf import settings

    return Path(settings.VAR_DIR) / "venue_simulator"


def points_at_simulator(config: Mapping[str, Any]) -> bool:
    from django.conf import settings

    simulator = str(settings.VENUE_SIMULATOR_URL).rstrip("/")
    return any(str(value).startswith(simulator + "/") for key, value in config.items() if key.endswith("_url"))


def polymarket_taker_rate_of(client: VenueClient, instrument_id: str) -> Decimal | None:
    """The token's taker fee rate as the venue states it (Polymarket's adapter reads /fee-rate); None for a
    client that has no such look-up. A venue that cannot answer raises VenueError."""
    lookup = getattr(client, "get_fee_rate", None)
    return Decimal(str(lookup(instrument_id))) if callable(lookup) else None


def venue_client(platform: str, credentials: Mapping[str, Any] | None = None) -> VenueClient:
    """An adapter for `platform` on settings.VENUES' endpoints, signed with `credentials` (an account's
    own, see ACCOUNT_CREDENTIALS) or, without them, with the settings' credentials."""
    from django.conf import settings

    if platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {', '.join(PLATFORMS)}, got {platform!r}")
    config: dict[str, Any] = dict(settings.VENUES[platform])
    if credentials is not None:
        config = {key: value for key, value in config.items() if key not in SETTINGS_CREDENTIALS[platform]}
        config.update(credentials)
    timeout = float(settings.VENUE_TIMEOUT_SECONDS)
    dev = None
    if credentials is None and points_at_simulator(config):
        from trading.simulator.credentials import dev_credentials

        dev = dev_credentials(simulator_key_dir())
    if platform == "polymarket":
        from trading.venues.polymarket import PolymarketVenue

        private_key = config.get("private_key") or (dev.polymarket_private_key if dev else None)
        return PolymarketVenue(
            clob_url=config["clob_url"], gamma_url=config["gamma_url"], data_url=config["data_url"],
            private_key=private_key, api_key=config.get("api_key") or "", api_secret=config.get("api_secret") or "",
            api_passphrase=config.get("api_passphrase") or "", funder=config.get("funder") or "",
            chain_id=int(config.get("chain_id") or 137), timeout=timeout,
        )
    if platform == "kalshi":
        from trading.venues.kalshi import KalshiSigner, KalshiVenue

        key_id = config.get("key_id") or (dev.kalshi_key_id if dev else "")
        key_path = config.get("private_key_path") or (dev.kalshi_private_key_path if dev else "")
        if config.get("private_key"):  # an account's PEM text
            signer: KalshiSigner | None = KalshiSigner(key_id, str(config["private_key"]).encode())
        else:
            signer = KalshiSigner.from_file(key_id, key_path) if key_id and key_path else None
        return KalshiVenue(config["api_url"], signer, timeout=timeout)
    from trading.venues.alpaca import AlpacaVenue

    api_key = config.get("api_key") or (dev.alpaca_api_key if dev else "")
    secret_key = config.get("secret_key") or (dev.alpaca_secret_key if dev else "")
    if not (api_key and secret_key):
        raise VenueError("alpaca", "ALPACA_API_KEY and ALPACA_SECRET_KEY are required for a real Alpaca account")
    return AlpacaVenue(api_key, secret_key, trading_url=config.get("trading_url"), data_url=config.get("data_url"),
                       paper=bool(config.get("paper", True)), timeout=timeout)


__all__ = ["ACCOUNT_CREDENTIALS", "PLATFORMS", "VenueClient", "VenueError", "points_at_simulator",
           "simulator_key_dir", "venue_client"]
