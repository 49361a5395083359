"""Polymarket authentication as the CLOB does it: L1 (an EIP-712 `ClobAuth` signature recovered to the
wallet), L2 (API key, passphrase, address and an HMAC over the request), and the V2 order's EIP-712 digest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from typing import TYPE_CHECKING, Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

from trading.simulator.http import SimError, SimRequest

if TYPE_CHECKING:
    from trading.simulator.polymarket.records import PolyAccount

CHAIN_ID = 137
STANDARD_EXCHANGE = "0xE111180000d2663C0091e4f400237545B87B996B"
AUTH_WINDOW_SECONDS = 300
SERVER_SECRET = b"strategyhub venue simulator: polymarket api keys"
_CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"
_ORDER_FIELDS = [
    {"name": "salt", "type": "uint256"},
    {"name": "maker", "type": "address"},
    {"name": "signer", "type": "address"},
    {"name": "tokenId", "type": "uint256"},
    {"name": "makerAmount", "type": "uint256"},
    {"name": "takerAmount", "type": "uint256"},
    {"name": "side", "type": "uint8"},
    {"name": "signatureType", "type": "uint8"},
    {"name": "timestamp", "type": "uint256"},
    {"name": "metadata", "type": "bytes32"},
    {"name": "builder", "type": "bytes32"},
]
_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]



def api_creds_for(address: str, nonce: int = 0) -> tuple[str, str, str]:
    """Deterministic L2 credentials, so a dev setup can also configure them up front."""
    material = hmac.new(SERVER_SECRET, f"{address.lower()}:{nonce}".encode(), hashlib.sha256).digest()
    return str(uuid.UUID(bytes=material[:16])), base64.urlsafe_b64encode(material).decode(), material[16:].hex()


def order_digest(order: dict[str, Any], exchange: str = STANDARD_EXCHANGE) -> tuple[bytes, Any]:
    """The EIP-712 (CTF Exchange V2) digest of an order as posted, and its signable message."""
    message = {
        "salt": int(order["salt"]),
        "maker": order["maker"],
        "signer": order["signer"],
        "tokenId": int(order["tokenId"]),
        "makerAmount": int(order["makerAmount"]),
        "takerAmount": int(order["takerAmount"]),
        "side": 0 if order["side"] == "BUY" else 1,
        "signatureType": int(order["signatureType"]),
        "timestamp": int(order["timestamp"]),
        "metadata": order["metadata"],
        "builder": order["builder"],
    }
    typed = {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "Order": _ORDER_FIELDS},
        "primaryType": "Order",
        "domain": {
            "name": "Polymarket CTF Exchange", "version": "2", "chainId": CHAIN_ID, "verifyingContract": exchange,
        },
        "message": message,
    }
    signable = encode_typed_data(full_message=typed)
    return keccak(b"\x19" + signable.version + signable.header + signable.body), signable


def l1_signer(request: SimRequest) -> tuple[str, int]:
    """The wallet address an L1 request is signed by, and its nonce; SimError 401 when it is not."""
    address, signature = request.header("POLY_ADDRESS"), request.header("POLY_SIGNATURE")
    timestamp, nonce = request.header("POLY_TIMESTAMP"), request.header("POLY_NONCE") or "0"
    if not (address and signature and timestamp):
        raise SimError(401, "Invalid L1 Request headers")
    typed = {
        "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": CHAIN_ID},
        "types": {
            "EIP712Domain": _DOMAIN_FIELDS[:3],
            "ClobAuth": [
                {"name": "address", "type": "address"},
                {"name": "timestamp", "type": "string"},
                {"name": "nonce", "type": "uint256"},
                {"name": "message", "type": "string"},
            ],
        },
        "primaryType": "ClobAuth",
        "message": {"address": address, "timestamp": timestamp, "nonce": int(nonce), "message": _CLOB_AUTH_MESSAGE},
    }
    try:
        recovered = Account.recover_message(encode_typed_data(full_message=typed), signature=signature)
    except Exception as error:
        raise SimError(401, "Invalid L1 Request headers") from error
    if recovered.lower() != address.lower() or abs(time.time() - int(timestamp)) > AUTH_WINDOW_SECONDS:
        raise SimError(401, "Invalid L1 Request headers")
    return recovered, int(nonce)


def l2_verify(request: SimRequest, account: PolyAccount) -> None:
    """Check an L2 request's passphrase, address, time window and HMAC against `account`; SimError 401 if not."""
    if request.header("POLY_PASSPHRASE") != account.passphrase:
        raise SimError(401, "Unauthorized/Invalid api key")
    if request.header("POLY_ADDRESS").lower() != account.address.lower():
        raise SimError(401, "Unauthorized/Invalid api key")
    timestamp = request.header("POLY_TIMESTAMP")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > AUTH_WINDOW_SECONDS:
        raise SimError(401, "Unauthorized/Invalid api key")
    message = timestamp + request.method + request.path + request.body.decode()
    expected = base64.urlsafe_b64encode(
        hmac.new(base64.urlsafe_b64decode(account.secret), message.encode(), hashlib.sha256).digest()
    ).decode()
    if not hmac.compare_digest(expected, request.header("POLY_SIGNATURE")):
        raise SimError(401, "Unauthorized/Invalid api key")
