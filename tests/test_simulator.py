"""The offline provider simulator, sans-IO, with a simulated clock.

Every server message is checked against the official SDK types: OpenAI GA/beta server-event
unions (strictly: the SDK models allow extra keys, so ``model_extra`` is walked recursively and
must be empty) and ``google.genai.types.LiveServerMessage`` (extra="forbid"). Client messages the
tests write by hand are checked against the SDK client types the same way.
"""

from __future__ import annotations

import base64
import json
import typing
import warnings
from collections.abc import Iterable
from typing import Annotated, Any, Union

import numpy as np
import pytest
from google.genai import types as genai_types
from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent
from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from pydantic import BaseModel, Field, TypeAdapter

from adk_realtime.sansio.audio import alaw_decode, ulaw_decode
from adk_realtime.sansio.sim.hub import (
    SimSessionClosed,
    SimulatorHub,
    SpeechRecognizer,
    synthesize_speech,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop


# --- oracles -----------------------------------------------------------------------------------


def _discriminated(alias: Any) -> TypeAdapter[Any]:
    args = typing.get_args(alias)
    members = typing.get_args(args[0]) if typing.get_origin(alias) is Annotated else args
    return TypeAdapter(Annotated[Union[tuple(members)], Field(discriminator="type")])  # noqa: UP007


GA_SERVER = _discriminated(RealtimeServerEvent)
BETA_SERVER = _discriminated(BetaServerEvent)
GA_CLIENT = _discriminated(RealtimeClientEvent)


def assert_no_extra(value: Any, path: str = "$") -> None:
    """Fail on any key the SDK model does not declare, at any depth."""
    if isinstance(value, BaseModel):
        assert not value.model_extra, f"undeclared keys at {path}: {sorted(value.model_extra)}"
        for name in type(value).model_fields:
            assert_no_extra(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            assert_no_extra(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            assert_no_extra(v, f"{path}.{k}")


TOOL_GA = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
QUESTION = "What's the weather in Paris?"
GEMINI_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"


class Client:
    """A hand-written client driving one simulated session on a fake clock."""

    def __init__(
        self,
        hub: SimulatorHub,
        kind: str = "openai",
        *,
        model: str = "gpt-realtime",
        headers: Iterable[tuple[str, str]] = (),
        transport: str = "websocket",
        now: float = 0.0,
    ) -> None:
        self.kind = kind
        self.now = now
        path = f"/v1/realtime?model={model}" if kind == "openai" else GEMINI_PATH
        self.session = hub.open_session(
            kind,  # type: ignore[arg-type]
            path=path,
            headers=list(headers),
            now=now,
            transport=transport,  # type: ignore[arg-type]
        )
        self.beta = getattr(self.session, "beta", False)
        self.log: list[dict[str, Any]] = []
        self.ended: SimSessionClosed | None = None  # the session's close event, once it came
        self.drain()

    @property
    def close_code(self) -> int | None:
        return self.ended.code if self.ended is not None else None

    def drain(self) -> None:
        while (event := self.session.next_event()) is not None:
            assert self.ended is None, "a session ends once"
            self.ended = event
        for text in self.session.data_to_send():
            text.encode("utf-8")  # what a socket does with it: a lone surrogate would raise
            msg = json.loads(text)
            if self.kind == "gemini":
                genai_types.LiveServerMessage.model_validate(msg)
            else:
                assert_no_extra((BETA_SERVER if self.beta else GA_SERVER).validate_python(msg))
            self.log.append(msg)

    def send(self, msg: dict[str, Any]) -> None:
        if self.kind == "gemini":
            setup = dict(msg.get("setup", {}))
            # The SDK's LiveClientSetup lacks realtimeInputConfig: check that part on its own.
            genai_types.RealtimeInputConfig.model_validate(setup.pop("realtimeInputConfig", {}))
            genai_types.LiveClientMessage.model_validate({**msg, "setup": setup} if setup else msg)
        elif not self.beta:
            assert_no_extra(GA_CLIENT.validate_python(msg))
        self.session.receive_data(json.dumps(msg), self.now)
        self.drain()

    def advance(self, seconds: float) -> None:
        """Let simulated time pass, firing the session's timers on the way."""
        end = self.now + seconds
        while (timer := self.session.get_timer()) is not None and timer <= end:
            self.now = max(self.now, timer)
            self.session.handle_timer(self.now)
            self.drain()
        self.now = end

    def speak(self, pcm: bytes, rate: int, *, chunk_ms: int = 20, encode: Any = None) -> None:
        """Stream audio in real time (one chunk per ``chunk_ms`` of simulated time)."""
        step = rate * chunk_ms // 1000 * 2
        for i in range(0, len(pcm), step):
            piece = pcm[i : i + step]
            payload = encode(piece) if encode else piece
            b64 = base64.b64encode(payload).decode()
            if self.kind == "gemini":
                blob = {"data": b64, "mimeType": f"audio/pcm;rate={rate}"}
                self.send({"realtimeInput": {"audio": blob}})
            else:
                self.send({"type": "input_audio_buffer.append", "audio": b64})
            self.advance(len(piece) / 2 / rate)

    def types(self) -> list[str]:
        if self.kind == "gemini":
            return [next(iter(m)) for m in self.log]
        return [m["type"] for m in self.log]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.log if m.get("type") == kind]


def silence(ms: int, rate: int) -> bytes:
    return bytes(rate * ms // 1000 * 2)


def decode(pcm: bytes, rate: int) -> str:
    ears = SpeechRecognizer(rate)
    ears.feed(pcm)
    return ears.text


def resample(pcm: bytes, src: int, dst: int) -> bytes:
    x = np.frombuffer(pcm, "<i2").astype(np.float64)
    n = round(len(x) * dst / src)
    y = np.interp(np.arange(n) * src / dst, np.arange(len(x)), x)
    return np.round(y).astype("<i2").tobytes()


def openai_audio(client: Client) -> bytes:
    kinds = ("response.output_audio.delta", "response.audio.delta")
    return b"".join(base64.b64decode(m["delta"]) for m in client.log if m.get("type") in kinds)


# --- OpenAI ----------------------------------------------------------------------------------------


def _tool_turn(client: Client) -> None:
    """Speak the weather question, answer the tool call, hear the answer."""
    client.speak(
        silence(300, 24000) + synthesize_speech(QUESTION, 24000) + silence(700, 24000), 24000
    )
    types = client.types()
    assert types.index("input_audio_buffer.speech_started") < types.index(
        "input_audio_buffer.speech_stopped"
    )
    assert client.of("input_audio_buffer.committed")
    done = client.of("response.function_call_arguments.done")
    assert len(done) == 1 and json.loads(done[0]["arguments"]) == {"city": "Paris"}
    first = client.of("response.done")[0]["response"]
    assert first["status"] == "completed" and first["output"][0]["type"] == "function_call"
    call_id = done[0]["call_id"]
    assert first["output"][0]["call_id"] == call_id
    output = {"type": "function_call_output", "call_id": call_id, "output": "sunny, 22 C"}
    client.send({"type": "conversation.item.create", "item": output})
    client.send({"type": "response.create"})
    client.advance(10)
    final = client.of("response.done")[-1]["response"]
    assert final["status"] == "completed"
    heard = decode(openai_audio(client), 24000)
    assert heard == "Here is the weather: sunny, 22 C."
    kind = (
        "response.audio_transcript.delta"
        if client.beta
        else "response.output_audio_transcript.delta"
    )
    assert "".join(m["delta"] for m in client.of(kind)) == heard
    assert final["output"][0]["content"][0]["transcript"] == heard


def test_openai_ga_voice_turn_with_tool_call_validates_strictly() -> None:
    client = Client(SimulatorHub(pace=0))
    assert client.types() == ["session.created"]
    session = {
        "type": "realtime",
        "tools": [TOOL_GA],
        "audio": {"input": {"transcription": {"model": "whisper-1"}}},
    }
    client.send({"type": "session.update", "session": session})
    assert client.of("session.updated")[0]["session"]["tools"] == [TOOL_GA]
    _tool_turn(client)
    transcript = client.of("conversation.item.input_audio_transcription.completed")
    assert transcript[0]["transcript"] == QUESTION
    assert (
        "conversation.item.added" in client.types() and "conversation.item.done" in client.types()
    )


def test_openai_beta_dialect_voice_turn_with_tool_call_validates_strictly() -> None:
    client = Client(
        SimulatorHub(pace=0),
        model="gpt-4o-realtime-preview-2024-12-17",
        headers=[("OpenAI-Beta", "realtime=v1")],
    )
    assert client.beta and client.types() == ["session.created", "conversation.created"]
    client.send({"type": "session.update", "session": {"tools": [TOOL_GA]}})
    _tool_turn(client)
    assert "response.audio.delta" in client.types()
    assert "conversation.item.added" not in client.types()
    assert "name" not in client.of("response.function_call_arguments.done")[0]


def test_openai_beta_header_selects_beta_dialect() -> None:
    client = Client(SimulatorHub(pace=0), headers=[("OpenAI-Beta", "realtime=v1")])
    assert client.beta


def test_openai_text_item_and_text_modality_get_text_deltas() -> None:
    client = Client(SimulatorHub(pace=0))
    client.send(
        {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}
    )
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
    client.send({"type": "conversation.item.create", "item": item})
    client.send({"type": "response.create"})
    text = "".join(m["delta"] for m in client.of("response.output_text.delta"))
    assert text == client.of("response.output_text.done")[0]["text"]
    assert text.startswith("Hello!")
    assert "response.output_audio.delta" not in client.types()


def test_openai_audio_is_paced_by_the_clock() -> None:
    client = Client(SimulatorHub(pace=1.0, chunk_ms=100))
    item = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "banana"}],
    }
    client.send({"type": "conversation.item.create", "item": item})
    client.send({"type": "response.create"})
    assert len(client.of("response.output_audio.delta")) == 1
    assert client.session.get_timer() == pytest.approx(0.1)
    client.advance(0.35)
    assert len(client.of("response.output_audio.delta")) == 4
    assert not client.of("response.done")
    client.advance(10)
    assert client.of("response.done")[0]["response"]["status"] == "completed"
    assert client.session.get_timer() is None


def test_user_speech_during_a_response_cancels_it() -> None:
    client = Client(SimulatorHub(pace=1.0))
    item = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "banana split"}],
    }
    client.send({"type": "conversation.item.create", "item": item})
    client.send({"type": "response.create"})
    client.advance(0.5)
    client.speak(synthesize_speech("stop", 24000)[:9600], 24000)  # 200 ms of talking over it
    types = client.types()
    started = types.index("input_audio_buffer.speech_started")
    done = client.of("response.done")[0]["response"]
    assert types.index("response.done") > started
    assert done["status"] == "cancelled"
    assert done["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert done["output"][0]["status"] == "incomplete"
    said = done["output"][0]["content"][0]["transcript"]
    assert "You said: banana split".startswith(said) and said != "You said: banana split"
    assert "output_audio_buffer.cleared" not in types  # WebSocket: the client clears its own


def test_truncate_is_clamped_to_audio_sent_and_cuts_the_transcript() -> None:
    client = Client(SimulatorHub(pace=1.0))
    item = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "banana split"}],
    }
    client.send({"type": "conversation.item.create", "item": item})
    client.send({"type": "response.create"})
    client.advance(0.45)
    item_id = client.of("response.output_item.added")[0]["item"]["id"]
    sent_ms = len(openai_audio(client)) // 48
    client.send(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": 1_000,  # played further than sent: clamped to what was sent
        }
    )
    truncated = client.of("conversation.item.truncated")[0]
    assert truncated["audio_end_ms"] == sent_ms == 500
    assert (
        client.of("response.done")[0]["response"]["status_details"]["reason"] == "client_cancelled"
    )
    client.send({"type": "conversation.item.retrieve", "item_id": item_id})
    transcript = client.of("conversation.item.retrieved")[0]["item"]["content"][0]["transcript"]
    assert transcript == decode(openai_audio(client), 24000)[: len(transcript)]
    assert 0 < len(transcript) < len("You said: banana split")


def test_truncate_beyond_an_active_items_whole_audio_is_an_error() -> None:
    client = Client(SimulatorHub(pace=1.0))
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    client.send({"type": "conversation.item.create", "item": item})
    client.send({"type": "response.create"})
    client.advance(0.25)
    item_id = client.of("response.output_item.added")[0]["item"]["id"]
    bad = {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0}
    client.send({**bad, "audio_end_ms": 60_000})
    assert client.of("error")[0]["error"]["param"] == "audio_end_ms"
    assert not client.of("response.done")  # the response goes on
    client.advance(10)
    assert client.of("response.done")[0]["response"]["status"] == "completed"


def test_truncate_beyond_a_finished_items_audio_is_an_error() -> None:
    client = Client(SimulatorHub(pace=0))
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    client.send({"type": "conversation.item.create", "item": item})
    client.send({"type": "response.create"})
    item_id = client.of("response.output_item.added")[0]["item"]["id"]
    total_ms = len(openai_audio(client)) // 48
    bad = {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0}
    client.send({**bad, "audio_end_ms": total_ms + 1000, "event_id": "evt_1"})
    error = client.of("error")[0]["error"]
    assert error["param"] == "audio_end_ms" and error["event_id"] == "evt_1"
    client.send({**bad, "audio_end_ms": 500})
    assert client.of("conversation.item.truncated")[0]["audio_end_ms"] == 500


def test_manual_turns_commit_then_response_create() -> None:
    client = Client(SimulatorHub(pace=0))
    off = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
    client.send({"type": "session.update", "session": off})
    assert client.of("session.updated")[0]["session"]["audio"]["input"]["turn_detection"] is None
    client.send({"type": "input_audio_buffer.commit"})
    assert client.of("error")[0]["error"]["code"] == "input_audio_buffer_commit_empty"
    client.speak(synthesize_speech("hello", 24000) + silence(1000, 24000), 24000)
    assert "input_audio_buffer.speech_started" not in client.types()
    client.send({"type": "input_audio_buffer.commit"})
    client.send({"type": "response.create"})
    assert decode(openai_audio(client), 24000).startswith("Hello!")


def test_clear_drops_buffered_audio() -> None:
    client = Client(SimulatorHub(pace=0))
    client.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
        }
    )
    client.speak(synthesize_speech("hello", 24000), 24000)
    client.send({"type": "input_audio_buffer.clear"})
    assert "input_audio_buffer.cleared" in client.types()
    client.send({"type": "input_audio_buffer.commit"})
    assert client.of("error")[0]["error"]["code"] == "input_audio_buffer_commit_empty"


@pytest.mark.parametrize("law", ["audio/pcmu", "audio/pcma"])
def test_g711_input_and_output_formats_are_honoured(law: str) -> None:
    client = Client(SimulatorHub(pace=0))
    fmt = {"type": law}
    session = {"type": "realtime", "audio": {"input": {"format": fmt}, "output": {"format": fmt}}}
    client.send({"type": "session.update", "session": session})
    encode = (
        (lambda p: audioop.lin2ulaw(p, 2))
        if law == "audio/pcmu"
        else (lambda p: audioop.lin2alaw(p, 2))
    )
    client.speak(synthesize_speech("hello", 8000) + silence(700, 8000), 8000, encode=encode)
    audio = openai_audio(client)
    pcm = ulaw_decode(audio) if law == "audio/pcmu" else alaw_decode(audio)
    assert decode(pcm, 8000).startswith("Hello!")


def test_invalid_client_events_are_answered_with_errors_not_crashes() -> None:
    client = Client(SimulatorHub(pace=0))
    garbage: list[str | bytes] = [
        "{not json",
        b"\xff\xfe",
        "[1, 2]",
        json.dumps({"no": "type"}),
        json.dumps({"type": "no.such.event", "event_id": "e9"}),
        json.dumps({"type": "session.update", "session": {"type": "realtime", "bogus": 1}}),
        json.dumps({"type": "session.update", "session": {"instructions": "x"}}),
        json.dumps(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}},
                },
            }
        ),
        json.dumps({"type": "input_audio_buffer.append", "audio": "!!!"}),
        json.dumps({"type": "response.cancel"}),
        json.dumps({"type": "conversation.item.delete", "item_id": "nope"}),
        json.dumps(
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": "x", "output": "y"},
            }
        ),
        json.dumps(
            {
                "type": "conversation.item.truncate",
                "item_id": "nope",
                "content_index": 0,
                "audio_end_ms": 5,
            }
        ),
        json.dumps({"type": "response.create", "response": {"output_modalities": 5}}),
        json.dumps({"type": "output_audio_buffer.clear"}),
    ]
    for message in garbage:
        client.session.receive_data(message, client.now)
        client.drain()
    errors = client.of("error")
    assert len(errors) == len(garbage)
    assert errors[4]["error"]["event_id"] == "e9" and errors[4]["error"]["param"] == "type"
    assert errors[5]["error"]["code"] == "unknown_parameter"
    assert errors[6]["error"]["code"] == "missing_required_parameter"
    assert errors[9]["error"]["code"] == "response_cancel_not_active"
    assert client.ended is None
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    client.send({"type": "conversation.item.create", "item": item})
    client.send({"type": "response.create"})
    assert client.of("response.done")[0]["response"]["status"] == "completed"


LONE_SURROGATES = ("\ud800", "\udfff", "a\udc00b", "\ud83d")  # \ud83d: half an emoji


def _user_text_item(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


@pytest.mark.parametrize("surrogate", LONE_SURROGATES)
def test_openai_lone_surrogate_in_user_text_is_an_error_event_not_a_crash(surrogate: str) -> None:
    client = Client(SimulatorHub(pace=0))
    item = _user_text_item(f"hello {surrogate}")
    # JSON spells it as an escape (what json.dumps writes); a binary frame may carry it raw.
    as_escape = json.dumps({"type": "conversation.item.create", "event_id": "e1", "item": item})
    as_raw_bytes = json.dumps(
        {"type": "conversation.item.create", "item": item}, ensure_ascii=False
    ).encode("utf-8", "surrogatepass")
    in_a_key = json.dumps({"type": "response.create", "response": {surrogate: 1}})
    in_event_id = json.dumps({"type": "response.create", "event_id": surrogate})
    for message in (as_escape, as_raw_bytes, in_a_key, in_event_id):
        client.session.receive_data(message, client.now)
        client.drain()
    errors = [m["error"] for m in client.of("error")]
    assert [e["code"] for e in errors] == ["invalid_value"] * 4
    assert errors[0]["param"] == errors[1]["param"] == "item.content[0].text"
    assert errors[0]["event_id"] == "e1" and errors[3]["event_id"] is None
    assert (
        errors[2]["param"] == "response." + surrogate.encode("utf-8", "backslashreplace").decode()
    )
    assert "lone surrogate" in errors[0]["message"]
    # Nothing of the refused events was applied, and the session goes on.
    assert not client.of("conversation.item.added") and not client.of("response.created")
    assert client.ended is None
    client.send({"type": "conversation.item.create", "item": _user_text_item("hello")})
    client.send({"type": "response.create"})
    assert client.of("response.done")[0]["response"]["status"] == "completed"
    assert decode(openai_audio(client), 24000).startswith("Hello!")


@pytest.mark.parametrize("surrogate", LONE_SURROGATES)
def test_openai_lone_surrogate_in_a_tool_output_is_an_error_event(surrogate: str) -> None:
    client = Client(SimulatorHub(pace=0))
    client.send({"type": "session.update", "session": {"type": "realtime", "tools": [TOOL_GA]}})
    client.send({"type": "conversation.item.create", "item": _user_text_item(QUESTION)})
    client.send({"type": "response.create"})
    (call,) = client.of("response.function_call_arguments.done")
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": surrogate}
    client.session.receive_data(
        json.dumps({"type": "conversation.item.create", "item": output}), client.now
    )
    client.drain()
    assert client.of("error")[0]["error"]["param"] == "item.output"
    assert client.ended is None


def test_second_response_create_while_one_is_active_is_refused() -> None:
    client = Client(SimulatorHub(pace=1.0))
    client.send({"type": "response.create"})
    client.send({"type": "response.create"})
    assert client.of("error")[0]["error"]["code"] == "conversation_already_has_active_response"
    client.send({"type": "response.cancel"})
    assert client.of("response.done")[0]["response"]["status"] == "cancelled"


def test_voice_cannot_change_once_audio_was_spoken() -> None:
    client = Client(SimulatorHub(pace=0))
    client.send({"type": "response.create"})
    client.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"output": {"voice": "marin"}}},
        }
    )
    assert client.of("error")[0]["error"]["code"] == "cannot_update_voice"


def test_webrtc_sessions_play_an_output_audio_buffer() -> None:
    client = Client(SimulatorHub(pace=0), transport="webrtc")
    client.send({"type": "response.create"})
    assert client.of("output_audio_buffer.started")
    assert not client.of("output_audio_buffer.stopped")  # still playing in real time
    client.advance(0.5)
    client.send({"type": "output_audio_buffer.clear"})
    assert client.of("output_audio_buffer.cleared")
    assert client.of("conversation.item.truncated")[0]["audio_end_ms"] == 500
    client.send({"type": "response.create"})
    client.advance(60)
    assert client.of("output_audio_buffer.stopped")


def test_openai_session_expiry_sends_an_error_then_closes() -> None:
    client = Client(SimulatorHub(pace=0, go_away_after=60, go_away_time_left=2))
    client.advance(60)
    assert client.of("error")[0]["error"]["code"] == "session_expired"
    assert client.ended is None
    client.advance(2)
    assert client.close_code == 1000


# --- Gemini ----------------------------------------------------------------------------------------

GEMINI_TOOL = {
    "functionDeclarations": [
        {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "type": "OBJECT",
                "properties": {"city": {"type": "STRING"}},
                "required": ["city"],
            },
        }
    ]
}


def gemini_setup(client: Client, **extra: Any) -> None:
    setup = {
        "model": "models/gemini-live-2.5-flash",
        "generationConfig": {"responseModalities": ["AUDIO"]},
    }
    client.send({"setup": {**setup, **extra}})
    assert client.types()[0] == "setupComplete"


def gemini_audio(client: Client) -> bytes:
    out = b""
    for m in client.log:
        for part in m.get("serverContent", {}).get("modelTurn", {}).get("parts", []):
            if "inlineData" in part:
                assert part["inlineData"]["mimeType"] == "audio/pcm;rate=24000"
                out += base64.b64decode(part["inlineData"]["data"])
    return out


def server_content(client: Client, key: str) -> list[Any]:
    return [m["serverContent"][key] for m in client.log if key in m.get("serverContent", {})]


def test_gemini_voice_turn_with_tool_call_validates() -> None:
    client = Client(SimulatorHub(pace=0), "gemini")
    gemini_setup(
        client, tools=[GEMINI_TOOL], inputAudioTranscription={}, outputAudioTranscription={}
    )
    client.speak(
        silence(300, 16000) + synthesize_speech(QUESTION, 16000) + silence(700, 16000), 16000
    )
    assert server_content(client, "inputTranscription") == [{"text": QUESTION}]
    calls = [m["toolCall"]["functionCalls"] for m in client.log if "toolCall" in m]
    assert len(calls) == 1 and calls[0][0]["name"] == "get_weather"
    assert calls[0][0]["args"] == {"city": "Paris"}
    assert not server_content(client, "turnComplete")
    reply = {"id": calls[0][0]["id"], "name": "get_weather", "response": {"output": "sunny, 22 C"}}
    client.send({"toolResponse": {"functionResponses": [reply]}})
    heard = decode(gemini_audio(client), 24000)
    assert heard == "Here is the weather: sunny, 22 C."
    assert "".join(t["text"] for t in server_content(client, "outputTranscription")) == heard
    assert server_content(client, "generationComplete") == [True]
    assert server_content(client, "turnComplete") == [True]
    assert client.log[-1]["usageMetadata"]["totalTokenCount"] > 0


def test_gemini_accepts_snake_case_and_url_safe_base64() -> None:
    client = Client(SimulatorHub(pace=0), "gemini")
    setup = {"model": "models/x", "generation_config": {"response_modalities": ["TEXT"]}}
    client.send({"setup": setup})
    pcm = synthesize_speech("hello", 16000) + silence(700, 16000)
    for i in range(0, len(pcm), 640):
        data = base64.urlsafe_b64encode(pcm[i : i + 640]).decode()
        client.send(
            {
                "realtime_input": {
                    "media_chunks": [{"data": data, "mime_type": "audio/pcm;rate=16000"}]
                }
            }
        )
        client.advance(0.02)
    text = "".join(p["text"] for m in server_content(client, "modelTurn") for p in m["parts"])
    assert text.startswith("Hello!")
    client.send(
        {
            "client_content": {
                "turns": [{"role": "user", "parts": [{"text": "banana"}]}],
                "turn_complete": True,
            }
        }
    )
    assert server_content(client, "modelTurn")[-1]["parts"][0]["text"].endswith("banana")
