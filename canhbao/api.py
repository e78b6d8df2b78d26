"""The one request-parsing layer of /api/v1: bodies, query and path parameters, bounded.

Every JSON route declares its body, query and path parameters as typed pydantic models in its
handler's signature and is wrapped by `endpoint`, which reads and validates them before the
handler runs; `canhbao.openapi` publishes the same models, so the schema cannot drift from
the code. Bad input is a 4xx, never a 500 or a hang:

- JSON is decoded by pydantic-core's parser, which refuses nesting past ~200 levels while it
  reads (Python's json recursed until RecursionError); free-form values are also held to
  `MAX_DEPTH` levels, 64-bit integers, finite numbers and `MAX_STRING` characters a string.
- Integers in models are SQLite's signed 64-bit at most (`Int64`, `Id`); in the query and
  the path they are ASCII digits only (`str.isdigit` accepts '²', `int` accepts '١٢').
- A body that is not JSON is 400 (`invalid_json`, `empty_body`); JSON past a limit (too deep,
  too long, too large a number) or that does not fit its model is 422 naming every field
  (`invalid_body`, `invalid_query`); a path parameter that cannot name anything is 404.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar, get_args, get_origin

import pydantic
import pydantic_core
from aiohttp import web
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from canhbao.http import ApiError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1  # SQLite's largest integer: anything above cannot be bound
MAX_DEPTH = 32  # free-form JSON (GeoJSON needs 4 or 5 levels)
MAX_STRING = 65_536  # characters in one free-form JSON string
MAX_QUERY_TEXT = 256  # characters in one query parameter unless its model says otherwise

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")


# -- types the models use ---------------------------------------------------------------------


class ApiModel(BaseModel):
    """Base of request models: unknown fields refused, finite floats, bounded strings, and
    strict types ("16" is not a number, 1 is not true)."""

    model_config = ConfigDict(
        extra="forbid", allow_inf_nan=False, str_max_length=10_000, frozen=True, strict=True
    )


_DIGITS = re.compile(r"-?[0-9]{1,19}")


def _is_int(annotation: Any) -> bool:
    """Whether a field takes an int (through Optional and Annotated)."""
    if annotation is int:
        return True
    args = get_args(annotation)
    if get_origin(annotation) is Annotated:
        return _is_int(args[0])
    return any(_is_int(arg) for arg in args)


class ResponseModel(BaseModel):
    """Base of answer models: what a route promises, published in the OpenAPI and checked by
    schemathesis; fields a later change adds are allowed (the document lists what is sure)."""

    model_config = ConfigDict(frozen=True)


class QueryModel(BaseModel):
    """Base of query and path parameter models: every value arrives as text.

    Unknown query parameters are ignored (caches and trackers add some). An integer field
    takes an optional '-' and ASCII digits only: pydantic alone would also take '1_000' and
    ' 12', and Python's int() takes '١٢'.
    """

    model_config = ConfigDict(
        extra="ignore", allow_inf_nan=False, str_max_length=MAX_QUERY_TEXT, frozen=True
    )

    @field_validator("*", mode="before")
    @classmethod
    def _ascii_integers(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        wants_int = field is not None and _is_int(field.annotation)
        if wants_int and isinstance(value, str) and not _DIGITS.fullmatch(value):
            raise ValueError("must be a whole number in ASCII digits")
        return value


# A JSON-body integer within SQLite's range (true, 1.0 and "1" are not integers).
Int64 = Annotated[int, Field(strict=True, ge=INT64_MIN, le=INT64_MAX)]
# A row id in the query or the path (in a QueryModel): 1 … 2^63-1.
Id = Annotated[int, Field(ge=1, le=INT64_MAX)]
# A finite float (NaN and ±inf refused; 1e400 parses to inf and is refused too).
Finite = Annotated[float, Field(allow_inf_nan=False)]
_PLUS_AS_SPACE = re.compile(r" ([0-9]{2}:?[0-9]{2})$")
TIME_YEARS = (1900, 2200)  # a reading, an alert or a page boundary lies within these


def _timestamp(value: str) -> str:
    """An ISO 8601 time with a zone, in years datetime arithmetic cannot overflow, whole-minute
    offsets (CAP writes hh:mm): what the domains' own parsers then read without failing."""
    text = value
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    elif " " in text:  # an unescaped '+' in a query string arrives as a space: "…T10:00 07:00"
        text = _PLUS_AS_SPACE.sub(r"+\1", text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be an ISO 8601 time with a time zone") from None
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("needs a time zone (e.g. +07:00)")
    if offset.total_seconds() % 60 or abs(offset) > timedelta(hours=14):
        raise ValueError("the zone offset must be whole minutes, at most 14 hours")
    if not TIME_YEARS[0] <= moment.year <= TIME_YEARS[1]:
        raise ValueError(f"must be between the years {TIME_YEARS[0]} and {TIME_YEARS[1]}")
    return text


# A timestamp with a zone, checked as above and kept as text for the domain's own parser.
# (About 3 µs each: the ingest path's rows use FastTimestamp instead.)
Timestamp = Annotated[
    str,
    Field(max_length=64),
    AfterValidator(_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time", "maxLength": 64}),
]
# A timestamp checked only by a pattern pydantic-core runs in Rust (years 1900-2199, a zone):
# for the ingest path's rows, whose domain parser reads the rest.
FastTimestamp = Annotated[
    str,
    Field(
        max_length=64,
        pattern=r"^(19|2[01])[0-9]{2}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+(Z|z|[+-][0-9]{2}:?[0-9]{2})$",
    ),
]
_ANSWER_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})"
)


def _answer_time(value: str) -> str:
    if not _ANSWER_TIME.fullmatch(value):
        raise ValueError(f"not an RFC 3339 time with its zone: {value!r}")
    return value


# A time in an answer, as canhbao.clock.utc_text, isoformat() and CAP write it (RFC 3339, with
# its zone): published as format date-time, which schemathesis checks.
AnswerTime = Annotated[
    str, AfterValidator(_answer_time), WithJsonSchema({"type": "string", "format": "date-time"})
]
Name = Annotated[str, Field(max_length=200)]  # a name or a short label
Line = Annotated[str, Field(max_length=1_000)]  # one line of text: an address, a reason


# -- JSON ---------------------------------------------------------------------------------


def decode_json(raw: bytes) -> Any:
    """A free-form JSON document, bounded (see the module docstring), or a 400."""
    if not raw.strip():
        raise ApiError(400, "empty_body", "a JSON body is required")
    try:
        value = pydantic_core.from_json(raw.removeprefix(b"\xef\xbb\xbf"), allow_inf_nan=False)
    except ValueError as err:
        raise _not_json(str(err)) from None
    problem = check_json(value)
    if problem:
        raise ApiError(422, "invalid_body", f"body refused: {problem}", field="body")
    return value


def _not_json(reason: str) -> ApiError:
    """400 for text that is not JSON; 422 for JSON past a limit (nested too deep)."""
    if "recursion limit" in reason:
        return ApiError(
            422, "invalid_body", f"body refused: nested too deeply ({reason})", field="body"
        )
    return ApiError(400, "invalid_json", f"body is not valid JSON: {reason}")


def check_json(value: Any, depth: int = 0) -> str:
    """What makes a decoded JSON value too big to handle ('' when nothing does)."""
    if depth > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    if isinstance(value, str):
        return f"a string over {MAX_STRING} characters" if len(value) > MAX_STRING else ""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int):
        return "" if INT64_MIN <= value <= INT64_MAX else "an integer beyond 64 bits"
    if isinstance(value, float):
        return "" if math.isfinite(value) else "a number too large to represent"
    items = value.values() if isinstance(value, dict) else value
    if isinstance(value, dict) and any(len(key) > MAX_STRING for key in value):
        return f"a key over {MAX_STRING} characters"
    for item in items:
        problem = check_json(item, depth + 1)
        if problem:
            return problem
    return ""


# A free-form JSON value in a model (a GeoJSON geometry, a CAP block): bounded like bodies.
def _bounded_json(value: Any) -> Any:
    problem = check_json(value)
    if problem:
        raise ValueError(problem)
    return value


JsonValue = Annotated[Any, BeforeValidator(_bounded_json)]
JsonObject = Annotated[dict[str, Any], BeforeValidator(_bounded_json)]


# -- validation -------------------------------------------------------------------------------


def _errors(err: pydantic.ValidationError) -> list[dict[str, str]]:
    items = err.errors(include_url=False, include_input=False)
    # An unknown field first: a misspelt name also shows as the right one missing.
    items.sort(key=lambda item: item["type"] != "extra_forbidden")
    return [
        {
            # A tagged union's tag, "(form)", is which form was read, not a field.
            "field": ".".join(
                str(part)
                for part in item["loc"]
                if not (isinstance(part, str) and part.startswith("("))
            )
            or "body",
            "message": item["msg"].removeprefix("Value error, "),
        }
        for item in items
    ]


def refuse(err: pydantic.ValidationError, code: str, status: int = 422) -> ApiError:
    """A validation error as the 4xx that names every field."""
    errors = _errors(err)
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return ApiError(status, code, summary, field=errors[0]["field"], errors=errors[:20])


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(model: type[T]) -> TypeAdapter[T]:
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    return adapter


def validate_json(
    model: type[T],
    raw: bytes,
    refuse_body: Callable[[pydantic.ValidationError], ApiError] | None = None,
) -> T:
    """`raw` as `model`: 400 if it is not JSON at all, 422 naming the fields that do not fit."""
    if not raw.strip():
        raise ApiError(400, "empty_body", "a JSON body is required")
    try:
        return _adapter(model).validate_json(raw.removeprefix(b"\xef\xbb\xbf"))
    except pydantic.ValidationError as err:
        if any(e["type"] == "json_invalid" for e in err.errors()):
            raise _not_json(err.errors()[0]["msg"].removeprefix("Invalid JSON: ")) from None
        if refuse_body is not None:
            raise refuse_body(err) from None
        raise refuse(err, "invalid_body") from None


def validate_query(model: type[T], query: Mapping[str, str]) -> T:
    try:
        return _adapter(model).validate_python(dict(query))
    except pydantic.ValidationError as err:
        raise refuse(err, "invalid_query") from None


def validate_path(model: type[T], match_info: Mapping[str, str]) -> T:
    try:
        return _adapter(model).validate_python(dict(match_info))
    except pydantic.ValidationError as err:
        # A path that cannot name a thing (an id past 2^63, a letter) names nothing: 404.
        raise refuse(err, "not_found", 404) from None


# -- endpoints --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """What an endpoint takes and answers, read by canhbao.openapi."""

    body: Any = None
    body_required: bool = True
    query: Any = None
    path: Any = None
    responses: Mapping[int, Any] = field(default_factory=dict)
    # Bodies the handler reads itself: content type → JSON schema (CSV, GeoJSON files).
    raw_bodies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    response_types: Mapping[int, str] = field(default_factory=dict)
    # How a body that does not fit its model is answered (default: 422 invalid_body).
    refuse_body: Callable[[pydantic.ValidationError], ApiError] | None = None


NO_CONTENT = "no content"


def endpoint(
    *,
    responses: Mapping[int, Any] | None = None,
    raw_bodies: Mapping[str, Mapping[str, Any]] | None = None,
    response_types: Mapping[int, str] | None = None,
    refuse_body: Callable[[pydantic.ValidationError], ApiError] | None = None,
) -> Callable[[Callable[..., Awaitable[web.StreamResponse]]], Handler]:
    """Validate what the handler's signature names before calling it.

    The handler takes the request, then any of `body`, `query` and `path`, each annotated
    with a model (`body: X | None` when a body may be absent, or sent as one of `raw_bodies`,
    which the handler reads itself). `responses` maps each success status to its model (None:
    any JSON; NO_CONTENT: no body); `response_types` gives a status's content type when it is
    not JSON. `refuse_body` answers a body that does not fit, where a route has its own
    contract for that (default: 422 `invalid_body` naming every field).
    """

    def decorate(handler: Callable[..., Awaitable[web.StreamResponse]]) -> Handler:
        hints = typing.get_type_hints(handler, include_extras=True)
        names = list(inspect.signature(handler).parameters)[1:]
        unknown = set(names) - {"body", "query", "path"}
        if unknown:
            raise TypeError(f"{handler.__name__}: no way to fill {sorted(unknown)}")
        body = hints.get("body")
        body_required = True
        if body is not None and type(None) in typing.get_args(body):
            body_required = False
            kinds = tuple(arg for arg in typing.get_args(body) if arg is not type(None))
            body = kinds[0] if len(kinds) == 1 else typing.Union[kinds]  # noqa: UP007  # built at run time
        spec = Spec(
            body=body,
            body_required=body_required,
            query=hints.get("query"),
            path=hints.get("path"),
            responses=dict(responses or {200: None}),
            raw_bodies=dict(raw_bodies or {}),
            response_types=dict(response_types or {}),
            refuse_body=refuse_body,
        )

        @functools.wraps(handler)
        async def parsed(request: web.Request) -> web.StreamResponse:
            kwargs: dict[str, Any] = {}
            if spec.path is not None:
                kwargs["path"] = validate_path(spec.path, request.match_info)
            if spec.query is not None:
                kwargs["query"] = validate_query(spec.query, request.query)
            if spec.body is not None:
                if request.content_type in spec.raw_bodies:
                    kwargs["body"] = None
                else:
                    raw = await request.read()
                    if not raw.strip() and not spec.body_required:
                        kwargs["body"] = None
                    else:
                        kwargs["body"] = validate_json(spec.body, raw, spec.refuse_body)
            return await handler(request, **kwargs)

        parsed.api_spec = spec  # type: ignore[attr-defined]  # a function attribute
        return parsed

    return decorate


def spec_of(handler: Any) -> Spec | None:
    """The Spec of an endpoint, through any decorators that used functools.wraps."""
    while handler is not None:
        spec = getattr(handler, "api_spec", None)
        if isinstance(spec, Spec):
            return spec
        handler = getattr(handler, "__wrapped__", None)
    return None


def answer(
    model: type[ResponseModel],
    data: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """`data` (a dict, or the model itself) served as the answer model the route declares.

    Validated: a handler whose dict does not fit what the OpenAPI promises (a None where a
    string is declared, a missing field, a datetime where text is) fails here, in its tests,
    rather than in a client; what the model does not declare is not served, and an optional
    field the handler left out stays out (rather than becoming null).
    """
    value = data if isinstance(data, model) else model.model_validate(data)
    return web.Response(
        text=value.model_dump_json(by_alias=True, exclude_unset=True),
        status=status,
        headers=headers,
        content_type="application/json",
    )


async def read_json(request: web.Request) -> Any:
    """The request's JSON body, bounded as decode_json bounds it (for a handler that reads a
    free-form body itself), or a 4xx."""
    return decode_json(await request.read())
