"""Tools: Python functions the model may call.

``function_tool`` turns a sync or async function into a :class:`FunctionTool`:
the JSON schema of its parameters comes from the type hints, its description
from the docstring (the first paragraph; ``Args:`` lines describe parameters).
Sync functions run in a worker thread so they never block the event pump.

Every call has a time limit: the tool's ``timeout`` if it has one, else the
runner's ``tool_timeout`` (30 s by default). When it expires, an async tool is
cancelled; a sync tool's thread cannot be stopped (Python cannot kill a
thread): it is abandoned, runs on to its end, and its result is discarded;
nothing waits for it, not even ``runner.close()``. Either way the model gets an
error output saying the call timed out, and the conversation goes on.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import anyio
import anyio.to_thread

from adk_realtime.sansio.config import ToolDefinition
from adk_realtime.sansio.errors import ConfigError


@dataclass
class ToolContext:
    """What a tool (and the tool callbacks) can see about the call."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    agent_name: str = ""
    state: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Tool(Protocol):
    """Anything with a name, a description, JSON-schema parameters and ``call``.

    A tool may also have a ``timeout`` attribute: seconds a call may take (``None``:
    the runner's ``tool_timeout``; ``math.inf``: no limit).
    """

    name: str
    description: str

    @property
    def parameters(self) -> dict[str, Any]: ...

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> Any: ...


def tool_definition(tool: Tool) -> ToolDefinition:
    return ToolDefinition(name=tool.name, description=tool.description, parameters=tool.parameters)


class FunctionTool:
    """A tool backed by a Python function (sync or async)."""

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
    ) -> None:
        """``timeout``: seconds one call may take before the model is told it timed out
        (see the module docstring for what happens to the call); ``None`` (the default)
        uses the runner's ``tool_timeout``, ``math.inf`` means no limit."""
        self.func = func
        self.timeout = check_tool_timeout(timeout, "timeout")
        self.name = name or func.__name__
        doc_summary, arg_docs = _parse_docstring(inspect.getdoc(func) or "")
        self.description = description if description is not None else doc_summary
        self._signature = inspect.signature(func)
        try:
            self._hints = typing.get_type_hints(func, include_extras=True)
        except NameError as exc:
            raise TypeError(
                f"tool {self.name!r}: cannot resolve its type hints ({exc}); "
                "define the types they name at module level"
            ) from None
        self._wants_ctx = [
            p.name
            for p in self._signature.parameters.values()
            if _strip_annotated(self._hints.get(p.name)) is ToolContext
        ]
        try:
            self._parameters = _function_schema(self._signature, self._hints, arg_docs)
        except TypeError as exc:
            raise TypeError(f"tool {self.name!r}: {exc}") from None
        self.is_async = inspect.iscoroutinefunction(func)
        ToolDefinition(self.name, self.description, self._parameters)  # validates the name

    def __repr__(self) -> str:
        return f"FunctionTool({self.name!r})"

    @property
    def parameters(self) -> dict[str, Any]:
        return self._parameters

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> Any:
        kwargs = self._convert_arguments(arguments)
        for name in self._wants_ctx:
            kwargs[name] = ctx
        if self.is_async:
            return await self.func(**kwargs)
        result = await anyio.to_thread.run_sync(lambda: self.func(**kwargs), abandon_on_cancel=True)
        if inspect.isawaitable(result):
            result = await result
        return result

    def _convert_arguments(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        params = self._signature.parameters
        for key, value in arguments.items():
            if key not in params:
                raise TypeError(f"unexpected argument {key!r} for tool {self.name!r}")
            kwargs[key] = _coerce(value, self._hints.get(key, Any))
        missing = [
            p.name
            for p in params.values()
            if p.default is inspect.Parameter.empty
            and p.name not in kwargs
            and p.name not in self._wants_ctx
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if missing:
            raise TypeError(
                f"tool {self.name!r} is missing required argument(s): {', '.join(missing)}"
            )
        return kwargs


@typing.overload
def function_tool(func: Callable[..., Any], /) -> FunctionTool: ...


@typing.overload
def function_tool(
    *, name: str | None = None, description: str | None = None, timeout: float | None = None
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def function_tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Make a tool from a function: ``@function_tool`` or ``@function_tool(name="x")``.

    ``timeout`` (seconds, see :class:`FunctionTool`) overrides the runner's
    ``tool_timeout`` for this tool: ``@function_tool(timeout=120)``.
    """
    if func is None:
        return lambda f: FunctionTool(f, name=name, description=description, timeout=timeout)
    return FunctionTool(func, name=name, description=description, timeout=timeout)


def check_tool_timeout(value: float | None, field_name: str) -> float | None:
    """``value`` if it is a timeout in seconds (> 0, ``math.inf`` for none) or ``None``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(
            field_name, f"must be a number of seconds > 0 (math.inf: no limit), got {value!r}"
        )
    return float(value)


# ---------------------------------------------------------------- schema


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """First paragraph, and parameter descriptions: ``name: text`` lines under an
    ``Args:`` heading (Google style) or ``:param name: text`` lines (reST)."""
    paragraphs = doc.strip().split("\n\n")
    summary = " ".join(paragraphs[0].split()) if paragraphs and paragraphs[0] else ""
    if summary.lower().startswith(("args:", "arguments:", "parameters:", ":param")):
        summary = ""
    args: dict[str, str] = {}
    in_args = in_rest = False
    current: str | None = None
    for line in doc.splitlines():
        stripped = line.strip()
        rest = re.match(r"^:param\s+(?:[\w\[\], |.]+\s+)?(\*{0,2}\w+)\s*:\s*(.*)$", stripped)
        if rest:  # reST / Sphinx style
            in_args, in_rest = False, True
            current = rest.group(1).lstrip("*")
            args[current] = rest.group(2)
            continue
        if in_rest:
            if stripped and not stripped.startswith(":") and current:
                args[current] += " " + stripped
            else:
                current = None
            continue
        if stripped.lower() in ("args:", "arguments:", "parameters:"):
            in_args = True
            continue
        if in_args:
            if not stripped:
                current = None
                continue
            if stripped.endswith(":") and " " not in stripped:
                in_args = False
                continue
            match = re.match(r"^(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$", stripped)
            if match:
                current = match.group(1).lstrip("*")
                args[current] = match.group(3)
            elif current:
                args[current] += " " + stripped
    return summary, args


def _function_schema(
    signature: inspect.Signature, hints: dict[str, Any], arg_docs: dict[str, str]
) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        hint = hints.get(param.name, Any)
        if _strip_annotated(hint) is ToolContext:
            continue
        try:
            schema = json_schema_for(hint)
        except TypeError as exc:
            raise TypeError(f"parameter {param.name!r}: {exc}") from None
        if param.name in arg_docs:
            schema = {**schema, "description": arg_docs[param.name]}
        if param.default is not inspect.Parameter.empty and _jsonable(param.default):
            schema = {**schema, "default": _plain(param.default)}
        properties[param.name] = schema
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
    result: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    return result


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(_plain(value))
        return True
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _strip_annotated(hint: Any) -> Any:
    while typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    return hint


_PRIMITIVES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def json_schema_for(hint: Any) -> dict[str, Any]:
    """JSON schema for one type hint (str, int, float, bool, Optional, Literal, Enum,
    list, dict, dataclasses, pydantic models)."""
    if hint is Any or hint is inspect.Parameter.empty:
        return {}
    if hint in _PRIMITIVES:
        return {"type": _PRIMITIVES[hint]}
    if hint is type(None):
        return {"type": "null"}
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        schema = json_schema_for(args[0])
        for meta in args[1:]:
            if isinstance(meta, str):
                schema = {**schema, "description": meta}
        return schema
    if origin in (typing.Union, types.UnionType):
        non_null = [a for a in args if a is not type(None)]
        nullable = len(non_null) != len(args)
        if len(non_null) == 1:
            schema = json_schema_for(non_null[0])
        else:
            schema = {"anyOf": [json_schema_for(a) for a in non_null]}
        if nullable:
            schema = {**schema, "nullable": True}
        return schema
    if origin is typing.Literal:
        values = list(args)
        kinds = {type(v) for v in values}
        schema = {"enum": values}
        if len(kinds) == 1 and next(iter(kinds)) in _PRIMITIVES:
            schema = {"type": _PRIMITIVES[next(iter(kinds))], "enum": values}
        return schema
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [m.value for m in hint]
        kinds = {type(v) for v in values}
        if len(kinds) == 1 and next(iter(kinds)) in _PRIMITIVES:
            return {"type": _PRIMITIVES[next(iter(kinds))], "enum": values}
        return {"enum": values}
    if origin in (list, tuple, set, frozenset) or hint in (list, tuple, set, frozenset):
        item = args[0] if args and args[0] is not Ellipsis else Any
        return {"type": "array", "items": json_schema_for(item)}
    if origin is dict or hint is dict:
        mapping: dict[str, Any] = {"type": "object"}
        if len(args) == 2 and args[1] is not Any:
            mapping["additionalProperties"] = json_schema_for(args[1])
        return mapping
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        field_hints = typing.get_type_hints(hint)
        properties = {}
        required = []
        for f in dataclasses.fields(hint):
            properties[f.name] = json_schema_for(field_hints.get(f.name, Any))
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                required.append(f.name)
        schema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        doc = inspect.getdoc(hint)
        if doc and not doc.startswith(hint.__name__ + "("):
            schema["description"] = doc.split("\n\n")[0]
        return schema
    if hasattr(hint, "model_json_schema") and isinstance(hint, type):
        model: Any = hint  # a pydantic model class
        return _inline_definitions(dict(model.model_json_schema()), hint.__name__)
    raise TypeError(
        f"cannot describe type {hint!r} as a tool parameter (use str, int, float, bool, "
        "Optional, Literal, Enum, list, dict, a dataclass or a pydantic model)"
    )


def _inline_definitions(schema: dict[str, Any], model_name: str) -> dict[str, Any]:
    """A pydantic schema made self-contained: ``$ref``s to its ``$defs`` are inlined (the
    schema is nested inside the tool's parameters, where ``#/$defs/...`` would point
    nowhere, and Gemini takes no ``$ref``) and the generated ``title``s are dropped."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(v, seen) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[8:] in defs:
            name = ref[8:]
            if name in seen:
                raise TypeError(
                    f"cannot describe {model_name!r} as a tool parameter: {name!r} refers to itself"
                )
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**resolve(defs[name], (*seen, name)), **resolve(rest, seen)}
        return {
            k: resolve(v, seen)
            for k, v in node.items()
            if not (k == "title" and isinstance(v, str))
        }

    result: dict[str, Any] = resolve(schema, ())
    return result


def _coerce(value: Any, hint: Any) -> Any:
    """Turn decoded JSON into what the function's hint asks for (Enum, dataclass, model)."""
    if value is None or hint is Any:
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        return _coerce(value, args[0])
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg)
            except (TypeError, ValueError):
                continue
        return value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin in (list, set, frozenset, tuple) and isinstance(value, list) and args:
        items = [_coerce(v, args[0]) for v in value]
        return origin(items) if origin is not list else items
    if dataclasses.is_dataclass(hint) and isinstance(hint, type) and isinstance(value, dict):
        field_hints = typing.get_type_hints(hint)
        return hint(**{k: _coerce(v, field_hints.get(k, Any)) for k, v in value.items()})
    if hasattr(hint, "model_validate") and isinstance(hint, type):
        model: Any = hint  # a pydantic model class
        return model.model_validate(value)
    return value


def encode_tool_output(result: Any) -> str:
    """Tool results travel as JSON text; strings that are not JSON are sent as-is.

    The text is always strict JSON: a float that is not finite (which Python would
    write as the bare token ``NaN`` or ``Infinity``) is sent as the string
    ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``, the spelling proto3 JSON uses for
    such values; anything else JSON has no type for is sent as its ``str()``.
    """
    if isinstance(result, str):
        return result
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    elif hasattr(result, "model_dump"):
        result = result.model_dump(mode="json")
    try:
        return json.dumps(result, default=str, allow_nan=False)
    except (TypeError, ValueError):
        pass
    try:  # a NaN or an infinity somewhere (or a circular reference)
        return json.dumps(_finite(result), default=str, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(str(result))


def _finite(value: Any, depth: int = 0) -> Any:
    """``value`` with every non-finite float replaced by its proto3 JSON string."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if depth > 100:
        raise RecursionError("tool result nested too deeply")
    if isinstance(value, dict):
        return {key: _finite(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item, depth + 1) for item in value]
    return value


async def maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value
