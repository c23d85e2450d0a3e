"""The sandbox provider's HTTP side: the API, the card page, the control API."""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from standins.httpbase import BodyRefused, StandinHandler, StandinServer, StandinServer6
from standins.pay import pages
from standins.pay.model import MAX_API_BODY, MAX_FORM_BODY, ApiError, refuse_constant

if TYPE_CHECKING:
    from standins.pay.provider import SandboxProvider

log = logging.getLogger("standins.pay")


class _Server(StandinServer):
    def __init__(self, address, handler, sandbox: SandboxProvider, *, card_only: bool = False):
        self.sandbox = sandbox
        self.card_only = card_only  # the card page's own host: nothing of the API there
        super().__init__(address, handler)


class _Server6(StandinServer6, _Server):
    pass


def make_server(host: str, port: int, sandbox: SandboxProvider, *, card_only: bool = False) -> StandinServer:
    server_class = _Server6 if ":" in host else _Server
    return server_class((host, port), _Handler, sandbox, card_only=card_only)


_PAYMENT_PATH = re.compile(
    r"/v1/payments/([A-Za-z0-9_-]{1,64})(/events|/cancel|/capture|/refunds(?:/([A-Za-z0-9_-]{1,64}))?)?"
)
_SECURE_PATH = re.compile(r"/secure/([A-Za-z0-9_-]{1,128})(/cancel|/wallet|/3ds)?")
_ROUTES_ALLOWING = {"GET", "POST"}


class _Handler(StandinHandler):
    server_version = "SandboxPay/1"
    timeout = 60  # idle keep-alive connections are closed after this
    default_headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

    @property
    def sandbox(self) -> SandboxProvider:
        return self.server.sandbox

    def log_message(self, format, *args):
        # Card-page links are secrets: keep them out of the log.
        log.debug(re.sub(r"/secure/[^\s/?\"]+", "/secure/<token>", format % args))

    # -- plumbing --

    def _read_body(self, limit: int) -> bytes:
        try:
            return self.read_body(limit)
        except BodyRefused as refused:
            raise ApiError(refused.status, None, refused.message) from None

    def _send(self, status: int, body: bytes, content_type: str | None, headers: dict | None = None) -> None:
        self.send_body(status, body, content_type, headers)

    def _send_json(self, status: int, obj, headers: dict | None = None) -> None:
        self.send_json(status, obj, headers)

    def _send_html(self, status: int, html: str | None, headers: dict) -> None:
        headers = {
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            **headers,
        }
        self._send(status, (html or "").encode("utf-8"), "text/html; charset=utf-8" if html else None, headers)

    def _base_url(self) -> str:
        public = self.sandbox._setting("public_url")
        if public:
            return public
        host = self.headers.get("Host")
        if host and re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", host):
            return f"http://{host}"
        return self.sandbox.base_url or ""

    @staticmethod
    def _json(body: bytes):
        if not body:
            return None
        try:
            return json.loads(body.decode("utf-8"), parse_constant=refuse_constant)
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "P0197", "Unable to parse JSON") from None

    def _api_key(self) -> str:
        header = self.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key or key not in self.sandbox._setting("api_keys"):
            raise ApiError(401, None, "Credentials are required to access this resource")
        return key

    # -- routing --

    def route(self, method: str) -> None:
        path = ""
        try:
            split = urlsplit(self.path)
            path = split.path
            if self.server.card_only and not (path.startswith("/secure/") or path == pages.STYLESHEET_PATH):
                self._read_body(MAX_API_BODY)
                raise ApiError(404, None, "Not found")
            if path.startswith("/secure/"):
                self._card_page(method, path)
            elif path.startswith("/v1/"):
                self._api(method, path, split.query)
            elif path == pages.STYLESHEET_PATH and method == "GET":
                self._send(
                    200,
                    pages.STYLESHEET.encode("utf-8"),
                    "text/css; charset=utf-8",
                    {"Cache-Control": "public, max-age=3600"},
                )
            elif path.startswith("/_sandbox/"):
                data = self._json(self._read_body(MAX_API_BODY))
                if method == "GET" and split.query:  # a read's parameters come in its query
                    data = {name: values[0] for name, values in parse_qs(split.query).items()}
                status, obj = self.sandbox.control(method, path, data)
                self._send_json(status, obj)
            else:
                self._read_body(MAX_API_BODY)
                raise ApiError(404, None, "Not found")
        except ApiError as exc:
            headers = {}
            if exc.status == 401:
                headers["WWW-Authenticate"] = "Bearer"
            if exc.status == 429:
                headers["Retry-After"] = "1"
            if exc.allow:
                headers["Allow"] = exc.allow
            self._send_json(exc.status, exc.body(), headers)
        except Exception:
            log.exception("sandbox provider failed on %s %s", method, re.sub(r"/secure/[^/]+", "/secure/<token>", path))
            self.close_connection = True
            self._send_json(500, {"code": "P0999", "description": "Sandbox internal error"})

    def _api(self, method: str, path: str, query: str) -> None:
        body = self._read_body(MAX_API_BODY)
        api_key = self._api_key()
        sandbox, base = self.sandbox, self._base_url()
        match = _PAYMENT_PATH.fullmatch(path)
        if path == "/v1/payments":
            routes = {
                "POST": lambda: sandbox.api_create(self._json(body), base),
                "GET": lambda: sandbox.api_search(query, base),
            }
        elif path == "/v1/refunds":
            routes = {"GET": lambda: sandbox.api_search_refunds(query, base)}
        elif path == "/v1/disputes":
            routes = {"GET": lambda: sandbox.api_search_disputes(query, base)}
        elif match:
            payment_id, tail, refund_id = match.group(1), match.group(2) or "", match.group(3)
            routes = {
                "": {"GET": lambda: sandbox.api_get(payment_id, base)},
                "/events": {"GET": lambda: sandbox.api_events(payment_id, base)},
                "/cancel": {"POST": lambda: sandbox.api_cancel(payment_id)},
                "/capture": {"POST": lambda: sandbox.api_capture(payment_id)},
                "/refunds": {
                    "POST": lambda: sandbox.api_create_refund(payment_id, self._refund_json(body), base),
                    "GET": lambda: sandbox.api_list_refunds(payment_id, base),
                },
            }.get(
                tail if refund_id is None else "/refunds/{id}",
                {"GET": lambda: sandbox.api_get_refund(payment_id, refund_id, base)},
            )
        else:
            raise ApiError(404, None, "Not found")
        if method not in routes:
            # As the real API (and RFC 9110) does: 405, saying what is served.
            raise ApiError(405, None, "Method not allowed", allow=", ".join(sorted(routes)))
        if method == "POST":
            with sandbox._lock:
                limited = sandbox._rate_limited(api_key)
            if limited:
                raise ApiError(429, "P0900", "Too many requests")
        status, obj, headers = routes[method]()
        self._send_json(status, obj, headers)

    def _refund_json(self, body: bytes):
        try:
            return self._json(body)
        except ApiError:
            raise ApiError(400, "P0602", "Unable to parse JSON") from None

    def _card_page(self, method: str, path: str) -> None:
        body = self._read_body(MAX_FORM_BODY)
        match = _SECURE_PATH.fullmatch(path)
        sandbox = self.sandbox
        if not match:
            status, html, headers = sandbox._expired_page()
        else:
            token, action = match.group(1), match.group(2)
            try:
                fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
            except (UnicodeDecodeError, ValueError):
                fields = {}
            form = {k: v[0] for k, v in fields.items()}
            if method == "GET" and not action:
                status, html, headers = sandbox.page_open(token)
            elif method == "POST" and action == "/cancel":
                status, html, headers = sandbox.page_cancel(token)
            elif method == "POST" and action == "/3ds":
                status, html, headers = sandbox.page_challenge(token, form.get("answer", ""))
            elif method == "POST" and action == "/wallet":
                status, html, headers = sandbox.page_wallet(token, form.get("wallet", ""))
            elif method == "POST" and not action:
                status, html, headers = sandbox.page_submit(token, form)
            else:
                status, html, headers = sandbox._expired_page()
        self._send_html(status, html, headers)
