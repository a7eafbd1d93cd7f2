"""One SIP call's RTP as a carrier media stream, so :func:`~adk_realtime.call_bridge.bridge_call`
runs SIP calls with all its logic (barge-in, marks, truncation, passthrough, DTMF).

:class:`SipCallMedia` is the bridge's socket (``send``/``receive``/``aclose``) and
plays, towards the bridge, the carrier's side of a Twilio-shaped media stream with
:class:`~adk_realtime.sansio.telephony.simulated_carrier.SimulatedTwilio` on a 20 ms
clock. Each tick: the oldest 20 ms the caller sent over RTP goes to the bridge as
``media`` (silence when none came); one 20 ms frame of what the bridge queued goes
out as one RTP packet (none when nothing is queued: silence suppression, the next
packet carries the marker bit), and the marks the sent audio reached go back to the
bridge, so the bridge's "heard" position is what went out to the caller. The bridge
holds at most ``max_ahead_ms`` here; its ``clear`` (barge-in) drops that at once,
so our RTP stops within a tick. RFC 4733 digits become ``dtmf`` messages; BYE
becomes ``stop``. The call's codec is PCMU or PCMA: A-law is converted to μ-law and
back here (the bridge and OpenAI's passthrough speak μ-law; G.711 A-law to μ-law is
near lossless).
"""

from __future__ import annotations

import hashlib
import logging
import math
from typing import ClassVar

import anyio
import anyio.abc

from adk_realtime.sansio.audio import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from adk_realtime.sansio.errors import ConnectionClosed, DecodeError, LocalProtocolError
from adk_realtime.sansio.sip.rtp_session import DtmfDigit, RtpAudioFrame, RtpMediaSession
from adk_realtime.sansio.telephony.media_stream import FRAME_MS
from adk_realtime.sansio.telephony.simulated_carrier import FramePlayed, SimulatedTwilio
from adk_realtime.sansio.telephony.twilio import TwilioMediaStream

__all__ = ["SipCallMedia", "SipMediaStream"]

log = logging.getLogger("adk_realtime.sip")


class SipMediaStream(TwilioMediaStream):
    """The bridge's codec for a SIP call: the Twilio-shaped messages of
    :class:`SipCallMedia`, named ``"SIP"`` (``CallInfo.carrier == "sip"``)."""

    carrier: ClassVar[str] = "SIP"


class SipCallMedia:
    """A SIP call's RTP, as the socket :func:`bridge_call` reads and writes (see the
    module docstring). Run :meth:`run` beside the bridge; :meth:`hang_up` when the
    caller sent BYE; ``on_hold`` follows the caller's re-INVITEs."""

    def __init__(
        self,
        *,
        call_id: str,
        caller: str,
        called: str,
        rtp: RtpMediaSession,
        sock: anyio.abc.UDPSocket,
        alaw: bool,
    ) -> None:
        stream_id = "SIP" + hashlib.sha256(call_id.encode()).hexdigest()[:24]
        self.carrier = SimulatedTwilio(
            stream_id=stream_id,
            call_id=call_id,
            custom_parameters={"caller": caller, "called": called},
            max_queued_ms=60_000,
        )
        self.rtp = rtp
        self.sock = sock
        self.alaw = alaw
        self.closed = anyio.Event()
        self._to_bridge, self._from_media = anyio.create_memory_object_stream[str](math.inf)
        self._ticks = 0
        self._hung_up = False  # the caller hung up (possibly before the stream started)

    # -- the bridge's socket ----------------------------------------------------------

    async def send(self, message: str) -> None:
        if self.closed.is_set():
            raise ConnectionClosed(1000, "the call ended")
        try:
            self.carrier.receive_data(message, anyio.current_time())
        except DecodeError as exc:
            log.warning("sip: a bridge message was refused: %s", exc)
        self._pump()

    async def receive(self) -> str:
        try:
            return await self._from_media.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise ConnectionClosed(1000, "the call ended") from None

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        self.closed.set()
        self._to_bridge.close()

    # -- the call -----------------------------------------------------------------------

    def hang_up(self) -> None:
        """The caller hung up: the bridge reads ``stop`` (at once, or right after the
        ``start`` when the stream has not started yet)."""
        self._hung_up = True
        self.carrier.hang_up()
        self._pump()

    @property
    def on_hold(self) -> bool:
        return not self.rtp.sending

    @on_hold.setter
    def on_hold(self, held: bool) -> None:
        self.rtp.sending = not held

    def start(self, now: float) -> None:
        """Open the stream towards the bridge (``connected``, ``start``) and start the clock."""
        self.carrier.start(now)
        if self._hung_up:
            self.carrier.hang_up()
        self._pump()

    async def run(self) -> None:
        """Move audio until :meth:`aclose` (the bridge's end)."""
        self.start(anyio.current_time())
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._read_rtp)
            tg.start_soon(self._clock)
            await self.closed.wait()
            tg.cancel_scope.cancel()

    async def _read_rtp(self) -> None:
        async for data, addr in self.sock:
            self.receive_rtp(data, (addr[0], addr[1]), anyio.current_time())

    async def _clock(self) -> None:
        while not self.closed.is_set():
            due = self.carrier.get_timer()
            if due is None:  # hung up: nothing more to play
                await self.closed.wait()
                return
            await anyio.sleep(max(0.0, due - anyio.current_time()))
            now = anyio.current_time()
            for data, addr in self.tick(now):
                try:
                    await self.sock.sendto(data, addr[0], addr[1])
                except OSError:
                    pass  # the caller's port is gone; its BYE or our timers end the call

    def tick(self, now: float) -> list[tuple[bytes, tuple[str, int]]]:
        """Run the 20 ms clock up to ``now``; returns the RTP datagrams to send."""
        rtp_due = self.rtp.get_timer()
        if rtp_due is not None and rtp_due <= now:
            self.rtp.handle_timer(now)
            self._rtp_events()
        self.carrier.handle_timer(now)
        self._pump()
        return self.rtp.datagrams_to_send(now)

    def receive_rtp(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        """One datagram of the call's RTP socket."""
        self.rtp.receive_datagram(data, addr, now)
        self._rtp_events()

    def _rtp_events(self) -> None:
        while (event := self.rtp.next_event()) is not None:
            if self.carrier.stopped:
                continue
            try:
                if isinstance(event, RtpAudioFrame):
                    payload = event.payload
                    self.carrier.say(ulaw_encode(alaw_decode(payload)) if self.alaw else payload)
                elif isinstance(event, DtmfDigit):
                    self.carrier.press(event.digit)
            except LocalProtocolError:
                pass  # not started yet or already stopped

    def _pump(self) -> None:
        """Carrier events to RTP, carrier messages to the bridge."""
        played = 0
        while (event := self.carrier.next_event()) is not None:
            if isinstance(event, FramePlayed):
                payload = event.payload
                self.rtp.send_audio(alaw_encode(ulaw_decode(payload)) if self.alaw else payload)
                played += 1
        ticks = self.carrier.played_ms // FRAME_MS
        for _ in range(max(0, ticks - self._ticks - played)):
            self.rtp.skip()  # a tick with nothing to say: no packet
        self._ticks = ticks
        for message in self.carrier.data_to_send():
            try:
                self._to_bridge.send_nowait(message)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
