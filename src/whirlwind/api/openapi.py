"""An OpenAPI 3.1 document of the HTTP server API, generated from :mod:`whirlwind.api.types`.

Schemas come from the request and result dataclasses (field names and types as the JSON
mapping reads and writes them: :mod:`whirlwind.api.json_mapping`); one path per mounted
route, as :func:`whirlwind.api.http.api_paths` lists them. Fields that Centrifugo always
emits are ``required`` in result schemas; request fields are all optional on the wire (the
executor decides what a method needs).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from whirlwind import __version__
from whirlwind.api.types import METHODS, BoolValueMarker, Error, IntFormat, RawJSONMarker

__all__ = ["openapi_document"]

_REF = "#/components/schemas/"
_TEXT = {"text/plain": {"schema": {"type": "string"}}}


def _doc(cls: type[Any]) -> str:
    return (cls.__doc__ or cls.__name__).strip().split("\n\n")[0].replace("\n", " ")


class _Schemas:
    """Component schemas, built on first reference."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {
            "BoolValue": {
                "type": "object",
                "description": "A protobuf BoolValue wrapper; absent means not set.",
                "properties": {"value": {"type": "boolean"}},
            }
        }

    def ref(self, cls: type[Any]) -> dict[str, Any]:
        name = cls.__name__
        if name not in self.components:
            self.components[name] = {}  # placeholder against recursion
            self.components[name] = self._message(cls)
        return {"$ref": _REF + name}

    def _message(self, cls: type[Any]) -> dict[str, Any]:
        hints = typing.get_type_hints(cls, include_extras=True)
        properties: dict[str, Any] = {}
        required: list[str] = []
        for f in dataclasses.fields(cls):
            properties[f.name] = self.schema(hints[f.name])
            if f.metadata.get("always"):
                required.append(f.name)
        schema: dict[str, Any] = {
            "type": "object",
            "description": _doc(cls),
            "properties": properties,
        }
        if required:
            schema["required"] = required
        return schema

    def schema(self, tp: Any, *, nullable: bool = False) -> dict[str, Any]:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            for marker in tp.__metadata__:
                if isinstance(marker, IntFormat):
                    return {
                        "type": "integer",
                        "format": marker.name,
                        "minimum": marker.minimum,
                        "maximum": marker.maximum,
                    }
                if isinstance(marker, RawJSONMarker):
                    return {"description": "Any JSON value, embedded as is (raw JSON payload)."}
                if isinstance(marker, BoolValueMarker):
                    return {"$ref": _REF + "BoolValue"}
            return self.schema(tp.__origin__)
        if tp is str:
            return {"type": "string"}
        if tp is bool:
            return {"type": "boolean"}
        if tp is float:
            return {"type": "number", "format": "double"}
        if tp is int:
            return {"type": "integer", "format": "int64"}
        if origin is list:
            (item,) = typing.get_args(tp)
            return {"type": "array", "items": self.schema(item, nullable=True)}
        if origin is dict:
            _, item = typing.get_args(tp)
            return {"type": "object", "additionalProperties": self.schema(item)}
        if origin in (types.UnionType, typing.Union):
            (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
            schema = self.schema(inner)
            return {"anyOf": [schema, {"type": "null"}]} if nullable else schema
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self.ref(tp)
        raise TypeError(f"no schema for {tp!r}")


def _method_operation(method: str, schemas: _Schemas) -> dict[str, Any]:
    request_type, result_type = METHODS[method]
    result = schemas.ref(result_type)
    error = schemas.ref(Error)
    if method == "batch":
        ok: dict[str, Any] = result
        ok_description = "Replies in command order (not wrapped in `result`)."
    else:
        ok = {
            "type": "object",
            "description": "Exactly one of `result` and `error`.",
            "properties": {"result": result, "error": error},
        }
        ok_description = "The result, or an API error (default error mode)."
    responses: dict[str, Any] = {
        "200": {"description": ok_description, "content": {"application/json": {"schema": ok}}},
        "400": {
            "description": "The body does not decode into the request type; in transport "
            "error mode also API errors 107 and 108.",
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/json": {"schema": error},
            },
        },
        "401": {"description": "Missing or wrong API key (empty body)."},
        "405": {"description": "Not a POST (empty body)."},
        "413": {
            "description": "The body is over `http_api.max_request_body_size`.",
            "content": _TEXT,
        },
    }
    if method != "batch":
        for status, codes in (("404", "102, 104"), ("409", "113"), ("416", "112"), ("500", "100")):
            responses[status] = {
                "description": f"Transport error mode only: API error {codes}.",
                "content": {"application/json": {"schema": error}},
            }
    return {
        "operationId": method,
        "summary": _doc(request_type),
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schemas.ref(request_type)}},
        },
        "responses": responses,
    }


def _legacy_operation(schemas: _Schemas) -> dict[str, Any]:
    error = schemas.ref(Error)
    schemas.components["LegacyCommand"] = {
        "type": "object",
        "description": "One command of the legacy protocol; a body holds several, "
        "concatenated or newline-separated.",
        "properties": {
            "id": {"type": "integer", "format": "uint32", "minimum": 0, "maximum": 2**32 - 1},
            "method": {
                "description": "Method name (case-insensitive) or legacy enum value; "
                "absent means publish.",
                "anyOf": [{"type": "string"}, {"type": "integer"}],
            },
            "params": {"type": "object", "description": "The method's request object."},
        },
    }
    schemas.components["LegacyReply"] = {
        "type": "object",
        "description": "One reply line per command, in order.",
        "properties": {
            "id": {"type": "integer", "format": "uint32"},
            "error": error,
            "result": {"type": "object", "description": "The method's result object."},
        },
    }
    return {
        "operationId": "legacy",
        "summary": "Legacy protocol: several commands in one body, one reply line each.",
        "requestBody": {
            "required": True,
            "content": {"application/x-ndjson": {"schema": {"$ref": _REF + "LegacyCommand"}}},
        },
        "responses": {
            "200": {
                "description": "Reply lines joined by newlines.",
                "content": {"application/x-ndjson": {"schema": {"$ref": _REF + "LegacyReply"}}},
            },
            "400": {"description": "The body cannot be decoded.", "content": _TEXT},
            "401": {"description": "Missing or wrong API key (empty body)."},
            "405": {"description": "Not a POST (empty body)."},
            "413": {"description": "The body is too large.", "content": _TEXT},
            "503": {"description": "The node is shutting down (empty body)."},
        },
    }


def openapi_document(paths: dict[str, tuple[str, str | None]]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``paths`` (path → (HTTP method, API method or None)).

    A ``POST`` path with no API method is the legacy route; a ``GET`` path this document.
    """
    schemas = _Schemas()
    doc_paths: dict[str, Any] = {}
    for path, (http_method, api_method) in paths.items():
        if http_method == "GET":
            operation: dict[str, Any] = {
                "operationId": "openapi",
                "summary": "This document.",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The OpenAPI document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        elif api_method is None:
            operation = _legacy_operation(schemas)
        else:
            operation = _method_operation(api_method, schemas)
        doc_paths[path] = {http_method.lower(): operation}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Whirlwind server API",
            "version": __version__,
            "description": "Centrifugo v6 compatible server HTTP API.",
        },
        "paths": doc_paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key"},
            },
        },
        "security": [{"apiKey": []}, {"apiKeyQuery": []}],
    }
