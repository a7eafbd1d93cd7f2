"""The 20 ms audio pipelines of a WebRTC peer: PCM -> SRTP and SRTP -> PCM.

Theory of operation
-------------------
Outbound (:class:`AudioSender`): PCM16 mono at ``input_rate`` arrives in
chunks of any size. It is resampled to the encoder's rate by a streaming
``Resampler`` into a preallocated accumulator (pass-through if the rates
match); every full 20 ms frame is Opus-encoded into a preallocated buffer,
given an RTP header in another preallocated buffer, and SRTP-protected there in
place. The only new objects per frame are the ``bytes`` of the packet handed to
the socket and the list carrying it. A partial frame waits for the next call.

Inbound (:class:`AudioReceiver`): an SRTP datagram is authenticated and
decrypted (bad or replayed packets are dropped, counted by the SRTP session),
parsed, filtered by the latched SSRC, and put through the jitter buffer; what
comes out in order is Opus-decoded (mono downmix of stereo senders) into a
reused buffer, a loss is concealed (FEC from the next packet when it is
there, else PLC), and the audio is resampled to ``output_rate``. Each 20 ms
frame becomes one ``bytes`` of PCM16.

Rates: libopus encodes from and decodes to 8, 12, 16, 24 or 48 kHz natively
(the RTP clock stays 48 kHz either way), so by default the receiver decodes
straight at ``output_rate`` and the resampler passes through; the sender
resamples only if its encoder runs at another rate than its input. Building
the encoder at the input rate (``OpusEncoder(24000)`` for 24 kHz PCM) saves
the resampler's CPU and delay; ``OpusEncoder(48000)`` works too.

Neither object has states: they are ready when built. Errors in inbound
packets never escape :meth:`AudioReceiver.receive_rtp`: they are counted in
``stats``.
"""

from __future__ import annotations

import numpy as np

from adk_realtime.sansio.audio import Resampler, whole_samples
from adk_realtime.sansio.webrtc.jitter import JitterBuffer, JitterFrame, JitterItem
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

__all__ = ["AudioReceiver", "AudioSender"]

_OPUS_ROOM = 1275  # one 20 ms Opus frame never exceeds this (RFC 6716 §3.2.1)
_RTP_CLOCK = 48000


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
        if encoder.channels != 1:
            raise ValueError("AudioSender sends mono: give it an OpusEncoder with channels=1")
        if packetizer.clock_rate != _RTP_CLOCK:
            raise ValueError("Opus RTP runs on a 48 kHz clock (RFC 7587)")
        self.packetizer = packetizer
        self.encoder = encoder
        self.srtp = srtp
        self.input_rate = input_rate
        self._resampler = Resampler(input_rate, encoder.sample_rate)
        self._frame = encoder.frame_size
        self._ticks = encoder.frame_size * _RTP_CLOCK // encoder.sample_rate
        self._piece = max(1, input_rate // 50)  # input samples per resampler call
        room = self._resampler.max_output_samples(self._piece)
        self._acc = np.zeros(self._frame + room, dtype=np.int16)
        self._fill = 0
        self._carry = b""  # an odd trailing byte between calls
        self._opus = bytearray(_OPUS_ROOM)
        self._opus_view = memoryview(self._opus)
        self._packet = bytearray(RTP_HEADER_LEN + _OPUS_ROOM + SRTP_TRAILER_MAX)
        self._packet_view = memoryview(self._packet)
        self.stats: dict[str, int] = {"frames": 0, "bytes": 0}

    def send_pcm(self, pcm: bytes | bytearray | memoryview) -> list[bytes]:
        """Queue PCM16 mono; return the SRTP packets of every 20 ms frame now complete.

        Send each packet to the peer in order. Any remainder waits for the
        next call (or :meth:`flush`).
        """
        data, self._carry = whole_samples(self._carry, pcm)
        samples = np.frombuffer(data, dtype=np.int16)
        out: list[bytes] = []
        piece = self._piece
        for start in range(0, len(samples), piece):
            self._fill += self._resampler.process_into(
                samples[start : start + piece], self._acc[self._fill :]
            )
            while self._fill >= self._frame:
                out.append(self._send_frame())
        return out

    def flush(self) -> list[bytes]:
        """Pad the partial frame with silence and send it (end of a talkspurt)."""
        if self._fill == 0:
            return []
        self._acc[self._fill : self._frame] = 0
        self._fill = self._frame
        return [self._send_frame()]

    def skip(self, seconds: float) -> None:
        """Tell the stream that ``seconds`` passed with nothing sent (a pause).

        Timestamps keep following the wallclock and the next packet carries
        the marker bit. Call :meth:`flush` first if a partial frame is held.
        """
        self.packetizer.skip(round(seconds * _RTP_CLOCK))

    def sender_report(self, wallclock: float, cname: str | None = None) -> bytes:
        """An SRTCP-protected sender report (+ SDES CNAME) for this stream; send it.

        ``wallclock`` is Unix time from the caller's clock. RFC 3550 suggests
        one every few seconds; peers do not require them for audio.
        """
        return self.srtp.protect_rtcp(self.packetizer.build_sender_report(wallclock, cname))

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
    """SRTP packets in, PCM16 mono at ``output_rate`` out (one ``bytes`` per 20 ms frame).

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
        self.stats: dict[str, int] = {
            "frames": 0,
            "concealed": 0,
            "fec_recovered": 0,
            "malformed": 0,
            "malformed_rtcp": 0,
            "undecodable": 0,
        }
        self._same_rate = rate == output_rate

    def receive_rtp(self, packet: bytes, now: float) -> list[bytes]:
        """Feed one SRTP datagram; return the PCM frames now ready, in order.

        Then re-arm the timer from :meth:`get_timer`. Dropped packets are
        counted (``srtp.stats``, ``depacketizer.stats``, ``jitter.stats``,
        ``stats``); nothing raises for bad input.
        """
        plain = self.srtp.unprotect_rtp(packet)
        if plain is None:
            return []
        try:
            rtp = self.depacketizer.receive(plain)
        except RtpError:
            self.stats["malformed"] += 1
            return []
        if rtp is None:
            return []
        return self._play(self.jitter.push(rtp.sequence, rtp.timestamp, rtp.payload, now))

    def receive_rtcp(self, packet: bytes) -> list[RtcpPacket]:
        """Unprotect and parse one SRTCP datagram (SR, RR, BYE; other types skipped).

        Dropped packets return ``[]`` and are counted (``srtp.stats``,
        ``stats["malformed_rtcp"]``).
        """
        plain = self.srtp.unprotect_rtcp(packet)
        if plain is None:
            return []
        try:
            return parse_rtcp(plain)
        except RtpError:
            self.stats["malformed_rtcp"] += 1
            return []

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must run (the jitter buffer's hold limit), or ``None``."""
        return self.jitter.get_timer()

    def handle_timer(self, now: float) -> list[bytes]:
        """Release frames that waited too long for a missing packet; returns PCM frames."""
        return self._play(self.jitter.handle_timer(now))

    def _play(self, items: list[JitterItem]) -> list[bytes]:
        out: list[bytes] = []
        decoder = self.decoder
        for item in items:
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
                out.append(self._decoded[:n].tobytes())
            else:
                written = self._resampler.process_into(self._decoded[:n], self._out)
                out.append(self._out[:written].tobytes())
        return out
