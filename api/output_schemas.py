"""Each tool's output schema (MCP structured output), taken from the REST route's documented answer in the OpenAPI
schema drf-spectacular builds from the views: one source, already held to the real answers by the schema fuzz test
(tests/api/test_schema_fuzz.py).

OpenAPI 3.0's dialect becomes JSON Schema 2020-12 (`nullable` → a null alternative, components → `$defs`), and the
root is an object, as MCP asks: a list answer is `{"result": [...]}`, as the MCP server wraps it.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

COMPONENT = "#/components/schemas/"
SUCCESS = re.compile(r"^2[0-9][0-9]$")


@cache
def _openapi() -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator

    schema: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)  # type: ignore[no-untyped-call]
    return schema


def _converted(node: Any, refs: set[str]) -> Any:
    """`node` in JSON Schema 2020-12, the names of the components it refers to added to `refs`."""
    if isinstance(node, list):
        return [_converted(item, refs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = str(node["$ref"]).removeprefix(COMPONENT)
        refs.add(name)
        return {"$ref": f"#/$defs/{name}"}
    nullable = bool(node.get("nullable"))
    out = {key: _converted(value, refs) if key != "properties" else
           {name: _converted(prop, refs) for name, prop in value.items()}
           for key, value in node.items() if key not in ("nullable", "example")}
    if "enum" in out and nullable and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return {"anyOf": [out, {"type": "null"}]} if nullable else out


def _component_defs(refs: set[str]) -> dict[str, Any]:
    """Every component `refs` names, and those they name in turn."""
    components = _openapi()["components"]["schemas"]
    defs: dict[str, Any] = {}
    todo = sorted(refs)
    while todo:
        name = todo.pop()
        if name in defs:
            continue
        found: set[str] = set()
        defs[name] = _converted(components[name], found)
        todo.extend(sorted(found - set(defs)))
    return defs


def _rest_answer(method: str, path: str) -> Any:
    """The JSON Schema (OpenAPI dialect) of what a 2xx answer of `method path` holds; None if nothing."""
    operation = _openapi()["paths"].get(path, {}).get(method.lower())
    if operation is None:
        return None
    schemas = [response.get("content", {}).get("application/json", {}).get("schema")
               for code, response in operation["responses"].items() if SUCCESS.match(str(code))]
    distinct = [one for i, one in enumerate(schemas) if one is not None and one not in schemas[:i]]
    if not distinct:
        return None
    return distinct[0] if len(distinct) == 1 else {"anyOf": distinct}


def _object(schema: Any, refs: set[str]) -> dict[str, Any]:
    """`schema` as an object at the root: a component inlined, a list wrapped in {"result": ...}."""
    if "$ref" in schema:
        name = str(schema["$ref"]).removeprefix(COMPONENT)
        component = _openapi()["components"]["schemas"][name]
        if component.get("type") == "object":
            return dict(_converted(component, refs))
    converted = _converted(schema, refs)
    if converted.get("type") == "object":
        return dict(converted)
    return {"type": "object", "properties": {"result": converted}, "required": ["result"]}


GUIDE = {
    "type": "object", "required": ["config_schema", "sdk_reference", "venue_methods", "examples"],
    "properties": {
        "config_schema": {"type": "object", "description": "The JSON Schema of config.json."},
        "sdk_reference": {"type": "string"},
        "venue_methods": {"type": "object", "description": "venue → method → its argument names",
                          "additionalProperties": {"type": "object",
                                                   "additionalProperties": {"type": "array",
                                                                            "items": {"type": "string"}}}},
        "examples": {"type": "array", "items": {
            "type": "object", "required": ["name", "files"],
            "properties": {"name": {"type": "string"},
                           "files": {"type": "object", "additionalProperties": {"type": "string"}}}}},
    },
}
DELETED = {"type": "object", "required": ["deleted"],
           "properties": {"deleted": {"const": True}}, "additionalProperties": {"type": "string"}}


@cache
def tool_output_schema(name: str, method: str, path: str) -> dict[str, Any] | None:
    """The JSON Schema of what tool `name`, the REST route `method path` (LOCAL: the guide), answers when it
    succeeds; errors are the one error shape."""
    if method == "LOCAL":
        return GUIDE
    answer = _rest_answer(method, path)
    if method == "DELETE" and answer is None:  # 204 No Content: the tool says what it deleted
        return DELETED
    if answer is None:
        return None
    refs: set[str] = set()
    root = _object(answer, refs)
    if name == "get_strategy":  # the strategy and its current version, read from two routes
        version = _rest_answer("GET", path + "versions/{number}/")
        root = {"type": "object", "required": ["strategy", "current_version"],
                "properties": {"strategy": root,
                               "current_version": {"anyOf": [_converted(version, refs), {"type": "null"}]}}}
    defs = _component_defs(refs)
    return {**root, "$defs": defs} if defs else root
