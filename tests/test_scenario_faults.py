"""Each fault on cue, against our own library over real loopback sockets (the simulator in
the plugin's background thread), under asyncio and trio: what the app sees and how soon.

| fault | OpenAI (ours) | Gemini (ours) |
|---|---|---|
| drop | SessionResumed (rollover) | SessionResumed (resumption handle) |
| stall | ConnectionClosed(1011, "pong timeout") within keepalive interval + timeout | same |
| close | ConnectionClosed(code, reason) | same |
| session_end | GoAway(0) (its session_expired error), then SessionResumed (rollover) | GoAway, then SessionResumed |
| go_away | (OpenAI has none: as session_end) | GoAway(time_left), then SessionResumed |
| malformed | Error, and the response goes on to ResponseDone | same (TurnComplete) |
| latency / first_audio_ms | the first audio is that late | same |
| error turn | Error(rate_limit_exceeded), ResponseDone(failed) | ConnectionClosed(1011) |
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from adk_realtime import (
    ConnectionClosed,
    GeminiLiveBackend,
    GeminiRealtimeModel,
    OpenAIRealtimeModel,
    RealtimeConfig,
    SessionOptions,
)
from adk_realtime.sansio import events as ev
from adk_realtime.testing import RealtimeSimulator

pytestmark = pytest.mark.anyio

HELLO = "Hello there, this is a scripted answer."


@pytest.fixture
def sim() -> Iterator[RealtimeSimulator]:
    with RealtimeSimulator(tls=False, pace=0.5) as simulator:
        yield simulator


def _model(sim: RealtimeSimulator, provider: str) -> OpenAIRealtimeModel | GeminiRealtimeModel:
    if provider == "openai":
        return OpenAIRealtimeModel("sk-test", base_url=sim.openai_base_url)
    return GeminiRealtimeModel(GeminiLiveBackend.Public("k", base_url=sim.gemini_ws_url))


async def _ask(session: Any, text: str) -> None:
    await session.send_text(text)
    await session.create_response()


async def _events_until(session: Any, *kinds: type, limit: float = 10.0) -> list[Any]:
    """Events until one of ``kinds`` (included); bounded."""
    seen: list[Any] = []
    with anyio.fail_after(limit):
        async for event in session:
            seen.append(event)
            if isinstance(event, kinds):
                return seen
    return seen


def _done(provider: str) -> type:
    return ev.ResponseDone if provider == "openai" else ev.TurnComplete


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_drop_mid_response_is_resumed_and_the_script_goes_on(
    anyio_backend: str, sim: RealtimeSimulator, provider: str
) -> None:
    fault = {"kind": "drop", "at": "mid_response", "after_ms": 300}
    sim.play({"turns": [{"say": HELLO, "fault": fault}, {"say": "Second turn."}]})
    async with _model(sim, provider).connect(RealtimeConfig()) as session:
        await _ask(session, "hi")
        started = anyio.current_time()
        seen = await _events_until(session, ev.SessionResumed)
        assert anyio.current_time() - started < 5.0
        assert any(isinstance(e, ev.AudioDelta) for e in seen)
        await _ask(session, "again")
        seen = await _events_until(session, _done(provider))
    assert sim.sessions == 2


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_stall_is_noticed_within_the_keepalive_limit(
    anyio_backend: str, sim: RealtimeSimulator, provider: str
) -> None:
    sim.play({"turns": [{"say": HELLO, "fault": {"kind": "stall", "at": "before_first_audio"}}]})
    options = SessionOptions(
        keepalive_interval=0.5, keepalive_timeout=0.5, rollover=False, resume=False
    )
    async with _model(sim, provider).connect(RealtimeConfig(), options=options) as session:
        await _ask(session, "hi")
        started = anyio.current_time()
        with pytest.raises(ConnectionClosed) as info:
            seen = await _events_until(session, ev.AudioDelta)
            pytest.fail(f"audio came through a stalled connection: {seen[-1]!r}")
        noticed_after = anyio.current_time() - started
    assert (info.value.code, info.value.reason) == (1011, "pong timeout")
    assert noticed_after <= 1.0 + 2.0  # interval + timeout, and slack for a shared machine


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_close_with_a_chosen_code_ends_the_session_with_that_code(
    anyio_backend: str, sim: RealtimeSimulator, provider: str
) -> None:
    fault = {"kind": "close", "at": "response_start", "code": 4003, "reason": "scripted close"}
    sim.play({"turns": [{"say": HELLO, "fault": fault}]})
    options = SessionOptions(rollover=False, resume=False)
    async with _model(sim, provider).connect(RealtimeConfig(), options=options) as session:
        await _ask(session, "hi")
        with pytest.raises(ConnectionClosed) as info:
            await _events_until(session, _done(provider))
    assert (info.value.code, info.value.reason) == (4003, "scripted close")


async def test_openai_session_end_is_session_expired_then_a_rollover(
    anyio_backend: str, sim: RealtimeSimulator
) -> None:
    sim.play({"turns": [{"say": HELLO, "fault": {"kind": "session_end", "at": "mid_response"}}]})
    async with _model(sim, "openai").connect(RealtimeConfig()) as session:
        await _ask(session, "hi")
        seen = await _events_until(session, ev.SessionResumed)
    # our codec reads session_expired as "going away now", not as an error
    assert [e.time_left for e in seen if isinstance(e, ev.GoAway)] == [0.0]
    assert not [e for e in seen if isinstance(e, ev.Error)]


@pytest.mark.parametrize("kind", ["go_away", "session_end"])
async def test_gemini_go_away_then_resumed(
    anyio_backend: str, sim: RealtimeSimulator, kind: str
) -> None:
    fault = {"kind": kind, "at": "mid_response", "time_left": 0.5}
    sim.play({"turns": [{"say": HELLO, "fault": fault}, {"say": "After."}]})
    async with _model(sim, "gemini").connect(RealtimeConfig()) as session:
        await _ask(session, "hi")
        seen = await _events_until(session, ev.SessionResumed)
        go_away = [e for e in seen if isinstance(e, ev.GoAway)]
        assert [g.time_left for g in go_away] == [0.5]
        await _ask(session, "again")
        await _events_until(session, ev.TurnComplete)


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_a_malformed_frame_is_an_error_event_and_the_response_goes_on(
    anyio_backend: str, sim: RealtimeSimulator, provider: str
) -> None:
    sim.play(
        {"turns": [{"say": HELLO, "fault": {"kind": "malformed", "at": "before_first_audio"}}]}
    )
    async with _model(sim, provider).connect(RealtimeConfig()) as session:
        await _ask(session, "hi")
        seen = await _events_until(session, _done(provider))
    kinds = [type(e) for e in seen]
    assert ev.Error in kinds and ev.AudioDelta in kinds
    assert kinds.index(ev.Error) < kinds.index(ev.AudioDelta)


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_latency_and_time_to_first_audio_delay_the_first_audio(
    anyio_backend: str, sim: RealtimeSimulator, provider: str
) -> None:
    turn = {"say": HELLO, "first_audio_ms": 400, "fault": {"kind": "latency", "latency_ms": 200}}
    sim.play({"turns": [{"say": "Quick."}, turn]})
    async with _model(sim, provider).connect(RealtimeConfig()) as session:
        # From before the question: the turn may start on its first message, while the
        # second is still being sent (a send writes at once), so that is the lower bound.
        asked = anyio.current_time()
        await _ask(session, "hi")
        await _events_until(session, ev.AudioDelta)
        quick = anyio.current_time() - asked
        await _events_until(session, _done(provider))
        asked = anyio.current_time()
        await _ask(session, "again")
        await _events_until(session, ev.AudioDelta)
        slow = anyio.current_time() - asked
    assert quick < 0.5 and 0.6 <= slow < 3.0


async def test_openai_rate_limit_turn_is_an_error_and_a_failed_response(
    anyio_backend: str, sim: RealtimeSimulator
) -> None:
    sim.play({"turns": [{"error": "rate_limit"}]})
    async with _model(sim, "openai").connect(RealtimeConfig()) as session:
        await _ask(session, "hi")
        seen = await _events_until(session, ev.ResponseDone)
    (error,) = [e for e in seen if isinstance(e, ev.Error)]
    assert error.code == "rate_limit_exceeded"
    assert seen[-1].status == "failed"


async def test_gemini_server_error_turn_closes_1011(
    anyio_backend: str, sim: RealtimeSimulator
) -> None:
    sim.play({"turns": [{"error": "server_error"}]})
    options = SessionOptions(resume=False)
    async with _model(sim, "gemini").connect(RealtimeConfig(), options=options) as session:
        await _ask(session, "hi")
        with pytest.raises(ConnectionClosed) as info:
            await _events_until(session, ev.TurnComplete)
    assert (info.value.code, info.value.reason) == (1011, "Internal error encountered.")
