"""Any sequence of record operations leaves a consistent history (hypothesis).

Operations: user text, user audio with a transcript (set whole, or in deltas),
assistant deltas anchored at audio positions, truncation, function calls and
outputs (also for calls that do not exist), deletion, renaming and inserting
before an item, all under limits small enough to evict all the time. After every
operation: the snapshot is a valid ``History`` (unique ids, every output after its
call), items keep their relative order, eviction took the oldest first (a call
with its outputs) and the bounds hold unless the item in progress is the oldest,
the character count is exact, and the JSON round trip is exact.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from adk_realtime.sansio.history import (
    ConversationRecord,
    History,
    HistoryFunctionCall,
    HistoryFunctionOutput,
    HistoryItem,
    HistoryLimits,
    HistoryMessage,
)

IDS = [f"i{n}" for n in range(12)]
CALL_IDS = ["c0", "c1", "c2", "c3"]
words = st.text(alphabet="ab ", max_size=12)

ops = st.one_of(
    st.tuples(st.just("user_text"), st.sampled_from(IDS), words),
    st.tuples(st.just("user_audio"), st.sampled_from(IDS), words),
    st.tuples(st.just("transcript"), st.sampled_from(IDS), words),
    st.tuples(st.just("assistant"), st.sampled_from(IDS), st.booleans()),
    st.tuples(st.just("delta"), st.sampled_from(IDS), words, st.integers(0, 4000)),
    st.tuples(st.just("cut"), st.sampled_from(IDS), st.integers(0, 5000), st.integers(0, 5000)),
    st.tuples(st.just("call"), st.sampled_from(IDS), st.sampled_from(CALL_IDS), words),
    st.tuples(st.just("output"), st.sampled_from(IDS), st.sampled_from(CALL_IDS), words),
    st.tuples(st.just("delete"), st.sampled_from(IDS)),
    st.tuples(st.just("rename"), st.sampled_from(IDS), st.sampled_from(IDS)),
    st.tuples(st.just("before"), st.sampled_from(IDS), st.sampled_from(IDS), words),
)


def size(item: HistoryItem) -> int:
    if isinstance(item, HistoryMessage):
        return len(item.text)
    if isinstance(item, HistoryFunctionCall):
        return len(item.name) + len(item.arguments)
    return len(item.output)


def apply(record: ConversationRecord, op: tuple[Any, ...]) -> None:
    kind, item_id = op[0], op[1]
    if kind == "user_text":
        record.put(HistoryMessage(item_id, "user", op[2]))
    elif kind == "user_audio":
        record.put(HistoryMessage(item_id, "user", "", spoken=True))
        record.append_text(item_id, op[2])
    elif kind == "transcript":
        record.set_text(item_id, op[2])
    elif kind == "assistant":
        record.put(HistoryMessage(item_id, "assistant", "", spoken=op[2]))
    elif kind == "delta":
        record.append_text(item_id, op[2], audio_ms=op[3])
    elif kind == "cut":
        record.cut(item_id, op[2], op[3])
    elif kind == "call":
        record.put(HistoryFunctionCall(item_id, op[2], "tool", op[3]))
    elif kind == "output":
        record.put(HistoryFunctionOutput(item_id, op[2], op[3]))
    elif kind == "delete":
        record.delete(item_id)
    elif kind == "rename":
        record.rename(item_id, op[2])
    else:
        record.put(HistoryMessage(op[2], "user", op[3]), before=item_id)


def touched(op: tuple[Any, ...], before: History) -> str | None:
    """The item an operation writes (it must not be evicted), if it writes one."""
    kind, item_id = op[0], op[1]
    old = next((i for i in before if i.item_id == item_id), None)
    if kind in ("user_text", "user_audio", "assistant"):
        return str(item_id)
    if kind == "before":
        return str(op[2])
    if kind in ("delta", "transcript"):
        return str(item_id) if isinstance(old, HistoryMessage) and op[2] else None
    if kind == "call":
        holder = next(
            (i for i in before if isinstance(i, HistoryFunctionCall) and i.call_id == op[2]), None
        )
        return str(item_id) if holder is None or holder.item_id == item_id else None
    if kind == "output":
        holder = next(
            (i for i in before if isinstance(i, HistoryFunctionCall) and i.call_id == op[2]), None
        )
        return str(item_id) if holder is not None and holder.item_id != item_id else None
    return None


def renaming(before: History, after: History, op: tuple[Any, ...]) -> dict[str, str]:
    """``{old: new}`` when the operation renamed an item."""
    ids_before = {item.item_id for item in before}
    ids_after = {item.item_id for item in after}
    renamed = op[0] == "rename" and op[2] not in ids_before and op[2] in ids_after
    return {op[1]: op[2]} if renamed else {}


def survives(old: HistoryItem, after: History, rename: dict[str, str]) -> bool:
    """True if ``old`` is still there (an id given to another kind of item, or to
    another call's item, is a new item)."""
    new = next((i for i in after if i.item_id == rename.get(old.item_id, old.item_id)), None)
    return (
        new is not None
        and type(new) is type(old)
        and getattr(new, "call_id", None) == getattr(old, "call_id", None)
    )


def check_eviction(
    before: History, after: History, op: tuple[Any, ...], record: ConversationRecord
) -> None:
    """What left without being deleted or replaced was the oldest (a call with its outputs)."""
    rename = renaming(before, after, op)
    gone = [item for item in before if not survives(item, after, rename)]
    # The operation's own target leaves when deleted or replaced by another kind of
    # item, a call with its outputs; the rest left by eviction.
    target_id = op[2] if op[0] == "before" else op[1]
    target = next((i for i in before if i.item_id == target_id), None)
    if op[0] != "rename" and target in gone:
        call_id = target.call_id if isinstance(target, HistoryFunctionCall) else None
        gone = [
            i
            for i in gone
            if i is not target
            and not (isinstance(i, HistoryFunctionOutput) and i.call_id == call_id)
        ]
    evicted_calls = {i.call_id for i in gone if isinstance(i, HistoryFunctionCall)}
    positions = {item.item_id: n for n, item in enumerate(before)}
    survivors = [positions[i.item_id] for i in before if survives(i, after, rename)]
    for item in gone:
        if isinstance(item, HistoryFunctionOutput):
            assert item.call_id in evicted_calls, "an output left without its call"
        else:
            assert all(positions[item.item_id] < p for p in survivors), "a newer item left first"
    assert record.evicted >= len(gone)


def check(record: ConversationRecord, limits: HistoryLimits) -> History:
    history = record.snapshot()  # building it checks ids, call ids, outputs after calls
    assert record.chars == sum(size(item) for item in history)
    over = len(history) > limits.max_items or record.chars > limits.max_chars
    if over:
        oldest = history[0]
        group = {oldest.item_id}
        if isinstance(oldest, HistoryFunctionCall):
            group |= {
                i.item_id
                for i in history
                if isinstance(i, HistoryFunctionOutput) and i.call_id == oldest.call_id
            }
        assert record.active_item_id in group, "over the bounds with nothing in progress"
    for item in history:
        if isinstance(item, HistoryMessage) and item.truncated:
            assert item.role == "assistant"
    assert History.from_json(history.to_json()) == history
    assert History.from_list(history.to_list()) == history
    return history


def check_order(before: History, after: History, op: tuple[Any, ...]) -> None:
    """Items present before and after an operation keep their relative order."""
    rename = renaming(before, after, op)
    common = [rename.get(i.item_id, i.item_id) for i in before if survives(i, after, rename)]
    assert common == [i.item_id for i in after if i.item_id in common]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(ops, min_size=10, max_size=80),
    max_items=st.integers(1, 8),
    max_chars=st.integers(1, 200),
)
def test_any_sequence_of_operations_keeps_the_history_consistent(
    steps: list[tuple[Any, ...]], max_items: int, max_chars: int
) -> None:
    limits = HistoryLimits(max_items, max_chars)
    record = ConversationRecord(limits)
    before = check(record, limits)
    for op in steps:
        apply(record, op)
        after = check(record, limits)
        check_order(before, after, op)
        check_eviction(before, after, op, record)
        item_id = touched(op, before)
        if item_id is not None:
            assert item_id in {i.item_id for i in after}, "the item in progress was evicted"
        if op[0] in ("delta", "transcript", "cut"):
            # Text for a message already cut is refused; a new cut only shortens.
            old = next((i for i in before if i.item_id == op[1]), None)
            new = next((i for i in after if i.item_id == op[1]), None)
            if isinstance(old, HistoryMessage) and old.truncated and new is not None:
                assert isinstance(new, HistoryMessage) and old.text.startswith(new.text)
        before = after
