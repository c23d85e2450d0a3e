"""Fault injection for the ECS simulator: what misbehaviour to put into SOAP calls."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from standins.ecs.model import FAULT_CODES


@dataclass(frozen=True)
class FaultPlan:
    """What misbehaviour to inject into SOAP calls. Replaced whole on every change.

    Order of application to one SOAP call (the request body is always read first):
    latency (or the tail) -> ``outage`` -> ``reset_before_commit`` -> ``http_500_without_fault``
    -> ``unavailable`` / ``unavailable_for_seconds`` -> schema validation -> ``fault_for_case``
    -> the operation runs ("commit") -> for writes only: ``timeout_after_commit``, ``reset_after_commit``.

    ``refuse_connections`` / ``refuse_connections_for_seconds`` act before all of that, at the
    TCP level: the SOAP port stops listening, so a client's connect() is refused and nothing
    is sent (the ECS client's EcsUnreachable). Control calls keep working on the separate
    control port, if the simulator has one (``start(control_port=...)``, ``--control-port``).
    The ``..._for_seconds`` windows run from the moment the plan is set and end by themselves.
    """

    # Delay before answering, uniformly drawn from [min, max] milliseconds.
    latency_ms: tuple[int, int] = (0, 0)
    # The slow tail ("p99 about 3 s"): with probability `tail_probability` a call waits a
    # delay drawn from `tail_ms` ([min, max] ms) instead of `latency_ms`. Off while tail_ms is 0.
    tail_ms: tuple[int, int] = (0, 0)
    tail_probability: float = 0.01
    # Batch window / maintenance: every call answers SERVICE_UNAVAILABLE.
    unavailable: bool = False
    # ... for this many seconds from when the plan is set, then healthy again by itself (0 = off).
    unavailable_for_seconds: float = 0.0
    # A whole outage at the TCP level: the SOAP port refuses connections until the plan changes.
    refuse_connections: bool = False
    # ... for this many seconds from when the plan is set, then listening again by itself (0 = off).
    refuse_connections_for_seconds: float = 0.0
    # Read the request, then close the connection without a byte of answer.
    outage: bool = False
    # Answer this fault code for any call that names this case reference.
    fault_for_case: dict[str, str] = field(default_factory=dict)
    # Probability of an HTTP 500 with an HTML body and no SOAP fault (a proxy's error page).
    http_500_without_fault: float = 0.0
    # Probability, per write, of applying it and then not answering for `hang_seconds`.
    timeout_after_commit: float = 0.0
    # Probability of resetting the connection (TCP RST) before anything is applied.
    reset_before_commit: float = 0.0
    # Probability, per write, of applying it and then resetting the connection.
    reset_after_commit: float = 0.0
    # How long a "timeout" hangs before the connection is closed; reset()/stop() cut it short.
    hang_seconds: float = 35.0
    # Seed for the dice, so that a flaky-by-design run can be replayed.
    seed: int | None = None

    _PROBABILITIES = (
        "http_500_without_fault",
        "timeout_after_commit",
        "reset_before_commit",
        "reset_after_commit",
        "tail_probability",
    )
    _SECONDS = ("hang_seconds", "unavailable_for_seconds", "refuse_connections_for_seconds")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultPlan:
        """Build a plan from JSON-like input; raises ValueError with a readable message."""
        if not isinstance(data, dict):
            raise ValueError("the fault plan must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        kwargs: dict[str, Any] = {}
        for name in ("latency_ms", "tail_ms"):
            if name in data:
                kwargs[name] = parse_latency(data[name], name)
        for name in ("unavailable", "outage", "refuse_connections"):
            if name in data:
                if not isinstance(data[name], bool):
                    raise ValueError(f"{name} must be true or false")
                kwargs[name] = data[name]
        if "fault_for_case" in data:
            mapping = data["fault_for_case"] or {}
            if not isinstance(mapping, dict):
                raise ValueError("fault_for_case must be an object {case reference: fault code}")
            for reference, code in mapping.items():
                if code not in FAULT_CODES:
                    raise ValueError(f"fault_for_case[{reference}]: unknown fault code {code!r}")
            kwargs["fault_for_case"] = {str(k): str(v) for k, v in mapping.items()}
        for name in cls._PROBABILITIES:
            if name in data:
                kwargs[name] = _parse_probability(name, data[name])
        for name in cls._SECONDS:
            if name in data:
                value = data[name]
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ValueError(f"{name} must be a number >= 0")
                kwargs[name] = float(value)
        for forever, window in (
            ("unavailable", "unavailable_for_seconds"),
            ("refuse_connections", "refuse_connections_for_seconds"),
        ):
            if kwargs.get(forever) and kwargs.get(window):
                raise ValueError(f"set {forever} (until changed) or {window} (a window), not both")
        if "seed" in data:
            if data["seed"] is not None and (isinstance(data["seed"], bool) or not isinstance(data["seed"], int)):
                raise ValueError("seed must be an integer or null")
            kwargs["seed"] = data["seed"]
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "latency_ms": list(self.latency_ms),
            "tail_ms": list(self.tail_ms),
            "tail_probability": self.tail_probability,
            "unavailable": self.unavailable,
            "unavailable_for_seconds": self.unavailable_for_seconds,
            "refuse_connections": self.refuse_connections,
            "refuse_connections_for_seconds": self.refuse_connections_for_seconds,
            "outage": self.outage,
            "fault_for_case": dict(self.fault_for_case),
            "http_500_without_fault": self.http_500_without_fault,
            "timeout_after_commit": self.timeout_after_commit,
            "reset_before_commit": self.reset_before_commit,
            "reset_after_commit": self.reset_after_commit,
            "hang_seconds": self.hang_seconds,
            "seed": self.seed,
        }


def parse_latency(value: Any, name: str = "latency_ms") -> tuple[int, int]:
    """200 -> (200, 200); [200, 800] or {"min": 200, "max": 800} -> (200, 800)."""
    if isinstance(value, dict):
        value = [value.get("min", 0), value.get("max", value.get("min", 0))]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low = high = value
    elif (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        low, high = value
    else:
        raise ValueError(f"{name} must be a number of milliseconds or [min, max]")
    if low < 0 or high < low:
        raise ValueError(f"{name} must satisfy 0 <= min <= max")
    return int(low), int(high)


def _parse_probability(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a probability between 0 and 1")
    return float(value)
