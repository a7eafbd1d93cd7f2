"""A replayed record against a peer: the simulator's server side takes every message.

Sans-IO both ways: the protocol's messages go straight into a simulated session and its
answers straight back, on a fake clock.
"""

from __future__ import annotations

from typing import Any

import pytest

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import RealtimeConfig
from adk_realtime.sansio.gemini.protocol import GeminiProtocol
from adk_realtime.sansio.openai.protocol import OpenAIProtocol
from adk_realtime.sansio.sim.hub import SimulatorHub
from tests.test_gemini_history import SEED as GEMINI_SEED
from tests.test_openai_history import SEED as OPENAI_SEED


def exchange(protocol: Any, session: Any, seconds: float = 30.0) -> list[ev.ServerEvent]:
    """Send what the protocol queued and feed back what the session answers, letting up
    to ``seconds`` of simulated time pass for its timers; the protocol's events."""
    events: list[ev.ServerEvent] = []
    now = 0.0
    pending = protocol.data_to_send()
    while True:
        for message in pending:
            session.receive_data(message, now)
        for message in session.data_to_send():
            protocol.receive_data(message, now)
            while (event := protocol.next_event()) is not None:
                events.append(event)
        pending = protocol.data_to_send()  # (Gemini's history follows setupComplete)
        if pending:
            continue
        timer = session.get_timer()
        if timer is None or timer > seconds:
            return events
        now = max(now, timer)
        session.handle_timer(now)


@pytest.mark.parametrize("model", ["gpt-realtime", "gpt-4o-realtime-preview"])
def test_the_openai_simulator_takes_a_replayed_seed(model: str) -> None:
    hub = SimulatorHub()
    beta = [("OpenAI-Beta", "realtime=v1")] if "preview" in model else []
    session = hub.open_session("openai", path=f"/v1/realtime?model={model}", headers=beta, now=0.0)
    protocol = OpenAIProtocol(model)
    protocol.seed(OPENAI_SEED)
    protocol.start(RealtimeConfig(modalities=("text",)))
    events = exchange(protocol, session)
    assert [e for e in events if isinstance(e, ev.Error)] == []
    created = [e.item_id for e in events if isinstance(e, ev.ItemCreated)]
    assert {"m_sys", "m_user", "fc_1", "fo_1", "m_said", "m_text"} <= set(created)
    assert protocol.history == OPENAI_SEED  # the server's echoes change nothing


def test_the_gemini_simulator_takes_a_replayed_seed() -> None:
    hub = SimulatorHub()
    path = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    session = hub.open_session("gemini", path=path, now=0.0)
    protocol = GeminiProtocol("gemini-live-2.5-flash-preview")
    protocol.seed(GEMINI_SEED)
    protocol.start(RealtimeConfig(modalities=("text",)))
    events = exchange(protocol, session)
    assert isinstance(events[0], ev.SessionCreated)
    assert [e for e in events if isinstance(e, ev.Error)] == []
    assert list(protocol.history)[: len(GEMINI_SEED)] == list(GEMINI_SEED)


def test_a_conversation_rolls_over_to_a_fresh_simulated_session() -> None:
    hub = SimulatorHub()
    path = "/v1/realtime?model=gpt-realtime"
    protocol = OpenAIProtocol()
    config = RealtimeConfig(modalities=("text",))
    first = hub.open_session("openai", path=path, now=0.0)
    protocol.start(config)
    protocol.send_event(ev.ItemCreate(text="Hello there"))
    protocol.send_event(ev.ResponseCreate())
    events = exchange(protocol, first)
    assert any(isinstance(e, ev.ResponseDone) for e in events)
    before = protocol.history
    assert [i.role for i in before] == ["user", "assistant"]  # type: ignore[union-attr]
    assert before[0].item_id.startswith("item_")  # the server's id, not ours
    # The first session is gone; a fresh one gets the conversation.
    second = hub.open_session("openai", path=path, now=0.0)
    protocol.start(config)
    events = exchange(protocol, second)
    assert [e for e in events if isinstance(e, ev.Error)] == []
    announced = dict.fromkeys(e.item_id for e in events if isinstance(e, ev.ItemCreated))
    assert list(announced) == [item.item_id for item in before]
    assert protocol.history == before
