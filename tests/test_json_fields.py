"""The shared JSON field readers and writers of the provider codecs (sansio/json_fields.py)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from adk_realtime.sansio import json_fields
from adk_realtime.sansio.errors import DecodeError
from adk_realtime.sansio.json_fields import (
    FieldError,
    deep_merge,
    dumps,
    expect_dict,
    expect_list,
    expect_str,
    lax_bool,
    lax_int,
    opt_int,
    opt_str,
    opt_str_or_none,
    proto_get,
    req_dict,
    req_str,
)

MSG: dict[str, Any] = {"s": "x", "i": 3, "b": True, "d": {"k": 1}, "l": [1], "n": None}


def test_readers_return_typed_values_and_defaults() -> None:
    assert req_str(MSG, "s", "m") == "x"
    assert opt_str(MSG, "s", "m") == "x" and opt_str(MSG, "n", "m", "dflt") == "dflt"
    assert opt_str(MSG, "absent", "m") == ""
    assert opt_str_or_none(MSG, "n", "m") is None and opt_str_or_none(MSG, "s", "m") == "x"
    assert opt_int(MSG, "i", "m") == 3 and opt_int(MSG, "n", "m", 7) == 7
    assert req_dict(MSG, "d", "m") == {"k": 1}
    assert expect_list(None, "m", "l") == [] and expect_list([1], "m", "l") == [1]
    assert lax_bool(None, "m", "b") is False and lax_bool(True, "m", "b") is True
    assert expect_str("y", "m", "s") == "y" and expect_dict({}, "m", "d") == {}


@pytest.mark.parametrize(
    ("read", "message"),
    [
        (lambda: req_str(MSG, "i", "response.done"), "response.done: field 'i' must be a string, got a number"),
        (lambda: req_str(MSG, "zz", "response.done"), "response.done is missing field 'zz' (a string)"),
        (lambda: opt_int(MSG, "b", "w"), "w: field 'b' must be an integer, got a boolean"),
        (lambda: opt_str_or_none(MSG, "l", "w"), "w: field 'l' must be a string or null, got an array"),
        (lambda: req_dict(MSG, "s", "w"), "w: field 's' must be an object, got a string"),
        (lambda: expect_list({}, "Gemini message", "a.b[0]"), "Gemini message: field 'a.b[0]' must be an array, got an object"),
        (lambda: lax_bool(2, "w", "f"), "w: field 'f' must be true or false, got a number"),
        (lambda: lax_int("1e3", "w", "n"), "w: field 'n' must be an integer, got a string"),
    ],
)  # fmt: skip
def test_errors_name_the_message_and_the_field(read: Any, message: str) -> None:
    with pytest.raises(FieldError) as info:
        read()
    assert str(info.value) == message
    assert isinstance(info.value, DecodeError)
    assert info.value.name in message and info.value.where in message


def test_proto_get_takes_the_camel_name_first_then_the_snake_one() -> None:
    assert proto_get({"turnComplete": True}, "turnComplete", "turn_complete") is True
    assert proto_get({"turn_complete": False}, "turnComplete", "turn_complete") is False
    assert (
        proto_get({"turnComplete": None, "turn_complete": 1}, "turnComplete", "turn_complete") == 1
    )
    assert proto_get({}, "a", "b") is None


def test_deep_merge_merges_objects_and_replaces_the_rest_without_editing_nested_originals() -> None:
    nested = {"input": {"format": "pcm"}, "voice": "a"}
    base: dict[str, Any] = {"audio": nested, "tools": [1]}
    extra = {"audio": {"input": {"noise": "near"}, "voice": "b"}, "tools": [], "new": {"x": 1}}
    deep_merge(base, extra)
    assert base == {
        "audio": {"input": {"format": "pcm", "noise": "near"}, "voice": "b"},
        "tools": [],
        "new": {"x": 1},
    }
    assert nested == {"input": {"format": "pcm"}, "voice": "a"}  # copied, not edited


def test_dumps_is_compact_ascii_and_refuses_nan() -> None:
    assert dumps({"a": [1, "é"]}) == '{"a":[1,"\\u00e9"]}'
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(ValueError):
            dumps({"x": bad})


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"response.output_audio.delta","delta":"AAAA"}',
        ' {"a": 1} ',  # whitespace around: json.loads' own path
        "[1, 2.5, null, true]",
        '"just a string"',
        b'{"bytes": "too"}',
        bytearray(b'{"bytearray": 1}'),
        '{"a":"\\u00e9\\ud83d\\ude00"}',
    ],
)
def test_loads_gives_what_json_loads_gives(text: Any) -> None:
    assert json_fields.loads(text) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    ['{"a":1} x', '{"a":1', "", "   ", "\ufeff{}", '{"a":NaNx}', "[" * 100000, '{"a":1}{"b":2}'],
)
def test_loads_raises_what_json_loads_raises(text: str) -> None:
    with pytest.raises(Exception) as ours:
        json_fields.loads(text)
    with pytest.raises(Exception) as theirs:
        json.loads(text)
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)
