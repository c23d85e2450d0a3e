"""What makes a change to an OpenAPI document break its clients: an operation or a
response field gone, a response field's type changed, a request field newly required or
its type changed, an enum losing a value. Additions are not breaking."""

from __future__ import annotations

METHODS = ("get", "post", "put", "patch", "delete")


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _types(schema: dict) -> set:
    if "anyOf" in schema:
        return {t for option in schema["anyOf"] for t in _types(option)}
    return {schema.get("type", schema.get("$ref", "object"))}


def breaking_changes(before: dict, after: dict) -> list[str]:
    found = []
    for path, methods in before.get("paths", {}).items():
        for method in METHODS:
            if method in methods and method not in after.get("paths", {}).get(path, {}):
                found.append(f"{method.upper()} {path} removed")
    for name, old in before.get("components", {}).get("schemas", {}).items():
        new = after.get("components", {}).get("schemas", {}).get(name)
        if new is None:
            found.append(f"schema {name} removed")
            continue
        for field, spec in old.get("properties", {}).items():
            if field not in new.get("properties", {}):
                found.append(f"{name}.{field} removed")
            elif not _types(new["properties"][field]) >= _types(spec):
                found.append(f"{name}.{field} type changed")
            elif set(spec.get("enum", [])) - set(new["properties"][field].get("enum", spec.get("enum", []))):
                found.append(f"{name}.{field} lost enum values")
        for field in set(new.get("required", [])) - set(old.get("required", [])):
            found.append(f"{name}.{field} newly required")
    return found
