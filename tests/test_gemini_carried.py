"""A tool call straddling a Gemini resumption is answered exactly once (carried.py).

Gemini gives no resumption handle while a tool call waits for its answer, so the
resumed state does not hold the call. With transparent resumption the question is sent
again and the model asks again: that call is matched to the carried one and answered
once under its new id. Otherwise the answer is injected as ``clientContent`` (the call
and its response, ``turnComplete``), which ``google.genai.types.LiveClientMessage``
accepts and the simulator answers from.
"""

from __future__ import annotations

import json
from typing import Any

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.gemini.carried import MAX_FOLLOWED, CarriedCalls
from adk_realtime.sansio.gemini.protocol import GeminiProtocol
from adk_realtime.sansio.history import HistoryFunctionCall, HistoryFunctionOutput
from adk_realtime.sansio.sim.hub import SimulatorHub
from tests.codec_io import decode, encode, started
from tests.oracles_gemini import validate_client
from tests.test_gemini_history import MODEL, SETUP_COMPLETE, TOOLS, TURN_COMPLETE, tool_call
from tests.test_history_simulator import exchange


def update(handle: str, index: int | None = None) -> str:
    body: dict[str, Any] = {"newHandle": handle, "resumable": True}
    if index is not None:
        body["lastConsumedClientMessageIndex"] = str(index)
    return json.dumps({"sessionResumptionUpdate": body})


def resumed(p: GeminiProtocol) -> list[str]:
    """Start the next connection (resuming) and return what follows setupComplete."""
    for message in started(p, TOOLS):
        validate_client(message)
    decode(p, SETUP_COMPLETE)
    out = p.data_to_send()
    for message in out:
        validate_client(message)
    return out


def answer(p: GeminiProtocol, call_id: str, output: str) -> list[str]:
    return encode(p, ev.ItemCreate(tool_response=ev.ToolResponse(call_id, output)))


def kinds(messages: list[str]) -> list[str]:
    return [next(iter(json.loads(m))) for m in messages]


def test_an_answer_made_after_the_switch_is_injected_once() -> None:
    p = GeminiProtocol(MODEL)
    started(p, TOOLS)
    decode(p, SETUP_COMPLETE)
    decode(p, update("h1"))
    events = decode(p, tool_call("fc-1", "get_weather", city="Paris"))
    assert [type(e) for e in events if isinstance(e, ev.FunctionCallDone)] == [ev.FunctionCallDone]
    # The connection ends (no handle was given while the call waited): resume from h1.
    assert resumed(p) == []
    (injected,) = answer(p, "fc-1", '{"sky":"sunny"}')
    validate_client(injected)
    assert json.loads(injected) == {
        "clientContent": {
            "turns": [
                {
                    "role": "model",
                    "parts": [
                        {
                            "functionCall": {
                                "id": "fc-1",
                                "name": "get_weather",
                                "args": {"city": "Paris"},
                            }
                        }
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {
                            "functionResponse": {
                                "id": "fc-1",
                                "name": "get_weather",
                                "response": {"result": {"sky": "sunny"}},
                            }
                        }
                    ],
                },
            ],
            "turnComplete": True,
        }
    }
    assert p.pending_tool_calls == {}
    assert [type(i) for i in p.history] == [HistoryFunctionCall, HistoryFunctionOutput]
    # A handle after it settles the call: a later switch carries nothing.
    decode(p, update("h2"))
    assert resumed(p) == []


def test_an_answer_the_old_server_took_is_not_carried_without_transparent_resumption() -> None:
    # (Nobody can tell whether the state behind the handle holds it; as any message after
    # the last handle on the public API, it stays as it was: the handoff case, where the
    # runner answers and then reconnects on purpose.)
    p = GeminiProtocol(MODEL)
    started(p, TOOLS)
    decode(p, SETUP_COMPLETE)
    decode(p, update("h1"))
    decode(p, tool_call("fc-1", "get_weather", city="Paris"))
    (response,) = answer(p, "fc-1", "sunny")
    assert kinds([response]) == ["toolResponse"]
    assert resumed(p) == []


def test_transparent_an_unconfirmed_answer_goes_again_once_as_injection() -> None:
    p = GeminiProtocol(MODEL, transparent_resumption=True)
    started(p, TOOLS)
    decode(p, SETUP_COMPLETE)
    p.send_audio(bytes(640))  # message 1: the question, consumed
    p.data_to_send()
    decode(p, update("h1", index=1))
    decode(p, tool_call("fc-1", "get_weather", city="Paris"))
    (response,) = answer(p, "fc-1", "sunny")  # message 2: not consumed
    p.data_to_send()
    assert kinds([response]) == ["toolResponse"]
    # The link dies before a handle covers the answer: it goes as injection, not as a
    # toolResponse for a call the resumed state does not hold.
    out = resumed(p)
    assert kinds(out) == ["clientContent"]
    assert '"functionResponse"' in out[0] and '"sunny"' in out[0]
    # A switch again before any handle: the injection the log sends again is left out
    # and made anew, so it goes once.
    again = resumed(p)
    assert again == out
    # A handle after it settles the call.
    decode(p, update("h2", index=1))
    assert resumed(p) == []


def test_transparent_a_call_asked_again_is_the_carried_call() -> None:
    p = GeminiProtocol(MODEL, transparent_resumption=True)
    started(p, TOOLS)
    decode(p, SETUP_COMPLETE)
    p.send_audio(bytes(640))  # message 1: covered by the update below
    p.data_to_send()
    decode(p, update("h1", index=1))
    p.send_audio(bytes(640))  # message 2: the end of the question, not covered
    question = p.data_to_send()
    decode(p, tool_call("fc-1", "get_weather", city="Paris"))
    (first,) = answer(p, "fc-1", "sunny")  # message 3, answers a call h1 does not hold
    # Resume: the question goes again, the old answer does not.
    assert resumed(p) == question
    # The resumed model asks again (another id): the app is not told, the answer goes
    # once under the new id.
    events = decode(p, tool_call("fc-2", "get_weather", city="Paris"))
    assert not [e for e in events if isinstance(e, ev.FunctionCallDone)]
    (again,) = p.data_to_send()
    validate_client(again)
    body = json.loads(again)["toolResponse"]["functionResponses"]
    assert body == [{"id": "fc-2", "name": "get_weather", "response": {"result": "sunny"}}]
    assert json.loads(first)["toolResponse"]["functionResponses"][0]["id"] == "fc-1"
    # A different call is a new call.
    events = decode(p, tool_call("fc-3", "get_weather", city="Rome"))
    assert [e.call_id for e in events if isinstance(e, ev.FunctionCallDone)] == ["fc-3"]
    calls = [i for i in p.history if isinstance(i, HistoryFunctionCall)]
    outputs = [i for i in p.history if isinstance(i, HistoryFunctionOutput)]
    assert [c.call_id for c in calls] == ["fc-1", "fc-3"] and len(outputs) == 1


def test_transparent_the_answer_waits_for_the_call_asked_again() -> None:
    p = GeminiProtocol(MODEL, transparent_resumption=True)
    started(p, TOOLS)
    decode(p, SETUP_COMPLETE)
    decode(p, update("h1", index=0))
    p.send_audio(bytes(640))
    p.data_to_send()
    decode(p, tool_call("fc-1", "get_weather", city="Paris"))
    resumed(p)
    assert answer(p, "fc-1", "sunny") == []  # the resumed model has not asked yet
    decode(p, tool_call("fc-2", "get_weather", city="Paris"))
    (again,) = p.data_to_send()
    assert json.loads(again)["toolResponse"]["functionResponses"][0]["id"] == "fc-2"


def test_transparent_a_turn_that_ends_without_the_call_gets_the_injection() -> None:
    p = GeminiProtocol(MODEL, transparent_resumption=True)
    started(p, TOOLS)
    decode(p, SETUP_COMPLETE)
    decode(p, update("h1", index=0))
    p.send_audio(bytes(640))
    p.data_to_send()
    decode(p, tool_call("fc-1", "get_weather", city="Paris"))
    resumed(p)
    assert answer(p, "fc-1", "sunny") == []
    decode(p, TURN_COMPLETE)  # the model answered otherwise
    (injected,) = p.data_to_send()
    validate_client(injected)
    assert kinds([injected]) == ["clientContent"]


def test_the_simulator_answers_from_the_injected_call_once() -> None:
    hub = SimulatorHub(pace=0)
    path = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    first = hub.open_session("gemini", path=path, now=0.0)
    p = GeminiProtocol(MODEL)
    p.start(TOOLS)
    exchange(p, first)
    p.send_event(ev.ItemCreate(text="What is the weather in Paris?"))
    events = exchange(p, first)
    (call,) = [e for e in events if isinstance(e, ev.FunctionCallDone)]
    assert p.resumption_handle is not None
    # The connection ends while the call waits; the next one resumes from the handle.
    second = hub.open_session("gemini", path=path, now=1.0)
    p.start(TOOLS)
    exchange(p, second)
    p.send_event(ev.ItemCreate(tool_response=ev.ToolResponse(call.call_id, '{"sky":"sunny"}')))
    events = exchange(p, second)
    text = "".join(e.delta for e in events if isinstance(e, ev.TranscriptDelta | ev.TextDelta))
    assert "sunny" in text
    assert not [e for e in events if isinstance(e, ev.FunctionCallDone)]


def test_the_calls_followed_are_bounded() -> None:
    calls = CarriedCalls()
    for n in range(MAX_FOLLOWED + 10):
        calls.issued(f"fc-{n}", "f", "{}", 0)
    calls.resume([], transparent=False)
    assert "fc-0" not in calls and f"fc-{MAX_FOLLOWED + 9}" in calls
    assert sum(f"fc-{n}" in calls for n in range(MAX_FOLLOWED + 10)) == MAX_FOLLOWED
