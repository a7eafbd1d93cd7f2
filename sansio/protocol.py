"""The interface every provider protocol object implements.

A provider protocol (``OpenAIProtocol``, ``GeminiProtocol``) is a pure state
machine between the unified events and one provider's JSON messages. It never
sees a socket and speaks the same sans-IO contract as every machine in
:mod:`adk_realtime.sansio`: input through ``receive_data``, events out through
``next_event``, commands that queue messages collected by ``data_to_send``.

Driving loop::

    proto = OpenAIProtocol(model)
    proto.start(config)                      # first thing on a fresh connection
    for msg in proto.data_to_send():
        transport.send(msg)
    ...
    proto.send_event(client_event)           # a command queues 0, 1 or more messages
    for msg in proto.data_to_send():
        transport.send(msg)
    ...
    proto.receive_data(data, now)            # raises DecodeError on bad input
    while (event := proto.next_event()) is not None:
        handle(event)
"""

from __future__ import annotations

from typing import Protocol

from adk_realtime.sansio.config import AudioFormat, RealtimeConfig
from adk_realtime.sansio.events import ClientEvent, ServerEvent


class RealtimeProtocol(Protocol):
    """What the session layer needs from a provider protocol."""

    @property
    def input_audio_format(self) -> AudioFormat:
        """The format :meth:`send_audio` takes (after the session's conversion)."""
        ...

    @property
    def output_audio_format(self) -> AudioFormat:
        """The format of ``AudioDelta.delta`` coming out."""
        ...

    # -- input and events

    def receive_data(self, data: str | bytes, now: float) -> None:
        """Decode one received message; raises ``DecodeError`` and queues nothing on bad input.

        Then read its events with :meth:`next_event`. Decoding never queues messages.
        """
        ...

    def next_event(self) -> ServerEvent | None:
        """The next decoded event, or ``None`` when all received messages are handled."""
        ...

    # -- output and timers

    def data_to_send(self) -> list[str]:
        """The messages queued by commands since the last call; send them in order."""
        ...

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` is due, or ``None``."""
        ...

    def handle_timer(self, now: float) -> None:
        """Run what was due at ``now``."""
        ...

    # -- commands (each queues messages; collect them with data_to_send)

    def start(self, config: RealtimeConfig) -> None:
        """Queue the first message(s) of a fresh connection (OpenAI session.update, Gemini setup)."""
        ...

    def send_event(self, event: ClientEvent) -> None:
        """Queue one client command, updating local state; ``LocalProtocolError`` if impossible."""
        ...

    def send_audio(self, audio: bytes) -> None:
        """The fast path of ``AudioAppend``: queue the message(s) carrying ``audio``."""
        ...
