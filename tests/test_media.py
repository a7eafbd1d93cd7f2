"""Image and video input (issue 18 item 3): the protocol commands (every message checked
strictly against the official SDK types), the video frame-rate policy, and the runner
showing an image to the simulator under asyncio and trio."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from adk_realtime import RealtimeAgent, RealtimeRunner
from adk_realtime.drivers.simulator import run_simulator
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import RealtimeConfig
from adk_realtime.sansio.errors import ConfigError, LocalProtocolError, MessageTooLargeToSend
from adk_realtime.sansio.gemini import GeminiProtocol
from adk_realtime.sansio.media import FrameRateLimiter
from adk_realtime.sansio.openai import OpenAIProtocol
from adk_realtime.sansio.sim.hub import SimulatorHub
from tests import oracles_gemini, oracles_openai
from tests.test_runner import Recorder, model_for
from tests.test_simulator import Client

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(64))
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(24)


def _gemini() -> GeminiProtocol:
    proto = GeminiProtocol("gemini-live-2.5-flash")
    proto.start(RealtimeConfig())
    proto.data_to_send()
    return proto


# ---------------------------------------------------------------- OpenAI


@pytest.mark.parametrize(("image", "mime"), [(PNG, "image/png"), (JPEG, "image/jpeg")])
def test_openai_image_is_a_user_item_with_input_image(image: bytes, mime: str) -> None:
    proto = OpenAIProtocol("gpt-realtime")
    proto.send_image(image, mime)
    (message,) = proto.data_to_send()
    oracles_openai.validate_ga_client(message)
    item = json.loads(message)["item"]
    assert item["type"] == "message" and item["role"] == "user"
    (part,) = item["content"]
    assert part["type"] == "input_image"
    head, data = part["image_url"].split(",", 1)
    assert head == f"data:{mime};base64"
    assert base64.b64decode(data, validate=True) == image


@pytest.mark.parametrize(
    ("image", "mime", "why"),
    [
        (b"", "image/png", "empty"),
        (PNG, "image/gif", "image/jpeg, image/png"),
        (WEBP, "image/webp", "image/jpeg, image/png"),
        (JPEG, "image/png", "does not start like image/png"),
        ("not bytes", "image/png", "must be bytes"),
    ],
)
def test_openai_refuses_a_bad_image_and_queues_nothing(image: Any, mime: str, why: str) -> None:
    proto = OpenAIProtocol("gpt-realtime")
    with pytest.raises(LocalProtocolError, match=why):
        proto.send_image(image, mime)
    assert proto.data_to_send() == []


def test_openai_image_over_the_message_limit_is_refused() -> None:
    proto = OpenAIProtocol("gpt-realtime")
    with pytest.raises(MessageTooLargeToSend):
        proto.send_image(PNG + bytes(12 * 2**20), "image/png")
    assert proto.data_to_send() == []


def test_openai_beta_and_video_are_refused_clearly() -> None:
    beta = OpenAIProtocol("gpt-4o-realtime-preview")
    with pytest.raises(LocalProtocolError, match="beta Realtime API takes no images"):
        beta.send_image(PNG, "image/png")
    with pytest.raises(LocalProtocolError, match="takes no video"):
        OpenAIProtocol("gpt-realtime").send_video_frame(JPEG, "image/jpeg", 0.0)


def test_openai_image_echo_stays_out_of_the_record() -> None:
    proto = OpenAIProtocol("gpt-realtime")
    proto.send_image(PNG, "image/png")
    echo = {
        "type": "conversation.item.added",
        "event_id": "e1",
        "item": {
            "id": "item_img",
            "type": "message",
            "role": "user",
            "content": [{"type": "input_image"}],
        },
    }
    oracles_openai.validate_ga_server(echo)
    proto.receive_data(json.dumps(echo), 0.0)
    assert isinstance(proto.next_event(), ev.ItemCreated)
    assert list(proto.history) == []


# ---------------------------------------------------------------- Gemini


@pytest.mark.parametrize(
    ("image", "mime"), [(PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")]
)
def test_gemini_image_is_an_open_client_turn_with_inline_data(image: bytes, mime: str) -> None:
    proto = _gemini()
    proto.send_image(image, mime)
    (message,) = proto.data_to_send()
    parsed = oracles_gemini.validate_client(message)
    content = parsed.client_content
    assert content is not None and content.turn_complete is False
    (turn,) = content.turns or []
    (part,) = turn.parts or []
    assert part.inline_data is not None
    assert part.inline_data.data == image and part.inline_data.mime_type == mime
    # ResponseCreate closes the turn: the model answers now.
    proto.send_event(ev.ResponseCreate())
    (close,) = proto.data_to_send()
    oracles_gemini.validate_client(close)
    assert json.loads(close) == {"clientContent": {"turnComplete": True}}


def test_gemini_refuses_a_bad_image() -> None:
    proto = _gemini()
    for image, mime in ((PNG, "image/gif"), (b"", "image/png"), (PNG, "image/webp")):
        with pytest.raises(LocalProtocolError):
            proto.send_image(image, mime)
    with pytest.raises(MessageTooLargeToSend):
        proto.send_image(PNG + bytes(4 * 2**20), "image/png")
    with pytest.raises(LocalProtocolError, match="video"):
        proto.send_video_frame(WEBP, "image/webp", 0.0)  # frames are JPEG or PNG
    assert proto.data_to_send() == []


def test_gemini_video_frames_are_rate_limited_latest_wins() -> None:
    proto = _gemini()
    frames = [JPEG + bytes([n]) for n in range(4)]
    proto.send_video_frame(frames[0], "image/jpeg", 10.0)
    (first,) = proto.data_to_send()
    parsed = oracles_gemini.validate_client(first)
    assert parsed.realtime_input is not None and parsed.realtime_input.video is not None
    assert parsed.realtime_input.video.data == frames[0]
    assert proto.get_timer() is None
    proto.send_video_frame(frames[1], "image/jpeg", 10.3)  # too soon: waits
    proto.send_video_frame(frames[2], "image/jpeg", 10.6)  # replaces it
    assert proto.data_to_send() == []
    assert proto.video_frames_dropped == 1
    assert proto.get_timer() == pytest.approx(11.0)
    proto.handle_timer(10.9)
    assert proto.data_to_send() == []
    proto.handle_timer(11.0)
    (second,) = proto.data_to_send()
    assert json.loads(second)["realtimeInput"]["video"]["data"] == base64.b64encode(
        frames[2]
    ).decode("ascii")
    assert proto.get_timer() is None and proto.video_frames_sent == 2
    # A frame after its time goes at once.
    proto.send_video_frame(frames[3], "image/jpeg", 12.5)
    assert len(proto.data_to_send()) == 1


def test_frame_rate_limiter_never_holds_more_than_one_frame() -> None:
    gate: FrameRateLimiter[int] = FrameRateLimiter(max_fps=2.0)
    sent = [f for n in range(100) if (f := gate.offer(n, n * 0.01)) is not None]
    assert sent == [0, 50]  # 0.0 s and 0.5 s
    assert gate.due == pytest.approx(1.0)
    assert gate.take_due(1.0) == 99
    assert gate.dropped == 97 and gate.sent == 3
    # A newer frame after the waiting one's time replaces it (counted as dropped).
    gate.offer(100, 1.2)
    assert gate.offer(101, 1.6) == 101 and gate.dropped == 98
    for bad in (0, -1, 61, float("nan"), True, "1"):
        with pytest.raises(ConfigError, match="max_video_fps"):
            FrameRateLimiter(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_video_fps"):
        GeminiProtocol("gemini-live-2.5-flash", max_video_fps=0)


# ---------------------------------------------------------------- simulator


def test_the_simulators_see_images_and_frames() -> None:
    proto = OpenAIProtocol("gpt-realtime")
    proto.send_image(PNG, "image/png")
    proto.send_event(ev.ResponseCreate())
    client = Client(SimulatorHub(pace=0))
    for message in proto.data_to_send():
        client.send(json.loads(message))
    assert "I see an image." in json.dumps(client.log)
    bad = Client(SimulatorHub(pace=0))
    part = {"type": "input_image", "image_url": "https://example.com/x.png"}
    item = {"type": "message", "role": "user", "content": [part]}
    bad.send({"type": "conversation.item.create", "item": item})
    assert bad.log[-1]["type"] == "error"

    gemini = Client(SimulatorHub(pace=0), "gemini")
    proto_g = GeminiProtocol("gemini-live-2.5-flash")
    proto_g.start(RealtimeConfig())
    gemini.send(json.loads(proto_g.data_to_send()[0]))
    proto_g.send_video_frame(JPEG, "image/jpeg", 0.0)
    proto_g.send_image(PNG, "image/png")
    proto_g.send_event(ev.ResponseCreate())
    for message in proto_g.data_to_send():
        gemini.send(json.loads(message))
    assert gemini.session.stats.video_frames == 1
    transcript = "".join(
        m["serverContent"]["outputTranscription"]["text"]
        for m in gemini.log
        if "outputTranscription" in m.get("serverContent", {})
    )
    assert "I see an image." in transcript


@pytest.fixture
async def simulator() -> AsyncIterator[Any]:
    async with run_simulator(hub=SimulatorHub(pace=0)) as server:
        yield server


@pytest.mark.anyio
@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_runner_shows_an_image_and_the_model_answers(
    anyio_backend: str, provider: str, simulator: Any
) -> None:
    recorder = Recorder()
    runner = RealtimeRunner(
        agent=RealtimeAgent("a", model_for(provider, simulator)), event_handler=recorder
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        with anyio.fail_after(10):
            await runner.send_image(PNG, "image/png", respond=True)
            while "I see an image." not in recorder.text:
                await recorder.response_done.wait()
            if provider == "gemini":
                await runner.send_video_frame(JPEG, "image/jpeg")
            else:
                with pytest.raises(LocalProtocolError):
                    await runner.send_video_frame(JPEG, "image/jpeg")
        await runner.close()
