"""The real provider client accepts what the provider's published API allows.

Answers are generated from the published document's own schemas (GOV.UK Pay public API,
docs/contracts/payment-provider/): every optional field present or absent, strings empty
or long, numbers at their limits, and fields the document does not know added on top. The
client must read each one — never a parse failure, never a crash — and keep what it needs.

The document marks no field as required. The fields the provider always sends (the
contract README: a payment's id, amount, reference, description, state and creation time;
a refund's id, amount, status and creation time) are made required here, and times take
the format the document's descriptions give (ISO 8601 UTC): a payment without an id is not
a payment any client could use.
"""

from __future__ import annotations

import copy
import json
import threading
from datetime import UTC, date, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from penaltypay.adapters.pay_api import PayClient
from penaltypay.adapters.pay_mapping import payment_from_json, refund_from_json
from penaltypay.payments.ports import PAYMENT_STATUSES

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads(
    (ROOT / "docs" / "contracts" / "payment-provider" / "govuk-pay-public-api.openapi.json").read_text()
)
SCHEMAS = DOCUMENT["components"]["schemas"]
TIME_FIELDS = {"created_date", "capture_submit_time", "updated"}
DATE_FIELDS = {"captured_date", "settled_date"}


def _inline(schema, seen=()):
    """The schema with every $ref replaced by what it names (the document has no cycles
    among the schemas used here)."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            assert name not in seen, f"cycle at {name}"
            return _inline(SCHEMAS[name], (*seen, name))
        out = {
            key: _inline(value, seen)
            for key, value in schema.items()
            if key not in ("example", "description", "readOnly")
        }
        for name, prop in out.get("properties", {}).items():
            if name in TIME_FIELDS and prop.get("type") == "string":
                prop["format"] = "date-time"
            if name in DATE_FIELDS and prop.get("type") == "string":
                prop["format"] = "date"
        return out
    if isinstance(schema, list):
        return [_inline(item, seen) for item in schema]
    return schema


def _always_sent(schema: dict, kind: str) -> dict:
    schema = copy.deepcopy(schema)
    if kind == "payment":
        schema["required"] = ["payment_id", "amount", "reference", "description", "state", "created_date"]
        schema["properties"]["payment_id"]["minLength"] = 1
        state = schema["properties"]["state"]
        state["required"] = ["status", "finished"]
        state["properties"]["status"]["enum"] = list(PAYMENT_STATUSES)
    else:
        schema["required"] = ["refund_id", "amount", "status", "created_date"]
        schema["properties"]["refund_id"]["minLength"] = 1
    return schema


def from_schema(schema: dict):
    """Instances of the JSON Schema subset the published document uses (objects, arrays,
    strings with formats, integers, numbers, booleans, enums). Written here because
    hypothesis-jsonschema does not run with this project's Hypothesis."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type", "object" if "properties" in schema else None)
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        fixed = {name: from_schema(prop) for name, prop in properties.items() if name in required}
        optional = {name: from_schema(prop) for name, prop in properties.items() if name not in required}
        extra = schema.get("additionalProperties")
        free = (
            st.dictionaries(st.text(min_size=1, max_size=8), from_schema(extra), max_size=3)
            if isinstance(extra, dict)
            else st.just({})
        )
        return st.tuples(free, st.fixed_dictionaries(fixed, optional=optional)).map(lambda p: {**p[0], **p[1]})
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {})), max_size=schema.get("maxItems", 4))
    if kind == "string":
        if schema.get("format") == "date-time":
            return st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=1))])).map(
                lambda moment: moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            )
        if schema.get("format") == "date":
            return st.dates().map(date.isoformat)
        return st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 300))
    if kind == "integer":
        bits = 63 if schema.get("format") == "int64" else 31
        return st.integers(min_value=-(2**bits), max_value=2**bits - 1)
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    return st.none() | st.booleans() | st.integers() | st.text(max_size=5)


def _with_unknown_fields(strategy):
    extras = st.dictionaries(
        st.text(min_size=1, max_size=12).map(lambda k: "x_" + k),
        st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers())),
        max_size=3,
    )
    return st.tuples(strategy, extras).map(lambda pair: {**pair[1], **pair[0]})


def answers(name: str, kind: str):
    return _with_unknown_fields(from_schema(_always_sent(_inline(SCHEMAS[name]), kind)))


CHECK = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("name", ["CreatePaymentResult", "PaymentWithAllLinks", "PaymentDetailForSearch"])
def test_every_published_payment_shape_is_read(name):
    @CHECK
    @given(answers(name, "payment"))
    def check(obj):
        payment = payment_from_json(obj)
        assert payment.payment_id == str(obj["payment_id"]) and payment.amount == obj["amount"]
        assert payment.status == obj["state"]["status"]
        assert payment.created_date.tzinfo is not None
        # Only an unfinished payment's own link is a card page to send the payer to.
        links = obj.get("_links") or {}
        if payment.finished or "next_url" not in links or not (links["next_url"] or {}).get("href"):
            assert payment.next_url is None

    check()


@pytest.mark.parametrize("name", ["Refund", "RefundDetailForSearch"])
def test_every_published_refund_shape_is_read(name):
    @CHECK
    @given(answers(name, "refund"))
    def check(obj):
        refund = refund_from_json(obj)
        assert refund.refund_id == str(obj["refund_id"]) and refund.amount == obj["amount"]

    check()


class _Answering:
    """A local HTTP server that answers every request with the JSON it is given."""

    def __init__(self):
        self.body = b"{}"
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def answering():
    server = _Answering()
    yield server
    server.server.shutdown()


def test_every_published_search_page_is_read(answering):
    page = _inline(SCHEMAS["PaymentSearchResults"])
    page["required"] = ["results"]
    page["properties"]["results"]["items"] = _always_sent(_inline(SCHEMAS["PaymentDetailForSearch"]), "payment")
    page["properties"]["results"]["maxItems"] = 3
    client = PayClient(answering.url, "key", timeout=2)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(from_schema(page))
    def check(obj):
        obj.get("_links", {}).pop("next_page", None)  # one page: the loop itself is tested elsewhere
        answering.body = json.dumps(obj).encode()
        found = client.find_payments_by_reference("PP-ANY-0001")
        assert {p.payment_id for p in found} == {str(item["payment_id"]) for item in obj["results"]}

    check()


def test_every_published_refund_list_is_read(answering):
    listing = _inline(SCHEMAS["RefundForSearchResult"])
    listing["required"] = ["_embedded"]
    listing["properties"]["_embedded"]["required"] = ["refunds"]
    listing["properties"]["_embedded"]["properties"]["refunds"]["items"] = _always_sent(
        _inline(SCHEMAS["Refund"]), "refund"
    )
    listing["properties"]["_embedded"]["properties"]["refunds"]["maxItems"] = 3
    client = PayClient(answering.url, "key", timeout=2)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(from_schema(listing))
    def check(obj):
        answering.body = json.dumps(obj).encode()
        refunds = client.list_refunds("pay-id")
        assert [r.refund_id for r in refunds] == [str(r["refund_id"]) for r in obj["_embedded"]["refunds"]]

    check()
