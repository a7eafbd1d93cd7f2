"""Typed readers for decoded JSON messages, and the JSON writing rules of the codecs.

Theory of operation
-------------------
A decoder validates a whole message before it changes any state, so it reads
every field through these functions: each returns the value with its Python
type, or raises :class:`FieldError` (a ``DecodeError``) naming where in the
message the field is (``where``) and the field (``name``). Nothing here holds
state, and an error message is formatted only when a field is bad, never on
the success path.

Readers come in two shapes:

* ``req_*`` / ``opt_*`` read ``obj[key]``: ``req_str``, ``req_dict``,
  ``opt_str`` (a default when absent or null), ``opt_str_or_none``,
  ``opt_int``;
* ``expect_*`` check a value already in hand (e.g. one found under either of a
  field's two proto3 names with :func:`proto_get`): ``expect_str``,
  ``expect_dict`` and ``expect_list`` (absent is the empty list).

JSON has exactly one spelling for each of these types, so checks are exact:
``type(v) is int`` also rules out ``true``. A protobuf service's JSON (proto3
JSON, Gemini Live) has more: :func:`lax_bool` and :func:`lax_int` take what the
``google.genai`` types take (pydantic's lax mode), e.g. ``"true"`` and int64
written as ``"12"``. :func:`fail` and :func:`invalid` raise the error for
anything a caller checks itself.

A caller names a nested field either way: ``where`` says which part of the
message (``"response.done response"``) and ``name`` is the key, or ``where``
names the message (``"Gemini message"``) and ``name`` is the dotted path
(``"serverContent.modelTurn.parts[0].text"``). Messages read::

    {where}: field {name!r} must be {expected}, got {JSON type}
    {where} is missing field {name!r} ({expected})
    {where}: field {name!r} {problem}               (invalid(): e.g. bad base64)

Writing: :func:`dumps` is the one JSON encoder of the codecs' messages,
:func:`deep_merge` applies ``RealtimeConfig.extra`` to a message being built,
:func:`check_text` refuses text that cannot be sent (a lone surrogate) and
:func:`check_size` a message larger than the provider takes, both before
anything is queued; :func:`base64_pieces` cuts audio for messages of a bounded size.
"""

from __future__ import annotations

import binascii
import json
import json.scanner
import re
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

from adk_realtime.sansio.errors import DecodeError, LocalProtocolError, MessageTooLargeToSend

__all__ = [
    "FieldError",
    "JsonObject",
    "base64_pieces",
    "check_size",
    "check_text",
    "deep_merge",
    "dumps",
    "expect_dict",
    "expect_list",
    "expect_str",
    "fail",
    "invalid",
    "lax_bool",
    "lax_int",
    "loads",
    "opt_int",
    "opt_str",
    "opt_str_or_none",
    "proto_get",
    "queue_audio_messages",
    "raw_text",
    "req_dict",
    "req_str",
]

JsonObject = dict[str, Any]


class FieldError(DecodeError):
    """A field of a received message is missing, has the wrong type or a bad value.

    ``where`` and ``name`` say which field, so a caller (e.g. a simulator that
    answers with its own error shape) can map the error without parsing text.
    """

    def __init__(self, where: str, name: str, text: str) -> None:
        super().__init__(text)
        self.where = where
        self.name = name


def fail(where: str, name: str, expected: str, value: Any) -> NoReturn:
    """Raise the :class:`FieldError` for ``value``: missing (``None``) or not ``expected``."""
    if value is None:
        raise FieldError(where, name, f"{where} is missing field {name!r} ({expected})")
    got = _json_type(value)
    raise FieldError(where, name, f"{where}: field {name!r} must be {expected}, got {got}")


def invalid(where: str, name: str, problem: str) -> NoReturn:
    """Raise the :class:`FieldError` for a field of the right type but a bad value."""
    raise FieldError(where, name, f"{where}: field {name!r} {problem}")


def _json_type(value: Any) -> str:
    if value is True or value is False:
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


# ---------------------------------------------------------------------------
# Values in hand
# ---------------------------------------------------------------------------


def expect_str(value: Any, where: str, name: str) -> str:
    """``value`` if it is a string."""
    if type(value) is not str:
        fail(where, name, "a string", value)
    return value


def expect_dict(value: Any, where: str, name: str) -> JsonObject:
    """``value`` if it is an object."""
    if type(value) is not dict:
        fail(where, name, "an object", value)
    return value


def expect_list(value: Any, where: str, name: str) -> list[Any]:
    """``value`` if it is an array; absent (``None``) is the empty list."""
    if value is None:
        return []
    if type(value) is not list:
        fail(where, name, "an array", value)
    return value


# proto3 JSON, as the google.genai types read it (pydantic's lax mode): a protobuf
# service may write a bool as a string and must write an int64 as one.
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
# An integer as text: sign, ASCII digits (single underscores between), a zero fraction.
_INT_TEXT = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*(?:\.0+)?")
_MAX_INT_TEXT = 4000  # Python refuses longer int text; no count comes near it
_FLOAT_INT_LIMIT = 2.0**63  # an integral float counts as an int below this


def lax_bool(value: Any, where: str, name: str) -> bool:
    """A bool as pydantic's lax mode reads it: ``true``/``false``, 0 or 1, or one of
    ``"true" "false" "yes" "no" "on" "off" "t" "f" "y" "n" "1" "0"`` in any case (no
    surrounding spaces). Absent (``None``) is False."""
    if value is True or value is False:
        return value
    if value is None:
        return False
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    fail(where, name, "true or false", value)


def lax_int(value: Any, where: str, name: str) -> int:
    """An integer as pydantic's lax mode reads it: a JSON integer, ``true``/``false``, an
    integral number below 2**63, or text holding an integer (``"12"``, ``" -7 "``,
    ``"1_000"``, ``"12.0"``), as proto3 writes 64-bit integers. Absent (``None``) is 0."""
    if type(value) is int:
        return value
    if value is None:
        return 0
    if value is True or value is False:
        return int(value)
    if isinstance(value, float):
        if value.is_integer() and -_FLOAT_INT_LIMIT < value < _FLOAT_INT_LIMIT:
            return int(value)
    elif isinstance(value, str):
        text = value.strip()
        if len(text) <= _MAX_INT_TEXT and _INT_TEXT.fullmatch(text):
            return int(text.partition(".")[0])
    fail(where, name, "an integer", value)


def proto_get(obj: JsonObject, camel: str, snake: str) -> Any:
    """A field written by a protobuf service: by its lowerCamelCase JSON name, else by its
    original snake_case name (proto3 JSON parsers accept both); ``None`` when absent."""
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


# ---------------------------------------------------------------------------
# Fields of an object
# ---------------------------------------------------------------------------


def req_str(obj: JsonObject, key: str, where: str) -> str:
    """``obj[key]``, a required string."""
    value = obj.get(key)
    if type(value) is not str:
        fail(where, key, "a string", value)
    return value


def opt_str(obj: JsonObject, key: str, where: str, default: str = "") -> str:
    """``obj[key]``, an optional string (``default`` when absent or null)."""
    value = obj.get(key)
    if value is None:
        return default
    if type(value) is not str:
        fail(where, key, "a string", value)
    return value


def opt_str_or_none(obj: JsonObject, key: str, where: str) -> str | None:
    """``obj[key]``, an optional string that stays ``None`` when absent or null."""
    value = obj.get(key)
    if value is not None and type(value) is not str:
        fail(where, key, "a string or null", value)
    return value


def opt_int(obj: JsonObject, key: str, where: str, default: int = 0) -> int:
    """``obj[key]``, an optional integer (``default`` when absent or null)."""
    value = obj.get(key)
    if value is None:
        return default
    if type(value) is not int:
        fail(where, key, "an integer", value)
    return value


def req_dict(obj: JsonObject, key: str, where: str) -> JsonObject:
    """``obj[key]``, a required object."""
    value = obj.get(key)
    if type(value) is not dict:
        fail(where, key, "an object", value)
    return value


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def dumps(obj: JsonObject) -> str:
    """Compact JSON text, ASCII-only (escapes, never raw non-ASCII) and strict:
    ``NaN``/``Infinity`` raise ``ValueError`` instead of going out as bare tokens."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def deep_merge(base: JsonObject, extra: Mapping[str, Any]) -> None:
    """Merge ``extra`` into ``base`` (a message being built): where both hold an object
    the two merge, key by key; anything else in ``extra`` replaces what ``base`` has.
    ``base``'s nested objects are copied before they change, never edited in place."""
    for key, value in extra.items():
        current = base.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merged = dict(current)
            deep_merge(merged, value)
            base[key] = merged
        else:
            base[key] = value


def check_text(value: Any, name: str) -> str:
    """``value`` if it is text that can be sent (valid Unicode); else ``LocalProtocolError``.

    A lone surrogate (``"\\ud800"``) is a Python ``str`` but not Unicode text: it has no
    UTF-8 form, and JSON would carry it as an escape that strict servers refuse.
    """
    if not isinstance(value, str):
        raise LocalProtocolError(f"{name} must be a str, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        where = exc.start
        raise LocalProtocolError(
            f"{name} is not valid Unicode text: a lone surrogate {value[where]!r} at index {where}"
        ) from None
    return value


def check_size(message: str, limit: int, what: str) -> str:
    """``message`` if its UTF-8 text fits in ``limit`` bytes; else
    :class:`MessageTooLargeToSend` naming ``what`` (call it before any state changes)."""
    size = len(message) if message.isascii() else len(message.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise MessageTooLargeToSend(what, size, limit)
    return message


def raw_text(message: object) -> str:
    """``message`` if it is text (a raw wire message), else ``LocalProtocolError``."""
    if not isinstance(message, str):
        raise LocalProtocolError(f"a raw message is JSON text, got {type(message).__name__}")
    return message


def queue_audio_messages(
    out: list[str], audio: bytes | bytearray | memoryview, piece: int, head: str, tail: str
) -> None:
    """Append ``head + base64 + tail`` to ``out`` for each ``piece`` bytes of ``audio``.

    The codecs' audio hot path: one message for a usual 20-100 ms chunk (no generator,
    no JSON encoder), several for a buffer longer than one message may carry.
    """
    if type(audio) is bytes and len(audio) <= piece:
        out.append(head + binascii.b2a_base64(audio, newline=False).decode("ascii") + tail)
        return
    for text in base64_pieces(audio, piece):
        out.append(head + text + tail)


def base64_pieces(audio: bytes | bytearray | memoryview, piece: int) -> Iterator[str]:
    """``audio`` as base64 text, one string per ``piece`` bytes of it (the last may be
    shorter; empty audio gives one empty string). ``piece`` must keep samples whole."""
    view = audio if isinstance(audio, bytes | bytearray) else memoryview(audio).cast("B")
    if len(view) <= piece:
        yield binascii.b2a_base64(view, newline=False).decode("ascii")
        return
    for start in range(0, len(view), piece):
        yield binascii.b2a_base64(view[start : start + piece], newline=False).decode("ascii")


# The scanner json.loads ends in, called directly: json.loads adds three Python calls and
# two regular-expression matches (the whitespace around the value) per message.
_scan_value = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def loads(text: str | bytes | bytearray) -> Any:
    """``json.loads(text)``, the same value or the same error, faster for a message that
    is one JSON value with no whitespace around it (what realtime servers send)."""
    if type(text) is str:
        try:
            value, end = _scan_value(text, 0)
        except (StopIteration, ValueError, RecursionError):
            return json.loads(text)  # (it raises the error json.loads raises)
        if end == len(text):
            return value
    return json.loads(text)
