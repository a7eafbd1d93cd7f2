"""Scenario files: YAML or JSON, checked field by field, errors naming the line and the field.

    scenario = load_scenario("tests/data/weather.yaml")    # adk_realtime.sansio.sim Scenario
    adk-realtime sim --scenario tests/data/weather.yaml

The model and its meaning are in :mod:`adk_realtime.sansio.sim.scenario`; the JSON Schema of
the format ships next to this module (:func:`scenario_schema`), for editors and CI. A bad file
raises :class:`ScenarioFileError`: one message, ``FILE:LINE: FIELD: what is wrong``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from adk_realtime.sansio.sim.scenario import Scenario, ScenarioError, parse_scenario

__all__ = ["ScenarioFileError", "load_scenario", "parse_scenario_text", "scenario_schema"]


class ScenarioFileError(ScenarioError):
    """A scenario file is malformed: ``source``, ``line`` (1-based, 0 if unknown), ``field``."""

    def __init__(self, source: str, line: int, field: str, message: str) -> None:
        super().__init__(field, message)
        self.source, self.line, self.message = source, line, message
        where = f"{source}:{line}" if line else source
        self.args = (f"{where}: {field}: {message}",)


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files (``scenario.schema.json`` in the package)."""
    text = resources.files("adk_realtime").joinpath("scenario.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file (``.json``: JSON; anything else: YAML, which needs PyYAML)."""
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioFileError(str(p), 0, "(file)", f"cannot read it ({exc})") from None
    return parse_scenario_text(text, str(p), json_format=p.suffix.lower() == ".json")


def parse_scenario_text(text: str, source: str = "<scenario>", *, json_format: bool) -> Scenario:
    """A scenario from the text of a file named ``source``; :class:`ScenarioFileError` if bad."""
    lines: dict[str, int] = {}
    if json_format:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioFileError(source, exc.lineno, "(syntax)", exc.msg) from None
        except RecursionError:
            raise ScenarioFileError(source, 0, "(syntax)", "nested too deeply") from None
        lines = _yaml_lines(text)  # JSON is YAML: the same walk gives the lines, when available
    else:
        data, lines = _load_yaml(text, source)
    try:
        return parse_scenario(data)
    except ScenarioError as exc:
        message = str(exc).removeprefix(f"{exc.field}: ")
        raise ScenarioFileError(source, _line_of(exc.field, lines), exc.field, message) from None


def _load_yaml(text: str, source: str) -> tuple[Any, dict[str, int]]:
    try:
        import yaml  # lazy: YAML support is optional (PyYAML)
    except ImportError:
        msg = "YAML needs PyYAML (pip install pyyaml); or write the scenario as .json"
        raise ScenarioFileError(source, 0, "(file)", msg) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise ScenarioFileError(source, line, "(syntax)", str(exc.problem or exc)) from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise ScenarioFileError(source, 0, "(syntax)", str(exc) or type(exc).__name__) from None
    lines: dict[str, int] = {}
    if node is not None:
        _walk(node, "", lines)
    return data, lines


def _yaml_lines(text: str) -> dict[str, int]:
    try:
        import yaml  # lazy: only for line numbers
    except ImportError:
        return {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError, ValueError):
        return {}
    lines: dict[str, int] = {}
    if node is not None:
        _walk(node, "", lines)
    return lines


def _walk(node: Any, path: str, lines: dict[str, int], depth: int = 0) -> None:
    """Record the line of every value (and key) under ``node`` by its field path."""
    lines.setdefault(path or "(scenario)", node.start_mark.line + 1)
    if depth > 50:
        return
    value = node.value
    if isinstance(value, list):
        for n, child in enumerate(value):
            if isinstance(child, tuple):  # a mapping's (key, value)
                key_node, value_node = child
                key = str(key_node.value)
                where = f"{path}.{key}" if path else key
                lines.setdefault(where, key_node.start_mark.line + 1)
                _walk(value_node, where, lines, depth + 1)
            else:
                _walk(child, f"{path}[{n}]", lines, depth + 1)


def _line_of(field: str, lines: dict[str, int]) -> int:
    """The line of ``field``, or of its nearest enclosing field that has one."""
    path = field
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return lines.get("(scenario)", 0)
