"""The API says what it will not take: every string a client sends (parameter, header or
body field) has a documented maximum length, so a client — or schemathesis — never meets an
undocumented answer; past the web server's own request-line limit the document says 414."""

from __future__ import annotations

import os

import pytest
import requests

from penaltypay.api.v1 import api
from penaltypay.web.limits import LIMIT_REQUEST_LINE
from tests.infrastructure import start_web, stop_web


def strings_without_a_limit(document: dict) -> list[str]:
    schemas = document["components"]["schemas"]

    def resolve(schema: dict) -> dict:
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def unbounded(schema: dict) -> bool:
        options = schema.get("anyOf", [schema])
        return any(
            o.get("type") == "string" and "maxLength" not in o and "enum" not in o and "format" not in o
            for o in options
        )

    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for parameter in operation.get("parameters", []):
                if unbounded(parameter["schema"]):
                    found.append(f"{method.upper()} {path} {parameter['in']} {parameter['name']}")
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                for name, field in resolve(body).get("properties", {}).items():
                    if unbounded(resolve(field)):
                        found.append(f"{method.upper()} {path} body {name}")
            assert "414" in operation["responses"], f"{method.upper()} {path} does not document 414"
    return found


def test_every_string_a_client_sends_has_a_documented_maximum():
    assert strings_without_a_limit(api.get_openapi_schema()) == []


@pytest.mark.django_db
def test_a_cursor_past_its_limit_is_a_problem_not_a_surprise(client):
    from penaltypay.api.clients import add_client

    token = add_client("limits", ["payments:read"], 1000).token
    response = client.get("/api/v1/payments", {"cursor": "x" * 201}, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    long_reference = client.get("/api/v1/payments/" + "P" * 37, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert long_reference.status_code == 422


def test_past_the_request_line_limit_the_web_server_answers_the_documented_414(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    env.update(PENALTYPAY_ENV="test", PENALTYPAY_VAR_DIR=str(tmp_path / "var"), LOG_LEVEL="WARNING")
    process, base = start_web(env, tmp_path / "web.log")
    try:
        too_long = requests.get(f"{base}/api/v1/payments", params={"cursor": "x" * LIMIT_REQUEST_LINE}, timeout=10)
        within = requests.get(f"{base}/api/v1/payments", params={"cursor": "x" * 5000}, timeout=10)
    finally:
        stop_web(process)
    assert too_long.status_code == 414
    assert within.status_code == 401  # a 5 KB cursor reaches the API (which wants a token first)
