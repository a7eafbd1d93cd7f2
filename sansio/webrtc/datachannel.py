"""WebRTC data channels over one SCTP association: DCEP (RFC 8832) and RFC 8831 rules.

Theory of operation
-------------------
:class:`DataChannelManager` is the machine a driver runs: it owns an
:class:`SctpAssociation` and speaks the same verbs, passing packets and time
through to it (``connect``, ``receive_data``, ``handle_timer``, ``get_timer``,
``data_to_send``) and reading its events for you in ``next_event``. It turns
DCEP messages (PPID 50) into channel state, user messages (PPIDs 51/53/56/57)
into :class:`ChannelMessage`, and stream resets into :class:`ChannelClosed`;
association-level events (``AssociationEstablished``, ``AssociationFailed``,
...) pass through unchanged. Driving loop::

    manager.connect(now)                    # once DTLS is up
    manager.receive_data(packet, now)       # each DTLS record's plaintext
    manager.handle_timer(now)               # when now >= manager.get_timer()
    channel.send(data, now)                 # commands carry the time they happen
    while (ev := manager.next_event()) is not None: ...
    for packet in manager.data_to_send(): dtls.send_application_data(packet)

Events are read lazily from the association, so an application that stops
reading lets SCTP's receive window push back on the peer. Messages the pending
queues release when an event is read (the channel opened, the buffer drained)
are timed at the ``now`` of the latest input, the one that produced the event.

A channel's life, per side::

    we open:    open_channel() -> CONNECTING --DATA_CHANNEL_ACK--> OPEN
    peer opens: DATA_CHANNEL_OPEN received -> OPEN (we answer with the ACK)
    either:     OPEN --close()--> CLOSING --peer resets its stream too--> CLOSED
                OPEN --peer reset its stream--> CLOSED (we reset ours in reply)

Messages sent while a channel is CONNECTING, or while the SCTP send buffer is
full, wait in the channel's pending queue, which holds at most ``max_pending``
(50) messages: the next one raises :class:`DataChannelQueueFull` and nothing
already queued is lost. The queue flushes in order when the channel opens and
whenever the association reports ``BufferedAmountLow``.

Stream ids follow RFC 8832 6: the DTLS client uses even ids, the server odd.
"""

from __future__ import annotations

import enum
import struct
from collections import deque
from dataclasses import dataclass

from adk_realtime.sansio.errors import LocalProtocolError
from adk_realtime.sansio.webrtc._checks import require
from adk_realtime.sansio.webrtc.sctp.association import (
    AssociationClosed,
    AssociationEstablished,
    AssociationFailed,
    BufferedAmountLow,
    DataReceived,
    SctpAssociation,
    SctpBufferFull,
    SctpEvent,
    SctpState,
    StreamReset,
)

__all__ = [
    "ChannelClosed",
    "ChannelMessage",
    "ChannelOpened",
    "ChannelState",
    "DataChannel",
    "DataChannelEvent",
    "DataChannelManager",
    "DataChannelQueueFull",
]

PPID_DCEP = 50
PPID_STRING = 51
PPID_STRING_PARTIAL = 52  # deprecated (RFC 8831 8): fragments of a string message
PPID_BINARY = 53
PPID_BINARY_PARTIAL = 54
PPID_STRING_EMPTY = 56
PPID_BINARY_EMPTY = 57

DCEP_ACK = 0x02
DCEP_OPEN = 0x03
CHANNEL_RELIABLE = 0x00
CHANNEL_PARTIAL_RELIABLE_REXMIT = 0x01
CHANNEL_PARTIAL_RELIABLE_TIMED = 0x02
CHANNEL_UNORDERED_BIT = 0x80
PRIORITY_NORMAL = 256
_OPEN_HEADER = struct.Struct("!BBHIHH")


class DataChannelQueueFull(LocalProtocolError):
    """A channel's pending queue is at its limit; the message was not queued."""


class ChannelState(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class DataChannel:
    """One data channel. Create with ``DataChannelManager.open_channel``."""

    def __init__(
        self,
        manager: DataChannelManager,
        stream_id: int,
        label: str,
        protocol: str,
        ordered: bool,
        state: ChannelState,
    ) -> None:
        self._manager = manager
        self.stream_id = stream_id
        self.label = label
        self.protocol = protocol
        self.ordered = ordered
        self.state = state
        #: RFC 8832 5.1 channel type and reliability parameter of the DATA_CHANNEL_OPEN
        #: (0x00 reliable; 0x01/0x81 limited retransmissions; 0x02/0x82 timed).
        #: Stored as the peer asked; we send reliably (no FORWARD-TSN, RFC 3758).
        self.channel_type = CHANNEL_RELIABLE if ordered else CHANNEL_UNORDERED_BIT
        self.reliability_parameter = 0
        self.priority = PRIORITY_NORMAL
        self._pending: deque[tuple[bytes, int]] = deque()
        self._pending_bytes = 0
        self._partial: list[bytes] = []  # legacy PPID 52/54 fragments

    def __repr__(self) -> str:
        return f"DataChannel(id={self.stream_id}, label={self.label!r}, {self.state.value})"

    @property
    def max_retransmits(self) -> int | None:
        """The peer's retransmission limit (channel type 0x01/0x81), else None."""
        kind = self.channel_type & ~CHANNEL_UNORDERED_BIT
        return self.reliability_parameter if kind == CHANNEL_PARTIAL_RELIABLE_REXMIT else None

    @property
    def max_packet_life_time(self) -> int | None:
        """The peer's lifetime limit in ms (channel type 0x02/0x82), else None."""
        kind = self.channel_type & ~CHANNEL_UNORDERED_BIT
        return self.reliability_parameter if kind == CHANNEL_PARTIAL_RELIABLE_TIMED else None

    @property
    def pending_count(self) -> int:
        """Messages waiting in this channel's pending queue (at most ``max_pending``)."""
        return len(self._pending)

    @property
    def buffered_amount(self) -> int:
        """Bytes not yet acknowledged by the peer: pending queue plus SCTP's share."""
        assoc = self._manager.association
        return self._pending_bytes + assoc.stream_buffered_amount(self.stream_id)

    def send(self, data: str | bytes | bytearray | memoryview, now: float) -> None:
        """Send one message (str as UTF-8 text, bytes as binary) at ``now``; then call
        ``manager.data_to_send()``.

        Raises :class:`DataChannelQueueFull` when the message would have to wait
        and ``max_pending`` messages already do; catch it, wait for the channel
        to open (``ChannelOpened``) or for ``BufferedAmountLow``, and retry.
        """
        if self.state in (ChannelState.CLOSING, ChannelState.CLOSED):
            raise LocalProtocolError(
                f"data channel {self.label!r} is {self.state.value}; open a new channel"
            )
        if isinstance(data, str):
            payload, ppid = (data.encode(), PPID_STRING) if data else (b"\x00", PPID_STRING_EMPTY)
        else:
            payload = bytes(data)
            ppid = PPID_BINARY if payload else PPID_BINARY_EMPTY
            payload = payload or b"\x00"
        limit = self._manager.association.max_message_size
        if len(payload) > limit:
            raise LocalProtocolError(
                f"message of {len(payload)} bytes on data channel {self.label!r} exceeds "
                f"the maximum message size ({limit} bytes); split it"
            )
        self._manager._now = now
        if self.state is ChannelState.OPEN and not self._pending:
            try:
                self._manager.association.send(
                    self.stream_id, payload, ppid, now, ordered=self.ordered
                )
                return
            except SctpBufferFull:
                pass
        limit_n = self._manager.max_pending
        if len(self._pending) >= limit_n:
            raise DataChannelQueueFull(
                f"data channel {self.label!r} has {len(self._pending)} messages pending "
                f"(limit {limit_n}); wait for the channel to open or drain"
            )
        self._pending.append((payload, ppid))
        self._pending_bytes += len(payload)

    def close(self, now: float) -> None:
        """Close the channel at ``now`` (RFC 8831 6.7: reset our outgoing stream).

        Messages still pending are not sent; ``ChannelClosed.unsent`` counts
        them. ``ChannelClosed`` arrives once the peer resets its side too.
        Then call ``manager.data_to_send()``.
        """
        self._manager._now = now
        self._manager._close(self)

    def _flush(self) -> None:
        manager = self._manager
        while self._pending and self.state is ChannelState.OPEN:
            payload, ppid = self._pending[0]
            try:
                manager.association.send(
                    self.stream_id, payload, ppid, manager._now, ordered=self.ordered
                )
            except SctpBufferFull:
                return
            self._pending.popleft()
            self._pending_bytes -= len(payload)


# --- events ----------------------------------------------------------------------------


class DataChannelEvent:
    """Base class of the events the manager adds to the association's."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class ChannelOpened(DataChannelEvent):
    """``channel`` is open (our OPEN was acknowledged, or the peer opened it)."""

    channel: DataChannel

    @property
    def label(self) -> str:
        return self.channel.label


@dataclass(frozen=True, slots=True)
class ChannelMessage(DataChannelEvent):
    """One message: ``str`` for text (PPID 51/56), ``bytes`` for binary (53/57)."""

    channel: DataChannel
    data: str | bytes

    @property
    def label(self) -> str:
        return self.channel.label

    @property
    def stream_id(self) -> int:
        return self.channel.stream_id


@dataclass(frozen=True, slots=True)
class ChannelClosed(DataChannelEvent):
    """``channel`` is closed; ``unsent`` messages were still pending and were not sent."""

    channel: DataChannel
    unsent: int = 0

    @property
    def label(self) -> str:
        return self.channel.label


@dataclass
class DataChannelStats:
    """What the manager dropped, so nothing disappears unseen."""

    bad_dcep: int = 0  # malformed or unexpected DCEP messages
    unknown_stream: int = 0  # user messages for a stream with no channel
    bad_text: int = 0  # PPID 51 payloads that are not UTF-8
    unknown_ppid: int = 0


class DataChannelManager:
    """All data channels of one association; reads its events (see module docstring)."""

    def __init__(
        self, association: SctpAssociation, *, is_client: bool, max_pending: int = 50
    ) -> None:
        require("max_pending", max_pending >= 0, "0 or more messages", max_pending)
        self.association = association
        self.is_client = is_client
        self.max_pending = max_pending
        self.channels: dict[int, DataChannel] = {}
        self.stats = DataChannelStats()
        self._events: deque[DataChannelEvent | SctpEvent] = deque()
        self._control: deque[tuple[int, bytes]] = deque()  # DCEP messages the buffer refused
        self._now = 0.0  # the latest time an input or command carried

    # --- the association's verbs, passed through ---------------------------------------

    def connect(self, now: float) -> None:
        """Start the SCTP handshake (see ``SctpAssociation.connect``); then ``data_to_send``."""
        self._now = now
        self.association.connect(now)

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed one SCTP packet (a DTLS record's plaintext); never raises for bad input.

        Then drain ``next_event``, call ``data_to_send`` and re-arm ``get_timer``.
        """
        self._now = now
        self.association.receive_data(data, now)

    def get_timer(self) -> float | None:
        """When ``handle_timer`` must next run (the association's timers), or None."""
        return self.association.get_timer()

    def handle_timer(self, now: float) -> None:
        """Run the association's due timers; then drain events and call ``data_to_send``."""
        self._now = now
        self.association.handle_timer(now)

    def data_to_send(self) -> list[bytes]:
        """The SCTP packets to send, in order, each to become one DTLS record."""
        return self.association.data_to_send()

    # --- channels ----------------------------------------------------------------------

    def open_channel(
        self, label: str, now: float, *, protocol: str = "", ordered: bool = True
    ) -> DataChannel:
        """Open a channel (DATA_CHANNEL_OPEN) at ``now``; watch for ``ChannelOpened``.

        Messages may be sent at once; up to ``max_pending`` wait until it opens.
        Then call ``data_to_send()``.
        """
        self._now = now
        parity = 0 if self.is_client else 1
        limit = min(self.association.outbound_streams, 65535)
        assoc = self.association
        sid = next(
            (
                s
                for s in range(parity, limit, 2)
                if s not in self.channels and not assoc.stream_is_resetting(s)
            ),
            None,
        )
        if sid is None:
            raise LocalProtocolError(f"no free stream id for a new data channel (limit {limit})")
        lab, proto = label.encode(), protocol.encode()
        if len(lab) > 0xFFFF or len(proto) > 0xFFFF:
            raise LocalProtocolError("data channel label and protocol must be under 64 KiB")
        ctype = CHANNEL_RELIABLE | (0 if ordered else CHANNEL_UNORDERED_BIT)
        msg = _OPEN_HEADER.pack(DCEP_OPEN, ctype, PRIORITY_NORMAL, 0, len(lab), len(proto))
        channel = DataChannel(self, sid, label, protocol, ordered, ChannelState.CONNECTING)
        self._send_control(sid, msg + lab + proto)  # raises if the association is over
        self.channels[sid] = channel
        return channel

    def next_event(self) -> DataChannelEvent | SctpEvent | None:
        """The next channel or association event, or None; then call ``data_to_send``."""
        while not self._events:
            ev = self.association.next_event()
            if ev is None:
                return None
            self._handle(ev)
        return self._events.popleft()

    # --- internals ---------------------------------------------------------------------

    def _send_control(self, sid: int, msg: bytes) -> None:
        if not self._control:
            try:
                self.association.send(sid, msg, PPID_DCEP, self._now, ordered=True)
                return
            except SctpBufferFull:
                pass
        self._control.append((sid, msg))

    def _flush(self) -> None:
        while self._control:
            sid, msg = self._control[0]
            try:
                self.association.send(sid, msg, PPID_DCEP, self._now, ordered=True)
            except SctpBufferFull:
                return
            self._control.popleft()
        for channel in list(self.channels.values()):
            channel._flush()

    def _handle(self, ev: SctpEvent) -> None:
        if isinstance(ev, DataReceived):
            channel = self.channels.get(ev.stream_id)
            if ev.ppid == PPID_DCEP:
                self._on_dcep(ev.stream_id, channel, ev.data)
            elif channel is None or channel.state is ChannelState.CLOSED:
                self.stats.unknown_stream += 1
            else:
                self._on_message(channel, ev.ppid, ev.data)
            return
        if isinstance(ev, StreamReset):
            rest = tuple(s for s in ev.stream_ids if s not in self.channels)
            for sid in ev.stream_ids:
                if (channel := self.channels.get(sid)) is not None:
                    self._peer_reset(channel)
            if rest:
                self._events.append(StreamReset(rest))
            return
        if isinstance(ev, (AssociationEstablished, BufferedAmountLow)):
            self._flush()
        elif isinstance(ev, (AssociationFailed, AssociationClosed)):
            for channel in list(self.channels.values()):
                self._closed(channel)
        self._events.append(ev)

    def _on_dcep(self, sid: int, channel: DataChannel | None, data: bytes) -> None:
        kind = data[0] if data else -1
        if kind == DCEP_ACK and channel is not None and channel.state is ChannelState.CONNECTING:
            self._opened(channel)
        elif kind == DCEP_OPEN and channel is None:
            # RFC 8832 6 says the peer picks ids of its own parity; a peer that gets it
            # wrong on a stream we do not use is still answered rather than left hanging.
            try:
                ctype, priority, reliability, label, protocol = _parse_open(data)
            except ValueError:
                self.stats.bad_dcep += 1
                return
            ordered = not ctype & CHANNEL_UNORDERED_BIT
            channel = DataChannel(self, sid, label, protocol, ordered, ChannelState.CONNECTING)
            channel.channel_type, channel.priority = ctype, priority
            channel.reliability_parameter = reliability
            self.channels[sid] = channel
            self._send_control(sid, bytes([DCEP_ACK]))
            self._opened(channel)
        else:
            self.stats.bad_dcep += 1

    def _opened(self, channel: DataChannel) -> None:
        channel.state = ChannelState.OPEN
        self._events.append(ChannelOpened(channel))
        channel._flush()

    def _on_message(self, channel: DataChannel, ppid: int, data: bytes) -> None:
        if channel.state is ChannelState.CONNECTING:
            self._opened(channel)  # user data before the ACK implies it (RFC 8832 6)
        if ppid in (PPID_STRING_PARTIAL, PPID_BINARY_PARTIAL):
            channel._partial.append(data)
            return
        if channel._partial:
            data = b"".join([*channel._partial, data])
            channel._partial.clear()
        msg: str | bytes
        if ppid == PPID_STRING:
            try:
                msg = data.decode("utf-8")
            except UnicodeDecodeError:
                self.stats.bad_text += 1
                return
        elif ppid == PPID_BINARY:
            msg = data
        elif ppid == PPID_STRING_EMPTY:
            msg = ""
        elif ppid == PPID_BINARY_EMPTY:
            msg = b""
        else:
            self.stats.unknown_ppid += 1
            return
        self._events.append(ChannelMessage(channel, msg))

    def _close(self, channel: DataChannel) -> None:
        if channel.state in (ChannelState.CLOSING, ChannelState.CLOSED):
            return
        channel._flush()
        assoc = self.association
        if assoc.state is SctpState.ESTABLISHED and assoc.peer_supports_reconfig:
            channel.state = ChannelState.CLOSING
            assoc.reset_streams([channel.stream_id], self._now)
        else:
            self._closed(channel)

    def _peer_reset(self, channel: DataChannel) -> None:
        if channel.state is not ChannelState.CLOSING:
            assoc = self.association
            if assoc.state is SctpState.ESTABLISHED and assoc.peer_supports_reconfig:
                assoc.reset_streams([channel.stream_id], self._now)  # close our direction too
        self._closed(channel)

    def _closed(self, channel: DataChannel) -> None:
        if channel.state is ChannelState.CLOSED:
            return
        unsent = len(channel._pending)
        channel._pending.clear()
        channel._pending_bytes = 0
        channel.state = ChannelState.CLOSED
        self.channels.pop(channel.stream_id, None)
        self._events.append(ChannelClosed(channel, unsent))


def _parse_open(data: bytes) -> tuple[int, int, int, str, str]:
    """(channel type, priority, reliability parameter, label, protocol) of a
    DATA_CHANNEL_OPEN (RFC 8832 5.1); ValueError if malformed."""
    if len(data) < _OPEN_HEADER.size:
        raise ValueError("DATA_CHANNEL_OPEN shorter than 12 bytes")
    _, ctype, priority, reliability, llen, plen = _OPEN_HEADER.unpack_from(data)
    if ctype & ~CHANNEL_UNORDERED_BIT not in (
        CHANNEL_RELIABLE,
        CHANNEL_PARTIAL_RELIABLE_REXMIT,
        CHANNEL_PARTIAL_RELIABLE_TIMED,
    ):
        raise ValueError(f"DATA_CHANNEL_OPEN has unknown channel type 0x{ctype:02x}")
    if len(data) != _OPEN_HEADER.size + llen + plen:
        raise ValueError("DATA_CHANNEL_OPEN length does not match its label and protocol")
    label = data[12 : 12 + llen].decode("utf-8")
    protocol = data[12 + llen :].decode("utf-8")
    return ctype, priority, reliability, label, protocol
