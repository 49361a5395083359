"""Polymarket through the official unified SDK (`polymarket-client`), which signs CLOB V2 orders.

Reads go through a PublicClient (CLOB, Gamma, Data API); account calls through a SecureClient
created on first use (it derives or validates the L2 API key with the CLOB, an L1-signed request).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

import httpx
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from polymarket import PublicClient, SecureClient
from polymarket._internal.environment import PRODUCTION_CONFIG, with_environment_config
from polymarket.environments import PRODUCTION, Environment
from polymarket.errors import (
    PolymarketError,
    RateLimitError,
    RequestRejectedError,
    SigningError,
    TransportError,
    UnexpectedResponseError,
    UserInputError,
)
from polymarket.models import ApiKeyCreds
from polymarket.models.clob.order_response import AcceptedOrder, RejectedOrder
from polymarket.models.clob.orders import SignedOrder

from trading.venues.domain import (
    Balance,
    BookLevel,
    CancelResult,
    Fill,
    Market,
    OrderBook,
    OrderRequest,
    OrderSide,
    OrderState,
    OrderStatus,
    PreparedOrder,
    PricePoint,
    Quote,
    TraderRank,
    VenuePosition,
    WalletTrade,
)
from trading.venues.errors import (
    AuthenticationFailed,
    InvalidRequest,
    MalformedResponse,
    NotFound,
    OrderRejected,
    VenueConnectionError,
    VenueError,
    VenueTimeout,
    error_for_status,
)
from trading.venues.http_errors import error_from_response, json_or_malformed
from trading.venues.resilience import RateLimits, Resilience, RetryPolicy

PLATFORM = "polymarket"
T = TypeVar("T")
UNITS = Decimal(1_000_000)
# docs.polymarket.com rate limits: /book, /price, /midpoint 1,500 per 10 s; POST /order 3,500 per 10 s burst.
POLYMARKET_RATE_LIMITS = RateLimits(read_per_second=150, write_per_second=350, burst_seconds=1)
_ORDER_FIELDS = [
    {"name": "salt", "type": "uint256"}, {"name": "maker", "type": "address"}, {"name": "signer", "type": "address"},
    {"name": "tokenId", "type": "uint256"}, {"name": "makerAmount", "type": "uint256"},
    {"name": "takerAmount", "type": "uint256"}, {"name": "side", "type": "uint8"},
    {"name": "signatureType", "type": "uint8"}, {"name": "timestamp", "type": "uint256"},
    {"name": "metadata", "type": "bytes32"}, {"name": "builder", "type": "bytes32"},
]
_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"},
]


def environment_for(clob_url: str, gamma_url: str, data_url: str, chain_id: int = 137) -> Environment:
    """The SDK's production environment with our base URLs (the SDK has no public override yet)."""
    config = dataclasses.replace(PRODUCTION_CONFIG, clob_url=clob_url.rstrip("/"), gamma_url=gamma_url.rstrip("/"),
                                 data_url=data_url.rstrip("/"), chain_id=chain_id)
    return with_environment_config(PRODUCTION, config=config)


def _set_timeout(client: Any, seconds: float) -> None:
    # The SDK builds its httpx clients with a 10 s read timeout and exposes no option; ours comes from settings.
    for name in ("gamma", "data", "clob", "secure_clob"):
        transport = getattr(client._ctx, name, None)
        if transport is not None:
            transport._client.timeout = httpx.Timeout(seconds)


def signed_order_hash(signed: SignedOrder, *, chain_id: int, exchanges: tuple[str, ...]) -> str:
    """The CLOB order id: the EIP-712 hash of the signed V2 order, known before it is posted.

    The verifying contract depends on the market (standard or neg-risk exchange); the one whose
    digest recovers the order's signer is the one it was signed for.
    """
    message = {
        "salt": signed.salt, "maker": signed.maker, "signer": signed.signer, "tokenId": int(signed.token_id),
        "makerAmount": signed.maker_amount, "takerAmount": signed.taker_amount,
        "side": 0 if signed.side == "BUY" else 1, "signatureType": signed.signature_type,
        "timestamp": signed.timestamp, "metadata": signed.metadata, "builder": signed.builder,
    }
    for exchange in exchanges:
        signable = encode_typed_data(full_message={
            "types": {"EIP712Domain": _DOMAIN_FIELDS, "Order": _ORDER_FIELDS}, "primaryType": "Order",
            "domain": {"name": "Polymarket CTF Exchange", "version": "2", "chainId": chain_id,
                       "verifyingContract": exchange},
            "message": message,
        })
        if Account.recover_message(signable, signature=signed.signature).lower() == signed.signer.lower():
            return "0x" + keccak(b"\x19" + signable.version + signable.header + signable.body).hex()
    raise InvalidRequest(PLATFORM, "the signed order does not match any known exchange contract")


def _translated(call: Callable[[], T]) -> T:
    """Runs an SDK call and turns its exceptions into ours."""
    try:
        return call()
    except RateLimitError as error:
        raise error_for_status(PLATFORM, 429, str(error), error.retry_after) from error
    except RequestRejectedError as error:
        raise error_for_status(PLATFORM, error.status, str(error), error.retry_after) from error
    except TransportError as error:
        if isinstance(error.__cause__, httpx.TimeoutException):
            raise VenueTimeout(PLATFORM, str(error)) from error
        raise VenueConnectionError(PLATFORM, str(error)) from error
    except UnexpectedResponseError as error:
        raise MalformedResponse(PLATFORM, str(error)) from error
    except (UserInputError, SigningError) as error:
        raise InvalidRequest(PLATFORM, str(error)) from error
    except PolymarketError as error:
        raise VenueError(PLATFORM, str(error)) from error


def _settled(raw: Any) -> str | None:
    """A closed market whose outcome prices went to 1 / 0 has resolved (Gamma's outcomePrices)."""
    if not raw.state.closed:
        return None
    for name in ("yes", "no"):
        outcome = getattr(raw.outcomes, name)
        if outcome.price is not None and Decimal(outcome.price) == 1:
            return name
    return None


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


class PolymarketVenue:
    platform = PLATFORM

    def __init__(self, *, clob_url: str, gamma_url: str, data_url: str, private_key: str | None = None,
                 api_key: str = "", api_secret: str = "", api_passphrase: str = "", funder: str = "",
                 chain_id: int = 137, timeout: float = 10.0,
                 rate_limits: RateLimits | None = POLYMARKET_RATE_LIMITS, retry: RetryPolicy | None = None):
        self.environment = environment_for(clob_url, gamma_url, data_url, chain_id)
        self.clob_url = clob_url.rstrip("/")
        self.chain_id = chain_id
        self.timeout = timeout
        self.private_key = private_key
        self.credentials = (
            ApiKeyCreds.model_validate({"apiKey": api_key, "secret": api_secret, "passphrase": api_passphrase})
            if api_key and api_secret and api_passphrase else None
        )
        self.wallet = funder or (Account.from_key(private_key).address if private_key else "")
        self.public = PublicClient(environment=self.environment)
        _set_timeout(self.public, timeout)
        self._secure: SecureClient | None = None
        self._secure_lock = threading.Lock()
        self.resilience = Resilience(PLATFORM, rate_limits, retry)
        self._fee_rates: dict[str, Decimal] = {}
        config = PRODUCTION_CONFIG
        self.exchanges = (config.standard_exchange, config.neg_risk_exchange)

    def close(self) -> None:
        self.public.close()
        if self._secure is not None:
            self._secure.close()

    @property
    def secure(self) -> SecureClient:
        """The authenticated client, created (and its API key derived) on first use."""
        if self._secure is None:
            if not self.private_key:
                raise AuthenticationFailed(PLATFORM, "this operation needs a Polymarket private key")
            with self._secure_lock:
                if self._secure is None:
                    private_key = self.private_key

                    def create() -> SecureClient:
                        return SecureClient.create(private_key=private_key, wallet=self.wallet or None,
                                                   environment=self.environment, credentials=self.credentials)

                    client = self.resilience.call(lambda: _translated(create), kind="read", idempotent=True)
                    _set_timeout(client, self.timeout)
                    self._secure = client
        return self._secure

    def _read(self, call: Callable[[], T]) -> T:
        return self.resilience.call(lambda: _translated(call), kind="read", idempotent=True)

    # --- market data ----------------------------------------------------------------------------
    def _market(self, raw: Any) -> Market:
        outcomes = raw.outcomes
        tokens = tuple(str(o.token_id) for o in (outcomes.yes, outcomes.no) if o.token_id is not None)
        return Market(
            platform=PLATFORM, market_id=str(raw.condition_id or raw.id), title=raw.question or "",
            instrument_ids=tokens, outcomes=(outcomes.yes.label, outcomes.no.label),
            active=bool(raw.state.active) and not raw.state.closed, slug=raw.slug or "", category=raw.category or "",
            tick_size=raw.trading.minimum_tick_size, min_order_size=raw.trading.minimum_order_size,
            settled_outcome=_settled(raw),
        )

    def get_market_for_instrument(self, instrument_id: str) -> Market:
        """The market a token belongs to (Gamma, by CLOB token id)."""
        page = self._read(lambda: self.public.list_markets(clob_token_ids=[instrument_id], page_size=1).first_page())
        if not page.items:
            raise NotFound(PLATFORM, f"no market with token {instrument_id}")
        return self._market(page.items[0])

    def search_markets(self, query: str = "", *, limit: int = 20) -> list[Market]:
        if not query:
            page = self._read(lambda: self.public.list_markets(closed=False, page_size=limit).first_page())
            return [self._market(m) for m in page.items][:limit]
        found = self._read(lambda: self.public.search(q=query).first_page())
        markets = [m for results in found.items for event in results.events for m in (event.markets or ())]
        return [self._market(m) for m in markets[:limit]]

    def get_market(self, market_id: str) -> Market:
        """By condition id (0x…), Gamma id (digits) or slug."""
        if market_id.startswith("0x"):
            page = self._read(lambda: self.public.list_markets(condition_ids=[market_id], page_size=1).first_page())
            if not page.items:
                raise NotFound(PLATFORM, f"no market with condition id {market_id}")
            return self._market(page.items[0])
        if market_id.isdigit():
            return self._market(self._read(lambda: self.public.get_market(id=market_id)))
        return self._market(self._read(lambda: self.public.get_market(slug=market_id)))

    def get_order_book(self, instrument_id: str) -> OrderBook:
        book = self._read(lambda: self.public.get_order_book(token_id=instrument_id))
        # The CLOB lists the best level last; ours is best first.
        return OrderBook(
            instrument_id,
            tuple(BookLevel(lv.price, lv.size) for lv in reversed(book.bids)),
            tuple(BookLevel(lv.price, lv.size) for lv in reversed(book.asks)),
            _utc(book.timestamp),
        )

    def get_quote(self, instrument_id: str) -> Quote:
        book = self.get_order_book(instrument_id)
        return Quote(instrument_id, book.best_bid, book.best_ask,
                     book.bids[0].size if book.bids else None, book.asks[0].size if book.asks else None, book.as_of)

    def get_fee_rate(self, instrument_id: str) -> Decimal:
        """The taker fee rate of a token, from `GET /fee-rate` (`{"base_fee": bps}`), kept for this client's life.

        Used by the paper broker and the sizing's worst-cost bound: fee = shares × rate × p × (1 − p).
        """
        if instrument_id not in self._fee_rates:
            url = f"{self.clob_url}/fee-rate"

            def fetch() -> Decimal:
                payload = self._clob_json(url, {"token_id": instrument_id})
                try:
                    return Decimal(str(payload["base_fee"])) / 10000
                except (KeyError, TypeError, ArithmeticError) as error:
                    raise MalformedResponse(PLATFORM, f"/fee-rate answered {payload!r}") from error

            self._fee_rates[instrument_id] = self.resilience.call(fetch, kind="read", idempotent=True)
        return self._fee_rates[instrument_id]

    def _clob_json(self, url: str, params: dict[str, str | int]) -> Any:
        """A public CLOB GET the SDK does not wrap: its JSON, or the venue error its failure means."""
        try:
            response = httpx.get(url, params=params, timeout=self.timeout)
        except httpx.TimeoutException as error:
            raise VenueTimeout(PLATFORM, str(error)) from error
        except httpx.HTTPError as error:
            raise VenueConnectionError(PLATFORM, str(error)) from error
        if response.status_code >= 400:
            raise error_from_response(PLATFORM, response.status_code, response.content,
                                      response.headers.get("retry-after"))
        return json_or_malformed(PLATFORM, response.content)

    def get_midpoint(self, instrument_id: str) -> Decimal:
        return self._read(lambda: self.public.get_midpoint(token_id=instrument_id))

    def get_price(self, instrument_id: str, side: OrderSide) -> Decimal:
        """The price a `side` order would trade at now: the best ask to buy, the best bid to sell."""
        # docs: GET /price answers the best bid for side=BUY and the best ask for side=SELL.
        clob_side: Literal["BUY", "SELL"] = "SELL" if side == "buy" else "BUY"
        return self._read(lambda: self.public.get_price(token_id=instrument_id, side=clob_side))

    def get_price_history(self, instrument_id: str, *, start: datetime, end: datetime) -> list[PricePoint]:
        def fetch() -> list[PricePoint]:
            pages = self.public.list_price_history(asset_id=instrument_id, start=start, end=end)
            return [PricePoint(_utc(p.timestamp) or p.timestamp, p.price) for p in pages.iter_items()]

        return self._read(fetch)

    def get_prices_history(self, instrument_id: str, *, start: datetime, end: datetime,
                           fidelity_minutes: int = 60) -> list[PricePoint]:
        """The CLOB's own `GET /prices-history` of one token: `{"history": [{"t": unix s, "p": price}]}`."""
        url = f"{self.clob_url}/prices-history"
        params: dict[str, str | int] = {"market": instrument_id, "startTs": int(start.timestamp()),
                                        "endTs": int(end.timestamp()), "fidelity": fidelity_minutes}

        def fetch() -> list[PricePoint]:
            payload = self._clob_json(url, params)
            try:
                return [PricePoint(datetime.fromtimestamp(int(point["t"]), UTC), Decimal(str(point["p"])))
                        for point in payload["history"]]
            except (KeyError, TypeError, ValueError, ArithmeticError) as error:
                raise MalformedResponse(PLATFORM, f"/prices-history answered {str(payload)[:200]}") from error

        return self.resilience.call(fetch, kind="read", idempotent=True)

    def get_trade_history(self, maker_address: str, *, limit: int = 100, start: datetime | None = None,
                          end: datetime | None = None) -> list[WalletTrade]:
        """A wallet's most recent trades (Data API), newest first: what a copy trader follows. With `start` /
        `end` (inclusive), those of that window: what a backtest replays (trading/backtest/history.py)."""
        def fetch() -> list[WalletTrade]:
            trades = []
            pages = self.public.list_trades(user=maker_address, page_size=min(limit, 100), start=start, end=end)
            for trade in pages.iter_items():
                trades.append(WalletTrade(
                    # One transaction can hold several fills: the hash alone is not unique.
                    trade_id=f"{trade.transaction_hash}:{trade.asset_id}:{trade.side}:{trade.size}",
                    wallet=str(trade.wallet), market_id=str(trade.condition_id), instrument_id=str(trade.asset_id),
                    side="buy" if trade.side == "BUY" else "sell", price=trade.price, size=trade.size,
                    at=_utc(trade.timestamp) or trade.timestamp, title=getattr(trade, "title", None) or "",
                    outcome=getattr(trade, "outcome", None) or "",
                ))
                if len(trades) >= limit:
                    break
            return trades

        return self._read(fetch)

    @staticmethod
    def trade_json(trade: WalletTrade) -> dict[str, Any]:
        """A wallet's trade as `ctx.polymarket.get_trade_history` answers it, in paper, live and backtests."""
        return {"id": trade.trade_id, "proxyWallet": trade.wallet, "conditionId": trade.market_id,
                "asset": trade.instrument_id, "side": trade.side.upper(), "price": str(trade.price),
                "size": str(trade.size), "timestamp": int(trade.at.timestamp()), "title": trade.title,
                "outcome": trade.outcome}

    def get_leaderboard(self, *, window: Literal["day", "week", "month", "all"] = "month",
                        limit: int = 20) -> list[TraderRank]:
        """The most profitable wallets over `window`, best first (Data API leaderboard): whom to copy."""
        def fetch() -> list[TraderRank]:
            ranks = []
            for entry in self.public.list_trader_leaderboard(window=window, sort_by="PNL",
                                                             page_size=min(limit, 100)).iter_items():
                ranks.append(TraderRank(wallet=str(entry.wallet), rank=entry.rank, pnl_usd=entry.pnl,
                                        volume=entry.volume, name=entry.user_name or ""))
                if len(ranks) >= limit:
                    break
            return ranks

        return self._read(fetch)

    # --- account --------------------------------------------------------------------------------
    def get_balance(self) -> Balance:
        allowance = self._read(lambda: self.secure.get_balance_allowance(asset_type="COLLATERAL"))
        cash = Decimal(allowance.balance) / UNITS
        return Balance(cash=cash, buying_power=cash, currency="pUSD")

    def get_positions(self) -> list[VenuePosition]:
        wallet = str(self.secure.wallet)

        def fetch() -> list[VenuePosition]:
            return [
                VenuePosition(instrument_id=str(p.asset_id), market_id=str(p.condition_id), quantity=p.current_size,
                              average_price=p.avg_price, cost_basis=p.total_cost_usdc, market_value=p.current_value,
                              unrealized_pnl=p.unrealized_pnl, realized_pnl=p.realized_pnl)
                for p in self.public.list_positions(user=wallet).iter_items()
            ]

        return self._read(fetch)

    # --- orders ---------------------------------------------------------------------------------
    def prepare_order(self, request: OrderRequest) -> PreparedOrder:
        """Build and sign the order. Its hash is the order id: persist the payload, re-post it on retry."""
        if request.limit_price is None:
            raise InvalidRequest(PLATFORM, "Polymarket orders need a limit price")
        side: Literal["BUY", "SELL"] = "BUY" if request.side == "buy" else "SELL"
        secure, token, price = self.secure, request.instrument_id, request.limit_price

        if request.side == "buy" and request.time_in_force == "fok":
            raise InvalidRequest(PLATFORM, "a Polymarket FOK buy spends a dollar amount and may get more shares than "
                                           "asked: buy with time_in_force 'ioc' (a limit order, its rest cancelled)")

        def sign() -> SignedOrder:
            # A buy is always a limit order, sized in shares: the venue never fills more than `size`. A market (FAK)
            # buy would spend price × quantity dollars, and below the limit that buys more shares than ordered.
            if request.side == "buy" or request.time_in_force in ("gtc", "day"):
                return secure.create_limit_order(token_id=token, price=price, size=request.quantity, side=side,
                                                 post_only=request.post_only)
            order_type: Literal["FAK", "FOK"] = "FAK" if request.time_in_force == "ioc" else "FOK"
            return secure.create_market_order(token_id=token, side="SELL", shares=request.quantity,
                                              min_price=price, order_type=order_type)

        signed = self._read(sign)  # signing reads tick size and fee data from the CLOB
        order_hash = signed_order_hash(signed, chain_id=self.chain_id, exchanges=self.exchanges)
        return PreparedOrder(PLATFORM, request, order_hash, dataclasses.asdict(signed))

    def submit_order(self, prepared: PreparedOrder) -> OrderState:
        signed = SignedOrder(**prepared.payload)
        order_id = prepared.venue_order_id or ""

        def post() -> OrderState:
            try:
                response = _translated(lambda: self.secure.post_order(signed))
            except InvalidRequest as error:
                # Re-posting an order that already reached the CLOB is refused; its hash finds it.
                existing = self._existing_order(order_id)
                if existing is not None:
                    return dataclasses.replace(existing, already_existed=True)
                raise OrderRejected(PLATFORM, error.message, status=error.status) from error
            if isinstance(response, RejectedOrder):
                raise OrderRejected(PLATFORM, f"{response.code}: {response.message}")
            return self._accepted_state(prepared, response)

        # The same signed order has the same hash, so re-posting it can never place it twice.
        state = self.resilience.call(post, kind="write", idempotent=True)
        if prepared.request.time_in_force == "ioc" and state.status in ("open", "partially_filled"):
            return self._rest_cancelled(state)
        return state

    def _rest_cancelled(self, state: OrderState) -> OrderState:
        """An immediate-or-cancel buy goes as a limit order: what did not fill at once is cancelled now. If the
        cancel cannot be made, the order rests (never past its size and limit) and reconciliation follows it."""
        try:
            self.cancel_order(state.venue_order_id)
            after = self.get_order(state.venue_order_id)
        except VenueError:
            return state
        return dataclasses.replace(after, client_order_id=state.client_order_id)

    def place_order(self, request: OrderRequest) -> OrderState:
        return self.submit_order(self.prepare_order(request))

    def _accepted_state(self, prepared: PreparedOrder, response: AcceptedOrder) -> OrderState:
        request = prepared.request
        # makingAmount is what we gave, takingAmount what we got: shares are taken on a BUY.
        filled = response.taking_amount if request.side == "buy" else response.making_amount
        notional = response.making_amount if request.side == "buy" else response.taking_amount
        status: OrderStatus = "filled" if response.status == "matched" else (
            "partially_filled" if filled > 0 else "open")
        if prepared.payload.get("order_type") in ("FAK", "FOK") and status != "filled":
            status = "canceled"  # the unfilled rest of a FAK is killed
        return OrderState(
            platform=PLATFORM, venue_order_id=str(response.order_id), client_order_id=request.client_order_id,
            instrument_id=request.instrument_id, side=request.side, status=status, quantity=request.quantity,
            filled_quantity=filled, limit_price=request.limit_price,
            average_fill_price=(notional / filled).quantize(Decimal("0.0001")) if filled else None,
            created_at=datetime.now(UTC),
        )

    def _existing_order(self, order_id: str) -> OrderState | None:
        if not order_id:
            return None
        try:
            return self.get_order(order_id)
        except NotFound:
            return None

    def get_order(self, venue_order_id: str) -> OrderState:
        order = self._read(lambda: self.secure.get_order(order_id=venue_order_id))
        status: OrderStatus = {"LIVE": "open", "MATCHED": "filled", "CANCELED": "canceled"}.get(
            order.status.removeprefix("ORDER_STATUS_").upper(), "unknown")  # type: ignore[assignment]
        if status == "open" and order.size_matched > 0:
            status = "partially_filled"
        return OrderState(
            platform=PLATFORM, venue_order_id=order.id, client_order_id=None, instrument_id=str(order.asset_id),
            side="buy" if order.side == "BUY" else "sell", status=status, quantity=order.original_size,
            filled_quantity=order.size_matched, limit_price=order.price, created_at=_utc(order.created_at),
        )

    def get_order_by_client_id(self, client_order_id: str, *, instrument_id: str = "") -> OrderState:
        raise InvalidRequest(PLATFORM, "Polymarket has no client order ids: an order is looked up by its hash, "
                                       "known before it is sent")

    def cancel_order(self, venue_order_id: str) -> CancelResult:
        response = self.resilience.call(
            lambda: _translated(lambda: self.secure.cancel_order(order_id=venue_order_id)),
            kind="write", idempotent=True)  # cancelling twice is harmless
        if venue_order_id in response.canceled:
            return CancelResult(venue_order_id, True)
        reasons = {str(order_id): reason for order_id, reason in response.not_canceled.items()}
        return CancelResult(venue_order_id, False, reasons.get(venue_order_id, "not canceled"))

    def get_fills(self, venue_order_id: str | None = None) -> list[Fill]:
        def fetch() -> list[Fill]:
            fills = []
            for trade in self.secure.list_account_trades().iter_items():
                maker_ids = {m.order_id for m in trade.maker_orders}
                if venue_order_id and venue_order_id != trade.taker_order_id and venue_order_id not in maker_ids:
                    continue
                rate = trade.fee_rate_bps / 10000 if trade.trader_side == "TAKER" else Decimal(0)
                fills.append(Fill(
                    platform=PLATFORM, fill_id=trade.id, venue_order_id=venue_order_id or trade.taker_order_id,
                    instrument_id=str(trade.asset_id), side="buy" if trade.side == "BUY" else "sell",
                    price=trade.price, quantity=trade.size,
                    # Taker fee: shares × rate × p × (1 − p), rounded to pUSD's 6 decimals.
                    fee=(trade.size * rate * trade.price * (1 - trade.price)).quantize(Decimal("0.000001")),
                    at=_utc(trade.matched_at) or trade.matched_at,
                ))
            return fills

        return self._read(fetch)
