"""The session's read path: decode in the link's read callback, one task hop fewer.

Without it each message crosses two tasks after the socket: the link wakes the session's
pump task, which decodes and queues the events, which wakes the app's task. With a link
that can offer messages in its read callback (the asyncio fast path's
``set_message_sink``), :class:`ReadPathDecoder` decodes right there and queues the events
for the app; the pump task sleeps in ``link.receive()`` and is woken only for what needs a
task:

* an event the pump must act on first (lifecycle: response and session state; ``GoAway``);
* a full event queue (the app is behind: the pump waits, TCP pushes back);
* messages the protocol queued while decoding (the pump sends them, in order);
* a failure while decoding (the pump raises it, as if it had decoded).

Then the link gets a :class:`Decoded` to queue in place of the message, holding the first
event not delivered (the others stay in the protocol's ``next_event()``, where the pump
reads them next); the pump takes it from ``receive()`` and goes on as usual.

Order: the decoder takes a message only while the pump waits with nothing in hand
(``open``) and the link's inbox is empty; everything else queues behind, in order, and
nothing decodes between the read path handing over and the pump taking over.
"""

from __future__ import annotations

from typing import Any, Protocol

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.protocol import RealtimeProtocol
from adk_realtime.session_queue import EventQueue


class PumpedSession(Protocol):
    """What the decoder uses of ``RealtimeSession`` (which imports this module)."""

    protocol: RealtimeProtocol
    _events: EventQueue
    _link: Any
    _link_messages: int

    def _receive(self, data: Any) -> ev.ServerEvent | None: ...


# Events the pump acts on before the app may see them (see RealtimeSession._pump).
LIFECYCLE = frozenset({ev.ResponseCreated, ev.ResponseDone, ev.SessionCreated, ev.SessionUpdated})
PUMP_EVENTS = LIFECYCLE | {ev.GoAway}


class Decoded:
    """In the link's inbox in place of a message the read path decoded: the first event it
    did not deliver (``None``: only the sending is left), or the error decoding raised."""

    __slots__ = ("error", "event")

    def __init__(self, event: ev.ServerEvent | None, error: BaseException | None = None) -> None:
        self.event = event
        self.error = error

    def take(self) -> ev.ServerEvent | None:
        """The first event still to deliver; raises the read path's error, if any."""
        if self.error is not None:
            raise self.error
        return self.event


class ReadPathDecoder:
    """The sink a session gives its link (``link.set_message_sink``) while it pumps it."""

    __slots__ = ("_link", "_session", "open")

    def __init__(self, session: PumpedSession, link: Any) -> None:
        self._session = session
        self._link = link
        self.open = False  # the pump waits in link.receive() with nothing in hand

    def __call__(self, data: str | bytes) -> Any:
        """In the link's read callback: ``None`` when the message's events are queued for
        the app; else what the link queues for the pump (the message, or a :class:`Decoded`)."""
        if not self.open:
            return data  # the pump is busy: it takes this one after what it holds
        self.open = False  # until the pump waits again (it takes what is handed over first)
        session = self._session
        protocol = session.protocol
        put = session._events.put_nowait
        try:
            event = session._receive(data)
            while event is not None:
                if type(event) in PUMP_EVENTS or not put(event):
                    return Decoded(event)  # (the pump counts it as read)
                event = protocol.next_event()
            if protocol.has_data_to_send and session._link is self._link:
                return Decoded(None)  # the pump sends what decoding queued
        except Exception as exc:  # the pump raises it in its task
            return Decoded(None, exc)
        session._link_messages += 1
        self.open = True
        return None

    def remove(self) -> None:
        """The pump stops: messages go to the link's inbox again."""
        self.open = False
        self._link.set_message_sink(None)


class _NoDecoder:
    """For a link that cannot decode in its read path: the pump does it all."""

    __slots__ = ("open",)

    def __init__(self) -> None:
        self.open = False

    def remove(self) -> None:
        pass


def read_path_decoder(session: PumpedSession, link: Any) -> ReadPathDecoder | _NoDecoder:
    """A decoder installed on ``link`` when the link offers messages in its read callback
    (the asyncio fast path's WebSocket); else one that does nothing."""
    install = getattr(link, "set_message_sink", None)
    if install is None:
        return _NoDecoder()
    decoder = ReadPathDecoder(session, link)
    install(decoder)
    return decoder
