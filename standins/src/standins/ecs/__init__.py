"""A stand-in for the legacy Enforcement Case System (ECS): a real SOAP 1.1 server over HTTP.

Why a real server rather than a mock: the ECS client, the outbox worker and the
end-to-end tests must meet the same failure modes the ICD warns about (faults,
timeouts after a write took effect, reset connections, non-idempotent writes)
at the HTTP and XML level, exactly as zeep will see them in production.

What it serves (one port):

* ``POST /ecs/v1`` - the four SOAP operations of ``enforcement-case-service.wsdl``
  (document/literal wrapped, namespace ``urn:enforcement-case-system:v1``).
  Every request body is validated against the WSDL's own XML schema.
* ``GET /ecs/v1?wsdl`` - the WSDL, with ``soap:address`` pointing at this server.
* ``/_control/...`` - a small JSON API for tests and demos: read ledgers, add
  cases, inject faults (see FaultPlan), reset. Control calls are never subject to
  injected faults (otherwise a test could not switch an outage off again).

A second, optional port serves the control API alone (``start(control_port=0)``,
``--control-port``). It exists for ``refuse_connections``: that fault closes the
SOAP port's listening socket, so clients get a real "connection refused" (nothing
is sent), and the control API on that port goes with it.

Run it on its own::

    python -m standins.ecs --port 8081 --control-port 8091 \\
        --faults '{"latency_ms": [200, 800], "tail_ms": 3000, "tail_probability": 0.01}'
    curl -X POST localhost:8091/_control/faults -d '{"refuse_connections": true}'
    curl -X POST localhost:8091/_control/faults -d '{"unavailable_for_seconds": 30}'
    curl localhost:8091/_control/ledger

or embed it (tests)::

    sim = EcsSimulator()
    url = sim.start()          # http://127.0.0.1:<port>/ecs/v1
    sim.set_faults(unavailable=True)
    sim.stop()

Pure Python plus lxml; it imports neither Django nor penaltypay: it is the *other*
system, with its own reading of the ICD (``model.py``).

Modules: ``model`` (cases, ledger lines, rules), ``faults`` (FaultPlan), ``state``
(the in-memory ECS), ``soap`` (schema, requests, envelopes), ``server`` (HTTP and the
embeddable ``EcsSimulator``), ``seed`` (the sample cases), ``__main__`` (command line).
"""

from standins.ecs.faults import FaultPlan
from standins.ecs.model import (
    Case,
    SimFault,
    SimLedgerEntry,
    amount_due_before_payments,
)
from standins.ecs.server import EcsSimulator
from standins.ecs.state import EcsState

__all__ = ["Case", "EcsSimulator", "EcsState", "FaultPlan", "SimFault", "SimLedgerEntry", "amount_due_before_payments"]
