"""Playback accounting: the worked example of ``sansio/telephony/playback.py`` and its laws.

The laws are checked by hypothesis against ``FakeCarrier`` (``tests/telephony_wire.py``),
which plays our audio, sends marks back when their audio has played, and at a clear
does what each carrier documents (Twilio and Telnyx send waiting marks back, Plivo
does not). For any interleaving of sending, playing, delivering echoes late and
clearing:

* ``heard_ms`` never goes back and never passes ``sent_ms``;
* ``heard_ms`` never passes what the carrier really played, nor does any
  response's ``response_heard_ms`` pass what was really played of it;
* echoes that count come in the order the marks were placed;
* once everything has played and every echo is in, all that was sent is heard.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from adk_realtime.sansio.errors import ConfigError, LocalProtocolError
from adk_realtime.sansio.telephony.events import MarkPlayed
from adk_realtime.sansio.telephony.playback import PlaybackLedger
from tests.telephony_wire import WIRES, FakeCarrier, drain, sent, started


def test_the_worked_example_of_the_module_docstring() -> None:
    stream = started("twilio", mark_every_frames=5)
    wire = WIRES["twilio"]

    def echo(position: int) -> MarkPlayed:
        name = next(m for m in names if m.endswith(f"@{position}ms"))
        stream.receive_data(json.dumps(wire.echo(name)), 0.0)
        (event,) = drain(stream)
        assert isinstance(event, MarkPlayed)
        return event

    stream.begin_response("r1")
    stream.send_audio(b"\x01" * 2000)
    stream.flush()
    names = [wire.mark_name(m) for m in sent(stream) if m["event"] == "mark"]
    assert [n.split("@")[1] for n in names] == ["100ms", "200ms", "260ms"]
    assert (stream.sent_ms, stream.heard_ms, stream.ahead_ms) == (260, 0, 260)
    assert echo(100) == MarkPlayed(names[0], 100, heard=True)
    assert (stream.heard_ms, stream.ahead_ms) == (100, 160)
    stream.begin_response("r2")
    stream.send_audio(b"\x02" * 2400)
    names += [wire.mark_name(m) for m in sent(stream) if m["event"] == "mark"]
    assert stream.sent_ms == 560
    echo(200)
    assert stream.heard_ms == 200 and stream.response_heard_ms("r1") == 200
    stream.clear()
    assert (stream.dropped_ms, stream.sent_ms, stream.heard_ms) == (360, 200, 200)
    assert (stream.response_sent_ms("r1"), stream.response_sent_ms("r2")) == (200, 0)
    for position in (260, 360, 460, 560):  # Twilio sends the waiting marks back
        assert echo(position) == MarkPlayed(
            next(n for n in names if n.endswith(f"@{position}ms")), position, heard=False
        )
    assert stream.heard_ms == 200
    stream.begin_response("r3")
    stream.send_audio(b"\x03" * 800)
    names += [wire.mark_name(m) for m in sent(stream) if m["event"] == "mark"]
    echo(300)
    assert stream.heard_ms == 300
    assert [stream.response_heard_ms(r) for r in ("r1", "r2", "r3")] == [200, 0, 100]


def test_the_ledger_alone() -> None:
    ledger = PlaybackLedger(max_pending_marks=2, max_responses=2)
    ledger.begin_response("a")
    ledger.add_audio(40)
    assert ledger.place_mark("m1") == 40
    ledger.add_audio(20)
    assert ledger.place_mark("m1") == 60  # a repeated name: matched first in, first out
    assert not ledger.has_room_for_mark()
    with pytest.raises(LocalProtocolError):
        ledger.place_mark("m3")
    assert ledger.mark_echoed("m1") == (40, True)
    assert ledger.mark_echoed("m1") == (60, True)
    assert ledger.mark_echoed("m1") == (None, False)
    assert (ledger.heard_ms, ledger.response_heard_ms("a")) == (60, 60)
    ledger.begin_response("b")
    ledger.begin_response("c")  # only two are remembered: "a" is forgotten
    assert not ledger.knows_response("a") and ledger.response_sent_ms("a") == 0
    assert "heard_ms=60" in repr(ledger)


def test_the_cleared_list_is_bounded_and_a_forgotten_echo_reads_as_unknown() -> None:
    ledger = PlaybackLedger(max_pending_marks=2)
    for round_ in range(2):
        ledger.add_audio(20)
        ledger.place_mark(f"r{round_}")
        ledger.clear()
    ledger.add_audio(20)
    ledger.place_mark("r2")
    ledger.clear()  # three cleared, two remembered
    assert ledger.mark_echoed("r0") == (None, False)
    assert ledger.mark_echoed("r2") == (20, False)  # each clear cut the timeline back to 0
    assert ledger.heard_ms == 0 and ledger.dropped_ms == 60


@pytest.mark.parametrize("value", [0, -1, 2.0, "3", True])
def test_ledger_bounds_are_positive_ints(value: Any) -> None:
    with pytest.raises(ConfigError, match="max_pending_marks"):
        PlaybackLedger(max_pending_marks=value)


# -- the laws ----------------------------------------------------------------------

OPERATIONS = ["audio", "flush", "begin", "clear", "mark", "play", "deliver"]
# (operation, amount, whether the driver then sends what was queued to the carrier)
operations = st.lists(
    st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 1200), st.booleans()), max_size=40
)
# A flushed mark's echo arriving after new audio was queued (the case a ledger that
# counted it would get wrong), as a fixed example.
LATE_FLUSHED_ECHO = [
    ("audio", 800, True),
    ("clear", 0, True),
    ("audio", 800, False),
    ("deliver", 3, False),
]

# A user's mark echoed after the clear (on its way before the carrier saw it), when a
# mark of the same name was placed after the clear: the echo is the older mark's.
REUSED_NAME_ECHO = [
    ("mark", 0, True),
    ("clear", 0, False),
    ("audio", 160, False),
    ("mark", 0, False),
    ("deliver", 1, False),
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(carrier="twilio", mark_every=1, ops=LATE_FLUSHED_ECHO)
@example(carrier="plivo", mark_every=1, ops=REUSED_NAME_ECHO)
@given(
    carrier=st.sampled_from(sorted(WIRES)),
    mark_every=st.integers(1, 8),
    ops=operations,
)
def test_heard_is_monotonic_bounded_by_sent_and_by_what_was_played(
    carrier: str, mark_every: int, ops: list[tuple[str, int, bool]]
) -> None:
    stream = started(carrier, mark_every_frames=mark_every)
    fake = FakeCarrier(carrier, stream)
    responses: list[str] = []
    last_heard = 0
    last_counted = -1
    for op, amount, collect in ops:
        if op == "audio":
            tag = len(responses)  # the first byte of every frame says whose it is
            stream.send_audio(bytes([tag]) * max(1, amount))
        elif op == "flush":
            stream.flush()
        elif op == "begin":
            responses.append(f"r{len(responses) + 1}")
            stream.begin_response(responses[-1])
        elif op == "clear":
            stream.clear()
            last_counted = -1  # the timeline is cut: new marks start again from heard_ms
        elif op == "mark":
            stream.send_mark(f"user-{len(responses)}")
        elif op == "play":
            fake.play(amount % 401)
        else:
            fake.deliver(amount % 7)
        if collect:
            fake.take(sent(stream))
        for event in drain(stream):
            if isinstance(event, MarkPlayed) and event.heard:
                assert event.position_ms is not None and event.position_ms >= last_counted
                last_counted = event.position_ms
        check_laws(stream, fake, responses, last_heard)
        last_heard = stream.heard_ms
    # Let everything play out: all that was sent is then heard.
    stream.flush()
    fake.take(sent(stream))
    fake.play(10**7)
    fake.deliver()
    drain(stream)
    check_laws(stream, fake, responses, last_heard)
    assert stream.heard_ms == stream.sent_ms and stream.ahead_ms == 0
    for tag, key in enumerate(responses, start=1):
        assert stream.response_heard_ms(key) == stream.response_sent_ms(key)
        assert stream.response_heard_ms(key) <= fake.played_by_tag.get(tag, 0)


def check_laws(stream: Any, fake: FakeCarrier, responses: list[str], last_heard: int) -> None:
    assert stream.heard_ms >= last_heard, "heard_ms went back"
    assert stream.heard_ms <= stream.sent_ms, "heard_ms passed sent_ms"
    assert stream.heard_ms <= fake.played_ms, "heard_ms passed what the carrier played"
    for tag, key in enumerate(responses, start=1):
        heard = stream.response_heard_ms(key)
        assert 0 <= heard <= stream.response_sent_ms(key)
        assert heard <= fake.played_by_tag.get(tag, 0), f"{key}: heard more than was played"
