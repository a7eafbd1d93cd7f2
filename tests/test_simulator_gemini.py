"""The simulator's Gemini side: barge-in, manual activity, resumption, bad input, and the hub's routing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adk_realtime.sansio.sim.hub import (
    SimulatorHub,
    synthesize_speech,
)
from tests.test_simulator import (
    GEMINI_PATH,
    GEMINI_TOOL,
    LONE_SURROGATES,
    QUESTION,
    Client,
    decode,
    gemini_audio,
    gemini_setup,
    server_content,
    silence,
)


def test_gemini_user_speech_interrupts_generation_and_cancels_tool_calls() -> None:
    client = Client(SimulatorHub(pace=1.0), "gemini")
    gemini_setup(client, tools=[GEMINI_TOOL])
    client.send(
        {
            "clientContent": {
                "turns": [{"role": "user", "parts": [{"text": "banana split"}]}],
                "turnComplete": True,
            }
        }
    )
    client.advance(0.3)
    client.speak(synthesize_speech(QUESTION, 16000) + silence(700, 16000), 16000)
    assert server_content(client, "interrupted") == [True]
    assert not server_content(client, "turnComplete")
    call = next(m["toolCall"]["functionCalls"][0] for m in client.log if "toolCall" in m)
    client.speak(synthesize_speech("never mind", 16000) + silence(700, 16000), 16000)
    assert {"toolCallCancellation": {"ids": [call["id"]]}} in client.log
    client.advance(30)
    assert server_content(client, "turnComplete") == [True]
    reply = {"id": call["id"], "name": "get_weather", "response": {"output": "late"}}
    client.send({"toolResponse": {"functionResponses": [reply]}})  # ignored, like the service
    assert server_content(client, "turnComplete") == [True]


def test_gemini_manual_activity_turns() -> None:
    client = Client(SimulatorHub(pace=0), "gemini")
    manual = {"automaticActivityDetection": {"disabled": True}}
    gemini_setup(client, realtimeInputConfig=manual)
    client.send({"realtimeInput": {"activityStart": {}}})
    client.speak(synthesize_speech("hello", 16000) + silence(2000, 16000), 16000)
    assert not server_content(client, "turnComplete")  # silence alone does not end the turn
    client.send({"realtimeInput": {"activityEnd": {}}})
    assert decode(gemini_audio(client), 24000).startswith("Hello!")


def test_gemini_go_away_then_resumption_restores_the_conversation() -> None:
    hub = SimulatorHub(pace=0, go_away_after=5.0, go_away_time_left=1.0)
    first = Client(hub, "gemini")
    gemini_setup(first, sessionResumption={})
    first.send(
        {
            "clientContent": {
                "turns": [{"role": "user", "parts": [{"text": "my code is 4711"}]}],
                "turnComplete": True,
            }
        }
    )
    handles = [
        m["sessionResumptionUpdate"]["newHandle"]
        for m in first.log
        if "sessionResumptionUpdate" in m
    ]
    assert len(handles) == 2 and all(
        m["sessionResumptionUpdate"]["resumable"]
        for m in first.log
        if "sessionResumptionUpdate" in m
    )
    first.advance(5.0)
    assert first.log[-1] == {"goAway": {"timeLeft": "1s"}}
    assert first.ended is None
    first.advance(1.0)
    assert first.close_code == 1000
    second = Client(hub, "gemini", now=first.now)
    gemini_setup(second, sessionResumption={"handle": handles[-1]})
    second.send(
        {
            "clientContent": {
                "turns": [{"role": "user", "parts": [{"text": "what did I say?"}]}],
                "turnComplete": True,
            }
        }
    )
    assert decode(gemini_audio(second), 24000) == "Earlier you said: my code is 4711"


def test_gemini_bad_input_closes_like_the_service() -> None:
    cases: list[tuple[Any, int]] = [
        ("{oops", 1007),
        ({"realtimeInput": {"text": "hi"}}, 1008),  # setup must come first
        ({"setup": {"model": "m", "bogusField": 1}}, 1007),
        ({"setup": {"model": "m", "sessionResumption": {"handle": "unknown"}}}, 1008),
        ({"setup": {"model": "m"}, "toolResponse": {}}, 1007),
    ]
    for message, code in cases:
        client = Client(SimulatorHub(pace=0), "gemini")
        raw = message if isinstance(message, str) else json.dumps(message)
        client.session.receive_data(raw, 0.0)
        client.drain()
        assert client.close_code == code, message
        assert client.session.get_timer() is None
    client = Client(SimulatorHub(pace=0), "gemini")
    gemini_setup(client)
    client.send({"realtimeInput": {"activityStart": {}}})
    assert client.close_code == 1007  # explicit activity needs automatic detection off


@pytest.mark.parametrize("surrogate", LONE_SURROGATES)
def test_gemini_lone_surrogate_in_user_text_closes_1007_not_a_crash(surrogate: str) -> None:
    text = f"hello {surrogate}"
    messages: list[str | bytes] = [
        json.dumps({"realtimeInput": {"text": text}}),
        json.dumps(
            {"clientContent": {"turns": [{"parts": [{"text": text}]}], "turnComplete": True}}
        ),
        json.dumps({"realtimeInput": {"text": text}}, ensure_ascii=False).encode(
            "utf-8", "surrogatepass"
        ),
        json.dumps({"setup": {"model": text}}),
    ]
    for n, message in enumerate(messages):
        client = Client(SimulatorHub(pace=0), "gemini")
        if n < 3:
            gemini_setup(client)
        client.session.receive_data(message, client.now)
        client.drain()
        assert client.close_code == 1007, message
        assert client.ended is not None and "lone surrogate" in client.ended.reason
        assert not gemini_audio(client)  # nothing was said to it
        assert client.session.get_timer() is None


def test_hub_routes_paths_and_checks_keys() -> None:
    assert SimulatorHub.route("/v1/realtime?model=gpt-realtime") == "openai"
    for version in ("v1", "v1alpha", "v1beta"):
        for method in ("BidiGenerateContent", "BidiGenerateContentConstrained"):
            path = f"/ws/google.ai.generativelanguage.{version}.GenerativeService.{method}?key=k"
            assert SimulatorHub.route(path) == "gemini"
    assert SimulatorHub.route("/v2/other") is None
    hub = SimulatorHub(api_key="sk-good")
    assert hub.authorize("openai", "/v1/realtime", {"Authorization": "Bearer sk-good"}) is None
    assert hub.authorize("openai", "/v1/realtime", {"Authorization": "Bearer sk-bad"}) == 401
    assert hub.authorize("gemini", GEMINI_PATH, [(b"x-goog-api-key", b"sk-good")]) is None
    assert hub.authorize("gemini", GEMINI_PATH + "?key=nope", []) == 401
    assert "sk-good" not in repr(hub)
