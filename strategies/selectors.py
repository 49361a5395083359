"""Reads for strategies, scoped to the user who asks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from chatfiles.models import ChatFile
from strategies.models import Execution, ExecutionAction, ExecutionLog, Mode, Strategy, StrategyVersion
from trading.venues.platforms import PREDICTION_MARKETS

if TYPE_CHECKING:
    from trading.performance import Record as BookRecord

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
    uncertainty: str = ""  # how sure today's value is: an interval or a bound at GRADUATION_CONFIDENCE

    def describe(self) -> str:
        return f"{self.name}: {self.actual} (needs {self.required})"


@dataclass(frozen=True)
class GraduationStatistics:
    """The uncertainty beside the checks (docs/money.md, "The uncertainty of each check"), over the trades the
    win rate counts (closed trades and open positions at a loss)."""

    confidence: float
    trades: int
    wins: int
    win_rate_interval: tuple[float, float] | None  # Wilson, two-sided
    mean_pnl_usd: Decimal | None  # per trade, after fees
    mean_pnl_lower_bound_usd: Decimal | None  # one-sided, Student's t; None with fewer than two trades
    calibration: Any  # trading.performance.Calibration on a prediction market, else None
    strict: bool  # GRADUATION_REQUIRE_LOWER_BOUND: the lower bound is a check of its own


@dataclass(frozen=True)
class Graduation:
    checks: list[GraduationCheck]
    statistics: GraduationStatistics | None = None

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)


GRADUATION_EXPLAINED = (
    "Each number comes from a small sample, so each is shown with its uncertainty at 95 % confidence: the "
    "Wilson interval of the win rate (where the true win rate lies), and the lower bound of the mean P&L per "
    "trade after fees (Student's t, one-sided: the strategy earns at least this per trade, trades taken as "
    "independent). On a prediction market a win is not an edge: a contract bought at 0.90 wins 90 % of the "
    "time if the market is right, so the calibration compares the win rate with the average price paid. "
    "Marked to market: open losers count as losses, and open P&L is in the P&L and the drawdown."
)


def strategy_graduation(strategy: Strategy, *, version: StrategyVersion | None = None) -> Graduation:
    """The paper → live checklist (docs/money.md, "Approval and graduation") for one version (the current one
    by default), with the uncertainty of each number.

    Only this version's paper record counts: positions opened by its orders, read as the performance panel reads
    every version's (`trading.performance`, marked to market), so a strategy cannot graduate by never closing its
    losers. Drawdown is measured on this version's `capital.total_capital`. With GRADUATION_REQUIRE_LOWER_BOUND on,
    the lower bound of the mean P&L per trade must be above $0 too.
    """
    from trading.models import Book
    from trading.performance import book_record
    from trading.selectors import book_trades

    version = version or strategy.current_version
    if version is None:
        return Graduation(checks=_graduation_checks(None, None))
    capital = Decimal(str(version.config["capital"]["total_capital"]))
    now = timezone.now()
    trades = book_trades(strategy_id=strategy.pk, book=Book.PAPER, version_id=version.pk)
    record = book_record(trades, total_capital=capital, start=now, now=now)
    statistics = _graduation_statistics(record, prediction_market=strategy.platform in PREDICTION_MARKETS)
    return Graduation(checks=_graduation_checks(record, statistics), statistics=statistics)


def _graduation_statistics(record: BookRecord, *, prediction_market: bool) -> GraduationStatistics:
    from trading.performance import CONFIDENCE, calibration, mean_lower_bound, wilson_interval

    counted = record.counted
    bound = mean_lower_bound([trade.pnl_usd for trade in counted])
    return GraduationStatistics(
        confidence=CONFIDENCE, trades=len(counted), wins=record.wins,
        win_rate_interval=wilson_interval(record.wins, len(counted)),
        mean_pnl_usd=bound[0] if bound else (counted[0].pnl_usd if counted else None),
        mean_pnl_lower_bound_usd=bound[1] if bound else None,
        calibration=calibration(counted) if prediction_market else None,
        strict=settings.GRADUATION_REQUIRE_LOWER_BOUND,
    )


def _money(value: Decimal) -> str:
    return f"{'−' if value < 0 else ''}${abs(value):,.2f}"


def _graduation_checks(record: BookRecord | None, statistics: GraduationStatistics | None) -> list[GraduationCheck]:
    trades = record.closed_trades if record else 0
    win_rate = record.win_rate if record else None
    total_pnl = record.pnl_usd if record else Decimal(0)
    drawdown = record.max_drawdown if record else Decimal(0)
    win_note = pnl_note = ""
    bound = statistics.mean_pnl_lower_bound_usd if statistics else None
    if statistics is not None:
        level = f"{statistics.confidence:.0%}"
        if statistics.win_rate_interval is not None:
            low, high = statistics.win_rate_interval
            win_note = f"{level} interval {low:.1%} – {high:.1%} (Wilson, {statistics.wins} of {statistics.trades})"
        if statistics.mean_pnl_usd is not None:
            pnl_note = f"mean {_money(statistics.mean_pnl_usd)} per trade after fees"
            pnl_note += (f", {level} lower bound {_money(bound)} (Student's t, {statistics.trades} trades)"
                         if bound is not None else ", no bound from one trade")
    checks = [
        GraduationCheck(
            "closed paper trades", f"≥ {GRADUATION_MIN_TRADES}", str(trades), trades >= GRADUATION_MIN_TRADES
        ),
        GraduationCheck(
            "win rate",
            f"> {GRADUATION_MIN_WIN_RATE:.0%}",
            "—" if win_rate is None else f"{win_rate:.1%}",
            win_rate is not None and win_rate > GRADUATION_MIN_WIN_RATE,
            win_note,
        ),
        GraduationCheck("paper P&L", "> $0", f"${total_pnl:.2f}", total_pnl > 0, pnl_note),
        GraduationCheck(
            "max drawdown",
            f"< {GRADUATION_MAX_DRAWDOWN:.0%}",
            f"{drawdown:.1%}",
            drawdown < GRADUATION_MAX_DRAWDOWN,
        ),
    ]
    if statistics is not None and statistics.strict:
        checks.append(GraduationCheck(
            "mean P&L per trade, lower bound", "> $0", "—" if bound is None else _money(bound),
            bound is not None and bound > 0, f"{statistics.confidence:.0%} one-sided, Student's t, after fees"))
    return checks


def calibration_words(calibration: Any) -> str:
    """A prediction market's calibration in one sentence: the win rate against the prices paid."""
    if calibration is None:
        return ""
    z = "" if calibration.z is None else f", z = {calibration.z:+.2f}"
    return (f"won {calibration.win_rate:.1%} of {calibration.trades} trades bought at an average price of "
            f"{calibration.price_paid:.2f}, which a calibrated market wins {calibration.price_paid:.1%} of the time: "
            f"{calibration.edge * 100:+.1f} points over the price{z}")


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


def strategy_book(strategy: Strategy) -> str:
    """The book a strategy trades in now: live in live mode, else paper."""
    return "live" if strategy.mode == Mode.LIVE else "paper"


def strategies_pnl(strategies: list[Strategy]) -> dict[int, Decimal]:
    """P&L of each deployed strategy on its mode's book, marked to market, for the cards: two queries for all."""
    from trading.selectors import pnl_by_strategy

    return pnl_by_strategy(books={strategy.pk: strategy_book(strategy) for strategy in strategies
                                  if strategy.current_version_id is not None})


@dataclass(frozen=True)
class PortfolioBook:
    """The user's strategies trading in one book, summed: what the top of /strategies/ shows."""

    book: str
    strategies: int
    capital_usd: Decimal  # the allocations (`capital.total_capital`)
    pnl_usd: Decimal  # realized + unrealized at today's marks
    pnl_today_usd: Decimal  # since 00:00 UTC, realized and unrealized (the capital engine's)
    open_positions: int
    exposure: list[tuple[str, Decimal]]  # venue label → open positions at today's marks, largest first

    @property
    def equity_usd(self) -> Decimal:
        return self.capital_usd + self.pnl_usd


def portfolio_summary(user: User, *, now: datetime) -> list[PortfolioBook]:
    """Every deployed strategy of the user in the book of its mode (paper, live), summed per book: equity, P&L,
    today's P&L and exposure by venue. Paper and live are never added together."""
    from trading.models import Position
    from trading.performance import unrealized
    from trading.selectors import capital_state
    from trading.venues.platforms import Platform

    strategies = list(strategies_for_user(user).filter(current_version__isnull=False).defer("state"))
    pnl = strategies_pnl(strategies)
    books: dict[str, list[Strategy]] = {}
    for strategy in strategies:
        books.setdefault(strategy_book(strategy), []).append(strategy)
    summary = []
    for book in ("paper", "live"):
        members = books.get(book, [])
        if not members:
            continue
        capital = {strategy.pk: Decimal(str(strategy.config["capital"]["total_capital"])) for strategy in members}
        today = sum((capital_state(strategy_id=strategy.pk, book=book, total_capital=capital[strategy.pk],
                                   now=now).pnl_today_usd for strategy in members), Decimal(0))
        exposure: dict[str, Decimal] = {}
        held = 0
        for venue, quantity, cost, mark in Position.objects.filter(
                strategy__in=members, book=book, status=Position.Status.OPEN).values_list(
                "venue", "quantity", "cost_basis_usd", "current_price"):
            held += 1
            exposure[venue] = exposure.get(venue, Decimal(0)) + cost + unrealized(quantity=quantity, price=mark,
                                                                                cost_usd=cost)
        summary.append(PortfolioBook(
            book=book, strategies=len(members), capital_usd=sum(capital.values(), Decimal(0)),
            pnl_usd=sum((pnl.get(strategy.pk, Decimal(0)) for strategy in members), Decimal(0)),
            pnl_today_usd=today, open_positions=held,
            exposure=sorted(((dict(Platform.choices).get(venue, venue), value) for venue, value in exposure.items()),
                            key=lambda item: -item[1])))
    return summary


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
    strategy: Strategy, *, cursor: str = "", trigger: str = "", status: str = "", search: str = "", level: str = "",
    size: int = HISTORY_PAGE_SIZE,
) -> HistoryPage:
    """Runs newest first, `size` at a time, by keyset (scheduled_for, id) on the (strategy, -scheduled_for) index:
    the 4,000th page costs what the first does. A malformed cursor starts from the newest run.
    `search` (case-insensitive, in a log line or the error) and `level` (a log level) keep the runs with such a line;
    a search reads every line of the strategy's runs, so it costs more than paging."""
    runs = strategy.executions.order_by("-scheduled_for", "-id")
    if trigger in Execution.Trigger.values:
        runs = runs.filter(trigger=trigger)
    if status in Execution.Status.values:
        runs = runs.filter(status=status)
    search = search.strip()[:200]
    if search or level in ExecutionLog.Level.values:
        lines = ExecutionLog.objects.filter(execution=OuterRef("pk"))
        if level in ExecutionLog.Level.values:
            lines = lines.filter(level=level)
        if search:
            lines = lines.filter(message__icontains=search)
        matched = Exists(lines)
        runs = runs.filter(matched | Q(error__icontains=search) if search and not level else matched)
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
class BookPerformance:
    """One book's record (`trading.performance`: marked to market) beside its capital from the ledger."""

    book: str
    capital: Any  # trading.capital.Exposures
    record: BookRecord

    @property
    def realized_usd(self) -> Decimal:
        return self.record.realized_usd

    @property
    def unrealized_usd(self) -> Decimal:
        return self.record.unrealized_usd

    @property
    def pnl_usd(self) -> Decimal:
        return self.record.pnl_usd

    @property
    def closed_trades(self) -> int:
        return self.record.closed_trades

    @property
    def win_rate(self) -> Decimal | None:
        return self.record.win_rate

    @property
    def max_drawdown(self) -> Decimal:
        return self.record.max_drawdown

    @property
    def sharpe(self) -> Decimal | None:
        """Annualised from daily returns; None with fewer than two days with a close."""
        from trading.performance import sharpe

        return sharpe(self.record.total_capital, self.record.daily_pnl)


def strategy_performance(strategy: Strategy, *, now: datetime) -> list[BookPerformance]:
    """P&L, win rate, drawdown, Sharpe and the equity curve of each book the strategy trades (paper, and live
    once it has live trades or is in live mode), every version's record marked to market, with capital deployed
    vs available from the ledger."""
    from trading.models import Book
    from trading.performance import book_record
    from trading.selectors import book_trades, capital_state

    total = Decimal(str(strategy.config["capital"]["total_capital"]))
    trades = {book: book_trades(strategy_id=strategy.pk, book=book) for book in (Book.PAPER, Book.LIVE)}
    books = [Book.PAPER] + ([Book.LIVE] if strategy.mode == Mode.LIVE or trades[Book.LIVE] else [])
    return [BookPerformance(
        book=book, capital=capital_state(strategy_id=strategy.pk, book=book, total_capital=total, now=now),
        record=book_record(trades[book], total_capital=total, start=strategy.created_at, now=now),
    ) for book in books]


@dataclass(frozen=True)
class OpenPosition:
    position: Any  # trading.models.Position, marked to market by the last cycle
    unrealized_usd: Decimal | None  # None until a cycle has marked it


def strategy_open_positions(strategy: Strategy) -> list[OpenPosition]:
    from trading.models import Position
    from trading.performance import unrealized

    positions = Position.objects.filter(strategy=strategy, status=Position.Status.OPEN).order_by("-opened_at", "-id")
    return [OpenPosition(position, None if position.current_price is None else unrealized(
        quantity=position.quantity, price=position.current_price, cost_usd=position.cost_basis_usd))
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
