"""Every state machine in sansio/ speaks the one contract, as docs/DESIGN-NOTES.md tables it.

The table in the design notes is the source: each row names a class, its module
and its verbs. This test holds the classes to the rows (the verbs exist, with the
contract's parameters) and the rows to the code (every class in ``sansio`` that
has a contract verb is in the table, and no retired verb survives anywhere).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTES = (ROOT / "docs" / "DESIGN-NOTES.md").read_text()

# verb -> the parameters it takes after ``self``; "*" is the received data, named for
# what it is (``data``, ``packet``...)
VERBS: dict[str, tuple[str, ...]] = {
    "receive_data": ("*", "now"),
    "receive_datagram": ("*", "addr", "now"),
    "data_to_send": (),
    "datagrams_to_send": ("now",),
    "next_event": (),
    "get_timer": (),
    "handle_timer": ("now",),
}
# Names the contract replaced; none may come back in sansio/ or be called above it.
RETIRED = {
    "receive_message", "messages_to_send", "packets_to_send", "receive_packet",
    "encode_audio", "initial_messages",
}  # fmt: skip


def _rows() -> list[tuple[str, str, list[str]]]:
    section = NOTES.split("## The sans-IO contract", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("`"):
            continue
        name = cells[0].strip("`")
        module = cells[1].strip("`")
        verbs = re.findall(r"`(\w+)\(", " ".join(cells[2:]))
        rows.append((name, module, verbs))
    return rows


ROWS = _rows()


def test_the_table_lists_the_machines() -> None:
    assert len(ROWS) >= 15, "the contract table in docs/DESIGN-NOTES.md went missing"


@pytest.mark.parametrize(("name", "module", "verbs"), ROWS, ids=[r[0] for r in ROWS])
def test_each_machine_speaks_the_verbs_its_row_names(
    name: str, module: str, verbs: list[str]
) -> None:
    cls = getattr(importlib.import_module(module), name)
    assert {"receive_data", "receive_datagram", "data_to_send"} & set(verbs), f"{name}: no I/O verb"
    for verb in verbs:
        if verb not in VERBS:
            continue  # a command: any plain method
        method = getattr(cls, verb, None)
        assert callable(method), f"{name}.{verb} is missing"
        params = [p for p in inspect.signature(method).parameters if p != "self"]
        expected = VERBS[verb]
        shape = ["*" if e == "*" else p for e, p in zip(expected, params, strict=False)]
        assert shape == list(expected), f"{name}.{verb}{tuple(params)}"
    # The row is the whole truth: a contract verb the class has is in its row.
    unlisted = [v for v in VERBS if callable(getattr(cls, v, None)) and v not in verbs]
    assert unlisted == [], f"{name} has {unlisted} but its row does not say so"
    # One input verb and one output verb per transport kind, never both kinds.
    assert not (
        {"receive_data", "data_to_send"} & set(verbs)
        and {"receive_datagram", "datagrams_to_send"} & set(verbs)
    ), name
    assert ("get_timer" in verbs) == ("handle_timer" in verbs), f"{name}: timers come as a pair"


def _sansio_classes_with_verbs() -> dict[str, str]:
    """Every public class defined in sansio/ that has a contract verb (inherited ones too)."""
    found = {}
    for path in sorted((ROOT / "sansio").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        module_name = ".".join(["adk_realtime", *parts]).removesuffix(".__init__")
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and obj.__module__ == module_name and not name.startswith("_"):
                if any(callable(getattr(obj, verb, None)) for verb in VERBS):
                    found[name] = module_name
    return found


def test_every_machine_in_sansio_is_in_the_table() -> None:
    listed = {name for name, _m, _v in ROWS}
    missing = {n: m for n, m in _sansio_classes_with_verbs().items() if n not in listed}
    assert missing == {}


def test_no_retired_verb_survives() -> None:
    hits = []
    for layer in ("sansio", "drivers", "agent"):
        for path in (ROOT / layer).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                name = None
                if isinstance(node, ast.FunctionDef):
                    name = node.name
                elif isinstance(node, ast.Attribute):
                    name = node.attr
                if name in RETIRED:
                    hits.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert hits == []
