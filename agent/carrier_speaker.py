"""``CarrierSpeaker``: a runner's voice on a phone call, paced into a carrier media stream.

It is the runner's :class:`~adk_realtime.runner.AudioOutput` for a call
(``runner.add_audio_output``): ``play`` gets each model audio delta,
``end_of_response`` the end of a response, ``interrupt`` a barge-in. The audio
becomes G.711 μ-law at 8 kHz (unchanged when the model already speaks it,
else one streaming resampler per call and the μ-law encoder) and waits in an
:class:`~adk_realtime.sansio.telephony.pacer.OutboundPacer`, whose frames
:meth:`CarrierSpeaker.run` sends when they are due.

What the caller heard: each model item is one or more responses on the
carrier's playback timeline (keys ``r1``, ``r2``... of this speaker's own, so a
provider reusing an item id cannot collide). :meth:`report_heard`, called when
a mark echo moved ``heard_ms``, tells ``on_heard(item_id, ms)`` (the runner's
``audio_played``) how much of each recent item the marks confirm; a new item is
reported at 0 when its first audio arrives, so until a mark says otherwise the
runner takes it as unheard rather than estimating real-time playback.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import anyio

from adk_realtime._loop import loop_clock, loop_event_class
from adk_realtime.sansio import audio as _audio
from adk_realtime.sansio.config import AudioEncoding, AudioFormat
from adk_realtime.sansio.telephony.media_stream import CarrierMediaStream
from adk_realtime.sansio.telephony.pacer import (
    DEFAULT_MAX_AHEAD_MS,
    DEFAULT_MAX_QUEUED_MS,
    OutboundPacer,
)

__all__ = ["CarrierSpeaker", "MessageSink"]

# Items whose heard position is still reported (the playback ledger remembers 64
# responses; an item this far back has long been heard or cut).
_TRACKED_ITEMS = 16


class MessageSink(Protocol):
    """Where the speaker's messages go: the call's carrier socket."""

    async def send(self, message: str) -> None: ...


class CarrierSpeaker:
    """Plays model audio to a carrier (see the module docstring).

    ``audio_format`` is the model's output (``AudioDelta.delta``): μ-law passes
    through, A-law is transcoded, PCM16 is resampled to 8 kHz and encoded.
    ``on_heard(item_id, ms)`` receives what the marks confirm of each item;
    ``on_interrupt()`` is called after each barge-in's clear was queued.
    """

    def __init__(
        self,
        stream: CarrierMediaStream,
        *,
        audio_format: AudioFormat,
        on_heard: Callable[[str, int], None],
        on_interrupt: Callable[[], None] | None = None,
        max_ahead_ms: int = DEFAULT_MAX_AHEAD_MS,
        max_queued_ms: int = DEFAULT_MAX_QUEUED_MS,
    ) -> None:
        self.stream = stream
        self.pacer = OutboundPacer(stream, max_ahead_ms=max_ahead_ms, max_queued_ms=max_queued_ms)
        self._encoding = audio_format.encoding
        self._resampler: _audio.Resampler | None = None
        if self._encoding is AudioEncoding.PCM16 and audio_format.sample_rate != 8000:
            self._resampler = _audio.Resampler(audio_format.sample_rate, 8000)
        self._carry = b""  # half a PCM16 sample cut at a delta's edge
        self._on_heard = on_heard
        self._on_interrupt = on_interrupt
        self._item: str | None = None  # the item whose audio is being queued
        self._key = ""  # its response key on the playback timeline
        self._serial = 0
        # item -> its response keys (oldest items first); item -> the ms last reported
        self._keys: collections.OrderedDict[str, list[str]] = collections.OrderedDict()
        self._reported: dict[str, int] = {}
        # Items cut by a barge-in: a late delta of theirs is never played.
        self._silenced: collections.deque[str] = collections.deque(maxlen=_TRACKED_ITEMS)
        self._wake: Any = None  # the loop's native event (asyncio.Event or trio.Event)
        self._finishing = False
        self._drain = False
        self.interruptions = 0
        """Barge-ins this speaker acted on (each sent the carrier a ``clear``)."""

    # -- AudioOutput (called on the runner's event pump: return at once) ----------

    def play(self, audio: bytes, item_id: str) -> None:
        """Model audio of ``item_id`` (in the model's output format): queue it for the caller."""
        if self._finishing or item_id in self._silenced:
            return
        if item_id != self._item:
            self._close_item()
            self._open_item(item_id)
        ulaw = self._to_ulaw(audio)
        if ulaw:
            self.pacer.push(self._key, ulaw)
            self._poke()

    def end_of_response(self) -> None:
        """The response ended: its last partial frame may leave (padded with silence)."""
        self._close_item()
        self._poke()

    def interrupt(self) -> None:
        """Barge-in: drop everything not yet sent and clear the carrier's buffer now."""
        if self._item is not None:
            self._silenced.append(self._item)
        self._item = None
        self._carry = b""
        if self._resampler is not None:
            self._resampler.reset()
        self.pacer.interrupt(anyio.current_time())
        self.interruptions += 1
        self._poke()
        if self._on_interrupt is not None:
            self._on_interrupt()

    # -- the carrier's side ----------------------------------------------------

    def report_heard(self) -> None:
        """A mark echo moved ``heard_ms``: tell ``on_heard`` what changed, per item."""
        stream = self.stream
        for item_id, keys in self._keys.items():
            heard = sum(stream.response_heard_ms(key) for key in keys)
            if heard != self._reported.get(item_id):
                self._reported[item_id] = heard
                self._on_heard(item_id, heard)

    def finish(self, *, drain: bool) -> None:
        """End :meth:`run`: at once, or (``drain``) once everything queued was sent and,
        by the send clock, played."""
        self._close_item()
        self._finishing = True
        self._drain = drain
        self._poke()

    async def run(self, sink: MessageSink) -> None:
        """Send the pacer's messages when they are due, until :meth:`finish`.

        Raises ``ConnectionClosed`` when the carrier's socket is gone."""
        pacer = self.pacer
        # Once per call, not per frame: the loop's clock and events (anyio looks the
        # backend up on every call), and on asyncio a timer handle instead of a cancel
        # scope for the wait until the next frame is due (~50 waits per call-second).
        clock, new_event = loop_clock(), loop_event_class()
        loop = _running_asyncio_loop()
        # A frame and its mark (or a response's first frames) in one write, where the
        # socket can: one syscall and one checkpoint instead of one each.
        send_many: Callable[[list[str]], Awaitable[None]] | None = getattr(sink, "send_many", None)
        while True:
            now = clock()
            pacer.handle_timer(now)
            messages = pacer.data_to_send()
            if len(messages) > 1 and send_many is not None:
                await send_many(messages)  # one write: no barge-in can come in between
                continue
            if messages:
                clears = pacer.clears
                for message in messages:
                    if pacer.clears != clears:
                        break  # a barge-in meanwhile: the rest was dropped, its clear waits
                    await sink.send(message)
                continue
            if self._finishing and (pacer.idle or not self._drain):
                if self._drain and pacer.playout_end > now:
                    await anyio.sleep(pacer.playout_end - now)  # the carrier plays the rest
                return
            wake = self._wake
            if wake is None or wake.is_set():
                wake = self._wake = new_event()
            due = pacer.get_timer()
            if due is None:
                await wake.wait()
            elif loop is not None:
                timer = loop.call_at(due, wake.set)  # the pacer's clock is the loop's
                try:
                    await wake.wait()
                finally:
                    timer.cancel()
            else:
                with anyio.move_on_after(due - now):
                    await wake.wait()

    # -- inside -------------------------------------------------------------------

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _open_item(self, item_id: str) -> None:
        self._serial += 1
        self._item = item_id
        self._key = f"r{self._serial}"
        keys = self._keys.get(item_id)
        if keys is None:
            keys = self._keys[item_id] = []
            while len(self._keys) > _TRACKED_ITEMS:
                old, _ = self._keys.popitem(last=False)
                self._reported.pop(old, None)
            self._reported[item_id] = 0
            self._on_heard(item_id, 0)  # nothing heard until a mark says so
        keys.append(self._key)

    def _close_item(self) -> None:
        """The open item's audio is complete: flush the resampler's tail into it, end it."""
        if self._item is None:
            return
        if self._resampler is not None:
            tail = self._resampler.flush()
            if tail:
                self.pacer.push(self._key, _audio.ulaw_encode(tail))
        self._carry = b""
        self._item = None
        self.pacer.end_response()

    def _to_ulaw(self, audio: bytes) -> bytes:
        encoding = self._encoding
        if encoding is AudioEncoding.G711_ULAW:
            return audio  # the model speaks the telephone's format: not one byte changes
        if encoding is AudioEncoding.G711_ALAW:
            return _audio.ulaw_encode(_audio.alaw_decode(audio))
        whole, self._carry = _audio.whole_samples(self._carry, audio)
        if self._resampler is not None:
            whole = self._resampler.process(whole)
        return _audio.ulaw_encode(whole)


def _running_asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop, or ``None`` under trio."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
