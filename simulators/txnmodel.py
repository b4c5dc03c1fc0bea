"""Transactions of simulated payment devices: store types with daily and weekly rhythms,
Poisson windows, daily batch closes, and the acquirer's settlement file (pure: no I/O).

A **device** is what takes money: a PIN pad behind a store router (a terminal) or an
all-in-one POS (the gateway itself). Each belongs to a store whose **type** gives its rate of
sales per hour at every local hour of the week (zero while closed) and its batch cut-off.
A window of ``[since, until)`` draws its count from a Poisson law whose mean is the rate
integrated over the window (piece by local hour), then splits it into outcomes and response
classes by the device's current **mode** (normal, or a fault: issuer outage, network
time-outs). Amounts are in minor units of CNY. docs/simulator.md, "Transactions".
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from telemetry.models import BatchClose, Outcomes, Responses, Transactions

CURRENCY = "CNY"
ACQUIRERS = ("unionpay-sh", "lakala-bj", "yeepay-gz")


@dataclass(frozen=True, slots=True)
class StoreType:
    """Sales per terminal per hour = ``peak`` x ``shape[local hour]`` x ``week[weekday]``
    inside ``hours[weekday]`` (local [open, close) hours), zero outside."""

    name: str
    peak: float  # sales per terminal per hour at the busiest hour of an average day
    shape: tuple[float, ...]  # 24 weights, local hour of the day
    week: tuple[float, ...]  # 7 weights, Monday first
    hours: tuple[tuple[tuple[int, int], ...], ...]  # per weekday: (open, close) hour spans
    ticket: int  # mean sale, minor units
    cutoff: tuple[int, int]  # local (hour, minute) the day's batch closes

    def rate(self, local: datetime) -> float:
        """Sales per hour at the local time ``local`` (before the scenario's scale)."""
        wd, h = local.weekday(), local.hour
        if not any(a <= h < b for a, b in self.hours[wd]):
            return 0.0
        return self.peak * self.shape[h] * self.week[wd]

    def is_open_day(self, weekday: int) -> bool:
        return bool(self.hours[weekday])


def _daily(
    *spans: tuple[int, int], closed: tuple[int, ...] = ()
) -> tuple[tuple[tuple[int, int], ...], ...]:
    return tuple(() if wd in closed else spans for wd in range(7))


_NIGHT = (0.15, 0.1, 0.08, 0.08, 0.1, 0.2)
STORE_TYPES: dict[str, StoreType] = {
    t.name: t
    for t in (
        StoreType(
            "supermarket",
            peak=45.0,
            shape=(0,) * 8
            + (0.4, 0.6, 0.8, 1.0, 0.9, 0.7, 0.6, 0.7, 0.9, 1.0, 0.9, 0.6, 0.4, 0.3, 0, 0),
            week=(0.9, 0.9, 0.95, 1.0, 1.15, 1.35, 1.2),
            hours=_daily((8, 22)),
            ticket=9_800,
            cutoff=(22, 0),
        ),
        StoreType(
            "restaurant",
            peak=25.0,
            shape=(0,) * 11 + (0.6, 1.0, 0.8, 0.3, 0, 0, 0.4, 0.8, 1.0, 0.7, 0.4, 0, 0),
            week=(0.0, 0.8, 0.85, 0.9, 1.2, 1.4, 1.1),
            hours=_daily((11, 14), (17, 22), closed=(0,)),  # closed on Mondays
            ticket=16_800,
            cutoff=(22, 0),
        ),
        StoreType(
            "convenience",  # open around the clock, quiet at night
            peak=35.0,
            shape=(
                *_NIGHT,
                0.4,
                0.8,
                1.0,
                0.7,
                0.6,
                0.7,
                1.0,
                0.7,
                0.6,
                0.6,
                0.7,
                0.9,
                1.0,
                0.9,
                0.7,
                0.5,
                0.3,
                0.2,
            ),
            week=(1.0, 1.0, 1.0, 1.0, 1.1, 1.15, 1.05),
            hours=_daily((0, 24)),
            ticket=2_600,
            cutoff=(23, 30),
        ),
        StoreType(
            "boutique",
            peak=6.0,
            shape=(0,) * 10 + (0.4, 0.6, 0.8, 0.9, 1.0, 1.0, 0.9, 0.8, 0.6, 0, 0, 0, 0, 0),
            week=(0.7, 0.7, 0.8, 0.9, 1.1, 1.6, 0.0),
            hours=_daily((10, 19), closed=(6,)),  # closed on Sundays
            ticket=45_000,
            cutoff=(19, 0),
        ),
    )
}
assert all(
    len(t.shape) == 24 and len(t.week) == 7 and len(t.hours) == 7 for t in STORE_TYPES.values()
)


def store_type_of(site_id: str, seed: int, mix: tuple[str, ...]) -> StoreType:
    """The type of a store: drawn from ``mix`` by site and seed (deterministic)."""
    return STORE_TYPES[random.Random(f"{seed}:{site_id}:type").choice(sorted(mix))]


def acquirer_of(site_id: str, seed: int) -> str:
    return random.Random(f"{seed}:{site_id}:acq").choice(ACQUIRERS)


class TxnMode(StrEnum):
    NORMAL = "normal"
    STUCK = "stuck"  # the payment app hangs: no sale, nothing reported
    ISSUER_OUTAGE = "issuer_outage"  # the issuer does not answer: declines with 91 and kin
    NETWORK_TIMEOUTS = "network_timeouts"  # no answer in time (68): the terminal gives up


# Share of sale attempts by how they end: (cardholder declines, issuer unavailable,
# reversed, timed out, terminal error); the rest is approved.
SHARES: dict[TxnMode, tuple[float, float, float, float, float]] = {
    TxnMode.NORMAL: (0.035, 0.003, 0.004, 0.002, 0.001),
    TxnMode.ISSUER_OUTAGE: (0.02, 0.6, 0.004, 0.002, 0.001),
    TxnMode.NETWORK_TIMEOUTS: (0.02, 0.003, 0.004, 0.5, 0.001),
    TxnMode.STUCK: (0.0, 0.0, 0.0, 0.0, 0.0),
}
REFUND_SHARE = 0.01  # refunds per approved sale


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 40:  # normal approximation; exact enough for counts in the hundreds
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def binomial(rng: random.Random, n: int, p: float) -> int:
    if n <= 0 or p <= 0:
        return 0
    if n < 60:
        return sum(1 for _ in range(n) if rng.random() < p)
    mean = n * p
    return min(n, max(0, round(rng.gauss(mean, math.sqrt(mean * (1 - p))))))


def hour_pieces(since: datetime, until: datetime, tz: ZoneInfo) -> list[tuple[datetime, float]]:
    """[(local start, seconds)] of ``[since, until)`` cut at local hour boundaries."""
    out: list[tuple[datetime, float]] = []
    t = since
    while t < until:
        local = t.astimezone(tz)
        nxt = (local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)).astimezone(
            UTC
        )
        if nxt <= t:
            nxt = t + timedelta(hours=1)
        end = min(nxt, until)
        out.append((local, (end - t).total_seconds()))
        t = end
    return out


@dataclass(frozen=True, slots=True)
class SettledBatch:
    """A batch the device closed: what the acquirer settles for it."""

    device: str
    merchant: str
    batch_id: str
    business_day: date
    count: int
    amount: int
    refund: int  # the amount of one refund of the batch (0: none)
    closed_at: datetime


@dataclass
class Device:
    """One payment device and its running day."""

    device_id: str
    gateway_id: str
    terminal: str | None  # None: the gateway is the payment device
    site_id: str
    merchant: str
    tz: ZoneInfo
    store: StoreType
    acquirer: str
    rng: random.Random
    mode: TxnMode = TxnMode.NORMAL
    fault_share: float = 0.0  # of the attempts that fail so in a fault mode
    last_txn_at: datetime | None = None
    batch_count: int = 0
    batch_amount: int = 0
    batch_refund: int = 0
    batches: list[SettledBatch] = field(default_factory=list)

    def cutoff_in(self, since: datetime, until: datetime) -> datetime | None:
        """The batch cut-off in ``(since, until]``, if any (on a day the store opens)."""
        day = since.astimezone(self.tz).date()
        while True:
            h, m = self.store.cutoff
            local = datetime(day.year, day.month, day.day, h, m, tzinfo=self.tz)
            at = local.astimezone(UTC)
            if at > until:
                return None
            if at > since and self.store.is_open_day(day.weekday()):
                return at
            day += timedelta(days=1)

    def window(
        self, since: datetime, until: datetime, scale: float, *, historical: bool = False
    ) -> Transactions | None:
        """The device's report for ``[since, until)``; None when there is nothing to report
        (the store is closed and closes no batch, or the payment app is stuck)."""
        if self.mode is TxnMode.STUCK:
            return None
        cut = self.cutoff_in(since, until)
        total = _Split()
        open_any = False
        batch: BatchClose | None = None
        # The sales before the cut-off belong to the closing batch, the rest to the next.
        pieces = ((since, cut, True), (cut, until, False)) if cut else ((since, until, False),)
        for lo, hi, closes in pieces:
            n, last = 0, None
            for local, seconds in hour_pieces(lo, hi, self.tz):
                lam = self.store.rate(local) * scale * seconds / 3600
                open_any = open_any or lam > 0
                k = poisson(self.rng, lam)
                if k:
                    n += k
                    start = local.astimezone(UTC)
                    last = start + timedelta(seconds=seconds * self.rng.random() ** (1 / k))
            if last is not None:
                self.last_txn_at = max(self.last_txn_at or last, last)
            part = self._split(n)
            total = total + part
            self.batch_count += part.outcomes.approved  # sales and refunds
            self.batch_amount += part.sales_amount - part.refund_amount
            if part.refunds:
                self.batch_refund = part.refund_amount // part.refunds
            if closes:
                batch = self._close(hi)
        if not open_any and batch is None:
            return None
        return Transactions(
            gw=self.gateway_id,
            terminal=self.terminal,
            ts=until,
            historical=historical,
            since=since,
            until=until,
            outcomes=total.outcomes,
            responses=total.responses,
            approved_amount=total.sales_amount,
            refunded_amount=total.refund_amount,
            currency=CURRENCY,
            last_txn_at=self.last_txn_at,
            acquirer=self.acquirer,
            batch=batch,
        )

    def _split(self, n: int) -> _Split:
        """``n`` attempts by outcome and response class, with their amounts."""
        rng = self.rng
        shares = SHARES[self.mode]
        if self.mode is TxnMode.ISSUER_OUTAGE:
            shares = (shares[0], self.fault_share, *shares[2:])
        elif self.mode is TxnMode.NETWORK_TIMEOUTS:
            shares = (*shares[:3], self.fault_share, shares[4])
        left = n
        drawn = []
        for i, p in enumerate(shares):
            rest = 1.0 - sum(shares[:i])
            k = binomial(rng, left, min(1.0, p / rest) if rest > 0 else 0.0)
            drawn.append(k)
            left -= k
        cardholder, issuer, reversed_, timed_out, error = drawn
        refunds = binomial(rng, left, REFUND_SHARE)
        ticket = self.store.ticket
        outcomes = Outcomes(
            approved=left,  # sales and refunds
            declined=cardholder + issuer,
            reversed=reversed_,
            timed_out=timed_out,
            error=error,
        )
        # A reversal was approved first; a time-out or a terminal error got no response code.
        responses = Responses(
            approved=left + reversed_,
            cardholder_decline=cardholder,
            issuer_unavailable=issuer,
            other=timed_out + error,
        )
        return _Split(
            outcomes,
            responses,
            round((left - refunds) * ticket * rng.uniform(0.85, 1.15)),
            refunds,
            round(refunds * ticket * rng.uniform(0.5, 1.0)),
        )

    def _close(self, at: datetime) -> BatchClose | None:
        day = at.astimezone(self.tz).date()
        count, amount = self.batch_count, max(0, self.batch_amount)
        refund = self.batch_refund
        self.batch_count = self.batch_amount = self.batch_refund = 0
        if count == 0:
            return None
        bid = f"B{day:%Y%m%d}"
        self.batches.append(
            SettledBatch(self.device_id, self.merchant, bid, day, count, amount, refund, at)
        )
        return BatchClose(id=bid, count=count, amount=amount, currency=CURRENCY, closed_at=at)


@dataclass(frozen=True, slots=True)
class _Split:
    outcomes: Outcomes = field(default_factory=Outcomes)
    responses: Responses = field(default_factory=Responses)
    sales_amount: int = 0
    refunds: int = 0
    refund_amount: int = 0

    def __add__(self, o: _Split) -> _Split:
        return _Split(
            Outcomes(
                **{
                    k: getattr(self.outcomes, k) + getattr(o.outcomes, k)
                    for k in Outcomes.model_fields
                }
            ),
            Responses(
                **{
                    k: getattr(self.responses, k) + getattr(o.responses, k)
                    for k in Responses.model_fields
                }
            ),
            self.sales_amount + o.sales_amount,
            self.refunds + o.refunds,
            self.refund_amount + o.refund_amount,
        )


def settlement_rows(
    batches: Iterable[SettledBatch], duplicated_refund: Collection[str] = ()
) -> list[SettledBatch]:
    """What the acquirer settles: each batch as closed, except those of ``duplicated_refund``
    devices, whose refund it books twice (one more transaction, the amount short by it)."""
    out = []
    for b in batches:
        if b.device in duplicated_refund:
            refund = b.refund or STORE_TICKET_FALLBACK
            b = SettledBatch(
                b.device, b.merchant, b.batch_id, b.business_day, b.count + 1,
                max(0, b.amount - refund), b.refund, b.closed_at,
            )  # fmt: skip
        out.append(b)
    return out


STORE_TICKET_FALLBACK = 5_000  # a refund of 50.00 when the batch had none


def settlement_csv(rows: list[SettledBatch]) -> bytes:
    """The settlement file of docs/transactions.md (amounts in yuan, two decimals)."""
    lines = ["merchant,terminal,batch,business_date,count,amount,currency"]
    for r in sorted(rows, key=lambda r: (r.device, r.batch_id)):
        lines.append(
            f"{r.merchant},{r.device},{r.batch_id},{r.business_day.isoformat()},{r.count},"
            f"{r.amount // 100}.{r.amount % 100:02d},{CURRENCY}"
        )
    return ("\n".join(lines) + "\n").encode("utf-8")
