"""A WebRTC peer connection for one audio stream and data channels, sans-IO (the offerer).

Theory of operation
-------------------
`PeerConnection` composes the pieces of this package into what a browser calls an
``RTCPeerConnection``, reduced to what the OpenAI Realtime API needs: one Opus audio
stream each way and the ``oai-events`` data channel, all BUNDLEd on one ICE component.
We are always the offerer; the answer chooses the DTLS role.

Every datagram is demultiplexed by its first byte (RFC 7983)::

    0-3      STUN      -> IceAgent (connectivity checks, consent)
    20-63    DTLS      -> DtlsEndpoint; its application data is SCTP -> DataChannelManager
    128-191  RTP/RTCP  -> SrtpSession unprotect -> AudioReceiver (SSRC latched, jitter, Opus)
    other    dropped and counted in ``stats["unknown_datagrams"]``

Non-STUN datagrams are accepted only from the remote address of the selected ICE pair
(before selection: from any address in the ICE check list); others are counted in
``stats["unexpected_source"]``. Outbound audio is Opus on the 48 kHz RTP clock
(+960 per 20 ms whatever the input rate) under one random SSRC drawn at construction.

States (everything that changes ``_state`` is in `_set_state`; the table is
``_TRANSITIONS``)::

    state      input                                              -> next
    NEW        set_answer()                                       -> CHECKING
    CHECKING   DTLS done and the default channel open             -> CONNECTED
    CHECKING   not CONNECTED ``setup_timeout`` after ICE found a path
               (a stalled DTLS handshake; DTLS done but no SCTP: the
               peer refused our certificate; the channel not acked) -> FAILED
    NEW..CONNECTED  ICE failed / consent lost / DTLS alert or timeout /
                    fingerprint mismatch / SCTP abort or give-up  -> FAILED
    NEW..CONNECTED  close(), or the peer's close_notify / SCTP SHUTDOWN -> CLOSED
    FAILED     close()                                            -> CLOSED

CONNECTED means messages reach the peer: DTLS alone is not enough, because a peer
that refuses our certificate may finish its handshake and only then go quiet
(aiortc does), with no alert to tell us. Audio flows from the moment SRTP keys
exist.

Each change is queued as `ConnectionStateChanged` during the very call that caused it,
so a failure is visible to the next `next_event` at once.

Driving loop (a driver needs nothing else)::

    offer = pc.create_offer()                 # POST it; get the answer
    pc.set_answer(answer_sdp, now)
    loop:
        on datagram on socket i from addr:  pc.receive_datagram(data, (i, addr), now)
        at pc.get_timer():                  pc.handle_timer(now)
        commands:                           pc.send_audio(pcm, rate); pc.send_message(text, now)
        after any of these: send every (data, route) of pc.datagrams_to_send(now) from
        socket route.local to route.remote, drain pc.next_event(), re-arm pc.get_timer().

Queues and what happens when full: outgoing datagrams 1024 (oldest dropped, counted:
UDP may lose them anyway); DTLS datagrams before ICE selects a pair 64 (oldest dropped,
counted; DTLS retransmits); audio frames waiting in `next_event` 250 = 5 s (new frames
dropped, counted); channel messages waiting in `next_event` 1024 (then SCTP stops
reading, so its receive window pushes back on the peer); messages sent before the
channel is open 50 (`DataChannelQueueFull` on the 51st, nothing queued is lost).

Audio sent before the DTLS handshake gave SRTP keys (or after a failure) is dropped
and counted (``stats["audio_bytes_dropped"]``), not buffered: live audio delivered late
is worse than none, and it is what a browser track does before ICE connects.
"""

from __future__ import annotations

import enum
import ipaddress
import random
from collections import deque
from dataclasses import dataclass

from adk_realtime.sansio.audio import Resampler
from adk_realtime.sansio.errors import ConfigError, LocalProtocolError
from adk_realtime.sansio.webrtc._checks import require
from adk_realtime.sansio.webrtc.datachannel import (
    ChannelClosed,
    ChannelMessage,
    ChannelOpened,
    DataChannel,
    DataChannelManager,
    DataChannelQueueFull,
)
from adk_realtime.sansio.webrtc.dtls import (
    DtlsApplicationData,
    DtlsCertificate,
    DtlsClosed,
    DtlsConnected,
    DtlsEndpoint,
    DtlsFailed,
    DtlsState,
    classify_datagram,
)
from adk_realtime.sansio.webrtc.ice import IceAgent, IceState, IceStateChanged, Route, SelectedPair
from adk_realtime.sansio.webrtc.media import AudioFrame, AudioReceiver, AudioSender
from adk_realtime.sansio.webrtc.opus import OpusEncoder
from adk_realtime.sansio.webrtc.rtp import RtpPacketizer
from adk_realtime.sansio.webrtc.sctp.association import (
    AssociationClosed,
    AssociationFailed,
    SctpAssociation,
    SctpState,
)
from adk_realtime.sansio.webrtc.sdp import (
    SdpAnswer,
    SdpError,
    build_offer,
    host_candidate,
    parse_answer as _parse_answer,
)
from adk_realtime.sansio.webrtc.srtp import SrtpSession

__all__ = [
    "DEFAULT_CHANNEL",
    "AudioFrame",
    "ChannelClosed",
    "ChannelMessage",
    "ChannelOpened",
    "ConnectionStateChanged",
    "DataChannelQueueFull",
    "PeerConnection",
    "PeerEvent",
    "PeerState",
]

DEFAULT_CHANNEL = "oai-events"
LOCAL_MAX_MESSAGE_SIZE = 262144  # what our offer advertises (a=max-message-size)
MAX_OUT_DATAGRAMS = 1024
MAX_HELD_DATAGRAMS = 64
MAX_QUEUED_AUDIO_FRAMES = 250
MAX_QUEUED_MESSAGES = 1024
MAX_EARLY_MESSAGES = 50  # same bound as the data channel's own pending queue
DTLS_MTU = 1200
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
_RESAMPLER_RATES = (8000, 16000, 24000, 48000)
_DTLS_ENDED = (DtlsState.FAILED, DtlsState.CLOSED)
_ICE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class PeerState(enum.StrEnum):
    NEW = "new"
    CHECKING = "checking"
    CONNECTED = "connected"
    FAILED = "failed"
    CLOSED = "closed"


_TRANSITIONS: dict[PeerState, frozenset[PeerState]] = {
    PeerState.NEW: frozenset({PeerState.CHECKING, PeerState.FAILED, PeerState.CLOSED}),
    PeerState.CHECKING: frozenset({PeerState.CONNECTED, PeerState.FAILED, PeerState.CLOSED}),
    PeerState.CONNECTED: frozenset({PeerState.FAILED, PeerState.CLOSED}),
    PeerState.FAILED: frozenset({PeerState.CLOSED}),
    PeerState.CLOSED: frozenset(),
}


# ---------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class ConnectionStateChanged:
    """The connection moved to ``state``; ``reason`` says why for ``failed``/``closed``."""

    state: PeerState
    reason: str = ""


#: The channel events are the data channel layer's own (they carry the ``DataChannel``:
#: read ``label``; send through `PeerConnection.send_message`).
PeerEvent = AudioFrame | ChannelOpened | ChannelMessage | ChannelClosed | ConnectionStateChanged

_STAT_NAMES = (
    "datagrams_received unknown_datagrams unexpected_source before_answer before_keys "
    "audio_bytes_dropped audio_packets_sent audio_frames_dropped datagrams_dropped "
    "held_dropped after_close"
).split()


def _ip_text(host: object) -> str | None:
    try:
        return str(ipaddress.ip_address(host)) if isinstance(host, str) else None
    except ValueError:
        return None


class PeerConnection:
    """One WebRTC connection to a peer that answers our offer (see the module docstring).

    ``local_addresses`` are the ``(ip, port)`` of the driver's bound UDP sockets, in
    order: the index of each is the ``local`` of every `Route` and the first element
    of the ``addr`` given to `receive_datagram`. ``rng`` draws the ICE credentials,
    SSRC, tie-breaker and SCTP secrets (default: the OS generator; seed one in tests).
    ``input_rate`` is the rate of the PCM given to `send_audio` by default,
    ``output_rate`` the rate of every `AudioFrame`. ``certificate`` defaults to a
    fresh one. ``setup_timeout`` bounds DTLS, SCTP and the channel's opening from the
    moment ICE finds a path. Next: `create_offer`.
    """

    def __init__(
        self,
        *,
        local_addresses: list[tuple[str, int]],
        rng: random.Random | None = None,
        input_rate: int = 24000,
        output_rate: int = 24000,
        certificate: DtlsCertificate | None = None,
        channel_label: str = DEFAULT_CHANNEL,
        ice_check_timeout: float = 15.0,
        setup_timeout: float = 10.0,
    ) -> None:
        rates = f"one of {_RESAMPLER_RATES}"
        require("local_addresses", bool(local_addresses), "at least one bound (ip, port)", [])
        require("input_rate", input_rate in _RESAMPLER_RATES, rates, input_rate)
        require("output_rate", output_rate in _RESAMPLER_RATES, rates, output_rate)
        label = channel_label.encode() if isinstance(channel_label, str) else b""
        require("channel_label", 0 < len(label) <= 65535, "1-65535 bytes of text", channel_label)
        positive = "a positive number of seconds"
        require("ice_check_timeout", ice_check_timeout > 0, positive, ice_check_timeout)
        require("setup_timeout", setup_timeout > 0, positive, setup_timeout)
        self._rng = rng if rng is not None else random.SystemRandom()
        rng = self._rng
        candidates = []
        for i, entry in enumerate(local_addresses):
            ok = isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], int)
            host, port = entry if ok else ("", 0)
            if _ip_text(host) is None or not 0 < port < 65536:
                raise ConfigError(
                    "local_addresses", f"entry {i} must be an (ip, port) pair, not {entry!r}"
                )
            # Earlier sockets are preferred: RFC 8445 local preference, unique per socket.
            candidates.append(host_candidate(host, port, local_preference=65535 - i))
        self.local_candidates = tuple(candidates)
        self.input_rate = input_rate
        self.output_rate = output_rate
        self.channel_label = channel_label
        self.setup_timeout = setup_timeout
        self.certificate = certificate if certificate is not None else DtlsCertificate.generate()
        self.local_ssrc: int = rng.getrandbits(32)
        self._ufrag = "".join(rng.choice(_ICE_ALPHABET) for _ in range(8))
        self._pwd = "".join(rng.choice(_ICE_ALPHABET) for _ in range(24))
        self._cname = "".join(rng.choice(_ICE_ALPHABET[:62]) for _ in range(16))
        self._session_id = rng.getrandbits(62)
        self.ice = IceAgent(
            self._ufrag,
            self._pwd,
            controlling=True,
            tie_breaker=rng.getrandbits(64),
            local_candidates=list(candidates),
            rng=rng,
            check_timeout=ice_check_timeout,
        )
        self.dtls: DtlsEndpoint | None = None
        self.sctp: SctpAssociation | None = None
        self.audio_sender: AudioSender | None = None
        self.audio_receiver: AudioReceiver | None = None
        self.answer: SdpAnswer | None = None
        self.failure_reason: str | None = None
        self.stats: dict[str, int] = dict.fromkeys(_STAT_NAMES, 0)
        self._offer: str | None = None
        self._state = PeerState.NEW
        self._now = 0.0
        self._closing = False
        self._setup_deadline: float | None = None  # CONNECTED by then, or FAILED
        self._manager: DataChannelManager | None = None
        self._channel: DataChannel | None = None
        self._early: deque[str | bytes] = deque()
        self._events: deque[PeerEvent] = deque()
        self._audio_queued = 0
        self._messages_queued = 0
        self._out: deque[tuple[bytes, Route]] = deque()
        self._held: deque[bytes] = deque()
        self._selected: Route | None = None
        self._resamplers: dict[int, Resampler] = {}
        self._remote_max_message = LOCAL_MAX_MESSAGE_SIZE

    def __repr__(self) -> str:  # no credentials, no keys
        return f"<PeerConnection {self._state.value} ssrc={self.local_ssrc}>"

    # ------------------------------------------------------------------ public API

    @property
    def state(self) -> PeerState:
        return self._state

    @property
    def channel_open(self) -> bool:
        """True once the default channel is open (messages go out at once)."""
        return self._channel is not None and self._channel.state.value == "open"

    def create_offer(self) -> str:
        """Our SDP offer (the same text on every call). POST it as ``application/sdp``
        (or in the ``sdp`` form part), then give the reply to `set_answer`."""
        if self._offer is None:
            self._offer = build_offer(
                ice_ufrag=self._ufrag,
                ice_pwd=self._pwd,
                fingerprint_sha256=self.certificate.fingerprint_sdp,
                candidates=list(self.local_candidates),
                audio_ssrc=self.local_ssrc,
                cname=self._cname,
                session_id=self._session_id,
                max_message_size=LOCAL_MAX_MESSAGE_SIZE,
                include_g711=False,
            )
        return self._offer

    def set_answer(self, sdp: str, now: float) -> None:
        """Apply the peer's SDP answer; ICE checks start at once.

        Raises `SdpError` (a `ProtocolError`) if the answer is malformed or lacks Opus or
        the data channel section, leaving the connection as it was. Next: send
        `datagrams_to_send`, drain `next_event`, arm `get_timer`.
        """
        if self._offer is None:
            raise LocalProtocolError("set_answer() before create_offer(): make the offer first")
        if self._state is not PeerState.NEW or self.answer is not None:
            raise LocalProtocolError(f"set_answer() on a connection that is {self._state}")
        answer = _parse_answer(sdp)
        if answer.opus is None:
            raise SdpError("the answer accepted no Opus payload type: no audio possible")
        if answer.application is None or answer.sctp_port is None:
            raise SdpError("the answer has no data channel (m=application ... SCTP) section")
        self._now = max(self._now, now)
        self.answer = answer
        if answer.max_message_size:  # 0 means "no limit" (RFC 8841 section 6)
            self._remote_max_message = min(LOCAL_MAX_MESSAGE_SIZE, answer.max_message_size)
        self.dtls = DtlsEndpoint(
            answer.dtls_role,
            certificate=self.certificate,
            remote_fingerprint=answer.fingerprint.value,
            mtu=DTLS_MTU,
            handshake_timeout=self.setup_timeout,
        )
        self._set_state(PeerState.CHECKING)
        self.ice.set_remote(
            answer.ice_ufrag, answer.ice_pwd, answer.candidates, answer.ice_lite, now=now
        )
        self._process(now)

    def receive_datagram(self, data: bytes, addr: tuple[int, tuple[str, int]], now: float) -> None:
        """Feed one UDP datagram that arrived on socket ``addr[0]`` from ``addr[1]``.

        Never raises for what the network sends: bad input is dropped and counted
        (``stats`` here, and in ``ice.stats``, ``dtls.stats``, the SRTP and RTP stats).
        Next: send `datagrams_to_send`, drain `next_event`, re-arm `get_timer`.
        """
        self._now = max(self._now, now)
        self.stats["datagrams_received"] += 1
        if self._state is PeerState.CLOSED:
            self.stats["after_close"] += 1
            return
        if not data:
            self.stats["unknown_datagrams"] += 1
            return
        kind = classify_datagram(data[0])
        if kind == "stun":
            self.ice.receive_datagram(data, addr, now)
        elif kind == "unknown":
            self.stats["unknown_datagrams"] += 1
            return
        elif not self._from_peer(addr):
            self.stats["unexpected_source"] += 1
            return
        elif kind == "dtls":
            if self.dtls is None:
                self.stats["before_answer"] += 1
                return
            self.dtls.receive_datagram(data, addr, now)
        else:  # RTP or RTCP
            receiver = self.audio_receiver
            if receiver is None:
                self.stats["before_keys"] += 1
                return
            receiver.receive_data(data, now)
            self._drain_audio(receiver)
        self._process(now)

    def handle_timer(self, now: float) -> None:
        """Run what is due at ``now`` (ICE checks and consent, DTLS retransmission, SCTP
        timers, the jitter buffer). Calling early is harmless. Next: send
        `datagrams_to_send`, drain `next_event`, re-arm `get_timer`."""
        self._now = max(self._now, now)
        if self._state is PeerState.CLOSED:
            return
        self.ice.handle_timer(now)
        if self.dtls is not None:
            self.dtls.handle_timer(now)
        if self._manager is not None:
            self._manager.handle_timer(now)
        receiver = self.audio_receiver
        if receiver is not None:
            receiver.handle_timer(now)
            self._drain_audio(receiver)
        self._process(now)
        deadline = self._setup_deadline
        if deadline is not None and now >= deadline and self._state is PeerState.CHECKING:
            self._fail(self._setup_failure())

    def get_timer(self) -> float | None:
        """When `handle_timer` must run next (same clock as ``now``), or None."""
        if self._state is PeerState.CLOSED:
            return None
        times = [self.ice.get_timer()]
        if self.dtls is not None:
            times.append(self.dtls.get_timer())
        if self._manager is not None:
            times.append(self._manager.get_timer())
        if self.audio_receiver is not None:
            times.append(self.audio_receiver.get_timer())
        if self._state is PeerState.CHECKING:
            times.append(self._setup_deadline)
        return min((t for t in times if t is not None), default=None)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Route]]:
        """Drain the outgoing datagrams: send each ``data`` from socket ``route.local``
        to ``route.remote``, in order, at ``now``."""
        self._now = max(self._now, now)
        self._flush()
        out = list(self._out)
        self._out.clear()
        return out

    def next_event(self) -> PeerEvent | None:
        """The next `AudioFrame`, `ChannelOpened`, `ChannelMessage`, `ChannelClosed` or
        `ConnectionStateChanged`, or None. Call until None, then `datagrams_to_send`
        (reading messages reopens the SCTP receive window)."""
        if not self._events:
            return None
        event = self._events.popleft()
        if isinstance(event, AudioFrame):
            self._audio_queued -= 1
        elif isinstance(event, ChannelMessage):
            self._messages_queued -= 1
            if self._messages_queued < MAX_QUEUED_MESSAGES and self._manager is not None:
                self._drain_sctp()
        return event

    def send_audio(
        self, pcm: bytes | bytearray | memoryview, sample_rate: int | None = None
    ) -> None:
        """Send PCM16 mono at ``sample_rate`` (default ``input_rate``) as Opus RTP.

        Every complete 20 ms frame becomes one packet (a partial frame waits for more
        PCM; ``stats["audio_packets_sent"]`` counts them). Before SRTP keys exist, or
        once the connection failed or closed, the audio is dropped and counted. Raises `ConfigError` for a rate other than 8,
        16, 24 or 48 kHz. Next: `datagrams_to_send`.
        """
        rate = self.input_rate if sample_rate is None else sample_rate
        if rate not in _RESAMPLER_RATES:
            raise ConfigError("sample_rate", f"must be one of {_RESAMPLER_RATES}, not {rate}")
        sender = self.audio_sender
        live = self._state in (PeerState.CHECKING, PeerState.CONNECTED)
        if sender is None or not live or self._selected is None:
            self.stats["audio_bytes_dropped"] += len(pcm)
            return
        if rate != self.input_rate:
            resampler = self._resamplers.get(rate)
            if resampler is None:
                resampler = self._resamplers[rate] = Resampler(rate, self.input_rate)
            pcm = resampler.process(bytes(pcm))
        sender.send_pcm(pcm)
        route = self._selected
        packets = sender.data_to_send()
        for packet in packets:
            self._emit(packet, route)
        self.stats["audio_packets_sent"] += len(packets)

    def send_message(self, data: str | bytes, now: float) -> None:
        """Send one message at ``now`` on the default channel (``oai-events``): ``str``
        as text.

        Before the channel is open at most 50 messages wait (in order); the 51st raises
        `DataChannelQueueFull` and nothing queued is lost. Raises `LocalProtocolError`
        once the connection failed or closed, or for a message over the peer's
        ``max-message-size``. Next: `datagrams_to_send`.
        """
        if self._state in (PeerState.FAILED, PeerState.CLOSED):
            raise LocalProtocolError(
                f"cannot send on a connection that is {self._state.value}; open a new one"
            )
        if not isinstance(data, str | bytes):
            raise LocalProtocolError(f"messages are str or bytes, not {type(data).__name__}")
        size = len(data.encode()) if isinstance(data, str) else len(data)
        if size > self._remote_max_message:
            raise LocalProtocolError(
                f"message of {size} bytes exceeds the peer's max-message-size "
                f"({self._remote_max_message}); split it"
            )
        self._now = max(self._now, now)
        if self._channel is None:
            if len(self._early) >= MAX_EARLY_MESSAGES:
                raise DataChannelQueueFull(
                    f"data channel {self.channel_label!r} has {len(self._early)} messages "
                    f"pending (limit {MAX_EARLY_MESSAGES}); wait for ChannelOpened"
                )
            self._early.append(data)
            return
        self._channel.send(data, self._now)
        self._flush()

    def close(self) -> None:
        """Hang up: SCTP ABORT and DTLS close_notify go out, ICE stops; state CLOSED.

        Send `datagrams_to_send` one last time, then close the sockets.
        """
        if self._state is PeerState.CLOSED:
            return
        self._closing = True
        if self.sctp is not None and self.sctp.state is not SctpState.TERMINATED:
            self.sctp.abort("peer connection closed")
        self._flush()
        if self.dtls is not None:
            self.dtls.close()
            self._flush_dtls()
        self.ice.close()
        self._early.clear()
        self._set_state(PeerState.CLOSED, "closed locally")
        self._drain_all()

    # ------------------------------------------------------------------ internals

    def _set_state(self, state: PeerState, reason: str = "") -> None:
        if state is self._state:
            return
        assert state in _TRANSITIONS[self._state], f"peer {self._state} -> {state}"
        self._state = state
        self._events.append(ConnectionStateChanged(state, reason))

    def _fail(self, reason: str) -> None:
        if self._state in (PeerState.FAILED, PeerState.CLOSED) or self._closing:
            return
        self.failure_reason = reason
        self._set_state(PeerState.FAILED, reason)
        self._shutdown()

    def _remote_closed(self, reason: str) -> None:
        if self._state in (PeerState.FAILED, PeerState.CLOSED) or self._closing:
            return
        self._set_state(PeerState.CLOSED, reason)
        self._shutdown()

    def _shutdown(self) -> None:
        """Stop every timer after a failure or the peer's hang-up (nothing more is sent)."""
        self._closing = True
        if self.sctp is not None and self.sctp.state is not SctpState.TERMINATED:
            self.sctp.abort("peer connection ended")
            self.sctp.data_to_send()  # discarded: DTLS is gone or going
        if self.dtls is not None and self.dtls.state not in _DTLS_ENDED:
            self.dtls.close()
            self.dtls.datagrams_to_send(self._now)  # discarded
        self.ice.close()
        self._early.clear()
        self._held.clear()

    def _from_peer(self, addr: object) -> bool:
        if not (isinstance(addr, tuple) and len(addr) == 2 and isinstance(addr[1], tuple)):
            return False
        local, remote = addr
        if len(remote) != 2:
            return False
        selected = self._selected
        if selected is not None:
            if local != selected.local:
                return False
            return remote == selected.remote or (_ip_text(remote[0]), remote[1]) == selected.remote
        key = (local, (_ip_text(remote[0]), remote[1]))
        return any(p.route == key for p in self.ice.checklist)

    def _drain_audio(self, receiver: AudioReceiver) -> None:
        while (event := receiver.next_event()) is not None:
            if not isinstance(event, AudioFrame):
                continue  # RTCP reports: parsed and counted by the receiver, not used yet
            if self._audio_queued >= MAX_QUEUED_AUDIO_FRAMES:
                self.stats["audio_frames_dropped"] += 1
                continue
            self._audio_queued += 1
            self._events.append(event)

    def _emit(self, data: bytes, route: Route) -> None:
        if len(self._out) >= MAX_OUT_DATAGRAMS:
            self._out.popleft()
            self.stats["datagrams_dropped"] += 1
        self._out.append((data, route))

    def _process(self, now: float) -> None:
        """Drain the components' events (which may cascade) and route their output."""
        progress = True
        while progress:
            progress = False
            while (ice_event := self.ice.next_event()) is not None:
                progress = True
                self._on_ice_event(ice_event, now)
            dtls = self.dtls
            while dtls is not None and (dtls_event := dtls.next_event()) is not None:
                progress = True
                self._on_dtls_event(dtls_event, now)
        self._drain_sctp()
        self._flush()

    def _on_ice_event(self, event: IceStateChanged | SelectedPair, now: float) -> None:
        if isinstance(event, SelectedPair):
            self._selected = event.route
            while self._held:
                self._emit(self._held.popleft(), event.route)
            if self._setup_deadline is None and self._state is PeerState.CHECKING:
                self._setup_deadline = now + self.setup_timeout
            if self.dtls is not None and not self._closing:
                self.dtls.start(now)
        elif event.state is IceState.FAILED:
            self._fail(f"ICE failed: {self.ice.failure_reason or 'no working candidate pair'}")

    def _on_dtls_event(self, event: object, now: float) -> None:
        if isinstance(event, DtlsConnected):
            self._on_dtls_connected(event, now)
        elif isinstance(event, DtlsApplicationData):
            if self._manager is not None:
                self._manager.receive_data(event.data, now)
            else:
                self.stats["before_keys"] += 1
        elif isinstance(event, DtlsFailed):
            self._fail(f"DTLS failed: {event.reason}")
        elif isinstance(event, DtlsClosed):
            self._remote_closed("the peer closed DTLS (close_notify)")

    def _on_dtls_connected(self, event: DtlsConnected, now: float) -> None:
        assert self.answer is not None and self.dtls is not None
        if event.srtp_keys is None:
            self._fail("DTLS negotiated no SRTP profile: the peer cannot carry audio")
            return
        answer = self.answer
        assert answer.opus is not None and answer.sctp_port is not None
        srtp = SrtpSession(event.srtp_keys)
        encoder_rate = self.input_rate if self.input_rate in _OPUS_RATES else 48000
        packetizer = RtpPacketizer(
            ssrc=self.local_ssrc, payload_type=answer.opus.payload_type, rng=self._rng
        )
        self.audio_sender = AudioSender(
            packetizer, OpusEncoder(encoder_rate), srtp, input_rate=self.input_rate
        )
        self.audio_receiver = AudioReceiver(
            srtp, self.output_rate, payload_type=answer.opus.payload_type
        )
        is_client = self.dtls.role == "client"
        # The SCTP packet plus DTLS record overhead must fit one datagram of DTLS_MTU.
        self.sctp = SctpAssociation(
            is_client=is_client,
            remote_port=answer.sctp_port,
            max_message_size=LOCAL_MAX_MESSAGE_SIZE,
            rng=self._rng,
            mtu=max(256, self.dtls.max_application_data),
        )
        self._manager = DataChannelManager(self.sctp, is_client=is_client)
        self._channel = self._manager.open_channel(self.channel_label, now)
        while self._early:
            self._channel.send(self._early.popleft(), now)  # <= 50 into an empty queue
        # Both sides send INIT (RFC 8841 section 9.3); SCTP resolves the collision.
        self._manager.connect(now)

    def _drain_sctp(self) -> None:
        manager = self._manager
        if manager is None:
            return
        # Stop reading while too many messages wait, so SCTP's window pushes back; an
        # association that ended is drained whole so its failure is seen at once.
        ended = self.sctp is not None and self.sctp.state is SctpState.TERMINATED
        while ended or self._messages_queued < MAX_QUEUED_MESSAGES:
            event = manager.next_event()
            if event is None:
                return
            if isinstance(event, ChannelMessage):
                self._messages_queued += 1
                self._events.append(event)
            elif isinstance(event, ChannelOpened):
                if event.channel is self._channel and self._state is PeerState.CHECKING:
                    self._setup_deadline = None
                    self._set_state(PeerState.CONNECTED)
                self._events.append(event)
            elif isinstance(event, ChannelClosed):
                self._events.append(event)
            elif isinstance(event, AssociationFailed):
                self._fail(f"SCTP failed: {event.reason}")
            elif isinstance(event, AssociationClosed):
                self._remote_closed("the peer shut the SCTP association down")

    def _setup_failure(self) -> str:
        """Why the connection is not up ``setup_timeout`` after ICE found a path."""
        within = f"within {self.setup_timeout:g} s"
        if self.dtls is None or not self.dtls.is_connected:
            return f"the DTLS handshake did not complete {within}"
        if self.sctp is None or self.sctp.state is not SctpState.ESTABLISHED:
            return (
                f"the peer completed the DTLS handshake but never answered SCTP {within}: "
                "it most likely refused our DTLS certificate (a fingerprint check failed "
                "on its side)"
            )
        return f"the data channel {self.channel_label!r} was not acknowledged {within}"

    def _drain_all(self) -> None:
        if self._manager is not None:
            while self._manager.next_event() is not None:
                pass

    def _flush(self) -> None:
        manager, dtls = self._manager, self.dtls
        if manager is not None and dtls is not None and dtls.is_connected:
            for packet in manager.data_to_send():
                if not dtls.is_connected:
                    break  # DTLS failed on the previous packet: DtlsFailed follows
                dtls.send_application_data(packet)
        self._flush_dtls()
        for data, route in self.ice.datagrams_to_send(self._now):
            self._emit(data, route)

    def _flush_dtls(self) -> None:
        dtls = self.dtls
        if dtls is None:
            return
        for datagram in dtls.datagrams_to_send(self._now):
            if self._selected is not None:
                self._emit(datagram, self._selected)
            else:
                if len(self._held) >= MAX_HELD_DATAGRAMS:
                    self._held.popleft()
                    self.stats["held_dropped"] += 1
                self._held.append(datagram)
        # A send that failed DTLS surfaces as DtlsFailed: handle it in this same call.
        while (event := dtls.next_event()) is not None:
            self._on_dtls_event(event, self._now)
