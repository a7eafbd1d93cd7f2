"""The 20 ms audio pipelines of a WebRTC peer: PCM -> SRTP and SRTP -> PCM.

Theory of operation
-------------------
Outbound (:class:`AudioSender`): PCM16 mono at ``input_rate`` arrives in
chunks of any size. It is resampled to the encoder's rate by a streaming
``Resampler`` into a preallocated accumulator (pass-through if the rates
match); every full 20 ms frame is Opus-encoded into a preallocated buffer,
given an RTP header in another preallocated buffer, and SRTP-protected there in
place. The only new objects per frame are the ``bytes`` of the packet handed to
the socket. A partial frame waits for the next call. Commands (``send_pcm``,
``flush``, ``send_sender_report``) queue packets; ``data_to_send()`` hands them
over, in order.

Inbound (:class:`AudioReceiver`): an SRTP datagram is authenticated and
decrypted (bad or replayed packets are dropped, counted by the SRTP session),
parsed, filtered by the latched SSRC, and put through the jitter buffer; what
comes out in order is Opus-decoded (mono downmix of stereo senders) into a
reused buffer, a loss is concealed (FEC from the next packet when it is
there, else PLC), and the audio is resampled to ``output_rate``. Each 20 ms
frame becomes one :class:`AudioFrame` event (``bytes`` of PCM16); SRTCP
reports become events too (the parsed ``SenderReport``, ``ReceiverReport`` or
``Bye``). Received audio is an event, not output: ``next_event()`` is what the
application reads, ``data_to_send()`` what goes to the network.

Rates: libopus encodes from and decodes to 8, 12, 16, 24 or 48 kHz natively
(the RTP clock stays 48 kHz either way), so by default the receiver decodes
straight at ``output_rate`` and the resampler passes through; the sender
resamples only if its encoder runs at another rate than its input. Building
the encoder at the input rate (``OpusEncoder(24000)`` for 24 kHz PCM) saves
the resampler's CPU and delay; ``OpusEncoder(48000)`` works too.

Neither object has states: they are ready when built. Both are sans-IO machines
of the one contract::

    sender.send_pcm(pcm)                        # any size; also flush(), send_sender_report()
    for packet in sender.data_to_send(): send it (already SRTP-protected)

    receiver.receive_data(srtp_or_srtcp, now)   # each datagram classified "rtp"
    receiver.handle_timer(now)                  # when now >= receiver.get_timer()
    while (ev := receiver.next_event()) is not None: ...   # AudioFrame or an RTCP report

Errors in inbound packets never escape :meth:`AudioReceiver.receive_data`:
they are counted in ``stats``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from adk_realtime.sansio.audio import SUPPORTED_RATES, Resampler, whole_samples
from adk_realtime.sansio.webrtc._checks import require
from adk_realtime.sansio.webrtc.jitter import JitterBuffer, JitterFrame
from adk_realtime.sansio.webrtc.opus import (
    MAX_FRAME_SAMPLES,
    OpusDecodeError,
    OpusDecoder,
    OpusEncoder,
)
from adk_realtime.sansio.webrtc.rtp import (
    RTP_HEADER_LEN,
    RtcpPacket,
    RtpDepacketizer,
    RtpError,
    RtpPacketizer,
    parse_rtcp,
)
from adk_realtime.sansio.webrtc.srtp import SRTP_TRAILER_MAX, SrtpSession

__all__ = ["AudioFrame", "AudioReceiver", "AudioSender", "MediaEvent"]

_OPUS_ROOM = 1275  # one 20 ms Opus frame never exceeds this (RFC 6716 §3.2.1)
_RTP_CLOCK = 48000
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """One decoded 20 ms frame of the peer's audio: PCM16 mono at ``sample_rate``."""

    pcm: bytes = field(repr=False)
    sample_rate: int


MediaEvent = AudioFrame | RtcpPacket


class AudioSender:
    """PCM16 mono at ``input_rate`` in, SRTP packets out, one per 20 ms.

    ``encoder`` must be mono; its ``sample_rate`` is the rate Opus encodes
    at (48 kHz normally; any Opus rate works). The packetizer's timestamps
    stay on the 48 kHz RTP clock whatever the rates.
    """

    def __init__(
        self,
        packetizer: RtpPacketizer,
        encoder: OpusEncoder,
        srtp: SrtpSession,
        input_rate: int,
    ) -> None:
        require("encoder", encoder.channels == 1, "a mono OpusEncoder", encoder.channels)
        require(
            "packetizer",
            packetizer.clock_rate == _RTP_CLOCK,
            "on the 48 kHz Opus RTP clock (RFC 7587)",
            packetizer.clock_rate,
        )
        require(
            "input_rate", input_rate in SUPPORTED_RATES, f"one of {SUPPORTED_RATES}", input_rate
        )
        self.packetizer = packetizer
        self.encoder = encoder
        self.srtp = srtp
        self.input_rate = input_rate
        self._resampler = Resampler(input_rate, encoder.sample_rate)
        self._frame = encoder.frame_size
        self._ticks = encoder.frame_size * _RTP_CLOCK // encoder.sample_rate
        self._piece = max(1, input_rate // 50)  # input samples per resampler call
        room = self._resampler.max_output_samples(self._piece)
        # Frames are cut here, after the resampler (its output per call varies) and in
        # the buffer the encoder reads in place: not audio.FrameSlicer, which cuts bytes
        # before resampling and would cost a copy per frame or hold input back.
        self._acc = np.zeros(self._frame + room, dtype=np.int16)
        self._fill = 0
        self._carry = b""  # an odd trailing byte between calls
        self._opus = bytearray(_OPUS_ROOM)
        self._opus_view = memoryview(self._opus)
        self._packet = bytearray(RTP_HEADER_LEN + _OPUS_ROOM + SRTP_TRAILER_MAX)
        self._packet_view = memoryview(self._packet)
        self._out: list[bytes] = []
        self.stats: dict[str, int] = {"frames": 0, "bytes": 0}

    def send_pcm(self, pcm: bytes | bytearray | memoryview) -> None:
        """Take PCM16 mono; every 20 ms frame now complete becomes one SRTP packet.

        Then send the packets of :meth:`data_to_send` in order. Any remainder waits
        for the next call (or :meth:`flush`).
        """
        data, self._carry = whole_samples(self._carry, pcm)
        samples = np.frombuffer(data, dtype=np.int16)
        out = self._out
        piece = self._piece
        for start in range(0, len(samples), piece):
            self._fill += self._resampler.process_into(
                samples[start : start + piece], self._acc[self._fill :]
            )
            while self._fill >= self._frame:
                out.append(self._send_frame())

    def flush(self) -> None:
        """Pad the partial frame with silence and send it (end of a talkspurt); then
        :meth:`data_to_send`."""
        if self._fill == 0:
            return
        self._acc[self._fill : self._frame] = 0
        self._fill = self._frame
        self._out.append(self._send_frame())

    def data_to_send(self) -> list[bytes]:
        """The SRTP and SRTCP packets queued by the commands, in order (and forget them)."""
        out, self._out = self._out, []
        return out

    def skip(self, seconds: float) -> None:
        """Tell the stream that ``seconds`` passed with nothing sent (a pause).

        Timestamps keep following the wallclock and the next packet carries
        the marker bit. Call :meth:`flush` first if a partial frame is held.
        """
        self.packetizer.skip(round(seconds * _RTP_CLOCK))

    def send_sender_report(self, wallclock: float, cname: str | None = None) -> None:
        """Queue an SRTCP-protected sender report (+ SDES CNAME) for this stream; then
        :meth:`data_to_send`.

        ``wallclock`` is Unix time from the caller's clock. RFC 3550 suggests
        one every few seconds; peers do not require them for audio.
        """
        report = self.packetizer.build_sender_report(wallclock, cname)
        self._out.append(self.srtp.protect_rtcp(report))

    def _send_frame(self) -> bytes:
        frame = self._frame
        n = self.encoder.encode_into(self._acc, self._opus)
        rest = self._fill - frame
        if rest:
            self._acc[:rest] = self._acc[frame : self._fill]
        self._fill = rest
        length = self.packetizer.packetize_into(
            self._opus_view[:n], self._packet_view, samples=self._ticks
        )
        length = self.srtp.protect_rtp_into(self._packet, length)
        self.stats["frames"] += 1
        self.stats["bytes"] += length
        return bytes(self._packet_view[:length])


class AudioReceiver:
    """SRTP packets in, :class:`AudioFrame` events out (PCM16 mono at ``output_rate``).

    ``payload_type`` (optional) keeps only that RTP payload type (the Opus
    one from the SDP answer). ``decode_rate`` is the rate Opus decodes at
    before resampling to ``output_rate``; ``None`` decodes at ``output_rate``
    directly (no resampling).
    ``jitter`` replaces the default 10-packet / 200 ms jitter buffer.
    """

    def __init__(
        self,
        srtp: SrtpSession,
        output_rate: int = 24000,
        *,
        payload_type: int | None = None,
        decode_rate: int | None = None,
        jitter: JitterBuffer | None = None,
    ) -> None:
        rates = SUPPORTED_RATES
        require("output_rate", output_rate in rates, f"one of {rates}", output_rate)
        require(
            "decode_rate",
            decode_rate is None or decode_rate in _OPUS_RATES,
            f"None or one of {_OPUS_RATES}",
            decode_rate,
        )
        self.srtp = srtp
        self.output_rate = output_rate
        self.depacketizer = RtpDepacketizer(payload_type)
        self.jitter = jitter if jitter is not None else JitterBuffer()
        rate = output_rate if decode_rate is None else decode_rate
        self.decoder = OpusDecoder(rate, 1)  # type: ignore[arg-type]
        self._resampler = Resampler(rate, output_rate)
        max_in = MAX_FRAME_SAMPLES * rate // _RTP_CLOCK
        self._decoded = np.zeros(max_in, dtype=np.int16)
        self._out = np.zeros(self._resampler.max_output_samples(max_in) + 8, dtype=np.int16)
        self._events: deque[MediaEvent] = deque()
        self.stats: dict[str, int] = {
            "frames": 0,
            "concealed": 0,
            "fec_recovered": 0,
            "malformed": 0,
            "malformed_rtcp": 0,
            "undecodable": 0,
        }
        self._same_rate = rate == output_rate

    def receive_data(self, packet: bytes, now: float) -> None:
        """Feed one SRTP or SRTCP datagram (rtcp-mux: told apart by the packet type).

        Then drain :meth:`next_event` (the frames now ready, in order, and any RTCP
        report) and re-arm the timer from :meth:`get_timer`. Dropped packets are
        counted (``srtp.stats``, ``depacketizer.stats``, ``jitter.stats``,
        ``stats``); nothing raises for bad input.
        """
        if len(packet) > 1 and 192 <= packet[1] <= 223:  # rtp.is_rtcp, inlined: per packet
            self._receive_rtcp(packet)
            return
        plain = self.srtp.unprotect_rtp(packet)
        if plain is None:
            return
        try:
            rtp = self.depacketizer.receive(plain)
        except RtpError:
            self.stats["malformed"] += 1
            return
        if rtp is not None:
            self.jitter.receive_data(rtp, now)
            self._play()

    def next_event(self) -> MediaEvent | None:
        """The next :class:`AudioFrame` (in play-out order) or RTCP report, or None."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must run (the jitter buffer's hold limit), or ``None``."""
        return self.jitter.get_timer()

    def handle_timer(self, now: float) -> None:
        """Release frames that waited too long for a missing packet; then drain
        :meth:`next_event`."""
        self.jitter.handle_timer(now)
        self._play()

    def _receive_rtcp(self, packet: bytes) -> None:
        # SR, RR and BYE become events; other RTCP types are skipped by the parser.
        plain = self.srtp.unprotect_rtcp(packet)
        if plain is None:
            return
        try:
            self._events.extend(parse_rtcp(plain))
        except RtpError:
            self.stats["malformed_rtcp"] += 1

    def _play(self) -> None:
        out = self._events
        rate = self.output_rate
        decoder = self.decoder
        next_item = self.jitter.next_event
        while (item := next_item()) is not None:
            try:
                if isinstance(item, JitterFrame):
                    try:
                        n = decoder.decode_into(item.payload, self._decoded)
                    except OpusDecodeError:
                        self.stats["undecodable"] += 1
                        n = decoder.decode_into(None, self._decoded)
                        self.stats["concealed"] += 1
                    else:
                        self.stats["frames"] += 1
                else:
                    fec = item.fec
                    n = decoder.decode_into(fec, self._decoded, fec=fec is not None)
                    self.stats["fec_recovered" if fec is not None else "concealed"] += 1
            except OpusDecodeError:
                self.stats["undecodable"] += 1
                continue
            if self._same_rate:
                out.append(AudioFrame(self._decoded[:n].tobytes(), rate))
            else:
                written = self._resampler.process_into(self._decoded[:n], self._out)
                out.append(AudioFrame(self._out[:written].tobytes(), rate))
