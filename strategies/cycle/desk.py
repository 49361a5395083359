"""The money side of one cycle: mark positions, size and check every order, place it, record it.

The executor builds one `CycleDesk` per cycle and hands it every `create_order` / `cancel_order`
the script sends. Paper, live and dry run share the sizing and the checks; only where fills come
from differs: the paper broker walks the venue's current book, live goes through the adapter's
`prepare_order` / `submit_order`, and a dry run stops after the checks and records what it would do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from runtime.sdk import EntrySignal, ExitSignal, SignalError
from strategies.cycle.reconciliation import live_reconcile
from strategies.models import ActionKind, Execution, Mode, Strategy
from strategies.services import PauseCause, strategy_pause
from strategyhub.lib.jsonable import as_json
from trading.capital import QUANTITY_STEP, CapitalPlan, Exposures, cents
from trading.desk_core import entry_decide, entry_side_refusal
from trading.fees import TradeSide
from trading.killswitch import kill_switch_engaged
from trading.models import Order, OrderAction, OrderStatus, Position
from trading.orders import (
    client_order_id_for,
    fill_record,
    order_apply_state,
    order_request_for,
    order_submit_live,
    order_transition,
    position_settle,
)
from trading.paper import PaperFills, outcome_book, paper_fill
from trading.performance import unrealized
from trading.reconcile import exits_working, holding_key, venue_holdings
from trading.risk import (
    Authority,
    Refusal,
    exit_refusal,
    polymarket_side_refusal,
    venue_refusal,
)
from trading.selectors import capital_state, positions_open, utc_midnight
from trading.selectors import ledger_empty as ledger_is_empty
from trading.venue_accounts import NoVenueAccount, venue_client_for
from trading.venues import VenueClient, VenueError, polymarket_taker_rate_of
from trading.venues.domain import OrderBook
from trading.venues.platforms import PREDICTION_MARKETS, traits

logger = logging.getLogger(__name__)

# kind ("" for a log line only), message, payload, log level
Record = Callable[[str, str, dict[str, Any], str], None]
ZERO = Decimal(0)


def _num(value: Decimal) -> str:
    """A quantity or price as the venues write it: no exponent, no trailing zeros."""
    return format(value.normalize(), "f")


def _ctx_capital(state: Exposures) -> dict[str, Any]:
    """`ctx.capital` of the script."""
    return {"total": state.capital_usd, "deployed": state.deployed_usd, "available": state.available_usd,
            "pnl_today": state.pnl_today_usd}


class CycleDesk:
    """Orders of one cycle of one strategy."""

    def __init__(self, *, strategy: Strategy, execution: Execution, dry_run: bool, record: Record,
                 client_factory: Callable[[str], VenueClient] | None = None) -> None:
        self.strategy = strategy
        self.execution = execution
        self.dry_run = dry_run
        self.record = record
        # The version this cycle runs, not the newest: one waiting for approval has its own capital and limits.
        self.version = execution.version
        self.plan = CapitalPlan.from_config(self.version.config, strategy.platform)
        self.live = strategy.mode == Mode.LIVE
        self.book = "live" if self.live else "paper"
        self.approved_for_live = self.version.is_approved_for_live
        self.daily_loss_reason = ""
        self.paused_reason = "" if strategy.enabled else strategy.paused_reason
        self._client_factory = client_factory or (  # live: the owner's own venue account (trading/venue_accounts.py)
            lambda venue: venue_client_for(owner_id=strategy.owner_id, venue=venue, live=self.live))
        self._client: VenueClient | None = None
        self._no_account = ""  # live with no account of the owner's: why every order is refused
        self._marks: dict[int, Decimal] = {}  # dry run: marks kept in memory only
        self._free_index = 1000  # signal index for orders a custom execute_* sent without one

    # --- venue ------------------------------------------------------------------------------------
    def client(self) -> VenueClient:
        if self._client is None:
            try:
                self._client = self._client_factory(self.strategy.platform)
            except NoVenueAccount as missing:  # read market data as paper does; orders are refused
                self._no_account = missing.message
                self._client = venue_client_for(owner_id=self.strategy.owner_id, venue=self.strategy.platform,
                                                live=False)
        return self._client

    def _account_refusal(self) -> Refusal | None:
        self.client()
        return Refusal("account", self._no_account) if self._no_account else None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _outcome_book(self, market_id: str, side: str) -> OrderBook:
        return outcome_book(self.client().get_order_book(market_id), venue=self.strategy.platform, side=side)

    def _polymarket_rate(self, market_id: str) -> Decimal | None:
        """The token's taker fee rate from the venue (Polymarket's adapter reads /fee-rate); None elsewhere."""
        return polymarket_taker_rate_of(self.client(), market_id)

    # --- start of cycle ---------------------------------------------------------------------------
    def open_cycle(self, *, ledger_empty: bool | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Settle positions of resolved markets, reconcile with the venue (live), mark open positions to
        market, check today's loss. Settling comes first: a venue pays out a resolved market by itself,
        so until the ledger has settled it too, the venue would hold less than the ledger.

        `ledger_empty`: whether this strategy has no position and no order on its book, when the caller
        knows (a scheduled run's claim asked); otherwise it is asked here, one query. An empty paper
        ledger has nothing to settle or mark. Returns the positions and capital the script's ctx gets.
        """
        if ledger_empty is None and not self.live:
            ledger_empty = ledger_is_empty(strategy_id=self.strategy.pk, book=self.book)
        if ledger_empty and not self.live:
            state = Exposures(total_capital=self.plan.total_capital)
            self._check_daily_loss(state)
            return [], _ctx_capital(state)
        positions = positions_open(strategy_id=self.strategy.pk, book=self.book)
        midnight = utc_midnight(timezone.now())
        for position in positions:  # held over midnight: the day's first mark, before settling can close it
            if position.opened_at < midnight and position.day_start_on != midnight.date():
                self._mark(position)
        settles = self.strategy.platform in PREDICTION_MARKETS
        if settles and [position for position in positions if self._settle_if_resolved(position)]:
            positions = positions_open(strategy_id=self.strategy.pk, book=self.book)
        if self.live and not self.dry_run and self._account_refusal() is None:
            live_reconcile(strategy=self.strategy, client=self.client(), note=self._log)
            positions = positions_open(strategy_id=self.strategy.pk, book=self.book)  # fills may have moved them
        for position in positions:
            self._mark(position)
        state = self._capital()
        self._check_daily_loss(state)
        return [self._position_json(position) for position in positions], _ctx_capital(state)

    def _settle_if_resolved(self, position: Position) -> bool:
        """Close a position whose market resolved, at $1 or $0 a contract; True when it was closed."""
        try:
            market = self.client().get_market_for_instrument(position.market_id)
        except VenueError as error:
            self._log("warning", f"could not check whether {position.market_id} resolved: {error}")
            return False
        outcome = market.settled_outcome
        if outcome is None:
            return False
        if traits(position.venue).outcomes_share_a_ticker:
            won = position.side == outcome
        else:  # a Polymarket position holds one outcome's token
            won = position.market_id == market.instrument_ids[0 if outcome == "yes" else 1]
        payout = "$1.00" if won else "$0.00"
        if self.dry_run:
            self._log("info", f"dry run: position {position.pk} would settle at {payout} a contract "
                              f"(market resolved {outcome.upper()})")
            return False
        position_settle(position, execution_id=self.execution.pk, version_id=self.execution.version_id, won=won,
                        at=timezone.now())
        position.refresh_from_db()
        self._record_closed(position, f"settled: the market resolved {outcome.upper()}, {payout} a contract;",
                            reason="market resolution", resolved=outcome, won=won)
        return True

    def _record_closed(self, position: Position, how: str, *, reason: str, **details: Any) -> None:
        """The `position_closed` action: how it closed, and the P&L it realized after fees."""
        realized, fees = cents(position.realized_pnl_usd), cents(position.fees_usd)
        self.record(ActionKind.POSITION_CLOSED,
                    f"position {position.pk} {position.market_id} {position.side} {how} realized ${realized} after "
                    f"${fees} fees",
                    {"position_id": str(position.pk), **details, "realized_pnl_usd": str(realized),
                     "fees_usd": str(fees), "reason": reason}, "info")

    def _mark(self, position: Position) -> None:
        try:
            order_book = self._outcome_book(position.market_id, position.side)
        except VenueError as error:
            self._log("warning", f"could not mark {position.market_id} {position.side} to market: {error}")
            return
        price = order_book.midpoint or order_book.best_bid or order_book.best_ask
        if price is None:
            return
        if self.dry_run:
            self._marks[position.pk] = price
            return
        position.current_price = price
        fields = ["current_price", "updated_at"]
        today = utc_midnight(timezone.now()).date()
        if position.day_start_on != today:  # the day's first mark: today's P&L of this position starts here
            position.day_start_price, position.day_start_on = price, today
            fields += ["day_start_price", "day_start_on"]
        position.save(update_fields=fields)

    def _position_json(self, position: Position) -> dict[str, Any]:
        price = self._marks.get(position.pk, position.current_price)
        pnl = unrealized(quantity=position.quantity, price=price, cost_usd=position.cost_basis_usd)
        return {
            "position_id": str(position.pk), "platform": position.venue, "market_id": position.market_id,
            "market_name": position.market_name, "side": position.side, "size": position.cost_basis_usd,
            "quantity": position.quantity, "entry_price": position.cost_basis_usd / position.quantity,
            "current_price": price, "unrealized_pnl": pnl, "opened_at": position.opened_at,
        }

    def _capital(self) -> Exposures:
        """The ledger's exposures now; a dry run counts its in-memory marks instead of the stored ones."""
        return capital_state(strategy_id=self.strategy.pk, book=self.book, total_capital=self.plan.total_capital,
                             now=timezone.now(), marks=self._marks)

    def _check_daily_loss(self, state: Exposures) -> None:
        loss = -state.pnl_today_usd
        if self.daily_loss_reason or loss < self.plan.max_daily_loss:
            return
        self.daily_loss_reason = (
            f"today's loss ${cents(loss)} reached capital.max_daily_loss ${self.plan.max_daily_loss}: "
            "strategy paused, no new entries"
        )
        if self.dry_run or not self.strategy.enabled:  # a test run changes nothing; a paused one says so once
            return
        paused = strategy_pause(strategy=self.strategy, reason=self.daily_loss_reason, cause=PauseCause.SYSTEM)
        self.strategy.enabled, self.strategy.paused_reason = paused.enabled, paused.paused_reason
        self.record(ActionKind.STRATEGY_PAUSED, self.daily_loss_reason,
                    {"pnl_today_usd": str(cents(state.pnl_today_usd)),
                     "max_daily_loss": str(self.plan.max_daily_loss)}, "warning")

    # --- orders -----------------------------------------------------------------------------------
    def order(self, venue: str, method: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        if method == "cancel_order":
            return self._cancel(venue, kwargs)
        intent = kwargs.get("intent")
        index = kwargs.get("signal_index")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            index, self._free_index = self._free_index, self._free_index + 1
        fields = {key: value for key, value in kwargs.items() if key not in ("intent", "signal_index")}
        try:
            if intent == "exit":
                return self._exit(venue, index, ExitSignal.from_dict(fields))
            if intent in ("entry", None):
                signal = EntrySignal.from_dict(fields)
                signal.check_platform(self.strategy.platform)
                return self._entry(venue, index, signal)
        except SignalError as error:
            return self._refuse(Refusal("signal", str(error)), {"venue": venue, **as_json(kwargs)})
        return self._refuse(Refusal("signal", f"intent must be 'entry' or 'exit', got {intent!r}"), as_json(kwargs))

    def _authority(self) -> Authority:
        return Authority(live=self.live, approved_for_live=self.approved_for_live,
                         kill_switch=self.live and kill_switch_engaged(), daily_loss_reason=self.daily_loss_reason,
                         paused_reason=self.paused_reason)

    def _refuse(self, refusal: Refusal, payload: dict[str, Any]) -> dict[str, Any]:
        self.record(ActionKind.ORDER_REFUSED, f"order refused ({refusal.check}): {refusal.reason}",
                    {**payload, "check": refusal.check, "reason": refusal.reason}, "warning")
        return {"status": "refused", "check": refusal.check, "reason": refusal.reason}

    def _entry(self, venue: str, index: int, signal: EntrySignal) -> dict[str, Any]:
        what = {"venue": venue, "intent": "entry", "signal_index": index, **as_json(signal.as_dict())}
        refusal = venue_refusal(venue, platform=self.plan.platform, allowed_services=self.plan.allowed_services,
                                purpose="order")  # the venue check comes first
        refusal = refusal or self._account_refusal()
        if refusal:
            return self._refuse(refusal, what)
        refusal = entry_side_refusal(self.strategy.platform, signal.side)
        if refusal:
            return self._refuse(refusal, what)
        try:
            order_book = self._outcome_book(signal.market_id, signal.side)
            rate = self._polymarket_rate(signal.market_id) if traits(venue).fee_rate_by_market else None
        except VenueError as error:
            return self._refuse(Refusal("market_data", f"no order book for {signal.market_id}: {error}"), what)
        if traits(venue).token_per_outcome:  # which outcome this token is: the side must name it (docs/money.md)
            try:
                tokens = self.client().get_market_for_instrument(signal.market_id).instrument_ids
            except VenueError as error:
                return self._refuse(Refusal("market_data", f"no market for token {signal.market_id}: {error}"), what)
            refusal = polymarket_side_refusal(signal.market_id, signal.side, outcome_tokens=tokens)
            if refusal:
                return self._refuse(refusal, what)
        limit = Decimal(str(signal.limit_price)) if signal.limit_price is not None else order_book.best_ask
        if limit is None:
            return self._refuse(Refusal("market_data", f"{signal.market_id} has no asks and the signal no limit"), what)
        state = self._capital()
        self._check_daily_loss(state)  # an earlier order of this cycle may have crossed it
        decided = entry_decide(
            self.plan, state, key=(venue, signal.market_id, signal.side), confidence=Decimal(str(signal.confidence)),
            size_usd=Decimal(str(signal.size_usd)) if signal.size_usd is not None else None, limit_price=limit,
            rate=rate, authority=self._authority())
        sizing = decided.sizing
        what["sizing"] = sizing.as_json()
        if decided.refusal:
            return self._refuse(decided.refusal, what)
        coid = client_order_id_for(strategy_id=self.strategy.pk, execution_id=self.execution.pk, signal_index=index,
                                   action=OrderAction.OPEN)
        if self.dry_run:
            return self._would_place(what, coid, sizing.quantity, limit, f"buy {sizing.quantity} {signal.side} "
                                     f"{signal.market_id} at ≤ {limit} (${cents(sizing.worst_cost_usd)} at most)")
        with self._ledger_write():
            order = self._order_create(index=index, action=OrderAction.OPEN, market_id=signal.market_id,
                                       market_name=signal.market_name, side=signal.side, quantity=sizing.quantity,
                                       limit=limit)
            if order is not None:
                self._execute(order, order_book, rate)
        if order is None:
            return self._duplicate(index, OrderAction.OPEN)
        return self._placed(order, what)

    def _exit(self, venue: str, index: int, signal: ExitSignal) -> dict[str, Any]:
        what = {"venue": venue, "intent": "exit", "signal_index": index, **as_json(signal.as_dict())}
        refusal = exit_refusal(self.plan, venue, self._authority()) or self._account_refusal()
        if refusal:
            return self._refuse(refusal, what)
        position = Position.objects.filter(strategy=self.strategy, book=self.book, status=Position.Status.OPEN,
                                           pk=int(signal.position_id) if signal.position_id.isdigit() else -1).first()
        if position is None:
            return self._refuse(Refusal("position", f"no open position {signal.position_id}"), what)
        step = QUANTITY_STEP[venue]
        quantity = position.quantity if signal.fraction >= 1 else (
            position.quantity * Decimal(str(signal.fraction))).quantize(step, rounding=ROUND_DOWN)
        if quantity <= 0:
            return self._refuse(Refusal("sizing", f"fraction {signal.fraction} of {position.quantity} is nothing"),
                                what)
        try:
            sellable, why = self._sellable(position)
        except VenueError as error:
            return self._refuse(Refusal("position", f"could not read what {venue} holds of {position.market_id}: "
                                                    f"{error}"), what)
        if sellable <= 0:
            return self._refuse(Refusal("position", f"nothing of position {position.pk} is left to sell: {why}"), what)
        quantity = min(quantity, sellable)  # an exit never sells more than is held net of working exits
        try:
            order_book = self._outcome_book(position.market_id, position.side)
            rate = self._polymarket_rate(position.market_id) if traits(venue).fee_rate_by_market else None
        except VenueError as error:
            return self._refuse(Refusal("market_data", f"no order book for {position.market_id}: {error}"), what)
        if not order_book.bids:
            return self._refuse(Refusal("market_data", f"{position.market_id} has no bids to sell into"), what)
        limit = order_book.bids[-1].price  # sell into every displayed bid, best first
        coid = client_order_id_for(strategy_id=self.strategy.pk, execution_id=self.execution.pk, signal_index=index,
                                   action=OrderAction.CLOSE)
        if self.dry_run:
            text = f"sell {quantity} of position {position.pk} ({position.market_id} {position.side})"
            return self._would_place(what, coid, quantity, limit, text)
        with self._ledger_write():
            order = self._order_create(index=index, action=OrderAction.CLOSE, market_id=position.market_id,
                                       market_name=position.market_name, side=position.side, quantity=quantity,
                                       limit=limit)
            if order is not None:
                self._execute(order, order_book, rate)
        if order is None:
            return self._duplicate(index, OrderAction.CLOSE)
        result = self._placed(order, what)
        position.refresh_from_db()
        if position.status == Position.Status.CLOSED:
            self._record_closed(position, "closed:", reason=signal.reason)
        self._check_daily_loss(self._capital())
        return result

    def _sellable(self, position: Position) -> tuple[Decimal, str]:
        """What an exit of `position` may sell: what it holds net of exits still working or unresolved and, live,
        never more than the venue says the account holds. Returns the quantity and, when it is short, why."""
        working = exits_working(position)
        sellable = position.quantity - working
        why = (f"it holds {_num(position.quantity)} and exits still working or unresolved may sell {_num(working)}"
               if working else "")
        if self.live:
            key = holding_key(position.venue, position.market_id, position.side)
            held = venue_holdings(position.venue, self.client().get_positions()).get(key, ZERO)
            if held < sellable:
                sellable, why = held, f"{position.venue} holds {_num(held)} of {position.market_id} {position.side}"
        return sellable, why

    def _cancel(self, venue: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        order_id = str(kwargs.get("order_id") or "")
        order = (Order.objects.filter(strategy=self.strategy, book=self.book, venue_order_id=order_id).first()
                 or Order.objects.filter(strategy=self.strategy, book=self.book, client_order_id=order_id).first())
        if order is None:
            return {"status": "not_found", "order_id": order_id}
        if order.status not in (OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED) or not self.live:
            return {"status": order.status, "client_order_id": order.client_order_id, "cancelled": False}
        refusal = self._account_refusal()
        if refusal:
            return self._refuse(refusal, {"venue": venue, "order_id": order_id})
        if self.dry_run:
            return {"status": "would_cancel", "client_order_id": order.client_order_id}
        result = self.client().cancel_order(order.venue_order_id)
        if result.canceled:  # what filled before the cancel is recorded first; until it is, the order stays open
            try:
                order_apply_state(order, self.client(), self.client().get_order(order.venue_order_id))
            except VenueError as error:
                self._log("warning", f"order {order.client_order_id} was cancelled; its fills are read at the next "
                                     f"reconciliation: {error}")
        return {"status": order.status, "client_order_id": order.client_order_id, "cancelled": result.canceled,
                "reason": result.reason}

    # --- placing ----------------------------------------------------------------------------------
    def _ledger_write(self) -> AbstractContextManager[Any]:
        """A paper order, its fills and its position are written in one transaction: all or nothing, and one
        commit instead of five. A live order is committed before it is sent, so a crash can never leave an
        order at the venue that the ledger does not know of (see docs/money.md, "A worker lost mid-cycle")."""
        return nullcontext() if self.live else transaction.atomic()

    def _order_create(self, *, index: int, action: str, market_id: str, market_name: str, side: str,
                      quantity: Decimal, limit: Decimal) -> Order | None:
        coid = client_order_id_for(strategy_id=self.strategy.pk, execution_id=self.execution.pk, signal_index=index,
                                   action=action)
        try:
            with transaction.atomic():
                return Order.objects.create(
                    strategy=self.strategy, version=self.version, execution=self.execution, signal_index=index,
                    book=self.book, venue=self.strategy.platform, market_id=market_id, market_name=market_name[:500],
                    side=side, action=action, client_order_id=coid, quantity=quantity, limit_price=limit,
                    notional_usd=quantity * limit,
                )
        except IntegrityError:
            return None  # this signal of this execution already has its order

    def _duplicate(self, index: int, action: str) -> dict[str, Any]:
        order = Order.objects.get(execution=self.execution, signal_index=index, action=action)
        return {**self._result(order), "duplicate": True}

    def _execute(self, order: Order, order_book: OrderBook, rate: Decimal | None) -> None:
        if self.live:
            order_submit_live(order, self.client(), order_request_for(order))
            return
        order_transition(order, OrderStatus.SUBMITTED)
        side: TradeSide = "buy" if order.action == OrderAction.OPEN else "sell"
        filled: PaperFills = paper_fill(order_book, venue=order.venue, side=side, quantity=order.quantity,
                                            limit_price=order.limit_price, polymarket_rate=rate)
        now = timezone.now()
        for number, fill in enumerate(filled.fills, start=1):
            fill_record(order, venue_fill_id=f"paper-{number}", quantity=fill.quantity, price=fill.price,
                        fee=fill.fee, at=now)
        order.refresh_from_db()
        if order.filled_quantity == order.quantity:
            order_transition(order, OrderStatus.FILLED)
            return
        if order.filled_quantity > 0:
            order_transition(order, OrderStatus.PARTIALLY_FILLED)
        order_transition(order, OrderStatus.CANCELLED)  # immediate-or-cancel: the rest is not left resting

    def _result(self, order: Order) -> dict[str, Any]:
        fills = list(order.fills.values_list("quantity", "price", "fee_usd"))
        filled = sum((q for q, _, _ in fills), ZERO)
        average = sum((q * p for q, p, _ in fills), ZERO) / filled if filled else None
        status = order.status
        if status == OrderStatus.CANCELLED and 0 < filled < order.quantity:
            status = "partially_filled"  # the rest was cancelled (paper orders are immediate-or-cancel)
        return {
            "status": status, "client_order_id": order.client_order_id, "quantity": _num(order.quantity),
            "filled_quantity": _num(filled), "average_price": None if average is None else _num(average),
            "limit_price": _num(order.limit_price) if order.limit_price is not None else None,
            "fees_usd": str(cents(sum((f for _, _, f in fills), ZERO))),
            **({"reason": order.reject_reason} if order.reject_reason else {}),
        }

    def _placed(self, order: Order, what: dict[str, Any]) -> dict[str, Any]:
        result = self._result(order)
        verb = "buy" if order.action == OrderAction.OPEN else "sell"
        kind = ActionKind.ORDER_REFUSED if order.status == OrderStatus.REJECTED else ActionKind.ORDER_PLACED
        message = (f"{self.book} order {order.client_order_id}: {verb} {result['quantity']} {order.side} "
                   f"{order.market_id} at ≤ {result['limit_price']}: {result['status']}, "
                   f"filled {result['filled_quantity']}"
                   + (f" at {Decimal(result['average_price']):.4f}" if result["average_price"] else "")
                   + (f", fees ${result['fees_usd']}" if result["fees_usd"] != "0.00" else "")
                   + (f" ({order.reject_reason})" if order.reject_reason else ""))
        self.record(kind, message, {**what, **result}, "warning" if kind == ActionKind.ORDER_REFUSED else "info")
        return result

    def _would_place(self, what: dict[str, Any], coid: str, quantity: Decimal, limit: Decimal,
                     text: str) -> dict[str, Any]:
        result = {"status": "would_place", "client_order_id": coid, "quantity": _num(quantity),
                  "limit_price": _num(limit), "filled_quantity": "0"}
        self.record(ActionKind.ORDER_WOULD_PLACE, f"dry run: would {text}", {**what, **result}, "info")
        return result

    def _log(self, level: str, message: str) -> None:
        """A line in the execution's log that is not an action (kind "")."""
        logger.log(logging.WARNING if level == "warning" else logging.INFO, "strategy %s: %s", self.strategy.pk,
                   message)
        self.record("", message, {}, level)
