"""Check recorded client messages against the providers' official types (the test helper's
oracle): OpenAI's ``RealtimeClientEvent`` unions (GA or beta) with every undeclared key refused,
and ``google.genai.types.LiveClientMessage`` (which forbids unknown keys itself).

Needs ``openai`` and ``google-genai`` (imported on first use); nothing in ``sansio`` uses this.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

__all__ = ["client_message_problem"]


@functools.cache
def _openai_adapter(beta: bool) -> Any:
    # lazy: the official SDK is only needed when a record is validated
    import pydantic
    from openai.types.beta.realtime import realtime_client_event as beta_events
    from openai.types.realtime import realtime_client_event as ga_events

    union: Any = beta_events.RealtimeClientEvent if beta else ga_events.RealtimeClientEvent
    return pydantic.TypeAdapter(union)


def _undeclared(value: Any, path: str) -> str | None:
    """The first key a validated SDK model holds without declaring it, or None."""
    # lazy: pydantic comes with the official SDKs
    import pydantic

    if isinstance(value, pydantic.BaseModel):
        extra = sorted(value.model_extra or {})
        if extra:
            return f"{path} ({type(value).__name__}) has keys the SDK does not declare: {extra}"
        for name in type(value).model_fields:
            found = _undeclared(getattr(value, name), f"{path}.{name}")
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _undeclared(item, f"{path}[{i}]")
            if found:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            found = _undeclared(item, f"{path}.{key}")
            if found:
                return found
    return None


def client_message_problem(dialect: str, raw: str) -> str | None:
    """Why ``raw`` (a client message in ``dialect``: "openai", "openai-beta" or "gemini", as
    the record names them) is not valid by the official types, or None when it is."""
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        return f"not JSON: {exc}"
    check = _CHECKS.get(dialect)
    if check is None:
        return f"no official types known for {dialect!r}"
    return check(obj)


def _openai_problem(obj: Any, *, beta: bool) -> str | None:
    # lazy: pydantic comes with the official SDKs
    import pydantic

    try:
        model = _openai_adapter(beta).validate_python(obj, strict=True)
    except pydantic.ValidationError as exc:
        return f"rejected by the openai SDK types: {exc}"
    return _undeclared(model, str(obj.get("type", "event")) if isinstance(obj, dict) else "event")


def _gemini_problem(obj: Any) -> str | None:
    # lazy: the official SDK is only needed when a record is validated
    import pydantic
    from google.genai import types

    if not isinstance(obj, dict) or len(obj) != 1:
        return "a Gemini client message has exactly one top-level field"
    body = dict(obj)
    setup = body.get("setup")
    if isinstance(setup, dict) and "realtimeInputConfig" in setup:
        # LiveClientSetup does not declare it; the SDK sends it: check it on its own type
        setup = dict(setup)
        try:
            types.RealtimeInputConfig.model_validate(setup.pop("realtimeInputConfig"))
        except pydantic.ValidationError as exc:
            return f"setup.realtimeInputConfig rejected by the google-genai types: {exc}"
        body["setup"] = setup
    try:
        types.LiveClientMessage.model_validate(body)
    except pydantic.ValidationError as exc:
        return f"rejected by the google-genai types: {exc}"
    return None


_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "openai": functools.partial(_openai_problem, beta=False),
    "openai-beta": functools.partial(_openai_problem, beta=True),
    "gemini": _gemini_problem,
}
