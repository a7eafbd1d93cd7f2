"""Gemini Live (``BidiGenerateContent``) as a sans-IO state machine.

Theory of operation
-------------------
One :class:`GeminiProtocol` lives as long as a conversation, across
reconnections. It turns unified client events into Gemini JSON messages and
Gemini server messages into unified events; the session layer owns the socket.
It speaks the sans-IO contract of :mod:`adk_realtime.sansio.protocol`: commands
queue messages (``data_to_send()`` collects them), ``receive_data(frame, now)``
decodes a frame whose events come out of ``next_event()``.

Connection: the first message on every connection is ``setup``
(:meth:`GeminiProtocol.start`); nothing else may be sent before the server's ``setupComplete`` arrives (it
decodes to :class:`SessionCreated`). Setup carries the model, the generation
config, tools, VAD settings, transcription flags, ``sessionResumption`` (always
on, so handles arrive) and, optionally, ``contextWindowCompression``.
Gemini cannot change a live session: to reconfigure, reconnect and send a new
setup carrying :attr:`GeminiProtocol.resumption_handle`.

Model turns. Gemini has no response ids; each model turn gets a deterministic id
``turn-N`` used as both ``item_id`` and ``response_id`` (after ``interrupted`` the
next model output is a new turn: Gemini sends no ``turnComplete`` for the old one):

=====================  =============  =====================================
server says            turn state     events
=====================  =============  =====================================
audio/text/outputTr.   closed -> open ResponseCreated, then the deltas
                                      (a transcription ``finished`` adds
                                      [Input]TranscriptDone with the whole text)
toolCall               closed -> open ResponseCreated, FunctionCallDone...
(same)                 open           the deltas / FunctionCallDone...
interrupted            open (marked)  Interrupted
audio/text/toolCall    marked -> new  ResponseDone(cancelled), ResponseCreated...
generationComplete     unchanged      GenerationComplete
turnComplete           any -> closed  [ResponseCreated], [Input]TranscriptDone
                                      (unless ``finished`` sent it), TurnComplete,
                                      ResponseDone(status, usage)
=====================  =============  =====================================

``ResponseDone.status`` is ``cancelled`` for an interrupted turn, else ``completed``;
its ``usage`` is the latest ``usageMetadata`` since the previous turn ended (Gemini
reports usage per turn, cumulatively: a later snapshot replaces an earlier one).

User activity. With server VAD (the default) audio just streams and
``AudioCommit`` becomes ``audioStreamEnd``. With ``VadMode.NONE`` the client
marks activity: the first audio after a commit is preceded by ``activityStart``
and ``AudioCommit`` sends ``activityEnd``:

=================  ===============  =======================================
command            activity         messages
=================  ===============  =======================================
send_audio         closed -> open   activityStart, audio
send_audio         open             audio
AudioCommit        open -> closed   activityEnd
AudioCommit        closed           (nothing: no audio to end)
=================  ===============  =======================================

Tool calls are remembered by id (with their name, which ``functionResponses``
need) until answered or cancelled by ``toolCallCancellation``. A call the
server sent without an id (older Vertex models) gets a made-up one,
``turn-N-call-K``, which its answer leaves out.

The conversation record (``history``) is kept by
:mod:`adk_realtime.sansio.gemini.conversation`, which also builds the history a
setup without a resumption handle replays once ``setupComplete`` arrives.

Decoding accepts camelCase and snake_case keys, text or binary frames, and audio in
standard or URL-safe base64. A bad message raises
:class:`~adk_realtime.sansio.errors.DecodeError` naming the field, and leaves the state
as it was: each message is fully parsed before any state changes or any event is queued.
The stateless half (setup building, field readers, base64 and duration parsing) lives
in :mod:`adk_realtime.sansio.gemini.wire`; every state change is here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import AudioFormat, RealtimeConfig
from adk_realtime.sansio.errors import ConfigError, DecodeError, LocalProtocolError
from adk_realtime.sansio.events import ClientEvent, ServerEvent, ToolResponse, Usage
from adk_realtime.sansio.gemini.carried import CarriedCalls
from adk_realtime.sansio.gemini.conversation import GeminiConversation, replay_messages
from adk_realtime.sansio.gemini.media import GeminiMediaCommands
from adk_realtime.sansio.gemini.replay import DEFAULT_MAX_REPLAY_BYTES, ClientMessageLog
from adk_realtime.sansio.gemini.setup import compression_setting, first_handle, setup_object
from adk_realtime.sansio.gemini.wire import (
    MAX_AUDIO_MS_PER_MESSAGE,
    MAX_MESSAGE_SIZE,
    FunctionCall,
    InputTranscription,
    ModelAudio,
    ModelInterrupted,
    ModelText,
    Op,
    OutputTranscription,
    ResumptionUpdate,
    ToolCalls,
    ToolCancellation,
    TurnEnded,
    UsageReport,
    load_message,
    normalize_model,
    parse_message,
    tool_output,
)
from adk_realtime.sansio.history import History, HistoryFunctionCall, HistoryLimits
from adk_realtime.sansio.json_fields import (
    check_size,
    check_text,
    dumps,
    queue_audio_messages,
    raw_text,
)
from adk_realtime.sansio.media import DEFAULT_MAX_VIDEO_FPS, FrameRateLimiter
from adk_realtime.sansio.protocol import ProviderCapabilities
from adk_realtime.sansio.received_audio import ReceivedAudio

if TYPE_CHECKING:
    from adk_realtime.sansio.protocol import RealtimeProtocol

CAPABILITIES = ProviderCapabilities(
    live_session_update=False,  # a new setup needs a new connection
    truncation=False,
    output_audio_clear=False,
    explicit_activity=True,  # activityStart/activityEnd with VAD off
    tool_call_cancellation=True,
    resumption=True,
    rollover=False,  # it resumes instead (the server keeps the conversation)
    replays_unconfirmed=False,
    setup_acknowledgement=True,  # nothing before setupComplete
    response_after_tool_outputs=False,
    server_handles_barge_in=True,  # the server stops and says `interrupted`
    voice_locked_after_audio=False,
    reconfigure_before_tool_output=False,
    max_message_size=MAX_MESSAGE_SIZE,
)
"""What Gemini Live can do (one transport: the WebSocket)."""

INPUT_AUDIO_FORMAT = AudioFormat.pcm16(16000)
OUTPUT_AUDIO_FORMAT = AudioFormat.pcm16(24000)
INPUT_MIME_TYPE = "audio/pcm;rate=16000"
_OUTPUT_BYTES_PER_MS = 48  # 24 kHz * 2 bytes
_AUDIO_PIECE = 32 * MAX_AUDIO_MS_PER_MESSAGE  # bytes of 16 kHz PCM16 per message at most

# Unanswered tool calls remembered; beyond this the server is misbehaving.
MAX_PENDING_TOOL_CALLS = 1024
# Cancelled call ids remembered, so a late result is refused instead of sent.
_MAX_CANCELLED = 256

# Pre-serialised control messages.
_ACTIVITY_START = '{"realtimeInput":{"activityStart":{}}}'
_ACTIVITY_END = '{"realtimeInput":{"activityEnd":{}}}'
_AUDIO_STREAM_END = '{"realtimeInput":{"audioStreamEnd":true}}'
_TURN_COMPLETE = '{"clientContent":{"turnComplete":true}}'
_AUDIO_HEAD = '{"realtimeInput":{"audio":{"data":"'
_AUDIO_TAIL = '","mimeType":"' + INPUT_MIME_TYPE + '"}}}'


class GeminiProtocol(GeminiMediaCommands):
    """Gemini Live codec and conversation state; see the module docstring.

    Driving loop: call :meth:`start` first on every connection (the setup
    carries the latest resumption handle) and send what :meth:`data_to_send`
    returns; wait for :class:`SessionCreated`; then call commands
    (:meth:`send_audio`, :meth:`send_event`, ...) and send their messages,
    feed every received frame to :meth:`receive_data` and handle what
    :meth:`next_event` returns until it gives ``None``.
    """

    def __init__(
        self,
        model: str,
        *,
        vertex_project: str | None = None,
        vertex_location: str | None = None,
        context_window_compression: bool | Mapping[str, Any] = True,
        resumption_handle: str | None = None,
        resume_handle: str | None = None,
        transparent_resumption: bool | None = None,
        max_replay_bytes: int = DEFAULT_MAX_REPLAY_BYTES,
        history_limits: HistoryLimits | None = None,
        max_video_fps: float = DEFAULT_MAX_VIDEO_FPS,
    ) -> None:
        self.model = normalize_model(model, vertex_project, vertex_location)
        self.vertex = vertex_project is not None
        self._compression = compression_setting(context_window_compression)
        # Resumption: the latest usable handle (the next start() resumes from it),
        # and whether resuming now is possible.
        self.resumption_handle: str | None = first_handle(resumption_handle, resume_handle)
        self.resumable = False
        # Transparent resumption (Vertex only, as the API offers it): what a resumed
        # connection sends again (see replay.py).
        if transparent_resumption is None:
            transparent_resumption = self.vertex
        if not isinstance(transparent_resumption, bool):
            raise ConfigError("transparent_resumption", "must be a bool or None")
        self.transparent_resumption = transparent_resumption
        self._log = ClientMessageLog(max_replay_bytes)
        self._video: FrameRateLimiter[str] = FrameRateLimiter(max_video_fps)  # input: frames
        self._capabilities = (
            replace(CAPABILITIES, replays_unconfirmed=True)
            if transparent_resumption
            else CAPABILITIES
        )
        self.manual_activity = False  # VadMode.NONE: we send activityStart/End
        self.activity_open = False
        self._client_turn_open = False  # clientContent sent without turnComplete
        # Model turns.
        self._turn = 0
        self._item_id = ""
        self._turn_open = False
        self._interrupted = False
        # Audio of the current turn only: a new turn forgets the last one's.
        self._received = ReceivedAudio(_OUTPUT_BYTES_PER_MS, max_items=1)
        self._usage: Usage | None = None
        # Transcription chunks since the last ``finished`` (gives the *Done events).
        self._input_transcript: list[str] = []
        self._output_transcript: list[str] = []
        # Tool calls: id -> name.
        self._pending: dict[str, str] = {}
        self._cancelled: dict[str, None] = {}
        # Ids we made up for calls the server sent without one (a subset of
        # _pending): their answers go out without an id, as the server expects.
        self._made_up_ids: set[str] = set()
        self._made_up_count = 0
        self._carried = CarriedCalls()  # calls no resumption handle holds yet (carried.py)
        self._events: deque[ServerEvent] = deque()
        self._out: list[str] = []
        # The conversation record, and the history a new conversation gets once
        # setupComplete arrives.
        self._conversation = GeminiConversation(history_limits)
        self._history_due: list[str] = []
        self._started = False

    def __repr__(self) -> str:
        return f"GeminiProtocol(model={self.model!r}, turn={self._item_id!r})"

    # ------------------------------------------------------------ properties

    @property
    def capabilities(self) -> ProviderCapabilities:
        """What Gemini Live can do: see :data:`CAPABILITIES` (``replays_unconfirmed`` with
        transparent resumption)."""
        return self._capabilities

    @property
    def expires_at(self) -> float | None:
        """Always None: Gemini announces the end of a connection with ``goAway`` instead."""
        return None

    @property
    def input_audio_format(self) -> AudioFormat:
        """PCM16 mono at 16 kHz: convert audio to this before :meth:`send_audio`."""
        return INPUT_AUDIO_FORMAT

    @property
    def output_audio_format(self) -> AudioFormat:
        """PCM16 mono at 24 kHz: the format of every ``AudioDelta.delta``."""
        return OUTPUT_AUDIO_FORMAT

    @property
    def current_item_id(self) -> str:
        """Id of the current (or last) model turn, ``""`` before the first."""
        return self._item_id

    @property
    def turn_open(self) -> bool:
        """True between the first output of a model turn and its ``turnComplete``."""
        return self._turn_open

    @property
    def history(self) -> History:
        """The conversation so far, as a snapshot (see :mod:`adk_realtime.sansio.history`)."""
        return self._conversation.record.snapshot()

    @property
    def pending_tool_calls(self) -> dict[str, str]:
        """A copy of the unanswered tool calls, ``call_id -> name``."""
        return dict(self._pending)

    @property
    def needs_activity_start(self) -> bool:
        """True when the next audio opens a user activity (manual activity, none open):
        :meth:`send_audio` then queues ``activityStart`` before the audio."""
        return self.manual_activity and not self.activity_open

    def audio_ms_received(self, item_id: str) -> int:
        """Milliseconds of model audio received for ``item_id`` (the current or last turn).

        Use it to clamp what the user heard when the model is interrupted.
        """
        return self._received.ms(item_id)

    def _new_conversation_history(self) -> tuple[list[str], list[HistoryFunctionCall]]:
        """The record as ``clientContent`` for a setup without a handle, and the calls
        left out of it: those the app is still running. The new server never asked them
        (a ``toolResponse`` would answer nothing), so each is carried and its answer goes
        later with the call (``carried.py``'s injection), which the model answers from."""
        items = self._conversation.record.snapshot().items
        running = [
            i for i in items if isinstance(i, HistoryFunctionCall) and i.call_id in self._pending
        ]
        rest = [i for i in items if not (isinstance(i, HistoryFunctionCall) and i in running)]
        return replay_messages(rest, MAX_MESSAGE_SIZE), running

    # ------------------------------------------------------ output and timers

    @property
    def has_data_to_send(self) -> bool:  # (a look at data_to_send() that takes nothing)
        return bool(self._out)

    def data_to_send(self) -> list[str]:
        """The messages queued by commands since the last call; send each as one text frame,
        in this order (transparent resumption numbers them so)."""
        out = self._out
        self._out = []
        if self.transparent_resumption and out:
            self._log.sent(out)
        return out

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` is due: when a video frame that waits may go, else never."""
        return self._video.due

    def handle_timer(self, now: float) -> None:
        """Queue the waiting video frame if its time has come (send :meth:`data_to_send`)."""
        frame = self._video.take_due(now)
        if frame is not None:
            self._out.append(frame)

    # ----------------------------------------------------------------- setup

    def start(self, config: RealtimeConfig) -> None:
        """Queue the ``setup`` message for a new connection, resuming from
        :attr:`resumption_handle` when there is one.

        Call it once per connection, before anything else; then send nothing
        until ``SessionCreated`` arrives. It resets the per-connection state
        (open activity, unfinished client turn, open model turn, ``resumable``;
        the handle is kept). Raises ``ConfigError`` (queuing nothing) for a
        config Gemini cannot take or an ``extra`` that is not JSON-serialisable.

        Without a handle the server starts a new conversation: if the record (the
        :meth:`seed`, or the conversation so far) has anything to replay, the setup
        asks for ``historyConfig.initialHistoryInClientContent`` and receiving
        ``setupComplete`` queues the history as ``clientContent`` messages: send
        :meth:`data_to_send` right after ``SessionCreated``, before anything else.
        A resumed conversation is not replayed (the server has it).
        """
        if not isinstance(config, RealtimeConfig):
            raise ConfigError("config", f"expected RealtimeConfig, got {type(config).__name__}")
        setup = setup_object(
            config,
            self.model,
            self.resumption_handle,
            transparent=self.transparent_resumption,
            compression=self._compression,
        )
        history: list[str] = []
        running: list[HistoryFunctionCall] = []
        if self.resumption_handle is None:
            history, running = self._new_conversation_history()
            if history:
                setup["historyConfig"] = {"initialHistoryInClientContent": True}
        try:
            text = dumps({"setup": setup})
        except (TypeError, ValueError, RecursionError) as exc:
            raise ConfigError("extra", f"not JSON-serialisable: {exc}") from None
        check_size(text, MAX_MESSAGE_SIZE, "the setup (instruction, tools)")
        # What the last connection's server did not take: a resumed state lacks it. First
        # what the last start queued for a setupComplete that never came (older still).
        unconsumed = [(-1, m) for m in self._history_due] + self._log.restart_numbered()
        if self.resumption_handle is not None:
            history = self._carried.resume(unconsumed, self.transparent_resumption)
        else:
            self._carried.fresh(running)
        ric = setup.get("realtimeInputConfig")
        aad = ric.get("automaticActivityDetection") if isinstance(ric, dict) else None
        self.manual_activity = isinstance(aad, dict) and aad.get("disabled") is True
        self.activity_open = False
        # Until this connection's server says so, do not assume it can resume
        # (the handle is kept: it is what this setup resumes from).
        self.resumable = False
        self._client_turn_open = False
        self._turn_open = False
        self._interrupted = False
        self._usage = None
        self._input_transcript.clear()
        self._output_transcript.clear()
        self._conversation.close_user()
        self._history_due = history
        self._started = True
        self._out.insert(0, text)  # (commands not handed out yet go after it)

    def seed(self, history: History) -> None:
        """Make ``history`` the start of the conversation; :meth:`start` replays it (on a
        new server conversation, after ``setupComplete``, see :meth:`start`).

        Call it once, before the first :meth:`start`. Raises ``LocalProtocolError``
        after ``start`` and ``ConfigError`` for something else than a ``History`` or
        call arguments that are not a JSON object (the record is then unchanged).
        """
        if self._started:
            raise LocalProtocolError("seed() goes before the first start()")
        if not isinstance(history, History):
            raise ConfigError("history", f"must be a History, got {type(history).__name__}")
        self._conversation.seed(history)

    def note_heard(self, item_id: str, audio_end_ms: int) -> None:
        """The listener heard only ``audio_end_ms`` of model turn ``item_id``: cut its
        transcript in the record to that. Queues nothing (Gemini has no truncation
        message; ``ItemTruncate`` does the same). ``LocalProtocolError`` for bad values."""
        if not isinstance(item_id, str) or not item_id:
            raise LocalProtocolError(f"item_id must be a non-empty string, got {item_id!r}")
        if type(audio_end_ms) is not int or audio_end_ms < 0:
            raise LocalProtocolError(
                f"audio_end_ms must be a non-negative int, got {audio_end_ms!r}"
            )
        self._conversation.record.cut(item_id, audio_end_ms, self._received.ms(item_id))

    def update_session(self, config: RealtimeConfig) -> None:
        """Refused: Gemini cannot change a live session (``capabilities.live_session_update``
        is False). Reconnect and :meth:`start` with the new config instead; the setup
        resumes from :attr:`resumption_handle`."""
        raise LocalProtocolError(
            "Gemini cannot update a live session: reconnect and start(new_config) "
            "(the setup resumes from protocol.resumption_handle)"
        )

    # -------------------------------------------------------------- commands

    def send_audio(self, audio: bytes | bytearray | memoryview) -> None:
        """Queue ``realtimeInput.audio`` messages carrying ``audio`` (PCM16, 16 kHz): one,
        or for more than ``MAX_AUDIO_MS_PER_MESSAGE`` of audio one per that much, so no
        message nears ``capabilities.max_message_size``.

        With manual activity (VAD off) and no activity open, ``activityStart``
        goes first: the audio opens the user's turn (end it with ``AudioCommit``).
        """
        if self.manual_activity and not self.activity_open:
            self.activity_open = True
            self._out.append(_ACTIVITY_START)
        queue_audio_messages(self._out, audio, _AUDIO_PIECE, _AUDIO_HEAD, _AUDIO_TAIL)

    def send_event(self, event: ClientEvent) -> None:
        """Queue one command as 0, 1 or more messages.

        Raises ``LocalProtocolError`` (queuing nothing) for what Gemini Live
        cannot do now: ``SessionUpdate`` (reconnect with a new setup instead),
        a system-role item, or a tool result for an unknown-and-unnamed or
        cancelled call. ``AudioClear``, ``ResponseCancel`` and ``ItemTruncate``
        queue nothing: Gemini drives interruption itself and keeps no per-item
        audio to truncate (``ItemTruncate`` cuts the record, as :meth:`note_heard`).
        """
        if isinstance(event, ev.AudioAppend):
            self.send_audio(event.audio)
        elif isinstance(event, ev.AudioCommit):
            if not self.manual_activity:
                self._out.append(_AUDIO_STREAM_END)
            elif self.activity_open:
                self.activity_open = False
                self._out.append(_ACTIVITY_END)
            # else: no audio since the last commit, nothing to end
        elif isinstance(event, ev.ItemCreate) and event.tool_response is not None:
            if event.text is not None:
                raise LocalProtocolError("an item carries text or a tool response, not both")
            self.send_tool_responses([event.tool_response])
        elif isinstance(event, ev.ItemCreate):
            self._out.append(self._item_message(event))
        elif isinstance(event, ev.ResponseCreate):
            # Gemini answers on its own after a complete user turn; the only
            # thing to do is to close a turn left open (history items).
            # Per-response instructions have no Gemini equivalent.
            if self._client_turn_open:
                self._client_turn_open = False
                self._out.append(_TURN_COMPLETE)
        elif isinstance(event, ev.ItemTruncate):
            self.note_heard(event.item_id, event.audio_end_ms)  # the record only
        elif isinstance(event, ev.AudioClear | ev.ResponseCancel):
            pass
        elif isinstance(event, ev.SessionUpdate):
            self.update_session(event.config)
        else:
            raise LocalProtocolError(f"cannot encode {type(event).__name__} for Gemini Live")

    def send_raw(self, message: str) -> None:
        """Queue ``message`` as-is (a client message this protocol does not model). It is
        numbered with the others: with transparent resumption the server's indices stay
        right, and a resumption sends it again if the server had not taken it. Not in the
        record (a new conversation without a handle does not get it).
        ``MessageTooLargeToSend`` (queuing nothing) over ``max_message_size``."""
        self._out.append(check_size(raw_text(message), MAX_MESSAGE_SIZE, "send_raw's message"))

    def interrupt(self) -> None:
        """Queue what stops the model talking: with VAD off, ``activityStart`` (the user's
        turn begins, which interrupts generation) unless an activity is already open.

        With server VAD there is no such message: the server interrupts by itself
        when it hears the user, and says so with ``Interrupted``.
        """
        if self.manual_activity and not self.activity_open:
            self.activity_open = True
            self._out.append(_ACTIVITY_START)

    def activity_start(self) -> None:
        """Queue ``activityStart``: the user started talking (VAD off only); interrupts the model.

        Send audio with :meth:`send_audio` next, then :meth:`activity_end`.
        """
        if not self.manual_activity:
            raise LocalProtocolError("activityStart is only allowed with VAD off (VadMode.NONE)")
        if self.activity_open:
            raise LocalProtocolError("an activity is already open: send activity_end() first")
        self.activity_open = True
        self._out.append(_ACTIVITY_START)

    def activity_end(self) -> None:
        """Queue ``activityEnd``: the user stopped talking (VAD off only); the model answers."""
        if not self.manual_activity:
            raise LocalProtocolError("activityEnd is only allowed with VAD off (VadMode.NONE)")
        if not self.activity_open:
            raise LocalProtocolError("no activity is open: send activity_start() first")
        self.activity_open = False
        self._out.append(_ACTIVITY_END)

    def audio_stream_end(self) -> None:
        """Queue ``audioStreamEnd``: the microphone went quiet (server VAD only).

        Sending audio again reopens the stream.
        """
        if self.manual_activity:
            raise LocalProtocolError(
                "audioStreamEnd is for server VAD; with VAD off use activity_end()"
            )
        self._out.append(_AUDIO_STREAM_END)

    def send_tool_responses(self, responses: Sequence[ToolResponse]) -> None:
        """Queue one ``toolResponse`` answering several calls (one message).

        An empty ``name`` is taken from the pending call. Answered calls stop
        being pending. Raises ``LocalProtocolError`` (and queues nothing) if a
        call was cancelled by the server, or is unknown and has no name. The answer
        to a call a resumption carried over goes as ``carried.py`` says.
        """
        if not responses:
            raise LocalProtocolError("send_tool_responses needs at least one ToolResponse")
        carried: list[ToolResponse] = []
        rest: list[ToolResponse] = []
        for r in responses:
            held = isinstance(r, ToolResponse) and r.call_id in self._carried
            (carried if held else rest).append(r)
        for response in carried:  # (checked before anything changes)
            check_text(response.output, "ToolResponse.output")
        message = self._tool_response_message(rest) if rest else None
        for response in carried:
            self._pending.pop(response.call_id, None)
            self._conversation.output(response.call_id, response.output)
            self._out.extend(self._carried.answer(response.call_id, response.output))
        if message is not None:
            self._out.append(message)

    def _tool_response_message(self, responses: Sequence[ToolResponse]) -> str:
        items: list[dict[str, Any]] = []
        for response in responses:
            if not isinstance(response, ToolResponse):
                raise LocalProtocolError(f"expected ToolResponse, got {type(response).__name__}")
            if response.call_id in self._cancelled:
                raise LocalProtocolError(
                    f"tool call {response.call_id!r} was cancelled by the server; "
                    "do not send its result"
                )
            name = response.name or self._pending.get(response.call_id, "")
            if not name:
                raise LocalProtocolError(
                    f"unknown tool call {response.call_id!r}: set ToolResponse.name"
                )
            result = {"result": tool_output(check_text(response.output, "ToolResponse.output"))}
            if response.call_id in self._made_up_ids:
                items.append({"name": name, "response": result})
            else:
                items.append({"id": response.call_id, "name": name, "response": result})
        message = dumps({"toolResponse": {"functionResponses": items}})
        check_size(message, MAX_MESSAGE_SIZE, "ToolResponse.output")
        for response in responses:
            self._pending.pop(response.call_id, None)
            self._made_up_ids.discard(response.call_id)
            self._conversation.output(response.call_id, response.output)
            self._carried.note_output(response.call_id, response.output)
        return message

    def _item_message(self, item: ev.ItemCreate) -> str:
        if item.text is None:
            raise LocalProtocolError("ItemCreate needs text or a tool_response")
        if item.role == "system":
            raise LocalProtocolError(
                "Gemini Live takes system instructions only at setup: set "
                "RealtimeConfig.instruction and reconnect, or send a user message"
            )
        text = check_text(item.text, "ItemCreate.text")
        # A user message is a complete turn (Gemini answers it at once); an
        # assistant message is history, left open until ResponseCreate.
        user = item.role == "user"
        content = {
            "turns": [{"role": "user" if user else "model", "parts": [{"text": text}]}],
            "turnComplete": user,
        }
        message = check_size(dumps({"clientContent": content}), MAX_MESSAGE_SIZE, "ItemCreate.text")
        self._client_turn_open = not user
        self._conversation.user_text(text, item.role)
        return message

    # --------------------------------------------------------------- receive

    def receive_data(self, data: str | bytes | bytearray | memoryview, now: float) -> None:
        """Decode one received frame (text or binary); its events wait in :meth:`next_event`.

        ``now`` is unused (decoding needs no clock). Raises ``DecodeError``
        naming the bad field; nothing is queued, the state is unchanged and the
        session may carry on with the next message.
        """
        self._apply(parse_message(load_message(data)))

    def next_event(self) -> ServerEvent | None:
        """The next decoded event, or ``None`` when every received frame has been handled."""
        return self._events.popleft() if self._events else None

    def _apply(self, ops: list[Op]) -> None:
        # Everything here was validated by parse_message: nothing below may raise.
        new_calls = sum(len(op.calls) for op in ops if isinstance(op, ToolCalls))
        if new_calls and len(self._pending) + new_calls > MAX_PENDING_TOOL_CALLS:
            raise DecodeError(
                f"toolCall: more than {MAX_PENDING_TOOL_CALLS} unanswered tool calls; "
                "answer or drop them"
            )
        events = self._events
        for op in ops:
            match op:
                case ModelAudio(data=data):
                    self._open_turn(events)
                    self._received.add(self._item_id, len(data))
                    events.append(ev.AudioDelta(data, self._item_id, self._item_id))
                case ModelText(text=text):
                    self._open_turn(events)
                    self._conversation.model_output(self._item_id, text, None)
                    events.append(ev.TextDelta(text, self._item_id, self._item_id))
                case InputTranscription():
                    self._on_input_transcription(op)
                case OutputTranscription():
                    self._on_output_transcription(op)
                case UsageReport(usage=usage):
                    self._usage = usage
                case ModelInterrupted():
                    self._interrupted = True
                    self._conversation.close_user()  # the user's new speech comes next
                    events.append(ev.Interrupted())
                case TurnEnded():
                    self._on_turn_ended()
                case ToolCalls(calls=calls):
                    self._on_tool_calls(calls)
                case ToolCancellation(call_ids=call_ids):
                    self._on_tool_cancellation(call_ids)
                case ResumptionUpdate(handle=handle, resumable=resumable, last_consumed=index):
                    if index is not None:
                        self._log.consumed(index)
                    self.resumable = resumable
                    if resumable and handle:
                        self.resumption_handle = handle
                        self._carried.settled()
                    events.append(ev.SessionResumptionUpdate(handle, resumable))
                case ev.SessionCreated():
                    # The history (or the replay) goes first, before commands queued
                    # meanwhile: the wire order is the order the log numbers (see start()).
                    self._out[:0] = self._history_due
                    self._history_due = []
                    events.append(op)
                case _:
                    events.append(op)  # a ready event: needs no state

    def _on_input_transcription(self, op: InputTranscription) -> None:
        answering = self._turn_open and not self._interrupted
        self._conversation.heard_input(op.text, answering=answering)
        if op.text:
            self._input_transcript.append(op.text)
            self._events.append(ev.InputTranscriptDelta(op.text))
        if op.finished:
            self._conversation.close_user()
        if op.finished and self._input_transcript:
            self._events.append(ev.InputTranscriptDone("".join(self._input_transcript)))
            self._input_transcript.clear()

    def _on_output_transcription(self, op: OutputTranscription) -> None:
        if op.text:
            self._open_turn(self._events)
            heard = self._received.ms(self._item_id)  # anchors the text in the audio
            self._conversation.model_output(self._item_id, op.text, heard)
            self._output_transcript.append(op.text)
            self._events.append(ev.TranscriptDelta(op.text, self._item_id, self._item_id))
        if op.finished:
            self._flush_output_transcript(self._events)

    def _on_turn_ended(self) -> None:
        events = self._events
        interrupted = self._interrupted
        if not self._turn_open:  # (an interrupted turn ends here as itself)
            self._open_turn(events)
        # Servers seldom send ``finished``: the turn's end closes the transcripts
        # (and keeps the buffers from growing across turns).
        if self._input_transcript:
            events.append(ev.InputTranscriptDone("".join(self._input_transcript)))
            self._input_transcript.clear()
        self._flush_output_transcript(events)
        status = "cancelled" if interrupted or self._interrupted else "completed"
        self._conversation.close_user()
        self._out.extend(self._carried.turn_ended())  # (a carried call not asked again)
        events.append(ev.TurnComplete())
        self._close_turn(events, status)

    def _flush_output_transcript(self, events: deque[ServerEvent]) -> None:
        if self._output_transcript:
            text, item = "".join(self._output_transcript), self._item_id
            events.append(ev.TranscriptDone(text, item, item))
            self._output_transcript.clear()

    def _close_turn(self, events: deque[ServerEvent], status: str) -> None:
        events.append(ev.ResponseDone(self._item_id, status, self._usage))
        self._turn_open = self._interrupted = False
        self._usage = None

    def _on_tool_calls(self, calls: tuple[FunctionCall, ...]) -> None:
        self._open_turn(self._events)
        recorded: list[tuple[str, FunctionCall]] = []
        for call in calls:
            call_id = call.call_id
            again = self._carried.reasked(call.name, call.arguments, call_id) if call_id else None
            if again is not None:  # a carried call asked again: the app has it already
                self._out.extend(again[1])
                continue
            if call_id:
                self._carried.issued(call_id, call.name, call.arguments, self._log.next_index)
            else:
                self._made_up_count += 1
                call_id = f"{self._item_id}-call-{self._made_up_count}"
                self._made_up_ids.add(call_id)
            self._pending[call_id] = call.name
            self._cancelled.pop(call_id, None)
            recorded.append((call_id, call))
            self._events.append(
                ev.FunctionCallDone(
                    call_id, call.name, call.arguments, self._item_id, self._item_id
                )
            )
        self._conversation.calls(self._item_id, recorded)

    def _on_tool_cancellation(self, call_ids: tuple[str, ...]) -> None:
        for call_id in call_ids:
            self._pending.pop(call_id, None)
            self._made_up_ids.discard(call_id)
            self._cancelled[call_id] = None
        self._carried.forget(call_ids)
        while len(self._cancelled) > _MAX_CANCELLED:
            del self._cancelled[next(iter(self._cancelled))]
        self._conversation.cancelled(call_ids)
        self._events.append(ev.ToolCallCancelled(call_ids))

    def _open_turn(self, events: deque[ServerEvent]) -> None:
        if self._turn_open and self._interrupted:  # Gemini's reply to the speech that
            self._flush_output_transcript(events)  # interrupted: no turnComplete came for
            self._close_turn(events, "cancelled")  # the old turn, the reply gets its own id
        if self._turn_open:
            return
        self._turn += 1
        while f"turn-{self._turn}" in self._conversation.record:  # (a seeded id)
            self._turn += 1
        self._item_id = f"turn-{self._turn}"
        self._conversation.turn_opened()
        self._turn_open = True
        self._interrupted = False
        self._received.clear()
        self._output_transcript.clear()
        events.append(ev.ResponseCreated(self._item_id))


if TYPE_CHECKING:
    _check: RealtimeProtocol = GeminiProtocol("gemini")

__all__ = [
    "CAPABILITIES",
    "INPUT_AUDIO_FORMAT",
    "INPUT_MIME_TYPE",
    "OUTPUT_AUDIO_FORMAT",
    "GeminiProtocol",
    "normalize_model",
]
