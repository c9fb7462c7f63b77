"""The API's OpenAPI document, completed: an example for every body and every error, and the headers sent.

FastAPI writes the document from the routes and their models. What it cannot know is added here, once, when
the document is first asked for: a response as the server sends it, the message of each error (from
``app.web.api.examples``, by route name), a request body's example from its model, and the headers a route
sets by hand (``Location``, ``Idempotent-Replayed``). An operation that takes no input loses the 422 that the
API's router gives every operation, since nothing of it can be invalid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from app.web.idempotency import REPLAYED_HEADER

if TYPE_CHECKING:
    from app.web.api.examples import Examples

IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
_JSON: Final = "application/json"
_REF: Final = "#/components/schemas/"


def install_api_document(app: FastAPI, *, prefix: str) -> None:
    """Complete ``app``'s OpenAPI document for the operations under ``prefix`` when it is first made."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            complete(generate(), routes=app.routes, prefix=prefix)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to change the document


def complete(document: dict[str, Any], *, routes: Sequence[BaseRoute], prefix: str) -> None:
    """Add the examples and headers to ``document``'s operations under ``prefix`` (in place)."""
    # The catalogue is large and only this needs it: loaded with the first /openapi.json, not at start.
    from app.web.api.examples import EXAMPLES, Examples

    schemas = document.get("components", {}).get("schemas", {})
    # Included routers are walked the way FastAPI walks them to write the document, prefixes applied.
    for route in iter_route_contexts(routes):
        path = route.path_format or ""
        if not (isinstance(route.original_route, APIRoute) and route.include_in_schema and path.startswith(prefix)):
            continue
        examples = EXAMPLES.get(route.name or "", Examples())
        for method in sorted(route.methods or ()):
            operation = document["paths"].get(path, {}).get(method.lower())
            if operation is not None:
                _complete_operation(operation, examples, schemas)


def _complete_operation(operation: dict[str, Any], examples: Examples, schemas: Mapping[str, Any]) -> None:
    if not operation.get("description") and examples.description:
        operation["description"] = examples.description
    body = operation.get("requestBody")
    if body is not None:
        _request_example(body, examples, schemas)
    parameters = operation.get("parameters", [])
    responses = operation["responses"]
    if not parameters and body is None:
        responses.pop("422", None)
    idempotent = any(p.get("in") == "header" and p.get("name") == IDEMPOTENCY_HEADER for p in parameters)
    for code, response in responses.items():
        if code.startswith("2"):
            _success(response, examples, idempotent=idempotent)
        elif code.isdigit():
            _error_example(int(code), response, examples)


def _has_example(content: Mapping[str, Any]) -> bool:
    return "example" in content or "examples" in content


def _request_example(body: dict[str, Any], examples: Examples, schemas: Mapping[str, Any]) -> None:
    content = body.get("content", {}).get(_JSON)
    if content is None or _has_example(content):
        return
    if examples.requests:
        content["examples"] = {
            name: {"summary": summary, "value": value} for name, (summary, value) in examples.requests.items()
        }
        return
    # The model's own examples sit in its schema, where Swagger UI does not look for a body to try.
    schema = content.get("schema", {})
    ref = schema.get("$ref", "")
    own = schemas.get(ref.removeprefix(_REF), {}) if ref.startswith(_REF) else schema
    if own.get("examples"):
        content["example"] = own["examples"][0]


def _success(response: dict[str, Any], examples: Examples, *, idempotent: bool) -> None:
    for media, content in response.get("content", {}).items():
        value = examples.response if media == _JSON else examples.media.get(media)
        if value is not None and not _has_example(content):
            content["example"] = value
    headers = response.get("headers", {})
    if examples.location is not None:
        where = f"Where the new resource is read, e.g. `{examples.location}`"
        headers.setdefault("Location", {"description": where, "schema": {"type": "string"}})
    if idempotent:
        headers[REPLAYED_HEADER] = {
            "description": "`true` when this is the stored response to an earlier request with the same "
            f"`{IDEMPOTENCY_HEADER}` (nothing was done again); absent otherwise",
            "schema": {"type": "string", "enum": ["true"]},
        }
    if headers:
        response["headers"] = headers


def _error_example(code: int, response: dict[str, Any], examples: Examples) -> None:
    content = response.get("content", {}).get(_JSON)
    if content is None or _has_example(content):
        return
    from app.web.api.examples import DEFAULT_ERRORS  # loaded by complete() already

    given = examples.errors.get(code) or DEFAULT_ERRORS.get(code)
    if given is None:
        return
    if isinstance(given, tuple):
        field, message = given
        content["example"] = {"detail": [{"field": field, "message": message}]}
    else:
        content["example"] = dict(given)
