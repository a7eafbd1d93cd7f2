"""A call still running when Gemini starts a new conversation (no handle) gets its answer
to the model (issue 14's loose end: "a fresh Gemini conversation answers late").

A setup without a handle starts a new conversation on the server, seeded from the record.
The server of that conversation never asked the calls the app is still running, so their
answers, given later, cannot go as ``toolResponse`` (the service ignores an answer to a
call it did not ask, as the simulator does). Such a call is left out of the replayed
history and carried: its answer goes as the call and the answer together in
``clientContent``, which the model answers from.

Sans-IO: ``GeminiProtocol`` against the simulator's Gemini session on a fake clock (the
``Client`` helper validates every message both ways with ``google.genai.types``).
"""

from __future__ import annotations

import json
from typing import Any

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import RealtimeConfig, ToolDefinition
from adk_realtime.sansio.gemini.protocol import GeminiProtocol
from adk_realtime.sansio.sim.hub import SimulatorHub
from tests.oracles_gemini import validate_client
from tests.test_simulator import Client

CONFIG = RealtimeConfig(
    modalities=("text",),
    tools=(
        ToolDefinition(
            "get_weather",
            "Current weather for a city",
            {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        ),
    ),
)


class Wire:
    """One connection: the protocol's messages to a simulated session and back."""

    def __init__(self, hub: SimulatorHub, protocol: GeminiProtocol, *, handles: bool) -> None:
        self.client = Client(hub, "gemini")
        self.protocol = protocol
        self.handles = handles  # False: the server issued no resumption handle (yet)
        self.read = 0
        self.sent: list[dict[str, Any]] = []
        self.events: list[ev.ServerEvent] = []

    def pump(self) -> None:
        """Until quiet: send what the protocol queued, give it what the server said."""
        while True:
            out = self.protocol.data_to_send()
            for message in out:
                validate_client(message)
                self.sent.append(json.loads(message))
                self.client.send(self.sent[-1])
            news = self.client.log[self.read :]
            self.read = len(self.client.log)
            for message in news:
                if "sessionResumptionUpdate" in message and not self.handles:
                    continue
                self.protocol.receive_data(json.dumps(message), self.client.now)
                while (event := self.protocol.next_event()) is not None:
                    self.events.append(event)
            if not out and not news:
                return

    def text(self) -> str:
        return "".join(e.delta for e in self.events if isinstance(e, ev.TextDelta))


def call_running_when_a_new_conversation_starts() -> tuple[GeminiProtocol, Wire, str]:
    hub = SimulatorHub(pace=0)
    protocol = GeminiProtocol("gemini-live-2.5-flash")
    first = Wire(hub, protocol, handles=False)
    protocol.start(CONFIG)
    first.pump()
    protocol.send_event(ev.ItemCreate(text="What is the weather in Paris?"))
    first.pump()
    (call,) = [e for e in first.events if isinstance(e, ev.FunctionCallDone)]
    assert protocol.resumption_handle is None
    # The connection ends while the app still runs the tool; the next setup has no handle.
    second = Wire(hub, protocol, handles=True)
    protocol.start(CONFIG)
    second.pump()
    return protocol, second, call.call_id


def test_the_late_answer_reaches_the_model_of_the_new_conversation() -> None:
    protocol, second, call_id = call_running_when_a_new_conversation_starts()
    protocol.send_event(
        ev.ItemCreate(tool_response=ev.ToolResponse(call_id, "sunny, 21 degrees", "get_weather"))
    )
    second.pump()
    assert "sunny, 21 degrees" in second.text()
    assert not any(isinstance(e, ev.FunctionCallDone) for e in second.events)  # asked once


def test_the_running_call_is_not_in_the_replayed_history_but_goes_with_its_answer() -> None:
    protocol, second, call_id = call_running_when_a_new_conversation_starts()
    history_parts = [
        part
        for message in second.sent
        for turn in message.get("clientContent", {}).get("turns", [])
        for part in turn["parts"]
    ]
    assert [p for p in history_parts if "functionCall" in p] == []
    assert {"text": "What is the weather in Paris?"} in history_parts
    protocol.send_event(
        ev.ItemCreate(tool_response=ev.ToolResponse(call_id, "sunny, 21 degrees", "get_weather"))
    )
    (answer,) = protocol.data_to_send()
    validate_client(answer)
    turns = json.loads(answer)["clientContent"]["turns"]
    assert [next(iter(t["parts"][0])) for t in turns] == ["functionCall", "functionResponse"]
    assert turns[0]["parts"][0]["functionCall"]["args"] == {"city": "Paris"}
    assert json.loads(answer)["clientContent"]["turnComplete"] is True
    # The record keeps the call and its answer once, in order.
    kinds = [type(item).__name__ for item in protocol.history]
    assert kinds.count("HistoryFunctionCall") == 1 and kinds.count("HistoryFunctionOutput") == 1
