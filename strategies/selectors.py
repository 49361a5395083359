"""Reads for strategies, scoped to the user who asks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from chatfiles.models import ChatFile
from strategies.models import Execution, ExecutionAction, ExecutionLog, Mode, Strategy, StrategyVersion

if TYPE_CHECKING:
    from trading.models import Position

GRADUATION_MIN_TRADES = 20
GRADUATION_MIN_WIN_RATE = Decimal("0.55")
GRADUATION_MAX_DRAWDOWN = Decimal("0.20")


def strategies_for_user(user: User) -> QuerySet[Strategy]:
    return Strategy.objects.filter(owner=user).exclude(status=Strategy.Status.ARCHIVED).order_by("name", "id")


@dataclass(frozen=True)
class GraduationCheck:
    name: str
    required: str
    actual: str
    passed: bool

    def describe(self) -> str:
        return f"{self.name}: {self.actual} (needs {self.required})"


@dataclass(frozen=True)
class Graduation:
    checks: list[GraduationCheck]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)


def strategy_graduation(strategy: Strategy, *, version: StrategyVersion | None = None) -> Graduation:
    """The paper → live checklist (docs/money.md, "Approval and graduation") for one version (the current one
    by default).

    Only this version's paper record counts: positions opened by its orders. Open positions count
    marked to market, so a strategy cannot graduate by never closing its losers: an open position
    at a loss is a loss in the win rate, its unrealized P&L is in the P&L, and the equity curve
    ends at today's marks. Drawdown is measured on this version's `capital.total_capital`.
    """
    from trading.models import Book, Fill, OrderAction, Position

    version = version or strategy.current_version
    if version is None:
        return Graduation(checks=_graduation_checks(0, 0, 0, Decimal(0), Decimal(0)))
    opened_by_version = Fill.objects.filter(
        order__strategy_id=strategy.pk, order__version_id=version.pk, order__book=Book.PAPER,
        order__action=OrderAction.OPEN, order__venue=OuterRef("venue"), order__market_id=OuterRef("market_id"),
        order__side=OuterRef("side"), filled_at=OuterRef("opened_at"))
    positions = list(
        Position.objects.filter(strategy_id=strategy.pk, book=Book.PAPER)
        .filter(Exists(opened_by_version))
        .order_by("closed_at", "opened_at", "id")
    )
    closed = [p.realized_pnl_usd for p in positions if p.status == Position.Status.CLOSED]
    open_pnl = [p.realized_pnl_usd + _unrealized(p) for p in positions if p.status == Position.Status.OPEN]
    wins = sum(1 for pnl in closed if pnl > 0)
    open_losers = sum(1 for pnl in open_pnl if pnl < 0)
    counted = len(closed) + open_losers  # an open winner is not a win until it is closed
    total_pnl = sum(closed, Decimal(0)) + sum(open_pnl, Decimal(0))
    capital = Decimal(str(version.config["capital"]["total_capital"]))
    equity = peak = capital
    drawdown = Decimal(0)
    for pnl in [*closed, sum(open_pnl, Decimal(0))]:  # the curve ends at today's marks
        equity += pnl
        peak = max(peak, equity)
        drawdown = max(drawdown, (peak - equity) / peak if peak > 0 else Decimal(1))
    return Graduation(checks=_graduation_checks(len(closed), counted, wins, total_pnl, drawdown))


def _unrealized(position: Position) -> Decimal:
    """Marked to market; a position never marked is counted as worth nothing."""
    price: Decimal = position.current_price if position.current_price is not None else Decimal(0)
    unrealized: Decimal = price * position.quantity - position.cost_basis_usd
    return unrealized


def _graduation_checks(trades: int, counted: int, wins: int, total_pnl: Decimal,
                       drawdown: Decimal) -> list[GraduationCheck]:
    win_rate = Decimal(wins) / counted if counted else Decimal(0)
    return [
        GraduationCheck(
            "closed paper trades", f"≥ {GRADUATION_MIN_TRADES}", str(trades), trades >= GRADUATION_MIN_TRADES
        ),
        GraduationCheck(
            "win rate",
            f"> {GRADUATION_MIN_WIN_RATE:.0%}",
            f"{win_rate:.1%}",
            counted > 0 and win_rate > GRADUATION_MIN_WIN_RATE,
        ),
        GraduationCheck("paper P&L", "> $0", f"${total_pnl:.2f}", total_pnl > 0),
        GraduationCheck(
            "max drawdown",
            f"< {GRADUATION_MAX_DRAWDOWN:.0%}",
            f"{drawdown:.1%}",
            drawdown < GRADUATION_MAX_DRAWDOWN,
        ),
    ]


# --- The /strategies dashboard's reads. Each returns what one page shows in a fixed number of queries,
# whatever the number of strategies or runs (tests/strategies/test_dashboard.py counts them).

HISTORY_PAGE_SIZE = 25


@dataclass(frozen=True)
class StatusBadge:
    key: str  # css modifier: active, paused, pending, rejected, live_approval, draft
    label: str
    detail: str = ""  # the pause or rejection reason


def newer_version_note(strategy: Strategy) -> str:
    """What became of a version newer than the one that runs: "v3 waits for approval", "v3 was rejected: …"."""
    version, running = strategy.current_version, strategy.running_version
    if version is None or running is None or version.pk == running.pk:
        return ""
    if version.rejected_at is not None:
        return f"v{version.number} was rejected: {version.rejection_reason}"
    if strategy.mode == Mode.LIVE and version.is_approved_for_paper:
        return f"v{version.number} waits for live approval"
    return f"v{version.number} waits for approval"


def strategy_badge(strategy: Strategy) -> StatusBadge:
    """What a card says about whether the strategy runs: its approved (running) version, else its newest one.
    While an approved version runs, a newer one's approval or rejection is the badge's detail."""
    version, running = strategy.current_version, strategy.running_version
    if running is None:
        if strategy.status == Strategy.Status.PENDING_APPROVAL:
            return StatusBadge("pending", "Pending approval")
        if strategy.status == Strategy.Status.REJECTED:
            return StatusBadge("rejected", "Rejected", version.rejection_reason if version else "")
        if strategy.status != Strategy.Status.APPROVED:
            return StatusBadge("draft", strategy.get_status_display())
        return StatusBadge("live_approval", "Needs live approval")  # approved for paper, in live mode
    if strategy.mode == Mode.LIVE and not running.is_approved_for_live:
        return StatusBadge("live_approval", "Needs live approval")
    if not strategy.enabled:
        return StatusBadge("paused", "Paused", strategy.paused_reason)
    return StatusBadge("active", "Active", newer_version_note(strategy))


def strategy_scheduled(strategy: Strategy) -> bool:
    """Whether the scheduler will run it (docs/scheduling.md): enabled, with an approved version to run, paper or
    live, with a slot."""
    return (strategy.enabled and strategy.running_version_id is not None and strategy.mode != Mode.BACKTEST
            and strategy.next_run_at is not None and strategy_badge(strategy).key == "active")


def strategy_cards(user: User, *, mode: str = "", status: str = "", venue: str = "") -> list[Strategy]:
    """The user's strategies for the left panel, filtered; `status` is a badge key (active, paused, …)."""
    # The cards read neither config nor state, the largest columns: skip decoding them for every card.
    strategies = (strategies_for_user(user).select_related("current_version", "running_version")
                  .defer("config", "state", "current_version__config", "running_version__config"))
    if mode:
        strategies = strategies.filter(mode=mode)
    if venue:
        strategies = strategies.filter(platform=venue)
    cards = list(strategies)
    if status:
        cards = [strategy for strategy in cards if strategy_badge(strategy).key == status]
    return cards


def strategy_for_user(user: User, strategy_id: int) -> Strategy | None:
    return (strategies_for_user(user).select_related("current_version", "running_version")
            .filter(pk=strategy_id).first())


def review_queue_count() -> int:
    """Versions waiting for a reviewer, over every owner: staff see it in the dashboard's top bar."""
    return Strategy.objects.filter(status=Strategy.Status.PENDING_APPROVAL).count()


def recent_runs(strategy: Strategy, limit: int = 12) -> list[Execution]:
    return list(strategy.executions.order_by("-scheduled_for", "-id")[:limit])


@dataclass(frozen=True)
class HistoryPage:
    runs: list[Execution]
    next_cursor: str  # "" on the last page


def _cursor_parse(cursor: str) -> tuple[datetime, int] | None:
    stamp, _, run_id = cursor.rpartition("_")
    try:
        moment = datetime.fromisoformat(stamp)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), int(run_id)
    except ValueError:
        return None


def execution_history(
    strategy: Strategy, *, cursor: str = "", trigger: str = "", status: str = "", size: int = HISTORY_PAGE_SIZE
) -> HistoryPage:
    """Runs newest first, `size` at a time, by keyset (scheduled_for, id) on the (strategy, -scheduled_for) index:
    the 4,000th page costs what the first does. A malformed cursor starts from the newest run."""
    runs = strategy.executions.order_by("-scheduled_for", "-id")
    if trigger in Execution.Trigger.values:
        runs = runs.filter(trigger=trigger)
    if status in Execution.Status.values:
        runs = runs.filter(status=status)
    after = _cursor_parse(cursor) if cursor else None
    if after is not None:
        moment, run_id = after
        runs = runs.filter(Q(scheduled_for__lt=moment) | Q(scheduled_for=moment, id__lt=run_id))
    page = list(runs[: size + 1])
    more = len(page) > size
    page = page[:size]
    next_cursor = f"{page[-1].scheduled_for.isoformat()}_{page[-1].pk}" if more and page else ""
    return HistoryPage(page, next_cursor)


def execution_for_strategy(strategy: Strategy, execution_id: int) -> Execution | None:
    """One run with its log lines and actions (two more queries), or None when it is not this strategy's."""
    return (strategy.executions.filter(pk=execution_id).select_related("version")
            .prefetch_related(Prefetch("logs", queryset=ExecutionLog.objects.order_by("seq")),
                              Prefetch("actions", queryset=ExecutionAction.objects.order_by("seq")))
            .first())


@dataclass(frozen=True)
class EquityPoint:
    time: int  # unix seconds
    value: Decimal


@dataclass(frozen=True)
class BookPerformance:
    book: str
    capital: Any  # trading.selectors.CapitalState
    closed_trades: int
    win_rate: Decimal | None
    max_drawdown: Decimal
    sharpe: Decimal | None  # annualised from daily returns; None with fewer than two days of closed trades
    equity: list[EquityPoint]

    @property
    def realized_usd(self) -> Decimal:
        return Decimal(self.capital.realized_usd)

    @property
    def unrealized_usd(self) -> Decimal:
        return Decimal(self.capital.unrealized_usd)


def strategy_performance(strategy: Strategy, *, now: datetime) -> list[BookPerformance]:
    """P&L, win rate, drawdown, Sharpe and the equity curve of each book the strategy trades (paper, and live
    once it has live trades), from closed positions, with capital deployed vs available from the ledger."""
    from trading.models import Book, Position
    from trading.selectors import capital_state

    total = Decimal(str(strategy.config["capital"]["total_capital"]))
    closed: dict[str, list[tuple[datetime, Decimal]]] = {Book.PAPER: [], Book.LIVE: []}
    for book, closed_at, pnl in (Position.objects.filter(strategy=strategy, status=Position.Status.CLOSED)
                                 .order_by("closed_at", "id").values_list("book", "closed_at", "realized_pnl_usd")):
        if closed_at is not None:  # a closed position always has one (a database constraint)
            closed[book].append((closed_at, pnl))
    books = [Book.PAPER] + ([Book.LIVE] if strategy.mode == Mode.LIVE or closed[Book.LIVE] else [])
    return [_book_performance(strategy, book, total, closed[book], now, capital_state) for book in books]


def _book_performance(strategy: Strategy, book: str, total: Decimal, closed: list[tuple[datetime, Decimal]],
                      now: datetime, capital_state: Any) -> BookPerformance:
    capital = capital_state(strategy_id=strategy.pk, book=book, total_capital=total, now=now)
    start = min([strategy.created_at, *(closed_at - timedelta(minutes=1) for closed_at, _ in closed[:1])])
    equity = [EquityPoint(int(start.timestamp()), total)]
    value = peak = total
    drawdown = Decimal(0)
    daily: dict[str, Decimal] = {}
    for closed_at, pnl in closed:
        value += pnl
        peak = max(peak, value)
        drawdown = max(drawdown, (peak - value) / peak if peak > 0 else Decimal(1))
        moment = int(closed_at.timestamp())
        if equity and equity[-1].time >= moment:  # the chart needs strictly increasing times: merge the second
            equity[-1] = EquityPoint(equity[-1].time, value)
        else:
            equity.append(EquityPoint(moment, value))
        day = closed_at.date().isoformat()
        daily[day] = daily.get(day, Decimal(0)) + pnl
    wins = sum(1 for _, pnl in closed if pnl > 0)
    return BookPerformance(
        book=book, capital=capital, closed_trades=len(closed),
        win_rate=Decimal(wins) / len(closed) if closed else None,
        max_drawdown=drawdown, sharpe=_sharpe(total, list(daily.values())), equity=equity,
    )


def _sharpe(start: Decimal, daily_pnl: list[Decimal]) -> Decimal | None:
    if len(daily_pnl) < 2:
        return None
    returns, equity = [], start
    for pnl in daily_pnl:
        returns.append(pnl / equity if equity > 0 else Decimal(0))
        equity += pnl
    mean = sum(returns, Decimal(0)) / len(returns)
    variance = sum(((value - mean) ** 2 for value in returns), Decimal(0)) / (len(returns) - 1)
    if variance == 0:
        return None
    return (mean / variance.sqrt() * Decimal(365).sqrt()).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class OpenPosition:
    position: Any  # trading.models.Position, marked to market by the last cycle
    unrealized_usd: Decimal | None  # None until a cycle has marked it


def strategy_open_positions(strategy: Strategy) -> list[OpenPosition]:
    from trading.models import Position

    positions = Position.objects.filter(strategy=strategy, status=Position.Status.OPEN).order_by("-opened_at", "-id")
    return [OpenPosition(position, None if position.current_price is None
                         else position.current_price * position.quantity - position.cost_basis_usd)
            for position in positions]


def strategy_recent_orders(strategy: Strategy, limit: int = 10) -> list[Any]:
    from trading.models import Fill, Order

    return list(Order.objects.filter(strategy=strategy).order_by("-created_at", "-id")
                .prefetch_related(Prefetch("fills", queryset=Fill.objects.order_by("filled_at", "id")))[:limit])


def strategy_versions(strategy: Strategy) -> list[StrategyVersion]:
    """Every version, newest first, with who approved or rejected it and its files (three queries)."""
    return list(strategy.versions.order_by("-number")
                .select_related("created_by", "approved_paper_by", "approved_live_by", "rejected_by")
                .prefetch_related(Prefetch("files", queryset=ChatFile.objects.order_by("filename"))))
