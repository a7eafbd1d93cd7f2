"""The low-level realtime session: one live conversation with a provider.

Theory of operation
-------------------
A :class:`RealtimeSession` joins three things:

* a provider protocol (``OpenAIProtocol`` / ``GeminiProtocol`` from
  :mod:`adk_realtime.sansio`), the pure codec and conversation state;
* a *link factory*: an async context manager that opens one connection (a
  WebSocket, or a WebRTC peer's data channel) and yields a :class:`Link`;
* a supervisor task, started by ``model.connect(config)``, which owns the
  link: it starts the protocol and sends its first messages, reads every
  message, decodes it and puts the events in a bounded queue that
  ``next_event()`` reads.

What differs between providers (reconnect to reconfigure, wait for a setup ack, resume)
is decided by ``protocol.capabilities``; the provider name is only a label for logs.

Owning the link in one task is what makes transparent resumption possible: when Gemini
says ``goAway`` (or the socket drops while the session is resumable), the supervisor
closes the old link and opens a new one with the latest resumption handle, all inside its
own task, while commands sent meanwhile wait in a bounded hold buffer
(``max_held_messages``; when it is full the sender waits, nothing is dropped). A
:class:`SessionResumed` event tells the app it happened. A close by which the provider
refuses what we sent (1009 message too big, 1007, 1008...: ``REFUSAL_CLOSE_CODES``) is
never resumed: the app gets it as :class:`ConnectionClosed`.

Where the provider cannot resume by handle (OpenAI), the session *rolls over* instead
(``capabilities.rollover``): ahead of the provider's ``expires_at`` (``SessionOptions.
rollover_margin``, at a moment no response is in progress when one comes), on the provider's session-expired notice (decoded as ``GoAway``) or when the
connection drops (any close but a normal 1000/1005 or a refusal), it opens a new
connection and ``start()`` seeds it from the protocol's record: the session config, the
conversation as items, the input audio the old session had not committed, and a new
``response.create`` when a response was cut. Failed attempts are retried
(``reconnect_attempts``, exponential ``reconnect_backoff``). Commands sent meanwhile are
held as for a resumption; where the protocol's ``start()`` re-sends what it recorded
(``capabilities.replays_unconfirmed``), held copies of such messages are dropped so each
goes exactly once, and commands given while the new link waits for its setup's
acknowledgement stay in the protocol, to go after the replay in the order it numbers them.
The app sees one ``SessionResumed`` per switch.

No message is larger than the provider accepts (``capabilities.max_message_size``: audio
is split, other commands refused with ``MessageTooLargeToSend``). The event queue is
bounded: when the app stops reading, the supervisor stops reading the socket, and TCP
pushes back. ``next_event()`` returns ``None`` after ``close()``; an unexpected close
raises :class:`ConnectionClosed` with the peer's code and reason.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
import numpy as np
from anyio.abc import TaskStatus

from adk_realtime._loop import loop_clock, loop_lock
from adk_realtime.drivers._errors import single_error
from adk_realtime.sansio import audio as _audio, events as ev
from adk_realtime.sansio.config import AudioEncoding, AudioFormat, RealtimeConfig
from adk_realtime.sansio.errors import ConfigError, ConnectionClosed, DecodeError, RealtimeError
from adk_realtime.sansio.history import History
from adk_realtime.sansio.json_fields import check_size
from adk_realtime.sansio.protocol import ProviderCapabilities, RealtimeProtocol
from adk_realtime.session_options import (
    KEEPALIVE_INTERVAL as KEEPALIVE_INTERVAL,
    KEEPALIVE_TIMEOUT as KEEPALIVE_TIMEOUT,
    SETUP_TIMEOUT as SETUP_TIMEOUT,
    SessionOptions as SessionOptions,
)
from adk_realtime.session_queue import EventConsumer, EventQueue, QueueEnd
from adk_realtime.session_sink import LIFECYCLE, Decoded, read_path_decoder

log = logging.getLogger("adk_realtime.session")


# A replacement link that dies sooner than this after it was ready, or that never
# delivered a message, counts as a failed attempt (a provider that crash-loops or
# accepts and then stays silent must not be reconnected to forever).
HEALTHY_LINK_SECONDS = 2.0

# Close codes by which a peer refuses what it was sent (RFC 6455, 7.4.1: protocol error,
# unacceptable or inconsistent data, policy, message too big, extension). A resumed
# connection would only be sent the same again, so such a close is never resumed: the
# app gets the error.
REFUSAL_CLOSE_CODES = frozenset({1002, 1003, 1007, 1008, 1009, 1010})


class Link(Protocol):
    """One open connection carrying provider messages (WebSocket or data channel)."""

    async def send(self, message: str) -> None: ...

    async def receive(self) -> str | bytes | Any:
        """The next message; raises :class:`ConnectionClosed` when the link is gone.

        A media link (WebRTC) may also return a ready :class:`AudioDelta`."""
        ...

    async def aclose(self, code: int = 1000, reason: str = "") -> None: ...


class MediaLink(Link, Protocol):
    """A link that carries audio out of band (WebRTC): PCM16 in, PCM16 events out."""

    async def send_audio(self, pcm: bytes, sample_rate: int) -> None: ...


LinkFactory = Callable[[str | None], AbstractAsyncContextManager[Link]]
"""Opens one link; the argument is the resumption handle (Gemini) or None."""


@dataclass(slots=True)
class LinkStats:
    """Counters the links of one session report (every link it opens shares them)."""

    dropped_events: int = 0
    """Events a link had to drop (e.g. WebRTC audio read while waiting for the data
    channel, beyond what it keeps)."""


class RealtimeSession:
    """A live conversation. Get one from ``async with model.connect(config) as session``.

    Commands (``send_audio``, ``send_text``, ...) may be called from any task; events
    are read with ``await session.next_event()`` or ``async for event in session``."""

    def __init__(
        self,
        protocol: RealtimeProtocol,
        config: RealtimeConfig,
        link_factory: LinkFactory,
        *,
        provider: str,
        options: SessionOptions | None = None,
        media: bool = False,
        link_stats: LinkStats | None = None,
        history: History | None = None,
    ) -> None:
        if history is not None:
            protocol.seed(history)  # start() replays it to the provider
        self.protocol = protocol
        self.config = config
        self.provider = provider  # a label for logs and repr; decisions go by capabilities
        self._caps = protocol.capabilities
        self._factory = link_factory
        self._options = options or SessionOptions()
        self._media = media
        self.link_stats = link_stats if link_stats is not None else LinkStats()
        self._link: Link | None = None
        # Messages waiting for a link: (generation, message, recorded). ``recorded``: the
        # protocol's record holds what it says, so a rollover's start() re-sends it anyway.
        self._held: collections.deque[tuple[int, str, bool]] = collections.deque()
        self._generation = 0  # protocol.start() calls so far: which connection encodes
        self._rollover_requested = False
        self._response_open = False
        self._quiet = anyio.Event()  # set when no response is in progress
        self._session_info = anyio.Event()  # set when SessionCreated/Updated arrives
        self._held_drained = anyio.Event()
        self._events = EventQueue(self._options.event_queue_size)
        self._resamplers: dict[int, Any] = {}
        self._closing = False
        self._closed = False
        self._terminal: QueueEnd | None = None
        self._done = anyio.Event()
        self._reconnect_requested = False
        self.resumptions = self.rollovers = 0
        self._now: Callable[[], float] = anyio.current_time  # _run() picks the loop's clock
        self._link_messages = 0  # messages read on the current link (a dead one reads none)
        self._send_lock = loop_lock()  # (no checkpoint, nor look-up, when uncontended)
        self._starting_replay, self._left_in_protocol = False, 0  # (see _start_link)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<RealtimeSession provider={self.provider} {state}>"

    # ------------------------------------------------------------------ events

    async def next_event(self) -> ev.ServerEvent | None:
        """The next server event; ``None`` once the session was closed by us.

        Raises :class:`ConnectionClosed` if the provider closed or the link died.
        """
        if self._terminal is not None:
            self._finish(self._terminal)
            return None
        try:
            item = await self._events.get()  # (no loop trip when one is ready: see EventQueue)
        except anyio.EndOfStream:
            return None
        if isinstance(item, QueueEnd):
            self._terminal = item
            self._finish(item)
            return None
        return item

    def _finish(self, item: QueueEnd) -> None:
        if item.error is not None:
            raise item.error

    def offer_events_to(self, consumer: EventConsumer | None) -> None:
        """The runner's synchronous audio path (``EventQueue.set_consumer``)."""
        self._events.set_consumer(consumer)

    # The session is its own iterator (not an async generator): leaving
    # ``async for`` early leaves no generator for trio to finalize.
    def __aiter__(self) -> RealtimeSession:
        return self

    async def __anext__(self) -> ev.ServerEvent:
        event = await self.next_event()
        if event is None:
            raise StopAsyncIteration
        return event

    # ---------------------------------------------------------------- commands

    async def send_audio(
        self, pcm: bytes | memoryview | np.ndarray, sample_rate: int | None = None
    ) -> None:
        """Send user audio: PCM16 mono (bytes, or a numpy int16/float array) at ``sample_rate``.

        The audio is resampled to what the provider wants (24 kHz OpenAI, 16 kHz
        Gemini) and G.711-encoded when the session's input format says so.
        ``sample_rate`` (8000, 16000, 24000 or 48000; else ``ConfigError``) defaults
        to the provider's input rate (24 kHz on a WebRTC session). Any length may be
        sent: more than a second of audio goes as several messages of at most a second
        each (never one over ``capabilities.max_message_size``), in order.
        """
        if sample_rate is not None and (
            isinstance(sample_rate, bool) or sample_rate not in _audio.SUPPORTED_RATES
        ):
            raise ConfigError(
                "sample_rate",
                f"{sample_rate!r} Hz is not supported (use 8000, 16000, 24000 or 48000)",
            )
        fmt = self.protocol.input_audio_format
        if self._media:
            rate = 24000 if sample_rate is None else int(sample_rate)
            link = await self._wait_link()
            await link.send_audio(_to_pcm16_bytes(pcm), rate)  # type: ignore[attr-defined]
            return
        src_rate = fmt.sample_rate if sample_rate is None else int(sample_rate)
        data = self._convert_input(pcm, src_rate, fmt)
        if not data:
            return
        self.protocol.send_audio(data)
        await self._send_queued()

    async def send_encoded_audio(
        self, data: bytes | bytearray | memoryview, encoding: AudioEncoding
    ) -> None:
        """Send user audio already encoded as G.711 (μ-law or A-law, 8 kHz), e.g. a
        telephone carrier's payload.

        When the session's input format is that encoding the bytes go to the provider
        unchanged: no decoding, no resampling. Otherwise they are decoded and converted
        as :meth:`send_audio` converts 8 kHz PCM (the same streaming resampler, so
        consecutive chunks join without clicks). ``ConfigError`` for PCM16 (use
        :meth:`send_audio`, which takes a sample rate).
        """
        if encoding is AudioEncoding.PCM16 or not isinstance(encoding, AudioEncoding):
            raise ConfigError(
                "encoding",
                f"send_encoded_audio takes G.711 (use send_audio for PCM16), got {encoding!r}",
            )
        fmt = self.protocol.input_audio_format
        if not self._media and fmt.encoding is encoding:
            if data:
                self.protocol.send_audio(data if isinstance(data, bytes) else bytes(data))
                await self._send_queued()
            return
        decode = _audio.ulaw_decode if encoding is AudioEncoding.G711_ULAW else _audio.alaw_decode
        await self.send_audio(decode(data), 8000)

    def _convert_input(
        self, pcm: bytes | memoryview | np.ndarray, src_rate: int, fmt: AudioFormat
    ) -> bytes:
        raw = _to_pcm16_bytes(pcm)
        if src_rate != fmt.sample_rate:
            resampler = self._resamplers.get(src_rate)
            if resampler is None:
                resampler = _audio.Resampler(src_rate, fmt.sample_rate)
                self._resamplers[src_rate] = resampler
            raw = resampler.process(raw)
        if fmt.encoding is AudioEncoding.G711_ULAW:
            return _audio.ulaw_encode(raw)
        if fmt.encoding is AudioEncoding.G711_ALAW:
            return _audio.alaw_encode(raw)
        return bytes(raw)

    async def send_text(self, text: str) -> None:
        """Add a user text message to the conversation (call ``create_response`` to get an answer)."""
        await self.send_event(ev.ItemCreate(text=text))

    async def send_image(self, data: bytes, mime_type: str) -> None:
        """Add a user message holding an image (JPEG/PNG; Gemini also WebP/HEIC): the model
        sees it from its next response (``create_response`` asks for one now)."""
        self.protocol.send_image(data, mime_type)
        await self._send_queued()

    async def send_video_frame(self, data: bytes, mime_type: str) -> None:
        """One camera frame (Gemini; OpenAI refuses): at most ``max_video_fps`` go, a frame
        too soon waits for the next one after its time and is replaced by it."""
        self.protocol.send_video_frame(data, mime_type, anyio.current_time())
        await self._send_queued()

    async def commit_audio(self) -> None:
        """End the user's audio turn (manual turn taking, VAD off)."""
        await self.send_event(ev.AudioCommit())

    async def clear_audio(self) -> None:
        """Drop the user audio buffered on the provider so far."""
        await self.send_event(ev.AudioClear())

    async def create_response(self, instructions: str | None = None) -> None:
        """Ask the model to answer now."""
        await self.send_event(ev.ResponseCreate(instructions=instructions))

    async def cancel_response(self) -> None:
        """Cancel the response in progress."""
        await self.send_event(ev.ResponseCancel())

    async def send_tool_response(self, response: ev.ToolResponse) -> None:
        """Answer a :class:`FunctionCallDone`. OpenAI then needs ``create_response()``."""
        await self.send_event(ev.ItemCreate(tool_response=response))

    async def truncate(self, item_id: str, audio_end_ms: int) -> None:
        """Tell the provider the user heard only ``audio_end_ms`` of an assistant item."""
        await self.send_event(ev.ItemTruncate(item_id=item_id, audio_end_ms=audio_end_ms))

    @property
    def capabilities(self) -> ProviderCapabilities:
        """What the provider can do over this session's transport."""
        return self._caps

    @property
    def history(self) -> History:
        """The conversation so far (a read-only snapshot; ``History.to_json()`` saves it,
        ``model.connect(config, history=...)`` seeds a new session with it)."""
        return self.protocol.history

    def note_heard(self, item_id: str, audio_end_ms: int) -> None:
        """Record that the listener heard only ``audio_end_ms`` of the assistant's
        ``item_id`` (a barge-in): the history's transcript is cut there. Nothing is sent
        (``truncate`` also tells the provider, where it keeps audio)."""
        self.protocol.note_heard(item_id, audio_end_ms)

    @property
    def resumption_handle(self) -> str | None:
        """The latest handle the provider gave to resume this conversation (Gemini), for
        ``model.connect(config, resume_handle=...)`` in this or another process; None
        where the provider has none (OpenAI: seed with :attr:`history` instead)."""
        return self.protocol.resumption_handle

    async def update_session(self, config: RealtimeConfig) -> None:
        """Change instructions, tools, voice, VAD... Applied live where the provider can
        (OpenAI); otherwise (Gemini) the session reconnects, resuming the conversation,
        and the new connection starts with the new config."""
        self.config = config
        if not self._caps.live_session_update:
            await self._request_reconnect()
            return
        self.protocol.update_session(config)
        await self._send_queued()

    async def interrupt(self) -> None:
        """Stop the model talking, the provider's way (``protocol.interrupt()``): OpenAI
        ``response.cancel`` (plus ``output_audio_buffer.clear`` over WebRTC); Gemini with
        VAD off ``activityStart``, which interrupts generation; nothing to send otherwise."""
        self.protocol.interrupt()
        await self._send_queued()

    async def send_event(self, event: ev.ClientEvent) -> None:
        """Send any unified client event."""
        self.protocol.send_event(event)
        await self._send_queued()

    async def _send_queued(self) -> None:
        # One sender at a time from data_to_send() to the link: the wire order is the
        # order the protocol handed the messages out (Gemini's transparent resumption
        # numbers them so), even when commands come from several tasks at once.
        # Until nothing is left: what the pump queued meanwhile goes too (see _pump).
        while self._starting_replay and not self._closed:
            if self._left_in_protocol < self._options.max_held_messages:
                self._left_in_protocol += 1
                return  # sent after the setup's replay (_start_link), in the log's order
            await self._held_drained.wait()  # as the hold buffer does when full
        async with self._send_lock:
            while messages := self.protocol.data_to_send():
                generation = self._generation
                for message in messages:
                    await self._send_wire(message, generation)

    async def send_raw(self, message: str) -> None:
        """Send one wire message as-is (escape hatch for provider features not modelled);
        Gemini's transparent resumption sends it again if the server had not taken it.
        ``MessageTooLargeToSend`` (sending nothing) over ``capabilities.max_message_size``."""
        if self._caps.resumption and self._caps.replays_unconfirmed:
            self.protocol.send_raw(message)  # numbered with the rest, as the server counts
            await self._send_queued()
        else:
            check_size(message, self._caps.max_message_size, "send_raw's message")
            async with self._send_lock:
                await self._send_wire(message, self._generation, recorded=False)

    async def close(self) -> None:
        """Close the session; ``next_event()`` returns ``None`` afterwards."""
        if self._closing:
            return
        self._closing = True
        link = self._link
        if link is not None:
            with anyio.move_on_after(2):
                await link.aclose(1000, "")

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def dropped_link_events(self) -> int:
        """Events the links dropped before the session could read them (see :class:`LinkStats`)."""
        return self.link_stats.dropped_events

    @property
    def output_bytes_per_ms(self) -> int:
        """Bytes of ``AudioDelta.delta`` per millisecond of audio (48 for 24 kHz PCM16,
        8 for G.711); playback bookkeeping and truncation positions depend on it."""
        if self._media:
            return 48  # WebRTC audio is decoded to 24 kHz PCM16
        fmt = self.protocol.output_audio_format
        return fmt.sample_rate * fmt.bytes_per_sample // 1000

    # ---------------------------------------------------------------- plumbing

    async def _wait_link(self) -> Link:
        while self._link is None:
            if self._closed:
                raise ConnectionClosed(None, "session is closed")
            await self._held_drained.wait()
        return self._link

    async def _send_wire(self, message: str, generation: int, *, recorded: bool = True) -> None:
        if self._closed:
            raise ConnectionClosed(None, "session is closed")
        link = self._link
        if link is None or self._held:
            # Reconnecting (or still flushing what was held): keep order, bound memory.
            if not self._covered(generation, recorded):
                await self._hold(message, generation, recorded)
            return
        try:
            await link.send(message)
        except ConnectionClosed:
            if self._closing:
                raise
            if self._caps.replays_unconfirmed and recorded and self._will_replace():
                return  # in the protocol's record: the next connection's start() re-sends it
            if self._caps.resumption and self._options.resume:
                await self._hold(message, generation, recorded)  # re-sent on the resumed link
                return
            raise

    def _covered(self, generation: int, recorded: bool) -> bool:
        """Whether a ``start()`` since this message was encoded re-sends it."""
        return recorded and self._caps.replays_unconfirmed and generation < self._generation

    async def _hold(self, message: str, generation: int, recorded: bool) -> None:
        while len(self._held) >= self._options.max_held_messages and not self._closed:
            await self._held_drained.wait()
        if not self._covered(generation, recorded):  # (a rollover may start while waiting)
            self._held.append((generation, message, recorded))

    async def _flush_held(self, link: Link) -> None:
        while self._held:
            await link.send(self._held[0][1])
            self._held.popleft()
        self._link = link
        event, self._held_drained = self._held_drained, anyio.Event()
        event.set()

    async def _request_reconnect(self) -> None:
        link = self._link
        self._reconnect_requested = True
        if link is not None:
            await link.aclose(1000, "reconfiguring")

    # The supervisor: runs in the task group of model.connect().
    async def _run(self, *, task_status: TaskStatus[None]) -> None:
        self._now = loop_clock()  # anyio.current_time's clock, without a look-up per message
        started = False
        handle: str | None = None
        error: BaseException | None = None
        failures = 0  # consecutive replacement links that failed or died at once
        try:
            while True:
                self._reconnect_requested = self._rollover_requested = False
                self._link_messages = 0
                ready_at: float | None = None
                error = None
                try:
                    if started and failures:
                        await anyio.sleep(self._backoff(failures))
                    async with self._factory(handle) as link:
                        await self._start_link(link, handle)
                        if not started:
                            started = True
                            task_status.started()
                        else:
                            self.resumptions += 1
                            await self._events.put(ev.SessionResumed(handle=handle))
                        await self._flush_held(link)
                        if self._generation > 1 and self._can_roll_over():
                            self.rollovers += 1
                        ready_at = anyio.current_time()
                        if not await self._serve_link(link):
                            break
                        failures = 0  # it ended the way it should (goAway: resume, roll over)
                except ConnectionClosed as exc:
                    if not started:
                        raise
                    if self._closing:
                        break
                    error = exc
                    if not self._replace_after(exc):
                        break
                    asked = self._rollover_requested or self._reconnect_requested
                    lived = 0.0 if ready_at is None else anyio.current_time() - ready_at
                    healthy = lived >= HEALTHY_LINK_SECONDS and self._link_messages > 0
                    failures = 0 if asked or healthy else failures + 1
                except Exception as exc:  # a replacement link failed to open (refused, TLS...)
                    if not started or self._closing or ready_at is not None:
                        raise
                    error = exc
                    failures += 1
                finally:
                    self._link = None
                if self._closing:
                    break
                if failures > self._options.reconnect_attempts:
                    break  # ``error`` is the last failure
                handle = self.protocol.resumption_handle
                log.info(
                    "session %s: reconnecting (%s)",
                    self.provider,
                    "rollover"
                    if self._can_roll_over()
                    else f"handle {'set' if handle else 'none'}",
                )
        except BaseException as exc:
            if not started:
                self._closed = True
                raise
            if not isinstance(exc, Exception):
                self._closed = True
                raise
            error = exc
        finally:
            self._closed = True
            self._done.set()
            ready_event, self._held_drained = self._held_drained, anyio.Event()
            ready_event.set()
            # The terminal marker always gets in (the app may not be reading).
            self._events.put_last(QueueEnd(error))

    def _backoff(self, failures: int) -> float:
        opts = self._options
        return float(min(opts.reconnect_backoff * 2 ** (failures - 1), opts.reconnect_backoff_max))

    def _replace_after(self, exc: ConnectionClosed) -> bool:
        """Whether a link that closed with ``exc`` is replaced (resumed or rolled over)."""
        if exc.code in REFUSAL_CLOSE_CODES:
            return False  # never hidden by a resumption: the provider refused what we sent
        if self._reconnect_requested or self._rollover_requested:
            return True
        if self._can_resume():
            return True
        # A normal end (1000, or 1005: no code) is the provider ending the conversation.
        return self._can_roll_over() and exc.code not in (1000, 1005)

    def _can_resume(self) -> bool:
        return (  # (a link gone before the pump read anything resumes from the same handle)
            self._caps.resumption
            and self._options.resume
            and (self.protocol.resumable or self._link_messages == 0)
            and self.protocol.resumption_handle is not None
        )

    def _will_replace(self) -> bool:
        return (self._caps.resumption and self._options.resume) or self._can_roll_over()

    def _can_roll_over(self) -> bool:
        return self._caps.rollover and self._options.rollover

    async def _start_link(self, link: Link, handle: str | None) -> None:
        # The protocol's start resumes from its own latest handle (the one passed here),
        # or (rollover) seeds the new connection from its record.
        self._generation += 1
        if self._caps.replays_unconfirmed:
            # start() re-sends what the protocol recorded; held copies would go twice.
            self._held = collections.deque(held for held in self._held if not held[2])
        self._response_open = False
        self._quiet.set()
        self.protocol.start(self.config)
        # Where the protocol numbers what it hands out and replays it after the setup's
        # acknowledgement, commands wait in it until then (the wire order is the numbering).
        replays_after_ack = self._caps.replays_unconfirmed and self._caps.setup_acknowledgement
        self._starting_replay, self._left_in_protocol = replays_after_ack, 0
        for message in self.protocol.data_to_send():
            await link.send(message)
        if self._caps.setup_acknowledgement:
            # Nothing may be sent before the provider acknowledges the setup.
            with anyio.fail_after(self._options.setup_timeout):
                while True:
                    data = await link.receive()
                    got_setup = False
                    event = self._receive(data)
                    while event is not None:
                        created = isinstance(event, ev.SessionCreated)
                        got_setup = got_setup or created
                        if not (created and handle is not None):
                            # (on a resumed link the app already saw SessionCreated once)
                            await self._events.put(event)
                        event = self.protocol.next_event()
                    if got_setup:
                        break
            # What the acknowledgement let the protocol send (a seeded history, the
            # replay), then what commands queued meanwhile.
            async with self._send_lock:
                self._starting_replay = False
                for message in self.protocol.data_to_send():
                    await link.send(message)

    def _receive(self, data: str | bytes | ev.AudioDelta | Decoded) -> ev.ServerEvent | None:
        """Feed one received message to the protocol. Returns the event to deliver first:
        out-of-band audio (WebRTC, already decoded), the Error of an undecodable message or
        the one the read path left (session_sink); then the protocol's own from ``next_event()``."""
        if isinstance(data, ev.AudioDelta | Decoded):
            return data.take() if isinstance(data, Decoded) else data
        protocol = self.protocol
        try:
            protocol.receive_data(data, self._now())
        except DecodeError as exc:
            log.warning("session %s: undecodable message: %s", self.provider, exc)
            return ev.Error(code="decode_error", message=str(exc))
        return protocol.next_event()

    async def _serve_link(self, link: Link) -> bool:
        """Pump the link (watching the provider's session cap where the session rolls
        over). True means "replace the link"."""
        if not self._can_roll_over():
            return await self._pump(link)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._roll_over_before_expiry, link)
                try:
                    replace = await self._pump(link)
                finally:
                    tg.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            raise single_error(group) from None  # the pump's ConnectionClosed, as itself
        return replace

    async def _roll_over_before_expiry(self, link: Link) -> None:
        """Replace ``link`` ahead of the provider's ``expires_at``, at a quiet moment."""
        opened_wall = time.time()
        while self.protocol.expires_at is None:
            await self._session_info.wait()
            self._session_info = anyio.Event()
        expires = self.protocol.expires_at
        left = expires - time.time()
        margin = min(self._options.rollover_margin, max(expires - opened_wall, 0.0) / 4)
        now = anyio.current_time()
        await anyio.sleep_until(now + left - margin)
        with anyio.move_on_after(max(left - margin / 3 - (anyio.current_time() - now), 0.0)):
            await self._quiet.wait()  # let a response in progress finish first
        log.info("session %s: rolling over before the session cap", self.provider)
        self._link = None  # commands wait from now; start() re-sends what they record
        self._rollover_requested = True
        with anyio.move_on_after(2):
            await link.aclose(1000, "session rollover")

    def _note_lifecycle(self, event: ev.ServerEvent) -> None:
        if isinstance(event, ev.ResponseCreated):
            self._response_open = True
            if self._quiet.is_set():
                self._quiet = anyio.Event()
        elif isinstance(event, ev.ResponseDone):
            self._response_open = False
            self._quiet.set()
        else:  # SessionCreated / SessionUpdated: expires_at may be known now
            self._session_info.set()

    async def _pump(self, link: Link) -> bool:
        """Read until the link ends. True means "reconnect (resume or roll over)"."""
        put_nowait = self._events.put_nowait
        next_event = self.protocol.next_event
        decoder = read_path_decoder(self, link)  # decodes in the link's read callback if it can
        try:
            while True:
                decoder.open = True  # (only while the pump holds nothing: the order holds)
                data = await link.receive()
                decoder.open = False
                event = self._receive(data)
                self._link_messages += 1
                replace = False
                while event is not None:
                    if type(event) in LIFECYCLE:
                        self._note_lifecycle(event)
                    elif isinstance(event, ev.GoAway) and (
                        self._can_resume() or self._can_roll_over()
                    ):
                        # Hold commands *before* the app sees GoAway, so nothing it
                        # sends in reaction goes to the connection that is ending.
                        self._link = None
                        replace = True
                    if not put_nowait(event):  # no event-loop trip while the queue has room
                        await self._events.put(event)  # the app is behind: wait (TCP pushes)
                    event = next_event()
                if self._link is link and not self._send_lock.locked():
                    # What receiving made the protocol send (e.g. the answer to a tool call a
                    # resumption carried over); a task sending now takes it along instead.
                    await self._send_queued()
                if replace:
                    with anyio.move_on_after(2):
                        await link.aclose(1000, "resuming after goAway")
                        await self._drain(link)
                    return True
        finally:
            decoder.remove()

    async def _drain(self, link: Link) -> None:
        """Read what the provider sent before its close answer: a last resumption update
        there says which of our messages it took (transparent resumption)."""
        while True:
            try:
                data = await link.receive()
            except ConnectionClosed:
                return
            event = self._receive(data)
            while event is not None:
                await self._events.put(event)
                event = self.protocol.next_event()


def _to_pcm16_bytes(pcm: bytes | bytearray | memoryview | np.ndarray) -> bytes:
    if isinstance(pcm, np.ndarray):
        return _audio.array_to_pcm16(pcm)  # int16 as is; float in [-1, 1] scaled and clipped
    if isinstance(pcm, bytes):
        data = pcm
    elif isinstance(pcm, bytearray | memoryview):
        data = bytes(pcm)
    else:
        raise TypeError(f"audio must be bytes or a numpy array, got {type(pcm).__name__}")
    if len(data) % 2:
        raise ValueError(f"PCM16 audio must have an even number of bytes, got {len(data)}")
    return data


@asynccontextmanager
async def open_session(session: RealtimeSession) -> AsyncIterator[RealtimeSession]:
    """Run ``session``'s supervisor for the duration of the block; close on exit.

    Errors come out as themselves (``AuthError``, ``ConnectionClosed``...), not
    wrapped in an exception group.
    """
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(session._run)  # (the supervisor)
            try:
                yield session
            finally:
                with anyio.CancelScope(shield=True):
                    await session.close()
                    with anyio.move_on_after(3) as scope:
                        await session._done.wait()
                    if scope.cancelled_caught:
                        tg.cancel_scope.cancel()
        session._events.close()
    except BaseExceptionGroup as group:
        raise single_error(group) from None


__all__ = [
    "Link",
    "LinkFactory",
    "LinkStats",
    "MediaLink",
    "RealtimeError",
    "RealtimeSession",
    "SessionOptions",
    "open_session",
]
