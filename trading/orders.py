"""Writes of the money ledger: orders as a state machine, fills, and the positions fills build.

    new ──► submitted ──► partially_filled ──► filled
     │          │  ╲            │   ╲
     │          │   ╲           ▼    ╲──► cancelled (the rest; fills kept)
     ▼          ▼    ╲──► unresolved ──► (whatever the venue says: any of the above, or rejected)
    rejected  rejected / cancelled

A paper order goes new → submitted → filled / partially filled → cancelled (the rest; paper
orders are immediate-or-cancel). A live order whose outcome is unknown (timeout) becomes
unresolved and is settled by looking it up at the venue (`order_settle`); it is sent again only
when the venue has no such order and the strategy may still trade, never while trading is stopped.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from trading.capital import Lot, lot_buy, lot_sell, money
from trading.models import Fill, Order, OrderAction, OrderStatus, Position
from trading.risk import Refusal
from trading.venues.base import VenueClient
from trading.venues.domain import Fill as VenueFill
from trading.venues.domain import OrderRequest, OrderState, PreparedOrder
from trading.venues.errors import AuthenticationFailed, InvalidRequest, NotFound, VenueError
from trading.venues.platforms import traits
from webhooks.models import WebhookEventType
from webhooks.services import webhook_event_record

logger = logging.getLogger(__name__)
S = OrderStatus
TRANSITIONS: dict[str, frozenset[str]] = {
    S.NEW: frozenset({S.SUBMITTED, S.REJECTED, S.UNRESOLVED}),
    S.SUBMITTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.UNRESOLVED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.UNRESOLVED}),
    S.UNRESOLVED: frozenset({S.SUBMITTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED}),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
}
VENUE_STATUS = {"open": S.SUBMITTED, "partially_filled": S.PARTIALLY_FILLED, "filled": S.FILLED,
                "canceled": S.CANCELLED, "rejected": S.REJECTED, "unknown": S.UNRESOLVED}


class IllegalTransition(Exception):
    """An order was asked to move where its state machine does not go."""


def client_order_id_for(*, strategy_id: int, execution_id: int, signal_index: int, action: str) -> str:
    """(strategy, execution, signal, open/close): a retried request can never become a second order.

    Fits Kalshi's ClOrdID rules (≤ 64 characters of [-\\w:+=/]) and Alpaca's 128.
    """
    suffix = {OrderAction.OPEN: "o", OrderAction.CLOSE: "c", OrderAction.SETTLE: "s"}[OrderAction(action)]
    return f"sh-{strategy_id}-{execution_id}-{signal_index}-{suffix}"


def order_transition(order: Order, status: str, *, reason: str = "") -> Order:
    """Move the order to `status`, from the status `order` holds and only if the ledger still says so.

    Another worker may have moved it on meanwhile (recovery settling the orders of a worker that was cut
    off): the move is then refused and `order` reloaded, so a stale copy never reopens a settled order.
    """
    if status == order.status and status != S.PARTIALLY_FILLED:
        return order
    if status not in TRANSITIONS[order.status]:
        raise IllegalTransition(f"order {order.client_order_id}: {order.status} → {status} is not allowed")
    values: dict[str, object] = {"status": status, "updated_at": timezone.now()}
    if status == S.REJECTED:
        values["reject_reason"] = reason or "rejected by the venue"
    if not Order.objects.filter(pk=order.pk, status=order.status).update(**values):
        was = order.status
        order.refresh_from_db()
        raise IllegalTransition(f"order {order.client_order_id} is {order.status}, no longer {was}, in the ledger: "
                                f"{was} → {status} is not applied (it was moved on elsewhere)")
    for name, value in values.items():
        setattr(order, name, value)
    return order


@transaction.atomic
def fill_record(order: Order, *, venue_fill_id: str, quantity: Decimal, price: Decimal, fee: Decimal,
                at: datetime) -> Fill | None:
    """Record one fill (once: a fill id seen before is ignored) and apply it to the position."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    if Fill.objects.filter(order=order, venue_fill_id=venue_fill_id).exists():
        return None
    fill = Fill.objects.create(order=order, book=order.book, venue_fill_id=venue_fill_id, quantity=quantity,
                               price=price, fee_usd=money(fee), filled_at=at)
    order.filled_quantity += quantity
    fields = ["filled_quantity", "updated_at"]
    if order.status == S.PARTIALLY_FILLED and order.filled_quantity == order.quantity:
        order.status = S.FILLED  # its last part: a partially filled order cannot hold all of its quantity
        fields.append("status")
    order.save(update_fields=fields)
    _position_apply(order, fill)
    _webhook_order_filled(order, fill)
    return fill


def _webhook_order_filled(order: Order, fill: Fill) -> None:
    """The owner's `order.filled` webhooks, in this transaction (rows only: sent after the commit)."""
    owner_id = Order.objects.filter(pk=order.pk).values_list("strategy__owner_id", flat=True).get()
    webhook_event_record(user_id=owner_id, event_type=WebhookEventType.ORDER_FILLED, data={
        "strategy_id": str(order.strategy_id), "order_id": str(order.pk), "execution_id": str(order.execution_id),
        "client_order_id": order.client_order_id, "venue_order_id": order.venue_order_id, "book": order.book,
        "venue": order.venue, "market_id": order.market_id, "market_name": order.market_name, "side": order.side,
        "action": order.action, "quantity": str(order.quantity), "filled_quantity": str(order.filled_quantity),
        "fully_filled": order.filled_quantity >= order.quantity,
        "fill": {"id": str(fill.pk), "venue_fill_id": fill.venue_fill_id, "quantity": str(fill.quantity),
                 "price": str(fill.price), "fee_usd": str(fill.fee_usd), "filled_at": fill.filled_at.isoformat()},
    })


def _position_apply(order: Order, fill: Fill) -> Position:
    """Open / increase a position on an entry fill; reduce / close it on an exit fill, realizing P&L."""
    position = (Position.objects.select_for_update()
                .filter(strategy_id=order.strategy_id, book=order.book, venue=order.venue, market_id=order.market_id,
                        side=order.side, status=Position.Status.OPEN).first())
    if order.action == OrderAction.OPEN:
        if position is None:
            position = Position(strategy_id=order.strategy_id, book=order.book, venue=order.venue,
                                market_id=order.market_id, market_name=order.market_name, side=order.side,
                                quantity=Decimal(0), cost_basis_usd=Decimal(0), opened_at=fill.filled_at,
                                current_price=fill.price)
        lot = lot_buy(Lot(position.quantity, position.cost_basis_usd), quantity=fill.quantity, price=fill.price,
                      fee=fill.fee_usd)
        position.quantity, position.cost_basis_usd = lot.quantity, lot.cost_usd
        position.fees_usd += fill.fee_usd
        position.save()
        return position
    if position is None:
        raise ValueError(f"order {order.client_order_id} closes {order.market_id} {order.side}, which is not open")
    lot, realized = lot_sell(Lot(position.quantity, position.cost_basis_usd), quantity=fill.quantity,
                             price=fill.price, fee=fill.fee_usd)
    position.quantity, position.cost_basis_usd = lot.quantity, lot.cost_usd
    position.realized_pnl_usd += realized
    position.fees_usd += fill.fee_usd
    position.current_price = fill.price
    if lot.quantity == 0:
        position.status, position.closed_at = Position.Status.CLOSED, max(fill.filled_at, position.opened_at)
        position.cost_basis_usd = Decimal(0)
    position.save()
    return position


@transaction.atomic
def position_settle(position: Position, *, execution_id: int, version_id: int, won: bool,
                    at: datetime) -> Order | None:
    """Close a position of a resolved market at its payout: $1 a winning contract, $0 a losing one, no fee.

    Recorded as a `settle` order with one fill, never sent to a venue (the venue settles by itself),
    so P&L replayed from fills stays the one source of truth. Its signal index is the position's
    id: settling twice in one execution finds the order already there (None).
    """
    price = Decimal(1) if won else Decimal(0)
    coid = client_order_id_for(strategy_id=position.strategy_id, execution_id=execution_id, signal_index=position.pk,
                               action=OrderAction.SETTLE)
    if Order.objects.filter(client_order_id=coid).exists():
        return None
    order = Order.objects.create(
        strategy_id=position.strategy_id, version_id=version_id, execution_id=execution_id,
        signal_index=position.pk, book=position.book, venue=position.venue, market_id=position.market_id,
        market_name=position.market_name, side=position.side, action=OrderAction.SETTLE, client_order_id=coid,
        quantity=position.quantity, limit_price=None, notional_usd=position.quantity * price,
    )
    order_transition(order, S.SUBMITTED)
    fill_record(order, venue_fill_id=f"settlement-{position.pk}", quantity=position.quantity, price=price,
                fee=Decimal(0), at=at)
    order.refresh_from_db()
    return order_transition(order, S.FILLED)


def order_status_from_fills(order: Order) -> str:
    if order.filled_quantity == order.quantity:
        return S.FILLED
    return S.PARTIALLY_FILLED if order.filled_quantity > 0 else S.SUBMITTED


# --- live -----------------------------------------------------------------------------------------

UNDELIVERED = (InvalidRequest, AuthenticationFailed, NotFound)  # the venue answered: no order exists


def order_submit_live(order: Order, client: VenueClient, request: OrderRequest) -> Order:
    """Prepare (persisting a Polymarket signed order first), submit, and record what the venue says."""
    try:
        prepared = client.prepare_order(request)
    except VenueError as error:
        return order_transition(order, S.REJECTED, reason=f"could not prepare the order: {error}")
    order.signed_order = prepared.payload if traits(order.venue).signed_orders else None
    order.venue_order_id = prepared.venue_order_id or ""
    order.save(update_fields=["signed_order", "venue_order_id", "updated_at"])
    order_transition(order, S.SUBMITTED)
    return _submit(order, client, prepared)


def _submit(order: Order, client: VenueClient, prepared: PreparedOrder) -> Order:
    try:
        state = client.submit_order(prepared)
    except UNDELIVERED as error:
        return order_transition(order, S.REJECTED, reason=str(error))
    except VenueError as error:  # timeout, dropped connection, 5xx after retries: outcome unknown
        order.reject_reason = f"outcome unknown: {error}"
        order.save(update_fields=["reject_reason", "updated_at"])
        return order_transition(order, S.UNRESOLVED)
    return order_apply_state(order, client, state)


def order_apply_state(order: Order, client: VenueClient, state: OrderState) -> Order:
    """Bring an order in line with the venue's answer: its id, its fills, its status.

    An order the venue reports fills for stays open (submitted / partially filled, never terminal)
    until those fills are in the ledger: if they cannot be read now, the next look-up reads them.
    """
    if state.venue_order_id and state.venue_order_id != order.venue_order_id:
        order.venue_order_id = state.venue_order_id
        order.save(update_fields=["venue_order_id", "updated_at"])
    unread = ""
    if state.filled_quantity > order.filled_quantity:
        try:
            fills = client.get_fills(state.venue_order_id)
        except VenueError as error:
            fills, unread = [], str(error)
        if traits(order.venue).cumulative_fills:
            fills = [part for part in map(lambda fill: _new_part(order, fill), fills) if part is not None]
        for fill in fills:
            if fill.venue_order_id == state.venue_order_id:
                # Kalshi reports the YES price; a NO contract costs 1 − that.
                mirrored = traits(order.venue).outcomes_share_a_ticker and order.side == "no"
                price = 1 - fill.price if mirrored else fill.price
                fill_record(order, venue_fill_id=fill.fill_id, quantity=fill.quantity, price=price,
                            fee=fill.fee, at=fill.at)
        order.refresh_from_db()
    venue_status = VENUE_STATUS[state.status]
    if order.status == S.FILLED:  # its last fill was just recorded
        return order
    if venue_status in (S.REJECTED, S.UNRESOLVED) and state.filled_quantity == 0:
        return order_transition(order, venue_status, reason="rejected by the venue")
    if order.filled_quantity < state.filled_quantity:  # fills not (all) readable now: looked up again later
        logger.warning("order %s: the venue reports %s filled, the ledger has %s; it stays open until they are "
                       "read%s", order.client_order_id, _num(state.filled_quantity), _num(order.filled_quantity),
                       f" ({unread})" if unread else "")
        return order_transition(order, order_status_from_fills(order))
    if venue_status == S.CANCELLED:
        return order_transition(order, S.CANCELLED)
    # Until every fill is recorded, the order stays where its recorded fills put it.
    return order_transition(order, order_status_from_fills(order))


def _new_part(order: Order, fill: VenueFill) -> VenueFill | None:
    """Alpaca reports one fill per order, cumulative (filled qty, average price): the part not yet recorded,
    at the price that makes the recorded fills add up to the venue's, or None when nothing is new."""
    recorded = list(order.fills.values_list("quantity", "price"))
    quantity = fill.quantity - sum((q for q, _ in recorded), Decimal(0))
    if quantity <= 0:
        return None
    cost = fill.quantity * fill.price - sum((q * p for q, p in recorded), Decimal(0))
    price = (cost / quantity).quantize(Decimal("0.000001"))
    return dataclasses.replace(fill, fill_id=f"{fill.fill_id}:{_num(fill.quantity)}", quantity=quantity, price=price)


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f")


# Why this order may not be sent again now, or None; it may ask the venue (VenueError: the order stays unresolved).
Resend = Callable[[Order, VenueClient], Refusal | None]
STOPPED = frozenset({"kill_switch", "paused", "archived", "live_approval", "mode"})  # trading is stopped


def order_settle(order: Order, client: VenueClient, *, resend: Resend) -> Order:
    """Settle an unresolved order by asking the venue what became of it.

    It is looked up, never re-sent first: by its venue order id (Polymarket's signed-order hash is
    known before sending; elsewhere the id the venue answered) or, without one, by its client order
    id (Kalshi and Alpaca can look an order up by it). Only when the venue has no such order may the
    very same request go again under the same client order id (the same signed order on
    Polymarket), and only when `resend` allows it: the strategy may trade (no kill switch, not
    paused or archived) and the order passes the risk checks again. While trading is stopped the
    order stays unresolved and is only looked up; an order the limits now refuse is rejected, since
    the venue never had it. A fresh order is never built.
    """
    if order.status != S.UNRESOLVED:
        return order
    try:
        state = _look_up(order, client)
    except VenueError:
        return order  # still unknown: ask again next cycle
    if state is not None:
        return order_apply_state(order, client, state)
    if order.venue_order_id and order.signed_order is None:  # an id the venue gave, and now denies
        return order_transition(order, S.REJECTED, reason="the venue has no such order")
    refusal = resend(order, client)
    if refusal is not None:
        if refusal.check in STOPPED:
            order.reject_reason = f"outcome unknown; the venue has no such order; not re-sent: {refusal.reason}"
            order.save(update_fields=["reject_reason", "updated_at"])
            return order
        return order_transition(order, S.REJECTED, reason=f"not re-sent ({refusal.check}): {refusal.reason}")
    prepared = _prepared_again(order, client)
    try:
        state = client.submit_order(prepared)
    except UNDELIVERED as error:
        return order_transition(order, S.REJECTED, reason=str(error))
    except VenueError:
        return order
    return order_apply_state(order, client, state)


def _look_up(order: Order, client: VenueClient) -> OrderState | None:
    """What the venue has under this order's ids, or None when it has no such order."""
    try:
        if order.venue_order_id:
            return client.get_order(order.venue_order_id)
        return client.get_order_by_client_id(order.client_order_id, instrument_id=order.market_id)
    except NotFound:
        return None


def order_refresh(order: Order, client: VenueClient, *, resend: Resend) -> Order:
    """Bring a working order in line with the venue: settle it if its outcome is unknown, look it up by its
    venue id, or, when it was submitted and no answer was ever recorded, settle it as unknown."""
    if order.status == S.UNRESOLVED:
        return order_settle(order, client, resend=resend)
    if order.venue_order_id:
        return order_apply_state(order, client, client.get_order(order.venue_order_id))
    order_transition(order, S.UNRESOLVED)
    return order_settle(order, client, resend=resend)


def order_request_for(order: Order) -> OrderRequest:
    """The venue request of an order; rebuilt identically from the row on a retry."""
    return OrderRequest(
        instrument_id=order.market_id, side="buy" if order.action == OrderAction.OPEN else "sell",
        quantity=order.quantity, client_order_id=order.client_order_id, limit_price=order.limit_price,
        time_in_force=traits(order.venue).time_in_force, outcome="no" if order.side == "no" else "yes",
        reduce_only=order.action == OrderAction.CLOSE,
    )


def _prepared_again(order: Order, client: VenueClient) -> PreparedOrder:
    request = order_request_for(order)
    if traits(order.venue).signed_orders:  # the same signed order: the same hash, never a second order
        return PreparedOrder(order.venue, request, order.venue_order_id or None, dict(order.signed_order or {}))
    return client.prepare_order(request)  # the body is built from the request alone: same client order id
