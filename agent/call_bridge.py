"""``bridge_call``: one phone call's carrier media stream joined to a realtime agent.

Theory of operation
-------------------
A carrier (Twilio, Telnyx, Plivo) opens a WebSocket to our server for each call
and streams it as JSON messages; :func:`bridge_call` runs one such call to its
end, given the socket, a fresh codec of that carrier
(:mod:`adk_realtime.sansio.telephony`) and a model and agent:

1. it reads the stream until the carrier's ``start`` (at most
   ``BridgeOptions.start_timeout`` seconds, else :class:`CallStartTimeout`),
   builds a :class:`CallInfo` and puts it in the run context as
   ``RunContext.state["call"]``, where dynamic instruction providers and tools
   (``ToolContext.state["call"]``) read it;
2. it runs a :class:`~adk_realtime.runner.RealtimeRunner` for the call, with a
   :class:`~adk_realtime.carrier_speaker.CarrierSpeaker` as its audio output,
   and three tasks: the runner, the carrier reader (caller audio to the model,
   marks, DTMF, ``stop``) and the speaker's sender (model audio to the caller,
   paced);
3. the call ends when the carrier sends ``stop`` or its socket closes (the runner
   is closed), or when the runner ends (the agent hung up, the provider closed, or
   the model failed: what was already said is played out first, then the socket
   is closed). A :class:`CallSummary` says how it went. The socket is always
   closed when ``bridge_call`` returns or raises.

Audio. With a model that takes G.711 (``RealtimeModel.accepts_g711``: OpenAI over
a WebSocket) the session is configured ``audio/pcmu`` both ways: the caller's
μ-law payloads go to the provider as they came (``send_encoded_audio``), and the
model's μ-law deltas go to the carrier as they came; nothing is decoded or
resampled. Otherwise (Gemini) the caller's 8 kHz μ-law is decoded and resampled
to the model's input rate by the session's streaming resampler, and the model's
24 kHz PCM is resampled to 8 kHz and μ-law encoded by the speaker's.

Pacing and barge-in: see :mod:`adk_realtime.sansio.telephony.pacer`. The carrier
holds at most ``max_ahead_ms`` of unplayed audio (by our send clock); the rest of
an answer waits here, so a barge-in (the runner's, on the user's speech start, or
the provider's ``Interrupted``) drops it before it was ever sent, and the
carrier's ``clear`` leaves at once. Each mark echo that moves the carrier's
``heard_ms`` is reported with ``runner.audio_played(item_id, ms)``, so the
runner truncates the model's item where the caller stopped hearing it.

One race is closed on purpose: the runner reads the heard position when the
speech-start (or ``Interrupted``) event reaches it, and clears the carrier a few
awaits later. A mark echo processed in between would make the caller's books say
more than the model was told. So from the moment that event reaches the runner
until the runner has acted on it (the speaker's ``interrupt()``, the next
provider event, or ``_INPUT_HOLD_LIMIT`` seconds) the carrier reader waits;
what it then reads is a mark the clear has already set aside.

DTMF: each digit goes to ``EventHandler.on_dtmf`` at once and, with
``BridgeOptions.dtmf_as_text``, to the model as a user message "The caller pressed
7319." (with a response request), buffered by :class:`~adk_realtime.dtmf_text.DtmfText`:
sent after ``dtmf_pause`` seconds without a digit (or at ``#``) and never while a
response is going. Digits may be a PIN: no log and no repr shows them. A carrier message the codec cannot decode is logged and skipped
(counted in ``CallSummary.bad_messages``); never a crash.
"""

from __future__ import annotations

import collections
import inspect
import logging
import types
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import anyio

from adk_realtime.agent import RealtimeAgent
from adk_realtime.agent_events import AgentEvent, RealtimeEvent
from adk_realtime.call_observer import CallObserver, CallWatch
from adk_realtime.carrier_speaker import CarrierSpeaker
from adk_realtime.drivers._errors import single_error
from adk_realtime.dtmf_text import DtmfText
from adk_realtime.models import RealtimeModel
from adk_realtime.runner import AgentEventSink, EventHandler, RealtimeRunner, RunContext
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import AudioEncoding, AudioFormat, RealtimeConfig
from adk_realtime.sansio.errors import ConfigError, ConnectionClosed, DecodeError, RealtimeError
from adk_realtime.sansio.telephony.events import (
    CarrierError,
    DtmfReceived,
    MarkPlayed,
    MediaReceived,
    StreamStopped,
    TelephonyEvent,
)
from adk_realtime.sansio.telephony.media_stream import CarrierMediaStream
from adk_realtime.sansio.telephony.pacer import DEFAULT_MAX_AHEAD_MS, DEFAULT_MAX_QUEUED_MS
from adk_realtime.session import RealtimeSession
from adk_realtime.tools import maybe_await

__all__ = [
    "AgentForCall",
    "BridgeOptions",
    "CallEnd",
    "CallInfo",
    "CallStartError",
    "CallStartTimeout",
    "CallSummary",
    "CarrierSocket",
    "bridge_call",
]

log = logging.getLogger("adk_realtime.call_bridge")


class CarrierSocket(Protocol):
    """One carrier media WebSocket, server side (``drivers.websocket.WebSocketConnection``
    fits; an ASGI app wraps its own)."""

    async def send(self, message: str) -> None: ...

    async def receive(self) -> str | bytes:
        """The next message; raises ``ConnectionClosed`` when the socket has ended."""
        ...

    async def aclose(self, code: int = 1000, reason: str = "") -> None: ...


@dataclass(frozen=True, slots=True)
class CallInfo:
    """Who the call is: given to the agent as ``RunContext.state["call"]``.

    ``carrier`` is ``"twilio"``, ``"telnyx"``, ``"plivo"`` (or ``"openai-sip"`` where a
    server builds one for OpenAI's SIP connector). ``caller``/``called`` are the phone
    numbers where the carrier tells them (Telnyx's ``from``/``to``) or the custom
    parameters named by ``BridgeOptions.caller_parameter``/``called_parameter`` (Twilio
    sends none on the stream: add ``<Parameter name="caller" value="{{From}}"/>``).
    ``worker`` names the worker process running the call (``"<index>-<pid>"``, see
    :mod:`adk_realtime.serving`), None outside one.
    ``repr`` never shows the numbers nor the custom parameters.
    """

    carrier: str
    call_id: str
    stream_id: str
    caller: str | None = None
    called: str | None = None
    custom_parameters: Mapping[str, str] = field(default_factory=dict)
    worker: str | None = None

    def __repr__(self) -> str:
        def shown(value: str | None) -> str:
            return "None" if value is None else "<hidden>"

        return (
            f"CallInfo(carrier={self.carrier!r}, call_id={self.call_id!r}, "
            f"stream_id={self.stream_id!r}, caller={shown(self.caller)}, "
            f"called={shown(self.called)}, custom_parameters=<{len(self.custom_parameters)} hidden>, "
            f"worker={self.worker!r})"
        )

    __str__ = __repr__


def _positive_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e9


@dataclass(frozen=True, slots=True)
class BridgeOptions:
    """How :func:`bridge_call` runs a call.

    ``max_ahead_ms``: audio the carrier may hold ahead of real time, by our send clock
    (at least 20). 100 ms: the sender may wake up to 80 ms late without the caller
    hearing a gap (the event loop's lag at 100 busy sessions stays well under that;
    see bench/README.md), while a barge-in costs at most 100 ms of audio sent but not
    heard, less than the provider's own speech-start detection takes; the rest of the
    answer is dropped before it is sent.

    ``mark_every_frames``: a mark every so many 20 ms frames (5: the caller's heard
    position is known to 100 ms). ``dtmf_as_text``: also tell the model "The caller
    pressed 5." and ask for a response; digits pressed within ``dtmf_pause`` seconds of
    each other (or up to ``#``) go as one message, held while a response is going. ``greeting``: a user message sent as soon as
    the model is connected, so it speaks first (e.g. "Greet the caller."); ``None``:
    the caller speaks first.

    ``start_timeout``: seconds to wait for the carrier's ``start``. ``drain_timeout``:
    when the agent ends the call, seconds the carrier may take to play what was already
    said. ``close_timeout``: when the caller hangs up, seconds the model session may
    take to close before it is cancelled. ``max_queued_ms``: model audio waiting to be
    paced out at most (beyond it, dropped and counted). ``caller_parameter`` /
    ``called_parameter``: the custom parameters holding the numbers, for carriers that
    do not send them.
    """

    max_ahead_ms: int = DEFAULT_MAX_AHEAD_MS
    mark_every_frames: int = 5
    dtmf_as_text: bool = False
    dtmf_pause: float = 1.0
    greeting: str | None = None
    start_timeout: float = 10.0
    drain_timeout: float = 5.0
    close_timeout: float = 3.0
    max_queued_ms: int = DEFAULT_MAX_QUEUED_MS
    caller_parameter: str = "caller"
    called_parameter: str = "called"

    def __post_init__(self) -> None:
        if type(self.max_ahead_ms) is not int or not 20 <= self.max_ahead_ms <= 60_000:
            raise ConfigError(
                "max_ahead_ms", f"must be an int from 20 to 60000, got {self.max_ahead_ms!r}"
            )
        if type(self.mark_every_frames) is not int or self.mark_every_frames <= 0:
            raise ConfigError(
                "mark_every_frames", f"must be a positive int, got {self.mark_every_frames!r}"
            )
        if type(self.max_queued_ms) is not int or self.max_queued_ms < 20:
            raise ConfigError(
                "max_queued_ms", f"must be an int of at least 20, got {self.max_queued_ms!r}"
            )
        for name in ("start_timeout", "drain_timeout", "close_timeout", "dtmf_pause"):
            value = getattr(self, name)
            if not _positive_number(value):
                raise ConfigError(name, f"must be a number of seconds > 0, got {value!r}")
        if not isinstance(self.dtmf_as_text, bool):
            raise ConfigError("dtmf_as_text", f"must be True or False, got {self.dtmf_as_text!r}")
        if self.greeting is not None and not (isinstance(self.greeting, str) and self.greeting):
            raise ConfigError("greeting", "must be a non-empty string or None")
        for name in ("caller_parameter", "called_parameter"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(name, "must be a string")


CallEnd = Literal["carrier_stop", "carrier_closed", "agent_ended", "model_error"]
"""How a call ended: the carrier sent ``stop``; its socket closed without one; the
runner ended (the agent or the provider closed the conversation); the model failed."""


@dataclass(frozen=True, slots=True)
class CallSummary:
    """How a call went. Durations in milliseconds of audio unless named ``_s``.

    ``audio_in_ms``: caller audio received. ``audio_out_ms``: model audio sent to the
    carrier; ``heard_ms`` of it the carrier's marks confirmed played; ``cleared_ms``
    sent and then dropped by a ``clear``; ``unsent_ms`` dropped here at a barge-in
    before it was sent. ``interruptions``: barge-ins (each a ``clear``).
    ``dtmf_digits``: the keys pressed, in order (never shown by ``repr``).
    ``bad_messages``: carrier messages that could not be decoded (skipped);
    ``carrier_errors``: errors the carrier reported (Telnyx). ``error``: why the model
    failed (``ended_by == "model_error"``), else ``None``.
    """

    call_id: str
    carrier: str
    ended_by: CallEnd
    duration_s: float
    audio_in_ms: int
    audio_out_ms: int
    heard_ms: int
    cleared_ms: int
    unsent_ms: int
    interruptions: int
    dtmf_digits: str
    bad_messages: int
    carrier_errors: int
    error: str | None = None

    def __repr__(self) -> str:
        return (
            f"CallSummary(call_id={self.call_id!r}, carrier={self.carrier!r}, "
            f"ended_by={self.ended_by!r}, duration_s={self.duration_s:.3f}, "
            f"audio_in_ms={self.audio_in_ms}, audio_out_ms={self.audio_out_ms}, "
            f"heard_ms={self.heard_ms}, cleared_ms={self.cleared_ms}, "
            f"unsent_ms={self.unsent_ms}, interruptions={self.interruptions}, "
            f"dtmf_digits=<{len(self.dtmf_digits)} hidden>, bad_messages={self.bad_messages}, "
            f"carrier_errors={self.carrier_errors}, error={self.error!r})"
        )

    __str__ = __repr__


class CallStartError(RealtimeError):
    """The carrier's stream ended, or could not be bridged, before the call started."""


class CallStartTimeout(CallStartError, TimeoutError):
    """The carrier sent no ``start`` within ``BridgeOptions.start_timeout``."""


AgentForCall = Callable[[CallInfo], RealtimeAgent | Awaitable[RealtimeAgent]]
"""Picks (or builds) the agent for a call from its :class:`CallInfo`; may be async."""

# Runner keywords bridge_call sets itself (the rest of RealtimeRunner's are passed on).
_OWN_KEYWORDS = frozenset({"model", "agent", "event_handler"})


# How long the carrier reader waits, at most, for the runner to act on a speech start
# (see the module docstring): long enough for a busy event loop, short enough that
# holding the caller's audio back costs nothing audible when no barge-in follows.
_INPUT_HOLD_LIMIT = 0.1
# Caller audio kept while the model connects, in carrier payloads (20 ms): three seconds.
_EARLY_AUDIO = 150
# Undecodable carrier messages logged at WARNING per call; later ones at DEBUG.
_LOGGED_BAD_MESSAGES = 10


async def bridge_call(
    socket: CarrierSocket,
    stream: CarrierMediaStream,
    model: RealtimeModel,
    agent: RealtimeAgent | AgentForCall,
    *,
    options: BridgeOptions | None = None,
    event_handler: EventHandler | None = None,
    runner_kwargs: Mapping[str, Any] | None = None,
    worker: str | None = None,
    observer: CallObserver | None = None,
) -> CallSummary:
    """Run one phone call: ``socket`` carries the carrier's media stream, ``stream`` is a
    fresh codec of that carrier (``TwilioMediaStream()``, ``TelnyxMediaStream()``,
    ``PlivoAudioStream()``). See the module docstring.

    ``agent`` is the agent, or a function of the :class:`CallInfo` returning one (sync or
    async). ``runner_kwargs`` go to :class:`RealtimeRunner` (``tools``, ``tool_timeout``,
    ``session_options``, ``config``, ``context``, ``agent_event_sink``...; the audio
    formats of a ``config`` are the bridge's to set). Returns a :class:`CallSummary` once
    the call ended; raises :class:`CallStartTimeout` or :class:`CallStartError` when it
    never started, ``ConfigError`` for bad arguments. The socket is closed in every case.
    ``worker`` goes to ``CallInfo.worker``; ``observer`` (a
    :class:`~adk_realtime.call_observer.CallObserver`) hears how the call goes.
    """
    try:
        options = options if options is not None else BridgeOptions()
        if not isinstance(options, BridgeOptions):
            raise ConfigError("options", f"must be a BridgeOptions, got {type(options).__name__}")
        kwargs = dict(runner_kwargs or {})
        own = sorted(_OWN_KEYWORDS & set(kwargs))
        if own:
            raise ConfigError("runner_kwargs", f"{', '.join(own)}: pass them to bridge_call")
        if not isinstance(stream, CarrierMediaStream) or stream.started is not None:
            raise ConfigError("stream", "must be a fresh carrier media stream (not started)")
        stream.mark_every_frames = options.mark_every_frames
    except BaseException:
        await _close_quietly(socket, 1011, "bridge misconfigured")
        raise
    call = _Call(socket, stream, model, options, event_handler, observer)
    try:
        await call.wait_for_start()
    except BaseException:
        if observer is not None:
            observer.call_ended(None, stream.carrier.lower(), "not_started")
        raise
    try:
        info = call_info(stream, options, worker=worker)
        problem = _format_problem(stream)
        if problem is not None:
            raise CallStartError(problem)
        chosen = await _resolve_agent(agent, info)
        call.build(info, chosen, kwargs)
    except BaseException as exc:
        code = 1003 if isinstance(exc, CallStartError) else 1011
        await _close_quietly(socket, code, "unsupported stream" if code == 1003 else "")
        if observer is not None:
            observer.call_ended(None, stream.carrier.lower(), "not_started")
        raise
    return await call.run()


def call_info(
    stream: CarrierMediaStream, options: BridgeOptions | None = None, *, worker: str | None = None
) -> CallInfo:
    """The :class:`CallInfo` of a started stream (``ConfigError`` before ``start``)."""
    started = stream.started
    if started is None:
        raise ConfigError("stream", "has not started: no call to describe yet")
    options = options if options is not None else BridgeOptions()
    params = types.MappingProxyType(dict(started.custom_parameters))
    caller = started.caller if started.caller is not None else params.get(options.caller_parameter)
    called = started.called if started.called is not None else params.get(options.called_parameter)
    return CallInfo(
        carrier=stream.carrier.lower(),
        call_id=started.call_id,
        stream_id=started.stream_id,
        caller=caller,
        called=called,
        custom_parameters=params,
        worker=worker,
    )


def _format_problem(stream: CarrierMediaStream) -> str | None:
    """Why the stream's inbound audio cannot be bridged, or ``None`` (it is μ-law 8 kHz)."""
    started = stream.started
    assert started is not None
    fmt = started.audio_format
    if fmt is not None and fmt.encoding is AudioEncoding.G711_ULAW:
        return None
    return (
        f"the {stream.carrier} stream carries {started.encoding[:40]!r} at "
        f"{started.sample_rate} Hz x{started.channels}; bridge_call speaks μ-law at 8 kHz mono "
        "(Telnyx: stream_bidirectional_codec=PCMU; Plivo: contentType=audio/x-mulaw;rate=8000)"
    )


async def _resolve_agent(agent: RealtimeAgent | AgentForCall, info: CallInfo) -> RealtimeAgent:
    if isinstance(agent, RealtimeAgent):
        return agent
    if not callable(agent):
        raise ConfigError(
            "agent",
            f"must be a RealtimeAgent or a function of CallInfo, got {type(agent).__name__}",
        )
    chosen: object = agent(info)
    if inspect.isawaitable(chosen):
        chosen = await chosen
    if not isinstance(chosen, RealtimeAgent):
        raise ConfigError("agent", f"the agent function returned a {type(chosen).__name__}")
    return chosen


async def _close_quietly(socket: CarrierSocket, code: int, reason: str) -> None:
    """Close the carrier's socket (bounded, even while cancelled); one already gone is fine."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(5):
        try:
            await socket.aclose(code, reason)
        except (ConnectionClosed, OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass


class _Call:
    """One call's state and its tasks: the runner, the carrier reader, the speaker's sender."""

    def __init__(
        self,
        socket: CarrierSocket,
        stream: CarrierMediaStream,
        model: RealtimeModel,
        options: BridgeOptions,
        handler: EventHandler | None,
        observer: CallObserver | None = None,
    ) -> None:
        self.socket = socket
        self.observer = observer
        self.watch: CallWatch | None = None
        self._session: RealtimeSession | None = None
        self.stream = stream
        self.model = model
        self.options = options
        self.handler = handler
        self.started_at = 0.0
        self.ended_by: CallEnd | None = None
        self.error: str | None = None
        self.audio_in_bytes = 0
        self.dtmf: list[str] = []
        self.bad_messages = 0
        self.carrier_errors = 0
        self._hold: anyio.Event | None = None  # set while the runner acts on a speech start
        # The events on which the runner may barge in (the input hold starts at them).
        self._barge_in_events: tuple[type, ...] = (ev.SpeechStarted, ev.Interrupted)
        self._model_gone = False  # the runner's session ended: nothing more to send it
        self._early_audio: collections.deque[bytes] = collections.deque(maxlen=_EARLY_AUDIO)
        self._model_done = anyio.Event()
        self._speaker_done = anyio.Event()
        self._runner_scope = anyio.CancelScope()

    # -- before the call ------------------------------------------------------

    async def wait_for_start(self) -> None:
        """Read until the carrier's ``start`` (bad messages are skipped and counted)."""
        stream = self.stream
        try:
            with anyio.fail_after(self.options.start_timeout):
                while stream.started is None:
                    for event in self._feed(await self.socket.receive()):
                        if isinstance(event, StreamStopped):
                            raise CallStartError(
                                f"the {stream.carrier} stream stopped before start"
                            )
        except TimeoutError:
            await _close_quietly(self.socket, 1008, "no start message")
            raise CallStartTimeout(
                f"no start from the {stream.carrier} stream within {self.options.start_timeout:g} s"
            ) from None
        except ConnectionClosed as exc:
            raise CallStartError(
                f"the {stream.carrier} socket closed before start ({exc.code}: {exc.reason[:80]})"
            ) from None
        except BaseException:
            await _close_quietly(self.socket, 1011, "")
            raise
        self.started_at = anyio.current_time()
        log.info("call %s (%s) started", stream.started.call_id, stream.carrier)

    def build(self, info: CallInfo, agent: RealtimeAgent, kwargs: dict[str, Any]) -> None:
        """Make the runner and the speaker for the call."""
        self.info = info
        if self.observer is not None:
            self.watch = CallWatch(self.observer, info)
        context = kwargs.pop("context", None) or RunContext()
        context.state["call"] = info
        config = kwargs.pop("config", None) or RealtimeConfig()
        model = self.model
        if model.accepts_g711:
            ulaw = AudioFormat.g711_ulaw()  # the carrier's own format: bytes pass through
            config = config.replace(input_audio_format=ulaw, output_audio_format=ulaw)
            output = ulaw
        else:
            output = config.output_audio_format or AudioFormat.pcm16(model.output_sample_rate)
            if not model.reports_speech_start:
                # (Gemini) the caller's transcribed speech is how the runner sees a
                # barge-in on an answer generated whole but still playing.
                config = config.replace(input_transcription=True)
                self._barge_in_events = (*self._barge_in_events, ev.InputTranscriptDelta)
        user_sink: AgentEventSink | None = kwargs.pop("agent_event_sink", None)
        self.runner = RealtimeRunner(
            model,
            agent,
            config=config,
            event_handler=self.handler,
            context=context,
            agent_event_sink=self._sink(user_sink),
            **kwargs,
        )
        self.speaker = CarrierSpeaker(
            self.stream,
            audio_format=output,
            on_heard=self.runner.audio_played,
            on_interrupt=self._release_input,
            max_ahead_ms=self.options.max_ahead_ms,
            max_queued_ms=self.options.max_queued_ms,
        )
        self.runner.add_audio_output(self.speaker)
        self.dtmf_text = (
            DtmfText(self.runner.send_text, self.options.dtmf_pause)
            if self.options.dtmf_as_text
            else None
        )

    # -- the call -----------------------------------------------------------------

    async def run(self) -> CallSummary:
        outcome = "ended_by_drain"  # cancelled from outside: the server's drain deadline
        if self.observer is not None:
            self.observer.call_started(self.info)
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                tg.start_soon(self._run_model)
                tg.start_soon(self._read_carrier)
                tg.start_soon(self._speak)
                if self.watch is not None:
                    tg.start_soon(self._watch_session, self.watch)
                if self.options.greeting is not None:
                    tg.start_soon(self._greet, self.options.greeting)
                if self.dtmf_text is not None:
                    tg.start_soon(self.dtmf_text.run)
            outcome = self.ended_by or "carrier_closed"
        except BaseExceptionGroup as group:
            outcome = "bridge_error"
            raise single_error(group) from None
        finally:
            await _close_quietly(self.socket, 1011 if self.ended_by == "model_error" else 1000, "")
            if self.observer is not None:
                self._observe_end(self.observer, outcome)
        summary = self._summary()
        log.info(
            "call %s ended (%s) after %.1f s", summary.call_id, summary.ended_by, summary.duration_s
        )
        return summary

    async def _run_model(self) -> None:
        with self._runner_scope:
            try:
                await self.runner.run()
            except Exception as exc:  # connect refused, connection lost...: the call ends
                self.error = f"{type(exc).__name__}: {str(exc)[:200]}"
                self._end("model_error")
            else:
                self._end("agent_ended")
        self._model_done.set()
        self._model_gone = True
        if self.watch is not None:
            self.watch.closed()
        if self.ended_by in ("agent_ended", "model_error"):
            # The runner ended first: let the caller hear what was already said.
            self.speaker.finish(drain=True)
            with anyio.move_on_after(self.options.drain_timeout):
                await self._speaker_done.wait()
        self._tg.cancel_scope.cancel()  # the carrier reader, and anything left

    async def _read_carrier(self) -> None:
        try:
            while True:
                message = await self.socket.receive()
                hold = self._hold
                if hold is not None:  # the runner is acting on a speech start
                    with anyio.move_on_after(_INPUT_HOLD_LIMIT):
                        await hold.wait()
                    if self._hold is hold:
                        self._hold = None
                for event in self._feed(message):
                    if isinstance(event, StreamStopped):
                        self._end("carrier_stop")
                        await self._stop_model()
                        return
                    await self._on_carrier_event(event)
        except ConnectionClosed:
            self._end("carrier_closed")
        await self._stop_model()

    async def _speak(self) -> None:
        try:
            await self.speaker.run(self.socket)
        except ConnectionClosed:
            self._end("carrier_closed")
            self._speaker_done.set()
            await self._stop_model()
        finally:
            self._speaker_done.set()

    async def _watch_session(self, watch: CallWatch) -> None:
        try:
            self._session = await self.runner.wait_connected()
        except ConnectionClosed:
            return  # the model never came (the runner's task reports it)
        if not self._model_gone:
            watch.opened()

    def _observe_end(self, observer: CallObserver, outcome: str) -> None:
        """Tell the observer how the call went (once, as it ends)."""
        info = self.info
        if self.watch is not None:
            self.watch.closed()
        if outcome == "model_error":
            observer.error(info, "model_error")
        for kind, count in (
            ("carrier_error", self.carrier_errors),
            ("bad_message", self.bad_messages),
        ):
            for _ in range(count):
                observer.error(info, kind)
        session = self._session  # the runner forgets it once it ends
        if session is not None:
            if session.rollovers:
                observer.rollover(info, "rollover", session.rollovers)
            if session.resumptions:
                observer.rollover(info, "resumption", session.resumptions)
        overflow_ms = self.speaker.pacer.overflow_ms
        if overflow_ms:
            observer.audio_dropped(info, overflow_ms // 20, overflow_ms * 8)  # μ-law 8 bytes/ms
        observer.call_ended(info, info.carrier, outcome)

    async def _greet(self, text: str) -> None:
        try:
            await self.runner.wait_connected()
            await self.runner.send_text(text)
        except ConnectionClosed:
            pass  # the model never came (the runner's task reports it)

    async def _stop_model(self) -> None:
        """The caller is gone: close the runner (cancel it if it does not end in time)."""
        self.speaker.finish(drain=False)
        if self.runner.session is not None:
            with anyio.move_on_after(self.options.close_timeout):
                await self.runner.close()
                await self._model_done.wait()
        self._runner_scope.cancel()

    # -- carrier events -----------------------------------------------------------

    def _feed(self, message: str | bytes) -> list[TelephonyEvent]:
        """Decode one carrier message; a bad one is logged, counted and skipped."""
        stream = self.stream
        try:
            stream.receive_data(message, 0.0)  # (the codecs keep no timers)
        except DecodeError as exc:
            self.bad_messages += 1
            level = logging.WARNING if self.bad_messages <= _LOGGED_BAD_MESSAGES else logging.DEBUG
            log.log(level, "%s stream: skipped a message: %s", stream.carrier, exc)
            return []
        events = []
        while (event := stream.next_event()) is not None:
            events.append(event)
        return events

    async def _on_carrier_event(self, event: TelephonyEvent) -> None:
        if isinstance(event, MediaReceived):
            if event.track != "inbound":
                return  # the far end's own audio, where a carrier streams both tracks
            self.audio_in_bytes += len(event.payload)
            await self._to_model(event.payload)
        elif isinstance(event, MarkPlayed):
            if event.heard:
                self.speaker.report_heard()
        elif isinstance(event, DtmfReceived):
            await self._on_dtmf(event.digit)
        elif isinstance(event, CarrierError):
            self.carrier_errors += 1
            log.warning(
                "call %s: the carrier reported error %s %s",
                self.info.call_id,
                event.code,
                event.title[:80],
            )

    async def _to_model(self, payload: bytes) -> None:
        """The caller's audio to the model; while it connects, the latest few seconds wait
        here (the carrier's socket is read on: marks, ``stop`` and DTMF are not held up)."""
        runner = self.runner
        if self._model_gone:
            return
        if runner.session is None:
            self._early_audio.append(payload)
            return
        try:
            while self._early_audio:
                await runner.send_encoded_audio(
                    self._early_audio.popleft(), AudioEncoding.G711_ULAW
                )
            await runner.send_encoded_audio(payload, AudioEncoding.G711_ULAW)
        except ConnectionClosed:
            self._model_gone = True

    async def _on_dtmf(self, digit: str) -> None:
        self.dtmf.append(digit)
        await maybe_await(self.runner.handler.on_dtmf(digit))
        if self.dtmf_text is not None and not self._model_gone:
            self.dtmf_text.add(digit)

    # -- the input hold (see the module docstring) --------------------------------------

    def _sink(self, user_sink: AgentEventSink | None) -> AgentEventSink:
        watch = self.watch

        def sink(event: AgentEvent) -> Awaitable[None] | None:
            if watch is not None:
                watch.see(event)
            if isinstance(event, RealtimeEvent):
                if self.dtmf_text is not None:
                    self.dtmf_text.observe(event.event)
                if isinstance(event.event, self._barge_in_events):
                    if self._hold is None:
                        self._hold = anyio.Event()
                elif self._hold is not None:
                    self._release_input()  # the runner has moved on to the next event
            return user_sink(event) if user_sink is not None else None

        return sink

    def _release_input(self) -> None:
        hold, self._hold = self._hold, None
        if hold is not None:
            hold.set()

    # -- the end ------------------------------------------------------------------

    def _end(self, how: CallEnd) -> None:
        if self.ended_by is None:
            self.ended_by = how

    def _summary(self) -> CallSummary:
        pacer = self.speaker.pacer
        return CallSummary(
            call_id=self.info.call_id,
            carrier=self.info.carrier,
            ended_by=self.ended_by or "carrier_closed",
            duration_s=anyio.current_time() - self.started_at,
            audio_in_ms=self.audio_in_bytes // 8,  # μ-law: 8 bytes per ms
            audio_out_ms=pacer.sent_ms,
            heard_ms=self.stream.heard_ms,
            cleared_ms=self.stream.dropped_ms,
            unsent_ms=pacer.unsent_ms,
            interruptions=self.speaker.interruptions,
            dtmf_digits="".join(self.dtmf),
            bad_messages=self.bad_messages,
            carrier_errors=self.carrier_errors,
            error=self.error,
        )
