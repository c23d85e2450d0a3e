"""Checkout: the one place that decides, for every channel (the keeper's pages, phone
payments, the API), what is due now, whether it can be paid, and whether to start a
payment or resume one — and whose card page it may be. Channels map its outcomes onto
pages or HTTP answers; none passes an amount or works one out. ADR 0018.

- `quote(case)`: the amount due now from the case and the money held against it (one
  rule: penaltypay.payments.held), with why it cannot be paid when it cannot.
- `check_out(case, payer, …)`: under the case's lock, quote again; then resume the payer's
  own live payment, or start a new one, or say who else is paying it right now. A live
  payment is resumed only by the same channel and the same owner (the keeper's session,
  the agent, the API client); it blocks everyone else until it finishes or the provider's
  expiry (PAY_PAYMENT_EXPIRY_MINUTES) passes.
- The provider's card page is followed only to PAY_CARD_ORIGIN; anything else is refused
  with a `card_page_refused` security event, whatever the channel.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from penaltypay.cases.domain import (
    AmountDue,
    Case,
    NotPayableReason,
    amount_due_after_reduction,
    amount_due_at,
    why_not_payable,
)
from penaltypay.cases.lookup import LookupOutcome, find_case
from penaltypay.cases.ports import CaseSource
from penaltypay.cases.store import lock_case
from penaltypay.kernel.security_events import CARD_PAGE_REFUSED, security_event
from penaltypay.payments import card_testing, creation, ports
from penaltypay.payments.domain import LIVE_STATUSES, PaymentStatus
from penaltypay.payments.models import Payment
from penaltypay.payments.queries import held_against
from penaltypay.payments.settlement import refresh_payment
from penaltypay.security import card_page_allowed

ONLINE = Payment.CHANNEL_ONLINE
PHONE = Payment.CHANNEL_PHONE


@dataclass(frozen=True)
class Payer:
    """Who is paying, through which channel. `owner` is who may resume a live payment:
    `keeper:<token kept in the keeper's session>`, `staff:<username>`, `api:<client id>`.
    `created_by` is what the timelines show (blank for a keeper)."""

    channel: str
    owner: str
    created_by: str = ""
    address_hash: str = ""  # the keeper's address, hashed: card testing is counted per address
    link_sent_by: str = ""  # the agent whose payment link the keeper came from

    @classmethod
    def keeper(cls, session_token: str, address_hash: str = "", link_sent_by: str = "") -> Payer:
        return cls(ONLINE, f"keeper:{session_token}", address_hash=address_hash, link_sent_by=link_sent_by)

    @classmethod
    def agent(cls, username: str) -> Payer:
        return cls(PHONE, f"staff:{username}", created_by=username)

    @classmethod
    def api_client(cls, client_id: str, name: str) -> Payer:
        return cls(ONLINE, f"api:{client_id}", created_by=f"api:{name}")


@dataclass(frozen=True)
class Quote:
    case: Case
    at: datetime
    due: AmountDue  # what is due now, after the money held against the case
    after_reduction: AmountDue  # what will be due once the reduction has ended
    reason: NotPayableReason | None  # why it cannot be paid now (None: it can)
    live: Payment | None  # a payment for this case on a card page right now, whoever's

    @property
    def payable(self) -> bool:
        return self.reason is None


def quote(case: Case, at: datetime | None = None) -> Quote:
    at = at or timezone.now()
    held = held_against(case.reference)
    # A live payment with a line for this penalty (its own, or a basket's).
    live = Payment.objects.filter(
        lines__case_reference=case.reference, status__in=[s.value for s in LIVE_STATUSES]
    ).first()
    return Quote(
        case=case,
        at=at,
        due=amount_due_at(case, at, held.pending_pence),
        after_reduction=amount_due_after_reduction(case, at, held.pending_pence),
        reason=why_not_payable(case, at, held.pending_pence),
        live=live,
    )


# --- what check_out answers ---------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    """Go to `next_url` (the provider's card page) to pay `payment`; `next_url` is None when
    the payment had already finished successfully (show its confirmation)."""

    payment: Payment
    next_url: str | None
    resumed: bool


@dataclass(frozen=True)
class NotPayable:
    quote: Quote


@dataclass(frozen=True)
class PaidElsewhere:
    """Someone else's payment for this case is on a card page now (another channel, or
    another keeper, agent or client): nothing was started; try again after `until`."""

    payment: Payment
    until: datetime

    @property
    def channel(self) -> str:
        return self.payment.channel


@dataclass(frozen=True)
class Paused:
    """Too many declined cards against this penalty (or from this address): online
    payment waits until `until`; the keeper can pay by phone."""

    pause: card_testing.Pause


@dataclass(frozen=True)
class CardPageRefused:
    """The provider named a card page we do not trust: nothing was shown to the payer."""

    payment: Payment


@dataclass(frozen=True)
class LineChange:
    """A penalty in a basket whose amount changed, or that can no longer be paid here, since
    the keeper added it: shown to them before any card page, never applied silently."""

    case: Case
    seen_pence: int
    now_pence: int | None  # None: taken out (`reason` says why)
    reason: str  # "amount" | a NotPayableReason value | "being-paid"


@dataclass(frozen=True)
class BasketChanged:
    changes: tuple[LineChange, ...]
    quotes: tuple[Quote, ...]  # every line as it stands now (the ones still payable first)


Outcome = Started | NotPayable | PaidElsewhere | Paused | CardPageRefused
BasketOutcome = Started | Paused | CardPageRefused | BasketChanged

# The most penalties one payment may carry (ADR 0023): a fleet's batch, one page a person can
# check line by line, and at most this many ECS writes behind one card payment.
MAX_BASKET = 50
READ_AGAIN_AT_ONCE = 4  # cases read from ECS at once when a basket is paid


def blocked_until(payment: Payment) -> datetime:
    return payment.created_at + timedelta(minutes=settings.PAY_PAYMENT_EXPIRY_MINUTES)


def _lock_case(reference: str) -> None:
    """The case's row lock for the decision (PostgreSQL; SQLite's transactions are serial
    anyway). Released before the provider is called: a lock is never held across a call."""
    lock_case(reference)


def _paused(reference: str, payer: Payer) -> card_testing.Pause | None:
    """Card testing's pause for this penalty, and for this keeper's address or this agent (an
    API client's payer types the card on the provider's page: its penalty pause holds too)."""
    if payer.channel == PHONE:
        return card_testing.paused(reference, agent=payer.created_by)
    return card_testing.paused(reference, payer.address_hash)


def check_out(
    case: Case,
    payer: Payer,
    *,
    email: str,
    language: str,
    return_url_for: Callable[[Payment], str],
    client: ports.PaymentProvider,
    payer_reference: str = "",
) -> Outcome:
    if pause := _paused(case.reference, payer):
        return Paused(pause)
    for _ in range(3):
        with transaction.atomic():
            _lock_case(case.reference)
            current = quote(case)
        if current.live is not None and not _own(current.live, payer):
            live = _still_live(current.live, client)
            if live is not None:
                return PaidElsewhere(live, blocked_until(live))
            continue  # it finished meanwhile: quote again
        if not current.payable:
            return NotPayable(current)
        started = creation.start_payment(
            case,
            amount_pence=current.due.total_pence,
            email=email,
            language=language,
            return_url_for=return_url_for,
            client=client,
            payer_reference=payer_reference,
            **_payer_fields(payer),
        )
        if (answer := _answer(started, payer)) is not None:
            return answer
    raise creation.PaymentUnavailable("the payments for this penalty kept changing; try again")


def check_out_basket(
    lines: list[tuple[Case, int]],
    payer: Payer,
    *,
    email: str,
    language: str,
    payer_reference: str,
    return_url_for: Callable[[Payment], str],
    client: ports.PaymentProvider,
    source: CaseSource | None = None,
) -> BasketOutcome:
    """Several penalties in one payment. Each line is quoted again under its case's lock (the
    one rule); any line whose amount changed, or that can no longer be paid (paid meanwhile,
    closed by ECS, someone else paying it now), is answered as `BasketChanged` and nothing is
    started: the keeper sees it and decides again. Otherwise one payment for the total.
    With `source` (ECS), each case is read again first: ECS owns it, and may have closed it."""
    if not 1 <= len(lines) <= MAX_BASKET:
        raise ValueError(f"a basket holds 1 to {MAX_BASKET} penalties")
    gone: list[LineChange] = []
    if source is not None:
        lines, gone = _read_again(lines, source)
        if not lines:
            return BasketChanged(tuple(gone), ())
    references = [case.reference for case, _ in lines]
    for reference in references:
        if pause := _paused(reference, payer):
            return Paused(pause)
    for _ in range(3):
        with transaction.atomic():
            for reference in sorted(references):  # one order for every payer: no deadlock
                _lock_case(reference)
            quotes = [quote(case) for case, _ in lines]
        changes = list(gone)
        for (case, seen), current in zip(lines, quotes, strict=True):
            if current.live is not None and not _own(current.live, payer) and _still_live(current.live, client):
                changes.append(LineChange(case, seen, None, "being-paid"))
                continue
            if not current.payable:
                changes.append(LineChange(case, seen, None, current.reason.value if current.reason else "paid"))
            elif current.due.total_pence != seen:
                changes.append(LineChange(case, seen, current.due.total_pence, "amount"))
        if changes:
            return BasketChanged(tuple(changes), tuple(quotes))
        started = creation.start_lines(
            [creation.Line(case, current.due.total_pence) for (case, _), current in zip(lines, quotes, strict=True)],
            email=email,
            language=language,
            return_url_for=return_url_for,
            client=client,
            payer_reference=payer_reference,
            **_payer_fields(payer),
        )
        if (answer := _answer(started, payer)) is not None:
            return answer
    raise creation.PaymentUnavailable("the payments for these penalties kept changing; try again")


def _own(live: Payment, payer: Payer) -> bool:
    """Only its own channel and owner may resume a live payment (ADR 0018)."""
    return live.owner == payer.owner and live.channel == payer.channel


def _still_live(live: Payment, client: ports.PaymentProvider) -> Payment | None:
    """Someone else's live payment as the provider has it now, or None if it has finished."""
    live = refresh_payment(live, client, source="resume") if live.provider_payment_id else live
    return live if live.is_live else None


def _payer_fields(payer: Payer) -> dict:
    return {
        "channel": payer.channel,
        "created_by": payer.created_by,
        "owner": payer.owner,
        "payer_address_hash": payer.address_hash,
        "link_sent_by": payer.link_sent_by,
    }


def _answer(started: creation.PaymentStart | None, payer: Payer) -> Started | CardPageRefused | None:
    """What a started (or resumed) payment means for the payer; None: decide again."""
    if started is None:
        return None  # another payer's payment appeared at the same moment
    if started.next_url is None:
        return (
            Started(started.payment, None, resumed=started.resumed)
            if started.payment.state is PaymentStatus.SUCCESS
            else None
        )
    if not card_page_allowed(started.next_url):
        # Never send anyone somewhere else with their card in hand, whatever the answer said.
        security_event(CARD_PAGE_REFUSED, payment_reference=started.payment.reference, channel=payer.channel)
        return CardPageRefused(started.payment)
    return Started(started.payment, started.next_url, resumed=started.resumed)


def _read_again(lines: list[tuple[Case, int]], source: CaseSource) -> tuple[list[tuple[Case, int]], list[LineChange]]:
    """Each case as ECS has it now (or as we hold it, if ECS cannot answer); the ones ECS no
    longer finds or takes payment for here, as changes."""
    current, gone = [], []

    def read(case: Case):
        try:
            return find_case(case.reference, case.vrm, source)
        finally:
            connection.close()  # this thread's own connection (the caller's stays open)

    if len(lines) > 1:
        # A few at a time (ECS's bulkhead bounds them anyway): fifty penalties at ECS's
        # 200-800 ms must not take half a minute.
        with ThreadPoolExecutor(max_workers=READ_AGAIN_AT_ONCE) as pool:
            answers = list(pool.map(read, [case for case, _ in lines]))
    else:
        answers = [find_case(case.reference, case.vrm, source) for case, _ in lines]
    for (case, seen), found in zip(lines, answers, strict=True):
        if found.outcome is LookupOutcome.FOUND and found.case is not None:
            current.append((found.case, seen))
        elif found.outcome in (LookupOutcome.NOT_FOUND, LookupOutcome.NOT_PAYABLE_HERE):
            gone.append(LineChange(case, seen, None, "not-found"))
        else:
            current.append((case, seen))  # ECS cannot answer: what we hold is the best we know
    return current, gone
