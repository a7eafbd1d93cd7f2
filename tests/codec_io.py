"""Drive a provider codec (``OpenAIProtocol`` / ``GeminiProtocol``) one call at a time.

The codecs speak the sans-IO contract: commands queue messages (collected with
``data_to_send()``), ``receive_data(message, now)`` queues events (read with
``next_event()``). These helpers give each call's output as a list, so a test
reads "this command sent these messages" / "this message gave these events".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import RealtimeConfig

NOW = 0.0  # the codecs keep no timers: any time will do


def decode(proto: Any, data: Any) -> list[ev.ServerEvent]:
    """The events of one received message (raises what ``receive_data`` raises)."""
    assert proto.next_event() is None, "events of an earlier message were left unread"
    proto.receive_data(data, NOW)
    events = []
    while (event := proto.next_event()) is not None:
        events.append(event)
    return events


def queued(proto: Any, command: Callable[..., None], *args: Any) -> list[str]:
    """The messages one command queued."""
    assert proto.data_to_send() == [], "messages of an earlier command were left unsent"
    command(*args)
    out: list[str] = proto.data_to_send()
    return out


def encode(proto: Any, event: ev.ClientEvent) -> list[str]:
    """The messages ``send_event(event)`` queued."""
    return queued(proto, proto.send_event, event)


def audio(proto: Any, pcm: Any) -> list[str]:
    """The messages ``send_audio(pcm)`` queued."""
    return queued(proto, proto.send_audio, pcm)


def started(proto: Any, config: RealtimeConfig) -> list[str]:
    """The messages ``start(config)`` queued (the first of a connection)."""
    return queued(proto, proto.start, config)


def one(messages: list[str]) -> str:
    """The only message of a list."""
    assert len(messages) == 1, messages
    return messages[0]


def updated(proto: Any, config: RealtimeConfig) -> str:
    """The message ``update_session(config)`` queued (OpenAI: one ``session.update``)."""
    return one(queued(proto, proto.update_session, config))
