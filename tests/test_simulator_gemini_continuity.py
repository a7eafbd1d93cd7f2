"""The simulator's continuity knobs, Gemini side: the session cap, transparent resumption
(``lastConsumedClientMessageIndex``) with the input audio ledger, and seeded history
(``historyConfig.initialHistoryInClientContent``).

Sans-IO on a fake clock; the ``Client`` helper of ``test_simulator`` validates every message
both ways with ``google.genai.types``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from google.genai import types as genai_types

from adk_realtime.sansio.sim.hub import (
    GeminiSimSession,
    SimulatorBrain,
    SimulatorHub,
    Turn,
    synthesize_speech,
)
from tests.test_simulator import (
    GEMINI_TOOL,
    QUESTION,
    Client,
    decode,
    gemini_audio,
    gemini_setup,
    silence,
)

RATE = 16000
PIECE = RATE * 2 // 50  # 20 ms of 16 kHz PCM16


def pieces_of(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + PIECE] for i in range(0, len(pcm), PIECE)]


def spoken(text: str) -> list[bytes]:
    return pieces_of(silence(300, RATE) + synthesize_speech(text, RATE) + silence(700, RATE))


def stream(client: Client, pieces: list[bytes]) -> None:
    """One realtimeInput message per piece, in real time."""
    for piece in pieces:
        blob = {"data": base64.b64encode(piece).decode(), "mimeType": f"audio/pcm;rate={RATE}"}
        client.send({"realtimeInput": {"audio": blob}})
        client.advance(len(piece) / 2 / RATE)


def updates(client: Client) -> list[dict[str, Any]]:
    return [m["sessionResumptionUpdate"] for m in client.log if "sessionResumptionUpdate" in m]


def lose(client: Client) -> None:
    client.session.connection_lost()
    client.drain()


# --- the session cap ------------------------------------------------------------------------


def test_gemini_cap_is_go_away_time_left_before_then_close_1000() -> None:
    client = Client(SimulatorHub(pace=0, session_max_seconds=10, go_away_time_left=2), "gemini")
    gemini_setup(client)
    client.advance(7.9)
    assert client.types() == ["setupComplete"]
    client.advance(0.1)
    assert client.log[-1] == {"goAway": {"timeLeft": "2s"}}
    assert genai_types.LiveServerMessage.model_validate(client.log[-1]).go_away is not None
    client.advance(1.9)
    assert client.ended is None
    client.advance(0.1)
    assert client.close_code == 1000 and client.ended is not None and not client.ended.drop


def test_gemini_drop_ends_without_a_close_frame_and_discards_what_was_not_consumed() -> None:
    hub = SimulatorHub(pace=0, drop_after=0.5, record_input=True)
    client = Client(hub, "gemini")
    gemini_setup(client)
    pieces = spoken("hello")
    stream(client, pieces[:40])  # 0.8 s; the drop falls after 25 pieces, in the leading silence
    assert client.ended is not None and client.ended.drop and client.ended.code == 1006
    assert hub.input_ledger() == b"" and hub.discarded_input == [b"".join(pieces[:25])]


# --- transparent resumption and the ledger ----------------------------------------------------


def test_transparent_updates_count_client_messages_from_the_setup() -> None:
    hub = SimulatorHub(pace=0, record_input=True)
    client = Client(hub, "gemini")
    gemini_setup(client, sessionResumption={"transparent": True})
    pieces = pieces_of(silence(1200, RATE))  # 60 messages of silence
    stream(client, pieces)
    seen = updates(client)
    # The setup is message 0; then an update every 25 client messages (int64: a JSON string).
    assert [u["lastConsumedClientMessageIndex"] for u in seen] == ["0", "25", "50"]
    parsed = genai_types.LiveServerMessage.model_validate({"sessionResumptionUpdate": seen[1]})
    assert parsed.session_resumption_update is not None
    assert parsed.session_resumption_update.last_consumed_client_message_index == 25
    assert all(u["resumable"] and u["newHandle"] for u in seen)
    assert hub.input_ledger() == b"".join(pieces[:50]) and hub.ledger.commits == 2
    lose(client)
    assert hub.discarded_input == [b"".join(pieces[50:])]


def test_without_transparent_no_indices_and_no_periodic_updates() -> None:
    hub = SimulatorHub(pace=0, record_input=True)
    client = Client(hub, "gemini")
    gemini_setup(client, sessionResumption={})
    pieces = spoken(QUESTION)
    stream(client, pieces)
    seen = updates(client)
    assert len(seen) == 2 and all(set(u) == {"newHandle", "resumable"} for u in seen)
    # Without indices, a user turn is the commit point: everything heard when it ended.
    ledger = hub.input_ledger()
    assert decode(ledger, RATE) == QUESTION and b"".join(pieces).startswith(ledger)
    lose(client)
    assert ledger + hub.discarded_input[0] == b"".join(pieces)


def test_transparent_resumption_mid_utterance_hears_every_message_once() -> None:
    hub = SimulatorHub(pace=0, record_input=True)
    pieces = spoken(QUESTION)
    first = Client(hub, "gemini")
    gemini_setup(first, sessionResumption={"transparent": True})
    stream(first, pieces[:60])  # the question is half said (speech starts after 15 pieces)
    last = updates(first)[-1]
    assert last["lastConsumedClientMessageIndex"] == "50"
    lose(first)  # the connection drops: messages 51..60 were never acknowledged
    assert hub.input_ledger() == b"".join(pieces[:50])
    assert hub.discarded_input == [b"".join(pieces[50:60])]
    second = Client(hub, "gemini", now=first.now)
    resume = {"handle": last["newHandle"], "transparent": True}
    gemini_setup(second, sessionResumption=resume)
    assert isinstance(second.session, GeminiSimSession)
    assert second.session.resumed_from == last["newHandle"]
    assert updates(second)[0]["lastConsumedClientMessageIndex"] == "0"  # a new connection
    stream(second, pieces[50:])  # the client re-sends what the index did not cover
    assert decode(gemini_audio(second), 24000) == f"You said: {QUESTION}"
    lose(second)
    assert hub.input_ledger() + hub.discarded_input[-1] == b"".join(pieces)


def test_no_update_while_the_model_speaks_then_one_covering_everything() -> None:
    hub = SimulatorHub(pace=1.0, record_input=True, brain=SimulatorBrain({"hi": "ok " * 30}))
    client = Client(hub, "gemini")
    gemini_setup(client, sessionResumption={"transparent": True})
    client.send({"realtimeInput": {"text": "hi"}})  # a reply of about 6 s, in real time
    pieces = pieces_of(silence(1200, RATE))
    stream(client, pieces)  # 60 messages while the model speaks: not resumable, no update
    assert [u["lastConsumedClientMessageIndex"] for u in updates(client)] == ["0"]
    client.advance(10)
    assert server_turn_complete(client)
    assert updates(client)[-1]["lastConsumedClientMessageIndex"] == "61"  # setup, text, 60
    assert hub.input_ledger() == b"".join(pieces)


def server_turn_complete(client: Client) -> bool:
    return any(m.get("serverContent", {}).get("turnComplete") for m in client.log)


# --- seeded history ------------------------------------------------------------------------

HISTORY: list[dict[str, Any]] = [
    {"role": "user", "parts": [{"text": "What's the weather in Paris?"}]},
    {
        "role": "model",
        "parts": [{"functionCall": {"id": "c1", "name": "get_weather", "args": {"city": "Paris"}}}],
    },
    {
        "role": "user",
        "parts": [
            {
                "functionResponse": {
                    "id": "c1",
                    "name": "get_weather",
                    "response": {"output": "sunny"},
                }
            }
        ],
    },
    {"role": "model", "parts": [{"text": "Here is the weather: sunny."}]},
]


def test_initial_history_is_remembered_without_a_model_turn() -> None:
    client = Client(SimulatorHub(pace=0), "gemini")
    gemini_setup(client, tools=[GEMINI_TOOL], historyConfig={"initialHistoryInClientContent": True})
    client.send({"clientContent": {"turns": HISTORY[:2]}})
    client.send({"clientContent": {"turns": HISTORY[2:], "turnComplete": True}})
    assert client.types() == ["setupComplete"]  # the history started no model turn
    assert client.session.history == [
        Turn("user", "What's the weather in Paris?"),
        Turn("function_call", name="get_weather", call_id="c1", arguments='{"city": "Paris"}'),
        Turn("function_result", text="sunny", name="get_weather", call_id="c1"),
        Turn("assistant", "Here is the weather: sunny."),
    ]
    client.send({"realtimeInput": {"text": "What city did I ask about?"}})
    assert decode(gemini_audio(client), 24000) == "You asked about Paris."


def test_history_through_the_sdk_types_and_then_spoken_input() -> None:
    client = Client(SimulatorHub(pace=0), "gemini")
    config = genai_types.HistoryConfig(initial_history_in_client_content=True)
    gemini_setup(client, historyConfig=config.model_dump(by_alias=True, exclude_none=True))
    content = genai_types.LiveClientContent(
        turns=[
            genai_types.Content(role="user", parts=[genai_types.Part(text="Is it cold in Oslo?")])
        ],
        turn_complete=True,
    )
    client.send({"clientContent": content.model_dump(by_alias=True, exclude_none=True)})
    assert client.types() == ["setupComplete"]
    stream(client, spoken("Which city was that?"))
    assert decode(gemini_audio(client), 24000) == "You asked about Oslo."


def test_without_the_flag_client_content_still_starts_a_turn() -> None:
    client = Client(SimulatorHub(pace=0), "gemini")
    gemini_setup(client)
    client.send({"clientContent": {"turns": HISTORY[:1], "turnComplete": True}})
    assert server_turn_complete(client)


@pytest.mark.parametrize(
    ("message", "code", "words"),
    [
        ({"realtimeInput": {"text": "hi"}}, 1008, "before the initial history ended"),
        (
            {
                "clientContent": {
                    "turns": [{"role": "model", "parts": [{"functionCall": {"args": {}}}]}]
                }
            },
            1007,
            "functionCall",
        ),
        ({"clientContent": {"turns": [{"role": "tool", "parts": []}]}}, 1007, "role"),
    ],
)
def test_bad_history_closes_like_the_service(
    message: dict[str, Any], code: int, words: str
) -> None:
    client = Client(SimulatorHub(pace=0), "gemini")
    gemini_setup(client, historyConfig={"initialHistoryInClientContent": True})
    client.session.receive_data(json.dumps(message), client.now)
    client.drain()
    assert client.ended is not None and client.ended.code == code and words in client.ended.reason


def test_a_flag_that_is_not_a_boolean_closes_1007() -> None:
    client = Client(SimulatorHub(pace=0), "gemini")
    setup = {"model": "models/x", "sessionResumption": {"transparent": "yes"}}
    client.session.receive_data(json.dumps({"setup": setup}), 0.0)
    client.drain()
    assert client.close_code == 1007
