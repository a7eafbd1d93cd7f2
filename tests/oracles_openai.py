"""Strict OpenAI Realtime validators built from the official ``openai`` SDK types.

The SDK's event models are ``extra="allow"``: a misspelt or misplaced key
passes ``model_validate`` silently. These helpers re-wrap the SDK unions with a
pydantic discriminator (short, precise errors), validate in strict mode, then
walk the validated models and fail on any key a model does not declare.

Use them in any test that produces or consumes OpenAI wire messages::

    from tests.oracles_openai import validate_ga_client, example_server_event
    validate_ga_client(json.loads(msg))             # raises OracleError if not SDK-valid
    raw = example_server_event("ga", "response.output_audio.delta", delta="AAAA")

The SDK is the oracle: nothing here restates the wire format by hand.
"""

from __future__ import annotations

import functools
import json
import types
import typing
from collections.abc import Collection, Mapping
from typing import Annotated, Any, Literal, Union

import pydantic
from openai.types.beta.realtime import (
    realtime_client_event as beta_client,
    realtime_server_event as beta_server,
)
from openai.types.realtime import (
    realtime_client_event as ga_client,
    realtime_server_event as ga_server,
)

Dialect = Literal["ga", "beta"]

_UNIONS: dict[tuple[str, str], Any] = {
    ("ga", "client"): ga_client.RealtimeClientEvent,
    ("ga", "server"): ga_server.RealtimeServerEvent,
    ("beta", "client"): beta_client.RealtimeClientEvent,
    ("beta", "server"): beta_server.RealtimeServerEvent,
}


class OracleError(AssertionError):
    """A message the official SDK types reject (or that carries undeclared keys)."""


def _strip_annotated(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def members(dialect: Dialect, side: Literal["client", "server"]) -> tuple[type[Any], ...]:
    """The model classes of one SDK event union, in the SDK's order."""
    return tuple(typing.get_args(_strip_annotated(_UNIONS[(dialect, side)])))


def type_literal(model: type[Any]) -> str:
    """The ``type`` discriminator value of an SDK event model."""
    (value,) = typing.get_args(model.model_fields["type"].annotation)
    return str(value)


@functools.cache
def _adapter(dialect: Dialect, side: str) -> pydantic.TypeAdapter[Any]:
    # A Union built at run time from the SDK's member list: opaque to mypy.
    union: Any = Union[members(dialect, side)]  # type: ignore[arg-type]  # noqa: UP007
    strict: Any = Annotated[union, pydantic.Field(discriminator="type")]
    return pydantic.TypeAdapter(strict)


@functools.cache
def _by_type(dialect: Dialect, side: str) -> dict[str, type[Any]]:
    return {type_literal(m): m for m in members(dialect, side)}  # type: ignore[arg-type]


def ga_server_event_types() -> list[str]:
    """Every GA server event type literal (46 with openai 2.x/3.x)."""
    return list(_by_type("ga", "server"))


def beta_server_event_types() -> list[str]:
    """Every beta server event type literal."""
    return list(_by_type("beta", "server"))


def ga_client_event_types() -> list[str]:
    """Every GA client event type literal (11)."""
    return list(_by_type("ga", "client"))


def beta_client_event_types() -> list[str]:
    """Every beta client event type literal."""
    return list(_by_type("beta", "client"))


def server_event_model(dialect: Dialect, event_type: str) -> type[Any]:
    """The SDK model class for one server event type."""
    return _by_type(dialect, "server")[event_type]


def _check_extras(value: Any, path: str, ignore_keys: Collection[str]) -> None:
    if isinstance(value, pydantic.BaseModel):
        extra = {k for k in (value.model_extra or {}) if k not in ignore_keys}
        if extra:
            raise OracleError(
                f"{path} ({type(value).__name__}) has keys the SDK does not declare: "
                f"{sorted(extra)}"
            )
        for name in type(value).model_fields:
            _check_extras(getattr(value, name), f"{path}.{name}", ignore_keys)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_extras(item, f"{path}[{i}]", ignore_keys)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_extras(item, f"{path}.{key}", ignore_keys)


def _validate(
    dialect: Dialect,
    side: str,
    obj: Mapping[str, Any] | str | bytes,
    ignore_keys: Collection[str] = (),
) -> Any:
    if isinstance(obj, str | bytes):
        try:
            obj = json.loads(obj)
        except ValueError as exc:
            raise OracleError(f"not JSON: {exc}") from None
    try:
        model = _adapter(dialect, side).validate_python(obj, strict=True)
    except pydantic.ValidationError as exc:
        raise OracleError(f"{dialect} {side} event rejected by the SDK types:\n{exc}") from None
    _check_extras(model, str(getattr(model, "type", "event")), ignore_keys)
    return model


def validate_ga_client(obj: Mapping[str, Any] | str | bytes) -> Any:
    """Validate one GA client event strictly; returns the SDK model, raises ``OracleError``."""
    return _validate("ga", "client", obj)


def validate_beta_client(obj: Mapping[str, Any] | str | bytes) -> Any:
    """Validate one beta client event strictly; returns the SDK model."""
    return _validate("beta", "client", obj)


def validate_ga_server(
    obj: Mapping[str, Any] | str | bytes, *, ignore_keys: Collection[str] = ()
) -> Any:
    """Validate one GA server event strictly.

    ``ignore_keys`` tolerates undeclared keys by name anywhere (real servers add
    ``id``, ``object``, ``expires_at`` to ``session.created``'s session).
    """
    return _validate("ga", "server", obj, ignore_keys)


def validate_beta_server(
    obj: Mapping[str, Any] | str | bytes, *, ignore_keys: Collection[str] = ()
) -> Any:
    """Validate one beta server event strictly."""
    return _validate("beta", "server", obj, ignore_keys)


def validate_client(dialect: Dialect, obj: Mapping[str, Any] | str | bytes) -> Any:
    """``validate_ga_client`` or ``validate_beta_client`` by dialect."""
    return _validate(dialect, "client", obj)


# --------------------------------------------------------------------------
# Example server events, built from the SDK's own models
# --------------------------------------------------------------------------


def _example(tp: Any, name: str) -> Any:
    """A minimal valid value for a required field of type ``tp``."""
    tp = _strip_annotated(tp)
    origin = typing.get_origin(tp)
    if origin is Literal:
        return typing.get_args(tp)[0]
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _example(options[0], name)
    if origin in (list, tuple, set):
        return []
    if origin is dict or tp is dict or tp is object:
        return {}
    if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        return _example_model(tp)
    if tp is str:
        return f"{name}_1"
    if tp is bool:
        return False
    if tp is int:
        return 1
    if tp is float:
        return 1.0
    raise TypeError(f"no example for {tp!r} ({name})")


def _example_model(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    return {
        name: _example(field.annotation, name)
        for name, field in model.model_fields.items()
        if field.is_required()
    }


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def example_server_event(dialect: Dialect, event_type: str, **overrides: Any) -> str:
    """A valid server event of ``event_type`` as JSON text, made by the SDK model.

    Required fields get placeholder values; ``overrides`` (deep-merged) set
    the ones a test cares about. The result is ``Model.model_validate(...)
    .model_dump_json(exclude_none=True)``, so it is what the SDK itself would send.
    """
    model = server_event_model(dialect, event_type)
    data = _deep_merge(_example_model(model), overrides)
    instance = model.model_validate(data)
    return str(instance.model_dump_json(exclude_none=True, by_alias=True))
