"""Credentials the simulator accepts (never valid on a real venue).

The development account: the Kalshi RSA key pair is generated on first use into `key_dir` (0600)
so no private key is committed; the Alpaca keys and the Polymarket private key are fixed,
well-known dev values. More accounts (one per user, as tests need) are made by `new_*` below and
opened with `POST /_sim/accounts` (see `VenueSimulator.account_open`).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

POLYMARKET_DEV_PRIVATE_KEY = "0x" + hashlib.sha256(b"strategyhub venue simulator: polymarket dev key").hexdigest()
ALPACA_DEV_API_KEY = "SIMDEVALPACAKEY00001"
ALPACA_DEV_SECRET_KEY = "sim-dev-alpaca-secret-do-not-use-in-production"  # noqa: S105 - simulator-only
KALSHI_DEV_KEY_ID = "0f6c3d7e-5a1b-4c2d-9e8f-5157a7e9d001"
KALSHI_DEV_KEY_FILE = "kalshi-dev-private-key.pem"


@dataclass(frozen=True)
class DevCredentials:
    polymarket_private_key: str
    kalshi_key_id: str
    kalshi_private_key_path: Path
    alpaca_api_key: str
    alpaca_secret_key: str


def new_rsa_private_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def new_kalshi_credentials() -> tuple[str, bytes]:
    """A fresh Kalshi API key: its id and the PEM private key the user signs with."""
    return str(uuid.uuid4()), new_rsa_private_key_pem()


def new_alpaca_credentials() -> tuple[str, str]:
    """A fresh Alpaca key id and secret."""
    return "SIM" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)


def new_polymarket_private_key() -> str:
    """A fresh wallet key; its address is the account, and its L2 API key is derived from it."""
    return "0x" + secrets.token_hex(32)


def ensure_kalshi_dev_key(key_dir: Path) -> Path:
    """The dev RSA private key's path, generating the pair on first use."""
    key_dir.mkdir(parents=True, exist_ok=True)
    path = key_dir / KALSHI_DEV_KEY_FILE
    if path.exists():
        return path
    pem = new_rsa_private_key_pem()
    # Write then rename so two processes starting together never read a half-written key.
    fd, tmp = tempfile.mkstemp(dir=key_dir, prefix=".kalshi-key-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.chmod(tmp, 0o600)
    try:
        os.link(tmp, path)  # fails if another process won the race; keep theirs
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return path


def dev_credentials(key_dir: Path) -> DevCredentials:
    return DevCredentials(
        polymarket_private_key=POLYMARKET_DEV_PRIVATE_KEY,
        kalshi_key_id=KALSHI_DEV_KEY_ID,
        kalshi_private_key_path=ensure_kalshi_dev_key(key_dir),
        alpaca_api_key=ALPACA_DEV_API_KEY,
        alpaca_secret_key=ALPACA_DEV_SECRET_KEY,
    )
