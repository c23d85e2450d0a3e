"""/api/v1/docs: the OpenAPI document as a readable page (no JavaScript, our own CSP)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from penaltypay.api.v1 import api


def _schema_name(ref: dict) -> str:
    return ref.get("$ref", "").rsplit("/", 1)[-1]


@require_GET
def docs(request: HttpRequest) -> HttpResponse:
    document = api.get_openapi_schema()
    operations = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            operations.append(
                {
                    "method": method.upper(),
                    "path": "/api/v1" + path if not path.startswith("/api") else path,
                    "summary": operation.get("summary", ""),
                    "parameters": operation.get("parameters", []),
                    "body": _schema_name(body),
                    "responses": sorted(operation.get("responses", {}).items()),
                }
            )
    return render(
        request,
        "api/docs.html",
        {"operations": operations, "schemas": document["components"]["schemas"], "info": document["info"]},
    )
