"""The interface every provider protocol object implements.

A provider protocol (``OpenAIProtocol``, ``GeminiProtocol``) is a pure state
machine between the unified events and one provider's JSON messages. It never
sees a socket: the session driver feeds it each received WebSocket (or data
channel) message and sends whatever text it returns.

Driving loop::

    proto = OpenAIProtocol(model)
    for msg in proto.initial_messages(config):   # send these right after connecting
        transport.send(msg)
    ...
    for msg in proto.encode(client_event):       # a command may be 0, 1 or more messages
        transport.send(msg)
    ...
    for event in proto.receive_message(data):    # raises DecodeError on bad input
        handle(event)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from adk_realtime.sansio.config import AudioFormat, RealtimeConfig
from adk_realtime.sansio.events import ClientEvent, ServerEvent


class RealtimeProtocol(Protocol):
    """What the session layer needs from a provider protocol."""

    @property
    def input_audio_format(self) -> AudioFormat:
        """The format ``AudioAppend.audio`` must be in (after the session's conversion)."""
        ...

    @property
    def output_audio_format(self) -> AudioFormat:
        """The format of ``AudioDelta.delta`` coming out."""
        ...

    def initial_messages(self, config: RealtimeConfig) -> Sequence[str]:
        """Messages to send first on a fresh connection (OpenAI session.update, Gemini setup)."""
        ...

    def encode(self, event: ClientEvent) -> Sequence[str]:
        """Encode one client command as wire messages, updating local state."""
        ...

    def encode_audio(self, audio: bytes) -> str:
        """Fast path for ``AudioAppend``: one message carrying ``audio``."""
        ...

    def receive_message(self, data: str | bytes) -> Sequence[ServerEvent]:
        """Decode one received message into unified events; raises ``DecodeError``."""
        ...
