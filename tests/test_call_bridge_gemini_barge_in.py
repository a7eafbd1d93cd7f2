"""Gemini barge-in on a phone call: the bridge, the Twilio caller and the simulator.

(a) The caller talks over the answer while it is being generated: Gemini says
``interrupted`` and then answers in a new generation with no ``turnComplete`` between;
the reply is a new turn (its own id) and the caller hears it in full.
(b) The answer was generated whole (``turnComplete`` came) but is still playing out at
the carrier when the caller talks: Gemini has nothing to interrupt and says nothing;
the caller's speech (its input transcription) is the barge-in, the carrier is cleared.
In both, the runner's ``audio_played`` is what the caller's marks confirmed.
"""

from __future__ import annotations

import anyio
import pytest

from adk_realtime.agent_events import AudioInterrupted
from adk_realtime.drivers.simulator import run_simulator
from tests.carrier_peer import confirmed_frames, heard_text, ulaw_speech
from tests.loop_lag import LoopLag, watch_loop_lag
from tests.test_call_bridge import (
    MARK_HOPS,
    RecordingHub,
    call,
    gemini_model,
    get_forecast,
    phone_agent,
)

pytestmark = pytest.mark.anyio

FORECAST = "Here is the forecast: sunny all week with a light breeze from the west."


async def talk_over_the_answer(
    pace: float,
) -> tuple[AudioInterrupted, str, tuple[int, int], int, LoopLag]:
    """Ask for the forecast, talk over it ("Stop."), hear the reply; returns the runner's
    interruption, what the caller heard after the clear, the ms its marks confirmed when
    the runner acted and at the clear, how many interruptions the call counted, and how
    late the loop was meanwhile."""
    with anyio.fail_after(30):
        async with watch_loop_lag() as lag:
            outcome = await _talk_over_the_answer(pace)
        return (*outcome, lag)


async def _talk_over_the_answer(pace: float) -> tuple[AudioInterrupted, str, tuple[int, int], int]:
    async with run_simulator(hub=RecordingHub(pace=pace)) as server:
        model = gemini_model(server.port)
        async with call(model, phone_agent(model, get_forecast)) as c:
            await c.caller.say(ulaw_speech("Forecast for Paris?"))
            await c.caller.wait_for(lambda r: c.caller.heard_ms() >= 600)
            await c.caller.say(ulaw_speech("Stop."))
            record = c.caller.record
            await c.caller.wait_for(lambda r: bool(r.clears))
            cleared_at = record.clears[0]
            answer_frames = sum(1 for f in record.frames if f.arrived <= cleared_at)
            done = c.handler.finished_transcripts
            await c.handler.wait_for(lambda: "You said: Stop." in done)
            reply_frames = len(ulaw_speech("You said: Stop.")) // 160
            await c.caller.wait_for(
                lambda r: (
                    len(r.frames) >= answer_frames + reply_frames
                    and any(m.played and m.frames_before == len(r.frames) for m in r.marks)
                )
            )
            await c.caller.stop()
        ((acted_at, interrupted),) = (
            (t, e) for t, e in c.handler.seen if isinstance(e, AudioInterrupted)
        )
        after = heard_text(record.heard(answer_frames))
        # What the marks had confirmed when the runner acted, and when the clear arrived (a
        # mark the caller echoed in between was on the wire when the runner read its books).
        confirmed = (
            20 * confirmed_frames(record, acted_at),
            20 * confirmed_frames(record, cleared_at),
        )
        return interrupted, after, confirmed, c.summary[0].interruptions


def assert_played_is_confirmed(
    interrupted: AudioInterrupted, confirmed: tuple[int, int], lag: LoopLag
) -> None:
    at_interruption, at_clear = confirmed
    assert at_interruption > 0
    # A frame either way, plus the frames a late loop let pile up on the way: a mark
    # echo waits for the caller's send, the bridge's read and the runner's books.
    slack = 20 + lag.frames(hops=MARK_HOPS)
    assert at_interruption - slack <= interrupted.played_ms <= at_clear + slack


async def test_the_reply_after_an_interruption_is_heard() -> None:
    interrupted, after, confirmed, count, lag = await talk_over_the_answer(pace=1.0)
    assert after == "You said: Stop."
    assert_played_is_confirmed(interrupted, confirmed, lag)
    assert count == 1


async def test_talking_over_an_answer_generated_whole_interrupts_its_playout() -> None:
    interrupted, after, confirmed, count, lag = await talk_over_the_answer(pace=0)
    assert after == "You said: Stop."
    assert_played_is_confirmed(interrupted, confirmed, lag)
    assert count == 1
