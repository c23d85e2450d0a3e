"""The HTTP plumbing both stand-ins share: a threaded keep-alive server that can cut or
reset its connections, and a request handler with body limits and one routing method.

Standard library only. The stand-ins are real servers so that penaltypay's clients meet
real sockets, timeouts, resets and status codes, never a mock.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import sys
import threading
import weakref
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)


class BodyRefused(Exception):
    """The request body cannot be read: answer `status` with `message` and close."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class StandinServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that tracks its connections, so it can reset one (RST instead of
    FIN) or cut them all (on stop, or when a fault says to refuse connections)."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a burst of a few more simultaneous
    # connects had SYNs dropped and clients saw connect timeouts the real servers never give.
    request_queue_size = 128

    def __init__(self, address, handler):
        self._open: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._to_reset: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._conn_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        with self._conn_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def mark_for_reset(self, request: socket.socket) -> None:
        with self._conn_lock:
            self._to_reset.add(request)

    def shutdown_request(self, request):
        with self._conn_lock:
            self._open.discard(request)
            reset = request in self._to_reset
            self._to_reset.discard(request)
        if reset:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN; skipping
            # shutdown(SHUT_WR) avoids sending a FIN first.
            try:
                request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.close_request(request)
            return
        super().shutdown_request(request)

    def cut_all_connections(self, keep: socket.socket | None = None) -> None:
        """A client's pooled keep-alive connection must not keep reaching a stopped (or
        refusing) server. `keep` is spared: e.g. the control call that asked for it."""
        with self._conn_lock:
            open_now = [request for request in self._open if request is not keep]
        for request in open_now:
            try:
                request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        # A client that hung up (a test's timeout) is not the stand-in's problem.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        log.exception("stand-in request failed")

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        return f"http://{host}:{port}"


class StandinServer6(StandinServer):
    address_family = socket.AF_INET6


class StandinHandler(BaseHTTPRequestHandler):
    """Every method, whatever its name (TRACE and OPTIONS included), reaches `route`, so a
    stand-in answers 405 for what it does not serve, as the real systems do, not the
    standard library's 501."""

    protocol_version = "HTTP/1.1"  # keep-alive, like the real thing
    # Headers every answer carries (a stand-in may add its own).
    default_headers: dict[str, str] = {}

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm
        # and delayed ACKs add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:
        return self.server_version

    def __getattr__(self, name: str) -> Callable[[], None]:
        if name.startswith("do_") and name[3:].isalpha() and name[3:].isupper():
            method = name[3:]
            return lambda: self.route(method)
        raise AttributeError(name)

    def route(self, method: str) -> None:  # pragma: no cover - every stand-in overrides it
        raise NotImplementedError

    def read_body(self, limit: int) -> bytes:
        """The request body (Content-Length only; chunked bodies are refused)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower() or (
            self.headers.get("Transfer-Encoding")
        ):
            self.close_connection = True
            raise BodyRefused(411, "Send a Content-Length, not chunked encoding.")
        raw = self.headers.get("Content-Length")
        try:
            length = int(raw) if raw is not None else 0
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise BodyRefused(400, "Bad Content-Length.")
        if length > limit:
            self.close_connection = True
            raise BodyRefused(413, "Request too large.")
        return self.rfile.read(length) if length else b""

    def send_body(
        self, status: int, body: bytes, content_type: str | None, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**self.default_headers, **(headers or {})}.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        if payload is None:
            self.send_body(status, b"", None, headers)
        else:
            self.send_body(status, json.dumps(payload).encode("utf-8"), "application/json", headers)

    def drop(self, reset: bool) -> None:
        """End the exchange without answering: FIN (reset=False) or RST (reset=True)."""
        self.close_connection = True
        if reset:
            self.server.mark_for_reset(self.connection)  # type: ignore[attr-defined]


def serve_in_thread(server: StandinServer, name: str) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True)
    thread.start()
    return thread
