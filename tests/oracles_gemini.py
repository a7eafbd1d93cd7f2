"""Strict Gemini Live message checks, with ``google.genai.types`` as the oracle.

The SDK's models are ``extra="forbid"`` but lenient in three ways that would
hide our mistakes, so the checks here add:

* ``LiveClientSetup`` has no ``realtimeInputConfig``: that part is validated
  on its own with ``types.RealtimeInputConfig``;
* the SDK's enums are case-insensitive and accept *unknown* values (with a
  warning): every enum on the wire must be exactly a member's value;
* the SDK accepts snake_case too: we must emit lowerCamelCase, and a client
  message carries exactly one of its top-level fields (a proto ``oneof``).

Free-form subtrees (tool schemas, tool arguments and results, labels) are
checked by the SDK but not for camelCase keys or enum case.

Use ``validate_client(msg)`` on every message we send and ``validate_server``
on every server message a test builds by hand; ``server_json(model, case)``
serialises an SDK ``LiveServerMessage`` the way a peer would.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
import warnings
from typing import Any, Literal

from google.genai import types
from pydantic import BaseModel

_CAMEL = re.compile(r"[a-z][a-zA-Z0-9]*")
_FREE_FORM = frozenset({"parameters", "parametersJsonSchema", "response", "args", "labels"})


class OracleError(AssertionError):
    """A message does not match what the Gemini Live API accepts."""


def _as_dict(msg: str | bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(msg, bytes | str):
        msg = json.loads(msg)
    if not isinstance(msg, dict):
        raise OracleError(f"a message is a JSON object, got {type(msg).__name__}")
    return msg


def _validate(model: type[BaseModel], raw: Any, what: str) -> BaseModel:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # unknown enum values warn: make them fail
        try:
            return model.model_validate(raw)
        except Exception as exc:  # pydantic errors, and the SDK's own validators' errors
            raise OracleError(
                f"{what} rejected by google.genai.types.{model.__name__}: {exc}"
            ) from exc


def _check_keys(raw: Any, path: str) -> None:
    if isinstance(raw, dict):
        for key, value in raw.items():
            if not _CAMEL.fullmatch(key):
                raise OracleError(f"{path}.{key}: keys must be lowerCamelCase")
            if key not in _FREE_FORM:
                _check_keys(value, f"{path}.{key}")
    elif isinstance(raw, list):
        for n, value in enumerate(raw):
            _check_keys(value, f"{path}[{n}]")


def _check_enums(model: BaseModel, raw: dict[str, Any], path: str) -> None:
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if value is None:
            continue
        key = info.alias if info.alias and info.alias in raw else name
        if key in _FREE_FORM:
            continue
        _check_enum_value(value, raw.get(key), f"{path}.{key}")


def _check_enum_value(value: Any, raw: Any, path: str) -> None:
    if isinstance(value, enum.Enum):
        members = {m.value for m in type(value)}
        if raw not in members:
            raise OracleError(f"{path}: {raw!r} is not one of {sorted(members)}")
    elif isinstance(value, BaseModel) and isinstance(raw, dict):
        _check_enums(value, raw, path)
    elif isinstance(value, list) and isinstance(raw, list):
        for n, (v, r) in enumerate(zip(value, raw, strict=False)):
            _check_enum_value(v, r, f"{path}[{n}]")


def validate_client(msg: str | bytes | dict[str, Any]) -> types.LiveClientMessage:
    """Check one client message strictly; return the SDK's parsed view of it."""
    raw = _as_dict(msg)
    if len(raw) != 1:
        raise OracleError(f"a client message has exactly one top-level field, got {sorted(raw)}")
    _check_keys(raw, "$")
    body = dict(raw)
    setup = body.get("setup")
    if isinstance(setup, dict) and "realtimeInputConfig" in setup:
        setup = dict(setup)
        ric = setup.pop("realtimeInputConfig")
        parsed_ric = _validate(types.RealtimeInputConfig, ric, "setup.realtimeInputConfig")
        _check_enums(parsed_ric, ric, "$.setup.realtimeInputConfig")
        body["setup"] = setup
    realtime = body.get("realtimeInput")
    if isinstance(realtime, dict):
        if len(realtime) != 1:
            raise OracleError(f"realtimeInput carries one input, got {sorted(realtime)}")
        audio = realtime.get("audio")
        if isinstance(audio, dict):
            try:  # real servers expect the standard alphabet
                base64.b64decode(audio.get("data", ""), validate=True)
            except (binascii.Error, TypeError) as exc:
                raise OracleError(
                    f"realtimeInput.audio.data is not standard base64: {exc}"
                ) from exc
    parsed = _validate(types.LiveClientMessage, body, "client message")
    _check_enums(parsed, body, "$")
    return parsed  # type: ignore[return-value]


def validate_server(msg: str | bytes | dict[str, Any]) -> types.LiveServerMessage:
    """Check that a (hand-built) server message is one the real API could send."""
    raw = _as_dict(msg)
    parsed = _validate(types.LiveServerMessage, raw, "server message")
    _check_enums(parsed, raw, "$")
    return parsed  # type: ignore[return-value]


def server_json(
    message: types.LiveServerMessage,
    case: Literal["camel", "snake"] = "camel",
    alphabet: Literal["urlsafe", "standard"] = "urlsafe",
) -> str:
    """Serialise an SDK server message as a peer would: camelCase or snake_case keys.

    Audio comes out of pydantic in URL-safe base64 (what the genai client
    sends); ``alphabet="standard"`` rewrites it as real servers send it.
    """
    dumped = message.model_dump(mode="json", by_alias=(case == "camel"), exclude_none=True)
    if alphabet == "standard":
        _standard_alphabet(dumped)
    return json.dumps(dumped)


def _standard_alphabet(raw: Any) -> None:
    if isinstance(raw, dict):
        for key, value in raw.items():
            if key in ("inlineData", "inline_data") and isinstance(value, dict):
                data = value.get("data")
                if isinstance(data, str):
                    value["data"] = data.replace("-", "+").replace("_", "/")
            else:
                _standard_alphabet(value)
    elif isinstance(raw, list):
        for value in raw:
            _standard_alphabet(value)


__all__ = [
    "OracleError",
    "server_json",
    "validate_client",
    "validate_server",
]
