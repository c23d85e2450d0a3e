"""The ECS simulator as a server: SOAP 1.1 on one port, the control API beside it.

See the package docstring for what it serves and how to run it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import socket
import socketserver
import threading
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from standins.ecs.faults import FaultPlan
from standins.ecs.model import (
    INTERNAL_ERROR,
    SERVICE_UNAVAILABLE,
    WRITE_OPERATIONS,
    Case,
    SimFault,
    SimLedgerEntry,
    case_from_json,
    case_to_json,
)
from standins.ecs.soap import (
    DEFAULT_WSDL_PATH,
    Contract,
    fault_envelope,
    parse_request,
    response_envelope,
    run_operation,
    text_of,
)
from standins.ecs.state import EcsState
from standins.httpbase import (
    BodyRefused,
    StandinHandler,
    StandinServer,
    serve_in_thread,
)

logger = logging.getLogger("standins.ecs")

ENDPOINT_PATH = "/ecs/v1"
CONTROL_PREFIX = "/_control"
MAX_BODY_BYTES = 1024 * 1024
# An idle keep-alive connection is closed after this long, like most servers do.
IDLE_CONNECTION_TIMEOUT = 30.0


class _Server(StandinServer):
    def __init__(self, address, handler, simulator: EcsSimulator, *, control_only: bool = False):
        self.simulator = simulator
        # The separate control port: /_control only, never refuses (so an outage can be ended).
        self.control_only = control_only
        super().__init__(address, handler)


class _Handler(StandinHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real thing
    server_version = "ECS-Simulator/1"
    timeout = IDLE_CONNECTION_TIMEOUT
    server: _Server

    @property
    def sim(self) -> EcsSimulator:
        return self.server.simulator

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_body(status, body, content_type, extra)

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, indent=2).encode(), "application/json")

    def _send_soap(self, status: int, body: bytes) -> None:
        self._send(status, body, "text/xml; charset=utf-8")

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 411/413/400 (the connection is then closed)."""
        try:
            return self.read_body(MAX_BODY_BYTES)
        except BodyRefused as refused:
            self._send(refused.status, (refused.message + "\n").encode(), "text/plain")
            return None

    def _authorised(self) -> bool:
        expected = self.sim.credentials
        if expected is None:
            return True
        header = self.headers.get("Authorization") or ""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            username, _, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        # Compare both halves, always, in constant time (no early exit on a wrong username).
        user_ok = hmac.compare_digest(username.encode(), expected[0].encode())
        password_ok = hmac.compare_digest(password.encode(), expected[1].encode())
        return user_ok and password_ok

    def _refuse_unauthorised(self) -> None:
        self._send(401, b"Authentication required.\n", "text/plain", {"WWW-Authenticate": 'Basic realm="ECS"'})

    # -- routing ----------------------------------------------------------------
    def route(self, method: str) -> None:
        if method == "HEAD":
            method = "GET"
        url = urlsplit(self.path)
        try:
            if self.server.control_only and not (
                url.path == CONTROL_PREFIX or url.path.startswith(CONTROL_PREFIX + "/")
            ):
                if self._read_body() is not None:
                    self._send(404, b"This is the control port: only /_control/ is served here.\n", "text/plain")
            elif url.path == ENDPOINT_PATH:
                if not self._authorised():
                    if self._read_body() is not None:
                        self._refuse_unauthorised()
                elif method == "POST":
                    self._soap_call()
                elif method == "GET" and url.query.lower() in ("wsdl", "singlewsdl"):
                    host = (
                        self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
                    )
                    self._send(
                        200, self.sim.contract.wsdl_for(f"http://{host}{ENDPOINT_PATH}"), "text/xml; charset=utf-8"
                    )
                elif self._read_body() is not None:
                    self._send(405, b"POST a SOAP request, or GET ?wsdl.\n", "text/plain", {"Allow": "GET, POST"})
            elif url.path == CONTROL_PREFIX or url.path.startswith(CONTROL_PREFIX + "/"):
                self._control(method, url.path[len(CONTROL_PREFIX) :].strip("/"))
            elif self._read_body() is not None:
                self._send(404, b"Not found.\n", "text/plain")
        except (ConnectionError, BrokenPipeError):
            # The client went away (it timed out, say): nothing to answer.
            self.close_connection = True
        except Exception:  # never let one request kill the handler thread silently
            logger.exception("ECS simulator: unexpected error answering %s %s", method, url.path)
            self.close_connection = True
            try:
                self._send_soap(500, fault_envelope(INTERNAL_ERROR, "Unexpected error in the simulator."))
            except OSError:
                pass

    # -- SOAP -------------------------------------------------------------------
    def _soap_call(self) -> None:
        body = self._read_body()
        if body is None:
            return
        state = self.sim.state
        plan = state.plan

        delay = state.latency_seconds()
        if delay:
            self.sim.wait_or_release(delay)
        if plan.outage:
            self.drop(reset=False)
            return
        if state.roll(plan.reset_before_commit):
            self.drop(reset=True)
            return
        if state.roll(plan.http_500_without_fault):
            self.close_connection = True
            self._send(500, b"<html><body><h1>500 Internal Server Error</h1></body></html>", "text/html")
            return
        if state.unavailable_now():
            self._fault(SERVICE_UNAVAILABLE, "ECS is unavailable (batch window or maintenance). Try again later.")
            return

        try:
            operation, element = parse_request(body, self.headers.get("SOAPAction"), self.sim.contract)
        except SimFault as fault:
            self._fault(fault.code, fault.message)
            return

        reference = text_of(element, "CaseReference")
        injected = plan.fault_for_case.get(reference or "")
        if injected:
            self._fault(injected, f"Injected {injected} for case {reference}.")
            return

        try:
            payload = run_operation(state, operation, element)  # the "commit"
        except SimFault as fault:
            logger.info("ECS simulator: %s %s -> %s", operation, reference, fault.code)
            self._fault(fault.code, fault.message)
            return
        logger.info("ECS simulator: %s %s -> OK", operation, reference)

        if operation in WRITE_OPERATIONS:
            if state.roll(plan.timeout_after_commit):
                # The write is in the ledger; the caller never hears about it.
                self.sim.wait_or_release(plan.hang_seconds)
                self.drop(reset=False)
                return
            if state.roll(plan.reset_after_commit):
                self.drop(reset=True)
                return

        # Check our own answer against the contract: a simulator that drifts
        # from the WSDL would make the client's tests meaningless.
        problems = self.sim.contract.schema_errors(payload)
        if problems:
            logger.error("ECS simulator: invalid %s response: %s", operation, problems)
            self._fault(INTERNAL_ERROR, "The simulator built an invalid response.")
            return
        self._send_soap(200, response_envelope(payload))

    def _fault(self, code: str, message: str) -> None:
        self._send_soap(500, fault_envelope(code, message))

    # -- control API ------------------------------------------------------------------
    def _control(self, method: str, route: str) -> None:
        body = self._read_body()
        if body is None:
            return
        state = self.sim.state
        parts = [unquote(p) for p in route.split("/") if p]

        if method == "GET" and parts == ["health"]:
            self._send_json(
                200,
                {
                    "status": "ok",
                    "today": state.today.isoformat(),
                    "cases": len(state.cases()),
                    "faults": state.plan.to_dict(),
                    "listening": self.sim.listening,
                    **state.windows(),
                },
            )
        elif method == "GET" and parts == ["ledger"]:
            self._send_json(200, {ref: [e.to_json() for e in entries] for ref, entries in state.ledgers().items()})
        elif method == "GET" and len(parts) == 2 and parts[0] == "ledger":
            entries = state.ledger(parts[1])
            if entries is None:
                self._send_json(404, {"error": f"no case with reference {parts[1]}"})
            else:
                self._send_json(200, [e.to_json() for e in entries])
        elif method == "GET" and parts == ["cases"]:
            self._send_json(200, [case_to_json(c) for c in state.cases()])
        elif method == "GET" and len(parts) == 2 and parts[0] == "cases":
            case = state.case(parts[1])
            if case is None:
                self._send_json(404, {"error": f"no case with reference {parts[1]}"})
            else:
                self._send_json(200, case_to_json(case))
        elif method == "PUT" and parts == ["cases"]:
            data = self._json(body)
            if data is _BAD_JSON:
                return
            items = data if isinstance(data, list) else [data]
            try:
                cases = [case_from_json(item) for item in items]
            except (ValueError, TypeError) as exc:
                self._send_json(400, {"error": str(exc)})
                return
            for case in cases:
                state.put_case(case)
            self._send_json(200, {"stored": [c.reference for c in cases]})
        elif method == "GET" and parts == ["faults"]:
            self._send_json(200, state.plan.to_dict())
        elif method == "POST" and parts == ["faults"]:
            data = self._json(body if body.strip() else b"{}")
            if data is _BAD_JSON:
                return
            try:
                plan = FaultPlan.from_dict(data)
            except ValueError as exc:
                self._send_json(400, {"error": str(exc)})
                return
            if plan.refuse_connections and self.sim.control_port is None:
                self._send_json(
                    400,
                    {
                        "error": (
                            "refuse_connections would close this port and leave nothing to switch it off: start "
                            "the simulator with a control port (--control-port), or use refuse_connections_for_seconds"
                        )
                    },
                )
                return
            self.sim.set_plan(plan, keep=self.connection)
            self._send_json(200, plan.to_dict())
        elif method == "POST" and parts == ["reset"]:
            data = self._json(body if body.strip() else b"{}")
            if data is _BAD_JSON:
                return
            today = None
            if isinstance(data, dict) and data.get("today"):
                try:
                    today = date.fromisoformat(data["today"])
                except (TypeError, ValueError):
                    self._send_json(400, {"error": "today must be a date YYYY-MM-DD"})
                    return
            self.sim.reset(today, keep=self.connection)
            self._send_json(200, {"status": "reset", "today": state.today.isoformat()})
        else:
            self._send_json(404, {"error": f"no control endpoint {method} /_control/{route}"})

    def _json(self, body: bytes) -> Any:
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._send_json(400, {"error": f"the body is not valid JSON: {exc}"})
            return _BAD_JSON


_BAD_JSON = object()


# --------------------------------------------------------------------------
# The embeddable simulator
# --------------------------------------------------------------------------


class EcsSimulator:
    """An ECS simulator you can start in a thread (tests) or run as a process (demos).

    `today` pins the date the seed is computed from; by default it is the
    Europe/London date at each reset. With `username`/`password`, SOAP and WSDL
    requests need HTTP Basic auth (the control API never does).
    """

    def __init__(
        self,
        today: date | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        wsdl_path: str | Path | None = None,
    ):
        self.contract = Contract(Path(wsdl_path) if wsdl_path else DEFAULT_WSDL_PATH)
        self.state = EcsState(today)
        self.credentials = (username, password or "") if username else None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._control_server: _Server | None = None
        self._control_thread: threading.Thread | None = None
        # Set to wake every injected delay/hang (on reset and stop), then replaced.
        self._release = threading.Event()
        self._release_lock = threading.Lock()
        # Refusing connections closes the SOAP port's listening socket; this lock serialises
        # closing and reopening it, and the generation cancels a timed refusal's reopening
        # timer when the plan changes before the window ends.
        self._listen_lock = threading.RLock()
        self._listening = False
        self._refusal_generation = 0
        self._stopped = threading.Event()  # set while not running
        self._stopped.set()

    # -- lifecycle --------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0, *, control_port: int | None = None) -> str:
        """Start serving in daemon threads; returns the SOAP endpoint URL.

        `control_port` (0 = any free port) opens a second listener serving only the
        control API, which keeps working while the SOAP port refuses connections.
        """
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self._stopped.clear()
        self._server = _Server((host, port), _Handler, self)
        if control_port is not None:
            self._control_server = _Server((host, control_port), _Handler, self, control_only=True)
            self._control_thread = serve_in_thread(self._control_server, f"ecs-simulator-control:{self.control_port}")
        with self._listen_lock:
            self._serve()
        logger.info("ECS simulator listening on %s", self.url)
        return self.url

    def _serve(self) -> None:
        self._thread = serve_in_thread(self._server, f"ecs-simulator:{self.port}")
        self._listening = True

    def stop(self) -> None:
        """Stop listening, end hung calls and cut open connections."""
        with self._listen_lock:
            self._refusal_generation += 1  # no timer may reopen the port after this
            server, self._server = self._server, None
            if server is None:
                return
            self._release_waiters()
            if self._listening:
                server.shutdown()
            self._listening = False
            server.server_close()
            server.cut_all_connections()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._thread = None
            control, self._control_server = self._control_server, None
            if control is not None:
                control.shutdown()
                control.server_close()
                control.cut_all_connections()
                if self._control_thread is not None:
                    self._control_thread.join(timeout=5)
                self._control_thread = None
        self._stopped.set()

    def __enter__(self) -> EcsSimulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self) -> None:
        """Block until the simulator stops (for running it in the foreground)."""
        while not self._stopped.wait(0.5):
            pass

    # -- refusing connections (a whole outage) ----------------------------------------------
    @property
    def listening(self) -> bool:
        """False while the SOAP port refuses connections (see FaultPlan.refuse_connections)."""
        return self._listening

    def _apply_refusal(self, plan: FaultPlan, keep: socket.socket | None) -> None:
        with self._listen_lock:
            self._refusal_generation += 1
            generation = self._refusal_generation
            if self._server is None:
                return
            if plan.refuse_connections or plan.refuse_connections_for_seconds > 0:
                self._stop_listening(keep)
            else:
                self._start_listening()
        if not plan.refuse_connections and plan.refuse_connections_for_seconds > 0:
            timer = threading.Timer(plan.refuse_connections_for_seconds, self._end_refusal, args=(generation,))
            timer.daemon = True
            timer.start()

    def _end_refusal(self, generation: int) -> None:
        with self._listen_lock:
            if generation == self._refusal_generation and self._server is not None:
                try:
                    self._start_listening()
                except OSError:
                    logger.exception("ECS simulator: could not listen on port %s again", self.port)

    def _stop_listening(self, keep: socket.socket | None) -> None:
        """Close the listening socket: a connect() to the port is now refused by the kernel.
        Open connections are cut too, so pooled keep-alive connections cannot sneak through."""
        if not self._listening:
            return
        server = self._server
        server.shutdown()  # ends serve_forever (never called from its own thread: handlers run apart)
        server.socket.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._listening = False
        server.cut_all_connections(keep=keep)
        logger.info("ECS simulator: refusing connections on port %s", self.port)

    def _start_listening(self) -> None:
        """Listen again on the same address (SO_REUSEADDR, as at the start)."""
        if self._listening:
            return
        server = self._server
        sock = socket.socket(server.address_family, server.socket_type)
        old, server.socket = server.socket, sock
        try:
            # TCPServer's bind (not HTTPServer's, which also does a slow reverse DNS look-up).
            socketserver.TCPServer.server_bind(server)
            server.server_activate()
        except OSError:
            sock.close()
            server.socket = old
            raise
        self._serve()
        logger.info("ECS simulator: listening again on port %s", self.port)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return self._server.server_address[1]

    @property
    def control_port(self) -> int | None:
        """The separate control port, or None when the control API is on the SOAP port only."""
        return None if self._control_server is None else self._control_server.server_address[1]

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return self._server.base_url

    @property
    def url(self) -> str:
        return self.base_url + ENDPOINT_PATH

    @property
    def control_url(self) -> str:
        """The control API: on the separate control port when there is one, else on the SOAP port."""
        if self._control_server is not None:
            return self._control_server.base_url + CONTROL_PREFIX
        return self.base_url + CONTROL_PREFIX

    @property
    def today(self) -> date:
        return self.state.today

    # -- faults and delays ----------------------------------------------------------------
    def set_faults(self, **settings: Any) -> FaultPlan:
        """Replace the fault plan (see FaultPlan); `set_faults()` clears every fault."""
        plan = FaultPlan.from_dict(settings)
        self.set_plan(plan)
        return plan

    def set_plan(self, plan: FaultPlan, *, keep: socket.socket | None = None) -> None:
        """Replace the fault plan. `keep`: a connection not to cut when refusal starts (the
        control call asking for it, when it came in on the SOAP port)."""
        self.state.set_plan(plan)
        # Calls already hanging under the old plan should not outlive it.
        self._release_waiters()
        self._apply_refusal(plan, keep)

    @property
    def faults(self) -> FaultPlan:
        return self.state.plan

    def wait_or_release(self, seconds: float) -> None:
        with self._release_lock:
            event = self._release
        event.wait(seconds)

    def _release_waiters(self) -> None:
        with self._release_lock:
            self._release.set()
            self._release = threading.Event()

    # -- data -----------------------------------------------------------------------------
    def reset(self, today: date | None = None, *, keep: socket.socket | None = None) -> None:
        """Reseed cases, empty ledgers, clear faults (listening again if refusing), end hung calls."""
        self.state.reset(today)
        self._release_waiters()
        self._apply_refusal(self.state.plan, keep)

    def put_case(self, case: Any) -> Case:
        """Add or replace a case (see EcsState.put_case); returns it as stored. Any object
        with a Case's attributes will do (a test's own case type)."""
        return self.state.put_case(case)

    def case(self, reference: str) -> Case | None:
        return self.state.case(reference)

    def ledger(self, reference: str) -> list[SimLedgerEntry]:
        """The case's ledger, oldest first ([] for an unknown case)."""
        return self.state.ledger(reference) or []
