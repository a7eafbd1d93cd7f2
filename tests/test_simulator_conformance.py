"""The simulator seen from clients we do not control: parallel tool calls, error shapes,
Gemini context updates. Every server message is validated by the ``Client`` helper of
``test_simulator`` against the official SDK types.
"""

from __future__ import annotations

import json

from adk_realtime.sansio.sim.hub import CallTools, SimulatorBrain, SimulatorHub, ToolSpec, Turn
from tests.test_simulator import (
    GEMINI_TOOL,
    TOOL_GA,
    Client,
    decode,
    gemini_audio,
    gemini_setup,
    openai_audio,
)

TIME_TOOL = {
    "type": "function",
    "name": "get_time",
    "description": "Local time in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
TWO_CITIES = "What's the weather in Paris and in London?"
BETA = [("OpenAI-Beta", "realtime=v1")]


def _user_text(client: Client, text: str) -> None:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    client.send({"type": "conversation.item.create", "item": item})


def test_openai_dialect_follows_the_beta_header_not_the_model() -> None:
    # The official SDK's GA client sends no OpenAI-Beta header, whatever the model.
    ga = Client(SimulatorHub(pace=0), model="gpt-4o-realtime-preview-2024-12-17")
    assert not ga.beta and ga.types() == ["session.created"]
    assert ga.log[0]["session"]["type"] == "realtime"
    ga.send({"type": "session.update", "session": {"type": "realtime", "tools": [TOOL_GA]}})
    assert ga.types()[-1] == "session.updated"
    beta = Client(SimulatorHub(pace=0), model="gpt-4o-realtime-preview-2024-12-17", headers=BETA)
    assert beta.beta and beta.types() == ["session.created", "conversation.created"]


def test_brain_plans_one_call_per_clause() -> None:
    brain = SimulatorBrain()
    weather = ToolSpec("get_weather", parameters=TOOL_GA["parameters"])  # type: ignore[arg-type]
    time = ToolSpec("get_time", parameters=TIME_TOOL["parameters"])  # type: ignore[arg-type]
    reply = brain.reply([Turn("user", "weather in Paris and the time in Tokyo")], [weather, time])
    assert isinstance(reply, CallTools)
    assert [(c.name, dict(c.arguments)) for c in reply.calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"city": "Tokyo"}),
    ]
    single = brain.reply([Turn("user", "What's the weather in Paris, please?")], [weather])
    assert not isinstance(single, CallTools) and dict(single.arguments) == {"city": "Paris"}  # type: ignore[union-attr]


def test_openai_parallel_calls_share_one_response_and_one_follow_up() -> None:
    for headers in ([], BETA):
        client = Client(SimulatorHub(pace=0), model="gpt-4o-realtime-preview", headers=headers)
        client.send(
            {"type": "session.update", "session": {"tools": [TOOL_GA]}}
            if client.beta
            else {"type": "session.update", "session": {"type": "realtime", "tools": [TOOL_GA]}}
        )
        _user_text(client, TWO_CITIES)
        client.send({"type": "response.create"})
        done = client.of("response.function_call_arguments.done")
        assert [json.loads(d["arguments"]) for d in done] == [{"city": "Paris"}, {"city": "London"}]
        assert [d["output_index"] for d in done] == [0, 1]
        (response,) = client.of("response.done")
        assert [o["call_id"] for o in response["response"]["output"]] == [
            d["call_id"] for d in done
        ]
        for d, weather in zip(done, ("sunny", "rainy"), strict=True):
            output = {"type": "function_call_output", "call_id": d["call_id"], "output": weather}
            client.send({"type": "conversation.item.create", "item": output})
        client.send({"type": "response.create"})
        heard = decode(openai_audio(client), 24000)
        assert heard == "Here is the weather: sunny. Here is the weather: rainy."


def test_gemini_parallel_calls_in_one_tool_call_answered_together() -> None:
    client = Client(SimulatorHub(pace=0), "gemini")
    gemini_setup(client, tools=[GEMINI_TOOL])
    client.send({"realtimeInput": {"text": TWO_CITIES}})
    (tool_call,) = [m["toolCall"] for m in client.log if "toolCall" in m]
    calls = tool_call["functionCalls"]
    assert [c["args"] for c in calls] == [{"city": "Paris"}, {"city": "London"}]
    first = {"id": calls[0]["id"], "name": "get_weather", "response": {"output": "sunny"}}
    client.send({"toolResponse": {"functionResponses": [first]}})
    assert not gemini_audio(client)  # still waiting for the second answer
    second = {"id": calls[1]["id"], "name": "get_weather", "response": {"output": "rainy"}}
    client.send({"toolResponse": {"functionResponses": [second]}})
    heard = decode(gemini_audio(client), 24000)
    assert heard == "Here is the weather: sunny. Here is the weather: rainy."


def test_openai_missing_and_misplaced_fields_are_errors_that_keep_the_session() -> None:
    client = Client(SimulatorHub(pace=0), model="gpt-4o-realtime-preview", headers=BETA)
    client.session.receive_data(json.dumps({"type": "input_audio_buffer.append"}), 0.0)
    client.session.receive_data(
        json.dumps({"type": "response.create", "response": {"modalities": "audio"}}), 0.0
    )
    client.drain()
    missing, bad = (m["error"] for m in client.of("error"))
    assert (missing["code"], missing["param"]) == ("missing_required_parameter", "audio")
    assert bad["param"] == "response.modalities"  # the beta name of the field
    assert client.ended is None


def test_gemini_context_update_changes_tools_mid_session() -> None:
    client = Client(SimulatorHub(pace=0), "gemini")
    gemini_setup(client, labels={"team": "qa"})
    client.send({"realtimeInput": {"text": "What's the weather in Paris?"}})
    assert not [m for m in client.log if "toolCall" in m]
    client.send({"contextUpdate": {"tools": {"tools": [GEMINI_TOOL]}}})
    client.send({"realtimeInput": {"text": "What's the weather in Paris?"}})
    (tool_call,) = [m["toolCall"] for m in client.log if "toolCall" in m]
    assert tool_call["functionCalls"][0]["args"] == {"city": "Paris"}
    assert client.ended is None


def test_gemini_resumption_handle_of_a_turn_arrives_before_its_turn_complete() -> None:
    # google-genai's session.receive() stops at turnComplete: the handle covering the turn
    # must come before it, or a client reading turn by turn resumes one turn behind.
    hub = SimulatorHub(pace=0)
    client = Client(hub, "gemini")
    gemini_setup(client, sessionResumption={})
    client.send({"realtimeInput": {"text": "banana split"}})
    keys = [next(iter(m.get("serverContent", m))) for m in client.log]
    assert keys[-2:] == ["sessionResumptionUpdate", "turnComplete"]
    handle = client.log[-2]["sessionResumptionUpdate"]["newHandle"]
    resumed = Client(hub, "gemini")
    gemini_setup(resumed, sessionResumption={"handle": handle})
    resumed.send({"realtimeInput": {"text": "what did I say"}})
    assert decode(gemini_audio(resumed), 24000) == "Earlier you said: banana split"


def test_gemini_tool_response_without_an_id_answers_the_call_by_name() -> None:
    client = Client(SimulatorHub(pace=0), "gemini")
    gemini_setup(client, tools=[GEMINI_TOOL])
    client.send({"realtimeInput": {"text": "What's the weather in Paris?"}})
    assert [m for m in client.log if "toolCall" in m]
    answer = {"name": "get_weather", "response": {"output": "sunny"}}
    client.send({"tool_response": {"function_responses": [answer]}})
    assert decode(gemini_audio(client), 24000) == "Here is the weather: sunny."
