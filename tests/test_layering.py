"""Provider rules live in the sans-IO protocols, not above them.

What differs between OpenAI and Gemini is known by the protocol objects
(``protocol.capabilities`` and their commands). The layers above (``agent/`` and
``drivers/``) may carry a provider name only as a label for logs and repr: they
never compare it with a provider's name, and never probe a protocol object with
``hasattr``/``getattr`` (the typed ``RealtimeProtocol`` interface says what is
there) or ask for its concrete class.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("agent", "drivers")
PROVIDER_NAMES = frozenset({"openai", "gemini", "azure", "vertex"})
PROTOCOL_CLASSES = frozenset({"OpenAIProtocol", "GeminiProtocol"})

# The CLI's --provider option names which model class to build: parsing the
# user's choice, not a rule about what a provider can do.
ALLOWED_SUBJECTS = frozenset({"args.provider"})


def _is_provider_literal(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.lower() in PROVIDER_NAMES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_is_provider_literal(e) for e in node.elts)
    return False


def _is_provider_label(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "provider") or (
        isinstance(node, ast.Name) and node.id == "provider"
    )


def _names_a_protocol(node: ast.expr) -> bool:
    return "proto" in ast.unparse(node).lower()


def provider_rules(source: str, filename: str = "<source>") -> list[str]:
    """Every provider rule in ``source``: ``file:line: what``."""
    found: list[str] = []

    def flag(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', 0)}: {what}")

    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            for left, right in itertools.pairwise(sides):
                for subject, other in ((left, right), (right, left)):
                    if ast.unparse(subject) in ALLOWED_SUBJECTS:
                        continue
                    literal = isinstance(other, ast.Constant) and isinstance(other.value, str)
                    if _is_provider_literal(other) or (_is_provider_label(subject) and literal):
                        flag(node, f"provider test `{ast.unparse(node)}`")
                        break
        elif isinstance(node, ast.match_case) and isinstance(node.pattern, ast.MatchValue):
            if _is_provider_literal(node.pattern.value):
                flag(node.pattern, f"provider test `case {ast.unparse(node.pattern)}`")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name, args = node.func.id, node.args
            if name in ("hasattr", "getattr") and args and _names_a_protocol(args[0]):
                flag(node, f"probe of a protocol object `{ast.unparse(node)}`")
            if name == "isinstance" and len(args) == 2:
                classes = {n.id for n in ast.walk(args[1]) if isinstance(n, ast.Name)}
                if classes & PROTOCOL_CLASSES:
                    flag(node, f"test of a protocol's class `{ast.unparse(node)}`")
    return found


def test_no_provider_rules_above_the_core() -> None:
    found: list[str] = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            found += provider_rules(path.read_text(), str(path.relative_to(ROOT)))
    assert found == [], "provider rules above sansio/:\n" + "\n".join(found)


def test_the_scan_finds_each_kind_of_provider_rule() -> None:
    # The check above must be able to fail: each of these is one rule.
    rules = {
        'if session.provider == "openai": pass': 1,
        'if "gemini" != model.provider: pass': 1,
        'x = provider in ("openai", "gemini")': 1,
        'if self.provider == "azure-openai": pass': 1,
        'match kind:\n    case "gemini": pass': 1,
        'hasattr(self.protocol, "activity_start")': 1,
        'getattr(proto, "resumable", False)': 1,
        "isinstance(session.protocol, GeminiProtocol)": 1,
        # Labels and unrelated strings are fine.
        'log.info("session %s", self.provider)': 0,
        'if args.provider == "gemini": pass': 0,
        'if kind == "audio": pass': 0,
        'getattr(runner, "model", None)': 0,
    }
    for source, count in rules.items():
        assert len(provider_rules(source)) == count, source


def test_every_event_field_has_a_real_type() -> None:
    # The events module imports config directly (there is no cycle to dodge), so every
    # annotation resolves; SessionUpdate.config is a RealtimeConfig, not Any.
    import dataclasses
    import typing

    from adk_realtime.sansio import events as ev
    from adk_realtime.sansio.config import RealtimeConfig

    assert typing.get_type_hints(ev.SessionUpdate)["config"] is RealtimeConfig
    for name in dir(ev):
        cls = getattr(ev, name)
        if isinstance(cls, type) and dataclasses.is_dataclass(cls):
            hints = typing.get_type_hints(cls)
            assert all(hint is not typing.Any for hint in hints.values()), name
