"""The simulator's outage faults: a slow tail, a SERVICE_UNAVAILABLE window that ends by
itself, and a real connection-refusing outage (with the control API on its own port)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from penaltypay.adapters.ecs_soap import EcsClient
from penaltypay.ecs.errors import EcsUnreachable, ServiceUnavailable
from standins.ecs import EcsSimulator, EcsState, FaultPlan

REPO = Path(__file__).resolve().parents[2]
REDUCED_7A = ("70000123", "BD51SMR")  # a seeded open case
PAID_AT = datetime.now(UTC) - timedelta(minutes=5)


@pytest.fixture(scope="module")
def _refusing_server():
    """A simulator with a separate control port (the session one has none)."""
    simulator = EcsSimulator()
    simulator.start(host="127.0.0.1", port=0, control_port=0)
    yield simulator
    simulator.stop()


@pytest.fixture
def rsim(_refusing_server):
    _refusing_server.reset()
    yield _refusing_server
    _refusing_server.reset()


@pytest.fixture
def rclient(rsim):
    ecs_client = EcsClient(rsim.url, timeout=2.0)
    yield ecs_client
    ecs_client.close()


def connect_refused(url: str) -> bool:
    host, port = re.match(r"http://([^:/]+):(\d+)", url).groups()
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def pay(ecs_client: EcsClient, reference: str):
    return ecs_client.record_payment(REDUCED_7A[0], reference, 4000, PAID_AT, "ONLINE", f"psp-{reference}")


# --- latency with a tail ----------------------------------------------------------------------------------


def test_the_tail_replaces_the_normal_latency_with_its_probability():
    state = EcsState()
    state.set_plan(FaultPlan(latency_ms=(200, 800), tail_ms=(3000, 3000), tail_probability=0.01, seed=7))
    delays = [state.latency_seconds() for _ in range(5000)]
    slow = [d for d in delays if d >= 3.0]
    assert 0.005 * len(delays) <= len(slow) <= 0.02 * len(delays)
    assert all(0.2 <= d <= 0.8 for d in delays if d < 3.0)
    assert sorted(delays)[int(len(delays) * 0.995)] == 3.0  # the p99.5 is in the tail


def test_without_a_tail_seeded_latency_is_unchanged():
    import random

    state = EcsState()
    state.set_plan(FaultPlan(latency_ms=(200, 800), seed=3))
    expected = random.Random(3)
    assert [state.latency_seconds() for _ in range(20)] == [expected.uniform(200, 800) / 1000 for _ in range(20)]


def test_the_tail_works_without_normal_latency():
    state = EcsState()
    state.set_plan(FaultPlan(tail_ms=(300, 300), tail_probability=1.0))
    assert state.latency_seconds() == 0.3
    state.set_plan(FaultPlan(tail_ms=(300, 300), tail_probability=0.0))
    assert state.latency_seconds() == 0.0


def test_tail_settings_over_http_with_a_default_probability_of_one_percent(sim, ecs_client):
    response = requests.post(sim.control_url + "/faults", json={"latency_ms": [0, 10], "tail_ms": 3000}, timeout=5)
    assert response.status_code == 200
    assert sim.faults.tail_ms == (3000, 3000) and sim.faults.tail_probability == 0.01
    assert response.json()["tail_ms"] == [3000, 3000]

    sim.set_faults(tail_ms=[300, 400], tail_probability=1.0)
    started = time.monotonic()
    ecs_client.get_case(*REDUCED_7A)
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"tail_ms": [800, 200]}, "tail_ms"),
        ({"tail_probability": 1.5}, "tail_probability"),
        ({"unavailable_for_seconds": -1}, "unavailable_for_seconds"),
        ({"refuse_connections_for_seconds": "soon"}, "refuse_connections_for_seconds"),
        ({"refuse_connections": "yes"}, "refuse_connections"),
        ({"unavailable": True, "unavailable_for_seconds": 5}, "not both"),
        ({"refuse_connections": True, "refuse_connections_for_seconds": 5}, "not both"),
    ],
)
def test_bad_new_settings_are_refused_with_a_message(sim, body, fragment):
    response = requests.post(sim.control_url + "/faults", json=body, timeout=5)
    assert response.status_code == 400
    assert fragment in response.json()["error"]
    assert sim.faults == FaultPlan()


# --- SERVICE_UNAVAILABLE for a window ---------------------------------------------------------------------


def test_unavailable_for_a_window_then_healthy_by_itself(sim, ecs_client):
    response = requests.post(sim.control_url + "/faults", json={"unavailable_for_seconds": 0.6}, timeout=5)
    assert response.status_code == 200
    with pytest.raises(ServiceUnavailable):
        pay(ecs_client, "PAY-WINDOW-1")
    health = requests.get(sim.control_url + "/health", timeout=5).json()
    assert 0 < health["unavailable_remaining_seconds"] <= 0.6
    time.sleep(0.8)
    assert pay(ecs_client, "PAY-WINDOW-2").receipt_number
    assert [e.payment_reference for e in sim.ledger(REDUCED_7A[0])] == ["PAY-WINDOW-2"]
    assert requests.get(sim.control_url + "/health", timeout=5).json()["unavailable_remaining_seconds"] == 0


def test_the_window_runs_from_when_the_plan_is_set(sim, ecs_client):
    sim.set_faults(unavailable_for_seconds=0.4)
    time.sleep(0.5)
    assert ecs_client.get_case(*REDUCED_7A).reference == REDUCED_7A[0]


# --- refusing connections -------------------------------------------------------------------------------


def test_refusing_is_a_real_connection_refused_so_the_client_knows_nothing_was_sent(rsim, rclient):
    pay(rclient, "PAY-BEFORE")  # leaves a pooled keep-alive connection behind
    rsim.set_faults(refuse_connections=True)

    assert connect_refused(rsim.url)
    with pytest.raises(EcsUnreachable) as caught:
        pay(rclient, "PAY-DURING")
    assert caught.value.outcome_known and caught.value.retryable
    with pytest.raises(EcsUnreachable):
        rclient.get_case_ledger(REDUCED_7A[0])
    assert [e.payment_reference for e in rsim.ledger(REDUCED_7A[0])] == ["PAY-BEFORE"]

    health = requests.get(rsim.control_url + "/health", timeout=5).json()  # the control port still answers
    assert health["listening"] is False and health["faults"]["refuse_connections"] is True

    requests.post(rsim.control_url + "/faults", json={}, timeout=5)
    assert rsim.listening and not connect_refused(rsim.url)
    pay(rclient, "PAY-AFTER")  # same URL, same ecs_client
    assert [e.payment_reference for e in rsim.ledger(REDUCED_7A[0])] == ["PAY-BEFORE", "PAY-AFTER"]


def test_refusing_over_the_control_port(rsim, rclient):
    assert rsim.control_port not in (None, rsim.port)
    response = requests.post(rsim.control_url + "/faults", json={"refuse_connections": True}, timeout=5)
    assert response.status_code == 200
    with pytest.raises(EcsUnreachable):
        rclient.get_case(*REDUCED_7A)
    assert requests.get(rsim.control_url + "/ledger/" + REDUCED_7A[0], timeout=5).json() == []
    assert requests.post(rsim.control_url + "/reset", timeout=5).status_code == 200
    assert rclient.get_case(*REDUCED_7A).reference == REDUCED_7A[0]


def test_the_control_port_serves_nothing_but_the_control_api(rsim):
    control_base = rsim.control_url.rsplit("/_control", 1)[0]
    assert requests.get(control_base + "/ecs/v1?wsdl", timeout=5).status_code == 404


def test_a_timed_refusal_ends_by_itself(rsim, rclient):
    rsim.set_faults(refuse_connections_for_seconds=0.5)
    with pytest.raises(EcsUnreachable):
        rclient.get_case(*REDUCED_7A)
    remaining = requests.get(rsim.control_url + "/health", timeout=5).json()["refusing_remaining_seconds"]
    assert 0 < remaining <= 0.5
    deadline = time.monotonic() + 5
    while not rsim.listening and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rclient.get_case(*REDUCED_7A).reference == REDUCED_7A[0]


def test_a_plan_change_cancels_a_timed_refusals_reopening(rsim):
    rsim.set_faults(refuse_connections_for_seconds=0.3)
    rsim.set_faults(refuse_connections=True)  # a longer outage replaces the window
    time.sleep(0.5)
    assert not rsim.listening and connect_refused(rsim.url)
    rsim.set_faults()
    assert rsim.listening


def test_without_a_control_port_only_a_timed_refusal_can_be_asked_for_over_http(sim, ecs_client):
    response = requests.post(sim.control_url + "/faults", json={"refuse_connections": True}, timeout=5)
    assert response.status_code == 400 and "control port" in response.json()["error"]
    assert sim.listening

    # A timed refusal is fine: the answer to this very call still arrives, and the port comes back.
    response = requests.post(sim.control_url + "/faults", json={"refuse_connections_for_seconds": 0.4}, timeout=5)
    assert response.status_code == 200
    assert connect_refused(sim.url)
    time.sleep(0.6)
    assert ecs_client.get_case(*REDUCED_7A).reference == REDUCED_7A[0]


def test_stop_while_refusing_and_wait_returns():
    simulator = EcsSimulator()
    simulator.start(control_port=0)
    simulator.set_faults(refuse_connections=True)
    simulator.stop()
    simulator.wait()  # returns: the simulator has stopped
    assert not simulator.listening


def test_standalone_with_a_control_port_and_a_starting_fault_plan():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "standins.ecs",
            "--port",
            "0",
            "--control-port",
            "0",
            "--log-level",
            "WARNING",
            "--faults",
            '{"refuse_connections": true}',
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = [process.stdout.readline() for _ in range(3)]
        url = re.search(r"(http://\S+/ecs/v1)", lines[0]).group(1)
        control = re.search(r"(http://\S+/_control)/health", lines[2]).group(1)
        assert connect_refused(url)
        assert requests.get(control + "/health", timeout=5).json()["listening"] is False
        requests.post(control + "/faults", json={}, timeout=5)
        assert requests.get(url + "?wsdl", timeout=5).status_code == 200
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert process.returncode == 0
