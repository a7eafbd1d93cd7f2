"""Stand-ins for the phone tests: a bridge that answers every call with a greeting.

``GreetingBridge`` has ``bridge_call``'s shape and does the carrier side of it the way
the real bridge must (feed the socket's messages to the stream, send what the stream
queues) without a model: when the stream starts it calls the agent factory, as the
bridge does with the call's info, and speaks ``greeting`` (the simulator's speech,
μ-law 8 kHz). It is what the server, signature and caller tests run against, so they
do not depend on ``adk_realtime.call_bridge``; the end-to-end tests use the real one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from adk_realtime.phone_caller import spoken_ulaw
from adk_realtime.sansio.errors import ConnectionClosed
from adk_realtime.sansio.telephony.events import DtmfReceived, StreamStarted
from adk_realtime.sansio.telephony.media_stream import CarrierMediaStream

GREETING = "Hello caller"


@dataclass
class BridgedCall:
    """What the fake bridge saw of one call."""

    stream: str
    started: StreamStarted | None = None
    digits: str = ""
    messages: int = 0
    heard_ms: int = 0
    sent_ms: int = 0


@dataclass
class GreetingBridge:
    greeting: str = GREETING
    calls: list[BridgedCall] = field(default_factory=list)
    kwargs: list[dict[str, Any]] = field(default_factory=list)
    finished: int = 0
    _changed: anyio.Event | None = None

    async def wait_finished(self, count: int) -> None:
        """Until ``count`` calls have ended here (the server may still be unwinding)."""
        while self.finished < count:
            self._changed = anyio.Event()
            await self._changed.wait()

    async def __call__(
        self,
        socket: Any,
        stream: CarrierMediaStream,
        model: Any,
        agent: Any,
        **kwargs: Any,
    ) -> BridgedCall:
        record = BridgedCall(type(stream).__name__)
        self.calls.append(record)
        self.kwargs.append(kwargs)
        try:
            while not stream.stopped:
                message = await socket.receive()
                record.messages += 1
                stream.receive_data(message, 0.0)
                while (event := stream.next_event()) is not None:
                    if isinstance(event, StreamStarted):
                        record.started = event
                        if callable(agent):
                            agent(event)
                        stream.send_audio(spoken_ulaw(self.greeting))
                        stream.flush()
                    elif isinstance(event, DtmfReceived):
                        record.digits += event.digit
                for out in stream.data_to_send():
                    await socket.send(out)
        except ConnectionClosed:
            pass
        finally:
            self.finished += 1
            if self._changed is not None:
                self._changed.set()
        record.heard_ms, record.sent_ms = stream.heard_ms, stream.sent_ms
        return record


@dataclass
class AgentFactory:
    """An agent factory that counts its calls: a refused call must never reach it."""

    calls: int = 0
    build: Callable[[Any], Any] | None = None

    def __call__(self, info: Any) -> Any:
        self.calls += 1
        return self.build(info) if self.build else None
