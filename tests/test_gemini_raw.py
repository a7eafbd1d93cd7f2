"""``send_raw`` with Gemini's transparent resumption (issue 14's loose end).

The server counts every client message of a connection in
``lastConsumedClientMessageIndex``, raw ones too. A raw message sent around the
protocol was not numbered by its ``ClientMessageLog``: every later index was one off
(the log forgot a message the server had not taken) and the raw message itself was
never sent again. Now ``send_raw`` goes through the protocol: numbered like the rest,
sent again after a resumption when the server had not taken it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import RealtimeConfig
from adk_realtime.sansio.errors import ConnectionClosed, LocalProtocolError, MessageTooLargeToSend
from adk_realtime.sansio.gemini.protocol import GeminiProtocol
from adk_realtime.sansio.gemini.wire import MAX_MESSAGE_SIZE
from adk_realtime.sansio.openai.protocol import OpenAIProtocol
from adk_realtime.session import Link, RealtimeSession, SessionOptions, open_session

RAW = '{"realtimeInput": {"text": "a raw hello"}}'


def update(index: int, handle: str = "h1") -> str:
    body = {"newHandle": handle, "resumable": True, "lastConsumedClientMessageIndex": str(index)}
    return json.dumps({"sessionResumptionUpdate": body})


def started(transparent: bool = True) -> GeminiProtocol:
    protocol = GeminiProtocol("gemini-live-2.5-flash-preview", transparent_resumption=transparent)
    protocol.start(RealtimeConfig())
    protocol.data_to_send()  # the setup, message 0
    protocol.receive_data(json.dumps({"setupComplete": {}}), 0.0)
    while protocol.next_event() is not None:
        pass
    return protocol


def resume(protocol: GeminiProtocol) -> list[str]:
    """What the next connection sends after its ``setupComplete``."""
    protocol.start(RealtimeConfig())
    (setup,) = protocol.data_to_send()
    assert json.loads(setup)["setup"]["sessionResumption"]["handle"] == "h1"
    protocol.receive_data(json.dumps({"setupComplete": {}}), 0.0)
    while protocol.next_event() is not None:
        pass
    return protocol.data_to_send()


@pytest.mark.parametrize(("consumed", "replayed"), [(0, 2), (1, 1), (2, 0)])
def test_a_raw_message_is_numbered_with_the_others(consumed: int, replayed: int) -> None:
    protocol = started()
    protocol.send_raw(RAW)  # message 1
    protocol.send_event(ev.ItemCreate(text="then a question"))  # message 2
    sent = protocol.data_to_send()
    assert sent[0] == RAW and len(sent) == 2
    protocol.receive_data(update(consumed), 0.0)
    assert resume(protocol) == sent[len(sent) - replayed :]


def test_what_a_start_queued_for_a_setup_complete_that_never_came_goes_next_time() -> None:
    protocol = started()
    protocol.send_raw(RAW)
    protocol.send_event(ev.ItemCreate(text="then a question"))
    sent = protocol.data_to_send()
    protocol.receive_data(update(0), 0.0)
    protocol.start(RealtimeConfig())  # resuming from h1; the connection ends before setupComplete
    protocol.data_to_send()  # its setup
    protocol.send_event(ev.ItemCreate(text="said meanwhile"))
    meanwhile = protocol.data_to_send()
    assert resume(protocol) == sent + meanwhile  # oldest first, each once


def test_without_transparent_resumption_nothing_is_sent_again() -> None:
    protocol = started(transparent=False)
    protocol.send_raw(RAW)
    assert protocol.data_to_send() == [RAW]
    protocol.receive_data(update(0), 0.0)
    assert resume(protocol) == []


@pytest.mark.parametrize("make", [lambda: started(), lambda: OpenAIProtocol("gpt-realtime")])
def test_bad_raw_messages_queue_nothing(make: Any) -> None:
    protocol = make()
    protocol.data_to_send()
    with pytest.raises(LocalProtocolError, match="JSON text"):
        protocol.send_raw(b"{}")
    with pytest.raises(MessageTooLargeToSend, match="send_raw"):
        protocol.send_raw('{"x": "' + "x" * (16 * 2**20) + '"}')
    assert protocol.data_to_send() == []


def test_openai_queues_a_raw_message_as_is() -> None:
    protocol = OpenAIProtocol("gpt-realtime")
    protocol.send_raw('{"type": "input_audio_buffer.clear"}')
    assert protocol.data_to_send() == ['{"type": "input_audio_buffer.clear"}']
    assert MAX_MESSAGE_SIZE > 0


# ------------------------------------------------------------------ the session


class ScriptedLink:
    """Replies from ``inbox``; then waits for :meth:`drop` (a 1006 close) or ``aclose``."""

    def __init__(self, inbox: list[str]) -> None:
        self.sent: list[str] = []
        self.inbox = inbox
        self.dropped = False
        self.ended = anyio.Event()  # dropped or closed

    def drop(self) -> None:
        self.dropped = True
        self.ended.set()

    async def send(self, message: str) -> None:
        self.sent.append(message)

    async def receive(self) -> str:
        if self.inbox:
            return self.inbox.pop(0)
        await self.ended.wait()
        raise ConnectionClosed(1006, "dropped") if self.dropped else ConnectionClosed(1000, "")

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        self.ended.set()


def transparent_session(
    links: list[ScriptedLink], options: SessionOptions | None = None
) -> tuple[GeminiProtocol, RealtimeSession]:
    """A Gemini session with transparent resumption whose connections are ``links``."""
    remaining = iter(links)

    @asynccontextmanager
    async def factory(_handle: str | None) -> AsyncIterator[Link]:
        yield next(remaining)

    protocol = GeminiProtocol("gemini-live-2.5-flash-preview", transparent_resumption=True)
    session = RealtimeSession(
        protocol, RealtimeConfig(), factory, provider="gemini", options=options or SessionOptions()
    )
    return protocol, session


async def test_a_raw_message_the_server_did_not_take_goes_again_after_the_drop(
    anyio_backend: str,
) -> None:
    setup_complete = json.dumps({"setupComplete": {}})
    first = ScriptedLink([setup_complete, update(0)])
    second = ScriptedLink([setup_complete])
    protocol, session = transparent_session([first, second])
    async with open_session(session):
        with anyio.fail_after(10):
            while protocol.resumption_handle is None:  # the update with the handle came
                await session.next_event()
            await session.send_raw(RAW)
            await session.send_text("then a question")
            first.drop()
            while not isinstance(await session.next_event(), ev.SessionResumed):
                pass
    assert first.sent[1:] == [RAW, first.sent[2]]
    assert second.sent[1:] == first.sent[1:]  # the server took neither: both go again
    assert json.loads(second.sent[0])["setup"]["sessionResumption"]["handle"] == "h1"


@pytest.mark.parametrize("acknowledged", [True, False])
async def test_a_resumed_link_gone_before_it_said_anything_resumes_again(
    anyio_backend: str, acknowledged: bool
) -> None:
    """Under load a resumed connection can reach its end (the cap, a drop) before the
    session reads a message from it: its server never said whether the conversation is
    resumable, and the handle it resumed from is still good, so the session resumes from
    that handle again instead of ending the call (the long-call example under load)."""
    setup_complete = json.dumps({"setupComplete": {}})
    first = ScriptedLink([setup_complete, update(0)])
    gone = ScriptedLink([setup_complete] if acknowledged else [])
    gone.drop()  # ends as soon as the setup is acknowledged, or before
    third = ScriptedLink([setup_complete])
    options = SessionOptions(reconnect_backoff=0.01)
    protocol, session = transparent_session([first, gone, third], options)
    resumed = 0
    async with open_session(session):
        with anyio.fail_after(10):
            while protocol.resumption_handle is None:
                await session.next_event()
            await session.send_text("a question")
            first.drop()
            while resumed < (2 if acknowledged else 1):  # (a link never set up resumes nothing)
                event = await session.next_event()
                assert event is not None
                resumed += isinstance(event, ev.SessionResumed)
            await session.send_text("another")
    for link in (gone, third):
        assert json.loads(link.sent[0])["setup"]["sessionResumption"]["handle"] == "h1"
    # The unconfirmed question went again, once, whether or not the gone link got it.
    assert third.sent[1:].count(first.sent[1]) == 1 and third.sent[1] == first.sent[1]
    assert json.loads(third.sent[-1])["clientContent"]["turns"][0]["parts"][0]["text"] == "another"


class GatedLink(ScriptedLink):
    """A ScriptedLink whose first reply (the ``setupComplete``) waits for ``release``."""

    def __init__(self, inbox: list[str]) -> None:
        super().__init__(inbox)
        self.release = anyio.Event()
        self.setup_sent = anyio.Event()

    async def send(self, message: str) -> None:
        await super().send(message)
        self.setup_sent.set()

    async def receive(self) -> str:
        await self.release.wait()
        return await super().receive()


@pytest.mark.parametrize(("consumed", "again"), [(1, ["said during the setup"]), (2, [])])
async def test_what_is_said_while_a_resumed_link_waits_for_its_setup_is_numbered_as_sent(
    anyio_backend: str, consumed: int, again: list[str]
) -> None:
    """The replay goes first on a resumed link; what the app says while the link waits
    for ``setupComplete`` goes after it and is numbered after it, so the server's
    ``lastConsumedClientMessageIndex`` and the log agree at the next resumption (they
    disagreed under load: one message sent twice, another lost)."""
    setup_complete = json.dumps({"setupComplete": {}})
    first = ScriptedLink([setup_complete, update(0)])
    second = GatedLink([setup_complete, update(consumed, "h2")])
    third = ScriptedLink([setup_complete])
    protocol, session = transparent_session([first, second, third])
    async with open_session(session):
        with anyio.fail_after(10):
            while protocol.resumption_handle is None:
                await session.next_event()
            await session.send_text("said before the drop")
            first.drop()
            await second.setup_sent.wait()
            await session.send_text("said during the setup")
            second.release.set()
            while not isinstance(await session.next_event(), ev.SessionResumed):
                pass
            while protocol.resumption_handle != "h2":
                await session.next_event()
            second.drop()
            while not isinstance(await session.next_event(), ev.SessionResumed):
                pass

    def said(message: str) -> str:
        return str(json.loads(message)["clientContent"]["turns"][0]["parts"][0]["text"])

    assert [said(m) for m in second.sent[1:]] == ["said before the drop", "said during the setup"]
    assert [said(m) for m in third.sent[1:]] == again
