"""The classes and the totals, without any of the three systems."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from penaltypay.reconciliation.rules import Class, Delivery, LedgerLine, Money, classify

NOW = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def pay(key, amount=4000, provider_id=None, case="70000001"):
    return Money("PAYMENT", key, provider_id or f"prov-{key}", case, amount)


def line(key, amount=4000, case="70000001", kind="PAYMENT", channel="ONLINE"):
    return LedgerLine(kind, key, case, amount, channel)


def one(outcome):
    assert len(outcome.items) == 1
    return outcome.items[0].cls


def test_each_class():
    sent = {"P1": Delivery("sent", NOW - HOUR)}
    assert one(classify([pay("P1")], [pay("P1")], [line("P1")], sent, NOW, HOUR)) is Class.MATCHED
    fresh = {"P1": Delivery("pending", NOW - timedelta(minutes=5))}
    assert one(classify([pay("P1")], [pay("P1")], [], fresh, NOW, HOUR)) is Class.IN_FLIGHT
    stale = {"P1": Delivery("pending", NOW - 2 * HOUR)}
    assert one(classify([pay("P1")], [pay("P1")], [], stale, NOW, HOUR)) is Class.MISSING_IN_ECS
    stopped = {"P1": Delivery("exception", NOW - 2 * HOUR)}
    assert one(classify([pay("P1")], [pay("P1")], [], stopped, NOW, HOUR)) is Class.EXCEPTION
    assert one(classify([pay("X9")], [], [], {}, NOW, HOUR)) is Class.MISSING_IN_PENALTYPAY
    assert one(classify([], [pay("P1")], [line("P1")], sent, NOW, HOUR)) is Class.MISSING_AT_PROVIDER
    assert one(classify([pay("P1", 3000)], [pay("P1")], [line("P1")], sent, NOW, HOUR)) is Class.AMOUNT_DIFFERS
    assert one(classify([pay("P1")], [pay("P1")], [line("P1", 5000)], sent, NOW, HOUR)) is Class.AMOUNT_DIFFERS
    assert one(classify([], [], [line("POST-1", channel="POST")], {}, NOW, HOUR)) is Class.ECS_OTHER_CHANNEL


def test_matching_is_by_provider_id_then_reference():
    outcome = classify(
        [pay("P1", provider_id="abc")],
        [pay("P1", provider_id="abc")],
        [line("P1")],
        {"P1": Delivery("sent", NOW)},
        NOW,
        HOUR,
    )
    assert [i.cls for i in outcome.items] == [Class.MATCHED]
    outcome = classify(
        [pay("P1", provider_id="abc")],
        [pay("P1", provider_id="")],
        [line("P1")],
        {"P1": Delivery("sent", NOW)},
        NOW,
        HOUR,
    )
    assert [i.cls for i in outcome.items] == [Class.MATCHED]


def test_refunds_count_negative_and_a_resolved_payment_is_not_missing():
    refund = Money("REFUND", "R1", "prov-R1", "70000001", 1000, "P1")
    outcome = classify(
        [pay("P1"), refund],
        [pay("P1"), refund],
        [line("P1"), line("R1", 1000, kind="REFUND")],
        {"P1": Delivery("sent", NOW), "R1": Delivery("sent", NOW)},
        NOW,
        HOUR,
    )
    assert outcome.balanced and outcome.totals.provider_pence == outcome.totals.ecs_pence == 3000
    resolved = classify([pay("P1")], [pay("P1")], [], {"P1": Delivery("resolved", NOW)}, NOW, HOUR)
    assert resolved.balanced and "resolved by a person" in resolved.items[0].detail


keys = st.sampled_from([f"P{i}" for i in range(8)])
amounts = st.sampled_from([1000, 2500, 4000])
moneys = st.lists(st.tuples(keys, amounts, st.booleans()), max_size=8, unique_by=lambda t: t[0])


@given(
    provider=moneys,
    ours=moneys,
    ecs=moneys,
    statuses=st.lists(st.sampled_from(["pending", "sent", "exception", "resolved", "none"]), min_size=8, max_size=8),
)
def test_totals_always_equal_the_sum_of_the_items_and_every_movement_is_one_item(provider, ours, ecs, statuses):
    def money(key, amount, refund):
        return Money("REFUND" if refund else "PAYMENT", key, f"prov-{key}", "70000001", amount)

    deliveries = {f"P{i}": Delivery(status, NOW - HOUR * i) for i, status in enumerate(statuses)}
    outcome = classify(
        [money(*p) for p in provider],
        [money(*o) for o in ours],
        [LedgerLine("REFUND" if r else "PAYMENT", k, "70000001", a, "ONLINE") for k, a, r in ecs],
        deliveries,
        NOW,
        HOUR,
    )
    sign = {True: -1, False: 1}
    assert outcome.totals.provider_pence == sum(i.provider_pence for i in outcome.items)
    assert outcome.totals.provider_pence == sum(sign[r] * a for _, a, r in provider)
    assert outcome.totals.penaltypay_pence == sum(sign[r] * a for _, a, r in ours)
    assert outcome.totals.ecs_pence == sum(sign[r] * a for _, a, r in ecs)
    # Every key seen anywhere is exactly one item.
    assert sorted(i.key for i in outcome.items) == sorted({k for k, _, _ in provider + ours + ecs})
    assert sum(outcome.counts().values()) == len(outcome.items)
    if outcome.balanced:
        assert all(i.cls in (Class.MATCHED, Class.IN_FLIGHT, Class.ECS_OTHER_CHANNEL) for i in outcome.items)
