"""One SIP call's audio over RTP (RFC 3550, RFC 3551 G.711, RFC 4733 DTMF), sans-IO.

Theory of operation
-------------------
The driver feeds each datagram of the call's RTP socket to ``receive_datagram(data,
addr, now)``, sends ``datagrams_to_send(now)``, drains ``next_event()`` and runs
``handle_timer(now)`` when ``get_timer()`` is due (the jitter buffer's wait for a
missing packet).

Receive: packets of the agreed payload type go through a small jitter buffer
(:class:`~adk_realtime.sansio.webrtc.jitter.JitterBuffer`: reordered within
``window`` packets, late and duplicate ones dropped, gaps declared lost after
``max_delay``); each comes out as :class:`RtpAudioFrame` (a lost one as a frame of
silence with ``lost=True``, so the listener's timeline keeps its length). RFC 4733
``telephone-event`` packets become one :class:`DtmfDigit` per key press: at the first
packet with the end bit, the three redundant end packets (same RTP timestamp) being
ignored. RTCP (RFC 5761 demultiplexing) and unknown payload types are counted and
ignored.

Send: ``send_audio(payload)`` makes one packet (20 ms of G.711: 160 bytes) with a
stable SSRC, sequence and timestamp (their first values are the constructor's: the
machine draws no randomness). ``skip()`` stands for 20 ms not sent (silence
suppression, RFC 3551 4.1): the timestamp moves on and the next packet carries the
marker bit, which marks each talkspurt start. While the caller holds the call
(``sending = False``) packets are counted and not sent.

Symmetric RTP: packets go to the address the SDP gave until a valid packet of the
call arrives; from then on they go to wherever the peer's packets come from (the
latest source of a packet of its SSRC or of a new SSRC), so a caller behind a NAT,
whose SDP names a private address, still hears us.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass, field

from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.webrtc.jitter import JitterBuffer, JitterFrame
from adk_realtime.sansio.webrtc.rtp import RtpError, is_rtcp, parse_rtp, write_rtp_header

__all__ = ["FRAME_SAMPLES", "DtmfDigit", "RtpAudioFrame", "RtpMediaSession", "RtpSessionEvent"]

Address = tuple[str, int]
FRAME_SAMPLES = 160  # 20 ms at 8 kHz: one G.711 packet
_DTMF_KEYS = "0123456789*#ABCD"
_SILENCE = {0: 0xFF, 8: 0xD5}  # the G.711 code of a zero sample, μ-law and A-law


@dataclass(frozen=True, slots=True)
class RtpAudioFrame:
    """20 ms of the caller's audio in the agreed codec; ``lost``: concealed as silence."""

    payload: bytes = field(repr=False)
    lost: bool = False


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """A key the caller pressed (RFC 4733), with how long it was held in ms. A digit may
    be a PIN: ``repr`` hides it."""

    digit: str = field(repr=False)
    duration_ms: int = 0


RtpSessionEvent = RtpAudioFrame | DtmfDigit


class RtpMediaSession:
    """The RTP of one call (see the module docstring).

    ``payload_type``: the agreed G.711 type (0 PCMU, 8 PCMA); ``telephone_event``: the
    DTMF type (None: none agreed); ``remote``: the peer's RTP address from its SDP;
    ``ssrc``, ``sequence``, ``timestamp``: our stream's first values (give random ones).
    """

    def __init__(
        self,
        *,
        payload_type: int,
        telephone_event: int | None,
        remote: Address,
        ssrc: int,
        sequence: int = 0,
        timestamp: int = 0,
        jitter_window: int = 6,
        jitter_delay: float = 0.06,
    ) -> None:
        if payload_type not in _SILENCE:
            raise ConfigError("payload_type", f"must be 0 (PCMU) or 8 (PCMA), got {payload_type!r}")
        if telephone_event is not None and not 96 <= telephone_event <= 127:
            raise ConfigError("telephone_event", f"must be None or 96-127, got {telephone_event!r}")
        if type(ssrc) is not int or not 0 <= ssrc < 2**32:
            raise ConfigError("ssrc", f"must be a 32-bit int, got {ssrc!r}")
        self.payload_type = payload_type
        self.telephone_event = telephone_event
        self.remote = remote
        self.ssrc = ssrc
        self.sending = True
        """False while the caller holds the call: nothing is sent."""
        self.latched = False
        """Whether ``remote`` was learned from the peer's packets (symmetric RTP)."""
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "received",
                "sent",
                "held",
                "lost",
                "late",
                "unknown_payload",
                "rtcp",
                "malformed",
                "dtmf",
            ),
            0,
        )
        self._sequence = sequence & 0xFFFF
        self._timestamp = timestamp & 0xFFFFFFFF
        self._marker = True
        self._jitter = JitterBuffer(window=jitter_window, max_delay=jitter_delay, max_conceal=5)
        self._silence = bytes([_SILENCE[payload_type]]) * FRAME_SAMPLES
        self._events: deque[RtpSessionEvent] = deque()
        self._out: list[tuple[bytes, Address]] = []
        self._peer_ssrc: int | None = None
        self._last_dtmf: int | None = None  # RTP timestamp of the last digit reported

    # -- the contract -------------------------------------------------------------------

    def receive_datagram(
        self, data: bytes | bytearray | memoryview, addr: Address, now: float
    ) -> None:
        """One datagram of the RTP socket; then drain ``next_event()`` and re-arm the
        timer. Malformed packets, RTCP and unknown payload types are counted, never raised."""
        if is_rtcp(data):
            self.stats["rtcp"] += 1
            return
        try:
            packet = parse_rtp(data)
        except RtpError:
            self.stats["malformed"] += 1
            return
        pt = packet.payload_type
        if pt != self.payload_type and pt != self.telephone_event:
            self.stats["unknown_payload"] += 1
            return
        if self._peer_ssrc is None or packet.ssrc == self._peer_ssrc or pt == self.payload_type:
            self._peer_ssrc = packet.ssrc
            self.remote = addr  # symmetric RTP: answer where the packets come from
            self.latched = True
        if pt == self.telephone_event:
            self._dtmf(packet.payload, packet.timestamp)
            return
        self.stats["received"] += 1
        self._jitter.receive_data(packet, now)
        self._drain_jitter()

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Address]]:
        """The packets to send, each ``(data, addr)``."""
        out, self._out = self._out, []
        return out

    def next_event(self) -> RtpSessionEvent | None:
        """The next :class:`RtpAudioFrame` or :class:`DtmfDigit`, or None."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When a missing packet stops being waited for (None: nothing waits)."""
        return self._jitter.get_timer()

    def handle_timer(self, now: float) -> None:
        """Declare due gaps lost; then drain ``next_event()``."""
        self._jitter.handle_timer(now)
        self._drain_jitter()

    # -- commands -----------------------------------------------------------------------

    def send_audio(self, payload: bytes | bytearray | memoryview) -> None:
        """One packet of G.711 in the agreed codec (160 bytes: 20 ms); collect it with
        ``datagrams_to_send``. Counted and not sent while ``sending`` is False."""
        samples = len(payload)
        if not self.sending:
            self.stats["held"] += 1
            self._timestamp = (self._timestamp + samples) & 0xFFFFFFFF
            self._marker = True
            return
        packet = bytearray(12 + samples)
        write_rtp_header(
            packet,
            0,
            payload_type=self.payload_type,
            sequence=self._sequence,
            timestamp=self._timestamp,
            ssrc=self.ssrc,
            marker=self._marker,
        )
        packet[12:] = payload
        self._marker = False
        self._sequence = (self._sequence + 1) & 0xFFFF
        self._timestamp = (self._timestamp + samples) & 0xFFFFFFFF
        self.stats["sent"] += 1
        self._out.append((bytes(packet), self.remote))

    def skip(self, samples: int = FRAME_SAMPLES) -> None:
        """``samples`` not sent (silence): the next packet starts a talkspurt."""
        self._timestamp = (self._timestamp + samples) & 0xFFFFFFFF
        self._marker = True

    # -- inside -------------------------------------------------------------------------

    def _drain_jitter(self) -> None:
        while (item := self._jitter.next_event()) is not None:
            if isinstance(item, JitterFrame):
                self._events.append(RtpAudioFrame(item.payload))
            else:
                self.stats["lost"] += 1
                self._events.append(RtpAudioFrame(self._silence, lost=True))
        self.stats["late"] = self._jitter.stats["late"] + self._jitter.stats["duplicate"]

    def _dtmf(self, payload: bytes, timestamp: int) -> None:
        if len(payload) < 4:
            self.stats["malformed"] += 1
            return
        event, flags, duration = struct.unpack_from("!BBH", payload, 0)
        if not flags & 0x80 or event >= len(_DTMF_KEYS):
            return  # not the end yet, or an event that is not a key (a tone, a flash)
        if timestamp == self._last_dtmf:
            return  # the end packet is sent three times
        self._last_dtmf = timestamp
        self.stats["dtmf"] += 1
        self._events.append(DtmfDigit(_DTMF_KEYS[event], duration // 8))
