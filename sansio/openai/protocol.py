"""OpenAI Realtime as a sans-IO state machine: unified events <-> JSON messages.

Theory of operation
-------------------
:class:`OpenAIProtocol` sits between the session layer and one OpenAI Realtime
connection (WebSocket, or the WebRTC ``oai-events`` data channel). It never
sees a socket and speaks the sans-IO contract of :mod:`adk_realtime.sansio.protocol`:
the driver calls ``start(config)`` right after connecting, then commands
(``send_audio(pcm)``, ``send_event(command)``, ...) which queue messages it
collects with ``data_to_send()``; it feeds every received text message to
``receive_data(message, now)`` and reads the unified events
(:mod:`adk_realtime.sansio.events`) with ``next_event()``.

Two dialects share one decoder: GA (``gpt-realtime*``) and beta
(``gpt-4o-realtime-preview*``); both sets of server event names are always
understood, the dialect only changes what the commands queue (shapes live in
:mod:`adk_realtime.sansio.openai.wire`).

All state is created here (``__init__``), in four pieces:

* ``response_id``: set by ``response.created``, cleared by its ``response.done``.
* ``current_item_id``: the output item the model is producing (``response.output_item.added``,
  audio/text deltas).
* audio received per item: bytes of ``response.output_audio.delta`` per
  ``item_id`` (the last ``MAX_TRACKED_ITEMS`` items), turned into milliseconds
  with the output format (PCM16 24 kHz = 48 bytes/ms, G.711 = 8 bytes/ms). An
  ``ItemTruncate`` is clamped to it, because the server rejects a truncation past
  the audio it sent.
* pending function calls: ``call_id -> (name, arguments so far)`` from
  ``response.output_item.added`` and ``function_call_arguments.*``; beta's
  ``...arguments.done`` carries no ``name``, so it comes from here. A call
  leaves when its tool output is sent (at most ``MAX_PENDING_CALLS`` are kept).

Across connections it keeps the conversation: the record (``history``, see
:mod:`adk_realtime.sansio.history`), the input audio no commit point covered yet,
and whether a response is wanted. ``start()`` on a protocol that already ran a
connection rolls over onto the fresh session with them
(:mod:`adk_realtime.sansio.openai.conversation`).

Decoding lives in :mod:`adk_realtime.sansio.openai.server_messages` (the
handlers, mixed into :class:`OpenAIProtocol`, and the table of server message
-> unified event); every message is validated completely before any state
changes (or any event is queued), so a ``DecodeError`` leaves the object as it
was. The commands (what we send) are here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from adk_realtime.sansio.config import AudioFormat, RealtimeConfig, VadMode
from adk_realtime.sansio.errors import ConfigError, DecodeError, LocalProtocolError
from adk_realtime.sansio.events import (
    AudioAppend,
    AudioClear,
    AudioCommit,
    ClientEvent,
    Error,
    ItemCreate,
    ItemTruncate,
    ResponseCancel,
    ResponseCreate,
    ServerEvent,
    SessionUpdate,
    ToolResponse,
    Unknown,
)
from adk_realtime.sansio.history import (
    ConversationRecord,
    History,
    HistoryFunctionOutput,
    HistoryLimits,
    HistoryMessage,
)
from adk_realtime.sansio.json_fields import (
    check_size,
    check_text,
    dumps as _dumps,
    fail,
    loads as json_loads,
    queue_audio_messages,
    raw_text,
)
from adk_realtime.sansio.media import OPENAI_IMAGE_TYPES, check_image, data_url
from adk_realtime.sansio.openai import wire as wire
from adk_realtime.sansio.openai.conversation import (
    DEFAULT_MAX_REPLAY_MS,
    InputAudioLog,
    TurnAudio,
    normalize_ids,
    replay_messages,
)
from adk_realtime.sansio.openai.server_messages import (
    _ROUTES,
    MAX_PENDING_CALLS,
    PendingCall,
    ServerMessageHandlers,
)
from adk_realtime.sansio.openai.wire import Dialect, Transport, dialect_for_model
from adk_realtime.sansio.protocol import ProviderCapabilities
from adk_realtime.sansio.received_audio import ReceivedAudio

if TYPE_CHECKING:
    from adk_realtime.sansio.protocol import RealtimeProtocol

__all__ = [
    "MAX_PENDING_CALLS",
    "MAX_TRACKED_ITEMS",
    "Dialect",
    "OpenAIProtocol",
    "PendingCall",
    "dialect_for_model",
]

MAX_TRACKED_ITEMS = 64
"""Output items whose received audio is remembered (older ones are forgotten)."""


_APPEND_HEAD = '{"type":"input_audio_buffer.append","audio":"'


_Msg = dict[str, Any]
_Handler = Callable[[_Msg, str], None]


class OpenAIProtocol(ServerMessageHandlers):
    """The OpenAI Realtime protocol state machine (implements ``RealtimeProtocol``).

    Driving loop: connect to :attr:`url_path` with :meth:`handshake_headers`
    (plus your ``Authorization``) and call :meth:`start`; then call commands
    (:meth:`send_audio`, :meth:`send_event`, ...) as the user acts, feed every
    received text message to :meth:`receive_data`, and after each call send
    what :meth:`data_to_send` returns and handle what :meth:`next_event`
    returns until it gives ``None``.
    """

    def __init__(
        self,
        model: str = "gpt-realtime",
        *,
        dialect: Dialect | None = None,
        transport: Transport = "websocket",
        history_limits: HistoryLimits | None = None,
        max_replay_ms: int = DEFAULT_MAX_REPLAY_MS,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise ConfigError("model", f"must be a non-empty string, got {model!r}")
        if dialect is None:
            dialect = dialect_for_model(model)
        elif dialect not in ("ga", "beta"):
            raise ConfigError("dialect", f"must be 'ga', 'beta' or None, got {dialect!r}")
        if transport not in ("websocket", "webrtc"):
            raise ConfigError("transport", f"must be 'websocket' or 'webrtc', got {transport!r}")
        self._model = model
        self._dialect: Dialect = dialect
        self._transport: Transport = transport
        self._capabilities = ProviderCapabilities(
            live_session_update=True,
            truncation=True,
            # output_audio_buffer.* exists where the server plays the audio out (WebRTC).
            output_audio_clear=transport == "webrtc",
            explicit_activity=False,
            tool_call_cancellation=False,
            resumption=False,
            rollover=True,  # start() on a fresh session replays the record
            replays_unconfirmed=True,
            setup_acknowledgement=False,
            response_after_tool_outputs=True,
            server_handles_barge_in=False,
            voice_locked_after_audio=True,
            reconfigure_before_tool_output=True,
            max_message_size=wire.MAX_MESSAGE_SIZE,
        )
        self._input_format = wire.PCM16_24K
        self._output_format = wire.PCM16_24K
        self._audio_piece = wire.bytes_per_ms(self._input_format) * wire.MAX_AUDIO_MS_PER_MESSAGE
        self._handlers: dict[str, _Handler] = {
            etype: getattr(self, name) for etype, name in _ROUTES.items()
        }
        self._events: deque[ServerEvent] = deque()
        self._push = self._events.append
        self._out: list[str] = []
        # Audio received per output item, in the output format it arrived in.
        self._received = ReceivedAudio(wire.bytes_per_ms(self._output_format), MAX_TRACKED_ITEMS)
        # The conversation, across connections: the record, the input audio no
        # committed turn holds yet, and whether a response is wanted (a rollover
        # asks for it again).
        self._record = ConversationRecord(history_limits)
        self._input = InputAudioLog(max_replay_ms, self._input_format)
        self._turn_audio = TurnAudio()  # committed user turns' audio, for the replay
        self._started = False
        self._replayed_ids: set[str] = set()
        self._response_wanted = False
        self._auto_response = True  # server VAD answers a committed turn by itself
        self._call_aliases: dict[str, str] = {}  # seeded call ids OpenAI would refuse
        self._local_ids = 0
        self._calls = {}
        self._reset_conversation()

    def _reset_conversation(self) -> None:
        # Per connection. Calls whose arguments were complete stay answerable.
        self._response_id: str | None = None
        self._current_item_id: str | None = None
        self._expires_at: float | None = None
        self._received.clear()
        self._calls = {call_id: call for call_id, call in self._calls.items() if call.done}
        # Items we created without an id, waiting for the server's id.
        self._provisional: deque[tuple[str, tuple[str, ...]]] = deque(maxlen=MAX_PENDING_CALLS)
        self._vad_end_ms: int | None = None  # speech_stopped's, until its commit
        # What earlier session.updates turned on, so a later one can turn it off.
        self._sent_tools = False
        self._sent_transcription = False

    # ------------------------------------------------------------------
    # Read-only state
    # ------------------------------------------------------------------

    @property
    def model(self) -> str:
        return self._model

    @property
    def dialect(self) -> Dialect:
        """``"ga"`` or ``"beta"``: which message shapes the commands queue."""
        return self._dialect

    @property
    def transport(self) -> Transport:
        """``"websocket"`` or ``"webrtc"`` (events on the data channel, audio as RTP)."""
        return self._transport

    @property
    def capabilities(self) -> ProviderCapabilities:
        """What OpenAI Realtime can do over this transport."""
        return self._capabilities

    def endpoint_url(self, base_url: str = wire.DEFAULT_BASE_URL) -> str:
        """The WebSocket URL for this model under ``base_url`` (the API root, ``.../v1``)."""
        return wire.endpoint_url(base_url, self._model)

    @property
    def url_path(self) -> str:
        """Path and query of the WebSocket endpoint, e.g. ``/v1/realtime?model=gpt-realtime``."""
        url = urlsplit(self.endpoint_url())
        return f"{url.path}?{url.query}"

    def handshake_headers(self) -> list[tuple[str, str]]:
        """Extra headers the WebSocket handshake needs (beta: ``OpenAI-Beta``). No auth here."""
        return wire.handshake_headers(self._dialect)

    @property
    def resumption_handle(self) -> str | None:
        """Always ``None``: an OpenAI conversation cannot be resumed on a new connection."""
        return None

    @property
    def resumable(self) -> bool:
        """Always False (see :attr:`resumption_handle`)."""
        return False

    @property
    def input_audio_format(self) -> AudioFormat:
        """The format :meth:`send_audio` takes: PCM16 24 kHz unless G.711 was configured."""
        return self._input_format

    @property
    def output_audio_format(self) -> AudioFormat:
        """The format of ``AudioDelta.delta``: PCM16 24 kHz unless G.711 was configured."""
        return self._output_format

    @property
    def response_id(self) -> str | None:
        """The response in progress (from ``response.created`` until its ``response.done``)."""
        return self._response_id

    @property
    def current_item_id(self) -> str | None:
        """The output item the model is (or was last) producing; truncate this on barge-in."""
        return self._current_item_id

    def audio_ms_received(self, item_id: str) -> int:
        """Milliseconds of model audio received so far for ``item_id`` (0 if unknown)."""
        return self._received.ms(item_id)

    @property
    def history(self) -> History:
        """The conversation so far, as a snapshot (see :mod:`adk_realtime.sansio.history`).

        Save it and give it to :meth:`seed` of a new protocol to continue the
        conversation elsewhere."""
        return self._record.snapshot()

    @property
    def expires_at(self) -> float | None:
        """When the provider ends this session (unix seconds, ``session.expires_at`` of
        ``session.created`` / ``session.updated``); ``None`` when not said (or 0)."""
        return self._expires_at

    @property
    def input_audio_dropped_ms(self) -> int:
        """Milliseconds of input audio the replay buffer let go (over ``max_replay_ms``)
        before a commit point covered it, so far; a rollover cannot re-send those."""
        return self._input.dropped_ms

    @property
    def input_audio_skipped_ms(self) -> int:
        """Milliseconds of input audio rollovers did not send again because server VAD had
        judged them silence (see ``InputAudioLog.restart``), so far."""
        return self._input.skipped_ms

    @property
    def pending_calls(self) -> Mapping[str, PendingCall]:
        """Function calls not yet answered, by ``call_id`` (a snapshot)."""
        return {
            call_id: PendingCall(call_id, call.name, "".join(call.arguments), call.item_id)
            for call_id, call in self._calls.items()
        }

    # ------------------------------------------------------------------
    # Output and timers
    # ------------------------------------------------------------------

    @property
    def has_data_to_send(self) -> bool:
        """Whether :meth:`data_to_send` has messages (a check that takes none of them)."""
        return bool(self._out)

    def data_to_send(self) -> list[str]:
        """The messages queued by commands since the last call, in order; send each as one
        WebSocket text message (or data channel message)."""
        out = self._out
        self._out = []
        return out

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` is due: never, this protocol keeps no timers."""
        return None

    def handle_timer(self, now: float) -> None:
        """Nothing to do: this protocol keeps no timers."""

    # ------------------------------------------------------------------
    # Commands (queue messages; collect them with data_to_send)
    # ------------------------------------------------------------------

    def start(self, config: RealtimeConfig) -> None:
        """Queue the first messages of a fresh session: a ``session.update``, then the
        conversation record as ``conversation.item.create`` messages (the :meth:`seed`
        on a first connection).

        On a later connection (a rollover: the old one ended, or the session
        expired) it continues the conversation: after the items, the input audio
        not yet committed as appends, then a ``response.create`` if a response was
        wanted when the old connection ended (requested or in progress with no
        ``response.done``, or a turn committed by server VAD not yet answered).
        Function calls whose arguments never completed leave the record (nobody
        can answer them); complete ones stay answerable. If input audio had to be
        let go (``max_replay_ms``), the next event is
        ``Error(code="input_audio_dropped", benign=True)``.

        Per-connection state (response, audio received, ``expires_at``) resets.
        Send the messages before any audio; expect ``SessionCreated``. Raises
        (queuing nothing) ``ConfigError`` / ``LocalProtocolError`` for a bad
        config and ``MessageTooLargeToSend`` for a record item no message can carry.
        """
        text = self._session_update(config, fresh=True)
        rollover = self._started
        unfinished = [c.item_id for c in self._calls.values() if not c.done and c.item_id]
        items = [i for i in self._record.snapshot() if i.item_id not in unfinished]
        limit = wire.MAX_MESSAGE_SIZE
        replay = replay_messages(items, self._dialect, limit, self._turn_audio.get)
        # Nothing below raises.
        for item_id in unfinished:
            self._record.delete(item_id)
        respond = rollover and self._response_wanted
        if config.input_audio_format is not None:  # audio kept in another format cannot go
            self._input.set_format(wire.wire_format(config.input_audio_format))
        audio, lost_ms = self._input.restart() if rollover else (b"", 0)
        self._reset_conversation()
        # Items the new session holds as text: a truncate of their old audio only cuts the record.
        self._replayed_ids = {i.item_id for i in items} if rollover else set()
        self._note_sent(config)
        self._started = True
        self._out.append(text)
        self._out.extend(replay)
        if audio:
            queue_audio_messages(self._out, audio, self._audio_piece, _APPEND_HEAD, '"}')
        if respond:
            self._out.append('{"type":"response.create"}')
        if lost_ms:
            message = (
                f"{lost_ms} ms of input audio not yet in a user turn could not be sent again "
                "on the new session (over max_replay_ms)"
            )
            self._push(Error("input_audio_dropped", message, None, True))

    def seed(self, history: History) -> None:
        """Make ``history`` the start of the conversation; :meth:`start` replays it.

        Call it once, before the first :meth:`start`. Item and call ids OpenAI would
        refuse (over 32 characters, or other than letters, digits, ``_`` and ``-``)
        are replaced by stable ones derived from them (``history`` shows them); a
        ``ToolResponse`` may still name a call by the id given here. Raises
        ``LocalProtocolError`` after ``start``, ``ConfigError`` for something else
        than a ``History`` and ``MessageTooLargeToSend`` for a call or output no
        message can carry (a long text is split over several items); the record is
        then unchanged.
        """
        if self._started:
            raise LocalProtocolError("seed() goes before the first start()")
        if not isinstance(history, History):
            raise ConfigError("history", f"must be a History, got {type(history).__name__}")
        normalized, aliases = normalize_ids(history)
        replay_messages(normalized, self._dialect, wire.MAX_MESSAGE_SIZE)  # fits, or raises
        self._record.load(normalized)
        self._call_aliases = aliases

    def note_heard(self, item_id: str, audio_end_ms: int) -> None:
        """The listener heard only ``audio_end_ms`` of assistant item ``item_id``: cut its
        transcript in the record to that (queues nothing; ``ItemTruncate`` does the same
        and also tells the server). Raises ``LocalProtocolError`` for bad values."""
        self._cut(_item_id(item_id), _end_ms(audio_end_ms))

    def update_session(self, config: RealtimeConfig) -> None:
        """Queue a ``session.update`` applying ``config``; then expect ``SessionUpdated``.

        From now on :attr:`input_audio_format` / :attr:`output_audio_format`
        follow the config (PCM16 at any rate maps to 24 kHz: resample to it).
        """
        text = self._session_update(config, fresh=False)
        self._note_sent(config)
        self._out.append(text)

    def _session_update(self, config: RealtimeConfig, fresh: bool) -> str:
        # Builds the message without touching state, so a failure changes nothing.
        if not isinstance(config, RealtimeConfig):
            raise LocalProtocolError(
                f"a session.update needs a RealtimeConfig, got {type(config).__name__}"
            )
        session = wire.session_object(
            config,
            self._dialect,
            clear_tools=self._sent_tools and not fresh,
            clear_transcription=self._sent_transcription and not fresh,
        )
        try:
            text = _dumps({"type": "session.update", "session": session})
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                "session", f"not JSON-serialisable ({exc}); check extra and tool parameters"
            ) from None
        return check_size(text, wire.MAX_MESSAGE_SIZE, "the session.update (instructions, tools)")

    def _note_sent(self, config: RealtimeConfig) -> None:
        if config.input_audio_format is not None:
            self._input_format = wire.wire_format(config.input_audio_format)
            self._audio_piece = (
                wire.bytes_per_ms(self._input_format) * wire.MAX_AUDIO_MS_PER_MESSAGE
            )
            self._input.set_format(self._input_format)
            self._turn_audio.set_format(self._input_format)
        if config.output_audio_format is not None:
            self._output_format = wire.wire_format(config.output_audio_format)
            self._received.bytes_per_ms = wire.bytes_per_ms(self._output_format)
        if config.vad is not None:
            vad = config.vad
            self._auto_response = vad.mode is not VadMode.NONE and vad.create_response is not False
            self._input.server_vad = vad.mode is not VadMode.NONE
        self._sent_tools = bool(config.tools)
        self._sent_transcription = config.input_transcription

    def send_audio(self, audio: bytes | bytearray | memoryview) -> None:
        """Queue ``input_audio_buffer.append`` messages carrying ``audio`` (in
        :attr:`input_audio_format`): one, or for more than ``wire.MAX_AUDIO_MS_PER_MESSAGE``
        of audio one per that much, so no message nears ``capabilities.max_message_size``.

        The hot path: base64 plus string concatenation, no JSON encoder.
        """
        queue_audio_messages(self._out, audio, self._audio_piece, _APPEND_HEAD, '"}')
        # Kept until a commit point covers it, for a rollover to send again.
        self._input.append(audio if type(audio) is bytes else bytes(audio))

    def send_event(self, event: ClientEvent) -> None:
        """Queue the messages for one client command, in order.

        ``ItemCreate`` with a ``tool_response`` sends the ``function_call_output``
        item and the call leaves :attr:`pending_calls`; the model does not answer
        on its own: send ``ResponseCreate`` after the outputs. Raises
        ``LocalProtocolError`` (queuing nothing) for a command that cannot be
        encoded (e.g. an empty ``ItemCreate``).
        """
        if isinstance(event, AudioAppend):
            self.send_audio(event.audio)
        elif isinstance(event, SessionUpdate):
            self.update_session(event.config)
        elif isinstance(event, AudioCommit):
            self._out.append('{"type":"input_audio_buffer.commit"}')
            self._input.commit_all()
        elif isinstance(event, AudioClear):
            self._out.append('{"type":"input_audio_buffer.clear"}')
            self._input.clear()
        elif isinstance(event, ItemCreate):
            self._out.append(self._item_create(event))
        elif isinstance(event, ResponseCreate):
            msg: _Msg = {"type": "response.create"}
            if event.instructions is not None:
                instructions = check_text(event.instructions, "ResponseCreate.instructions")
                msg["response"] = {"instructions": instructions}
            limit = wire.MAX_MESSAGE_SIZE
            self._out.append(check_size(_dumps(msg), limit, "ResponseCreate.instructions"))
            self._response_wanted = True
        elif isinstance(event, ResponseCancel):
            msg = {"type": "response.cancel"}
            if event.response_id is not None:
                msg["response_id"] = event.response_id
            self._out.append(_dumps(msg))
            self._response_wanted = False
        elif isinstance(event, ItemTruncate):
            truncate = self._truncate(event)
            if truncate is not None:
                self._out.append(truncate)
        else:
            raise LocalProtocolError(f"OpenAIProtocol cannot encode {type(event).__name__}")

    def send_image(self, data: bytes | bytearray | memoryview, mime_type: str) -> None:
        """Queue ``conversation.item.create`` with a user message holding the image
        (``input_image``, a data URL). The model sees it from its next response on:
        send ``ResponseCreate`` for an answer now, or let the user's next turn ask.

        GA only: the beta SDK types declare no ``input_image`` (``LocalProtocolError``).
        Raises ``LocalProtocolError`` (queuing nothing) for an empty image, a type other
        than JPEG or PNG, or bytes that are not that type; ``MessageTooLargeToSend`` over
        the message limit. Images are not kept in :attr:`history`.
        """
        if self._dialect == "beta":
            raise LocalProtocolError(
                "the beta Realtime API takes no images (no input_image content): "
                "use a GA model such as gpt-realtime"
            )
        image = check_image(data, mime_type, OPENAI_IMAGE_TYPES, "OpenAI Realtime")
        item = wire.image_item(data_url(image, mime_type))
        message = _dumps({"type": "conversation.item.create", "item": item})
        self._out.append(check_size(message, wire.MAX_MESSAGE_SIZE, "the image"))

    def send_video_frame(
        self, data: bytes | bytearray | memoryview, mime_type: str, now: float
    ) -> None:
        """Refused (``LocalProtocolError``): OpenAI Realtime takes no video; send a still
        now and then with :meth:`send_image` instead."""
        raise LocalProtocolError("OpenAI Realtime takes no video: send stills with send_image")

    def send_raw(self, message: str) -> None:
        """Queue ``message`` as-is (a server event this protocol does not model). It is
        not in the record: a rollover's :meth:`start` does not send it again (the
        session sends raw messages around the protocol for that reason).
        ``MessageTooLargeToSend`` (queuing nothing) over ``max_message_size``."""
        self._out.append(check_size(raw_text(message), wire.MAX_MESSAGE_SIZE, "send_raw's message"))

    def interrupt(self) -> None:
        """Queue what stops the model talking: ``response.cancel`` and, over WebRTC,
        ``output_audio_buffer.clear`` (the server plays the audio out there).

        With no response in progress the server answers the cancel with an
        ``Error`` marked ``benign``. Truncate the item to what was heard with
        ``ItemTruncate`` afterwards.
        """
        self._out.append('{"type":"response.cancel"}')
        if self._capabilities.output_audio_clear:
            self._out.append('{"type":"output_audio_buffer.clear"}')
        self._response_wanted = False

    def clear_output_audio(self) -> None:
        """Queue ``output_audio_buffer.clear`` (WebRTC/SIP only): drop model audio not yet played.

        Expect ``OutputAudioCleared``; then truncate the item with ``ItemTruncate``.
        """
        self._out.append('{"type":"output_audio_buffer.clear"}')

    def delete_item(self, item_id: str) -> None:
        """Queue ``conversation.item.delete`` for ``item_id``; expect ``ItemDeleted``. The
        item leaves the record now (a call with its outputs)."""
        self._out.append(_dumps({"type": "conversation.item.delete", "item_id": _item_id(item_id)}))
        self._record.delete(item_id)

    def retrieve_item(self, item_id: str) -> None:
        """Queue ``conversation.item.retrieve`` for ``item_id``; the answer arrives as
        ``Unknown`` with type ``conversation.item.retrieved``."""
        self._out.append(
            _dumps({"type": "conversation.item.retrieve", "item_id": _item_id(item_id)})
        )

    def _item_create(self, event: ItemCreate) -> str:
        if event.tool_response is not None:
            if event.text is not None:
                raise LocalProtocolError("ItemCreate takes text or tool_response, not both")
            return self._tool_output(event.tool_response)
        if event.text is None:
            raise LocalProtocolError("ItemCreate needs text or a tool_response")
        if event.role not in ("user", "system", "assistant"):
            raise LocalProtocolError(
                f"ItemCreate.role must be user, system or assistant, got {event.role!r}"
            )
        text = check_text(event.text, "ItemCreate.text")
        item = wire.message_item(text, event.role, self._dialect)
        message = _dumps({"type": "conversation.item.create", "item": item})
        message = check_size(message, wire.MAX_MESSAGE_SIZE, "ItemCreate.text")
        local_id = self._local_id()
        self._record.put(HistoryMessage(local_id, event.role, text))
        self._provisional.append((local_id, ("message", event.role, text)))
        return message

    def _tool_output(self, response: ToolResponse) -> str:
        # The function_call_output item answering response.call_id; the call leaves pending.
        if not isinstance(response.call_id, str):
            raise LocalProtocolError("ToolResponse.call_id must be a string")
        check_text(response.output, "ToolResponse.output")
        call_id = self._call_aliases.get(response.call_id, response.call_id)
        msg = {
            "type": "conversation.item.create",
            "item": wire.function_output_item(call_id, response.output),
        }
        text = check_size(_dumps(msg), wire.MAX_MESSAGE_SIZE, "ToolResponse.output")
        self._calls.pop(call_id, None)
        local_id = self._local_id()
        if self._record.put(HistoryFunctionOutput(local_id, call_id, response.output)):
            self._provisional.append((local_id, ("function_call_output", call_id)))
        return text

    def _local_id(self) -> str:
        # An id for an item we create, until the server says its own (``local_`` ids
        # never look like the server's ``item_`` ones).
        self._local_ids += 1
        return f"local_{self._local_ids}"

    def _truncate(self, event: ItemTruncate) -> str | None:
        end_ms = _end_ms(event.audio_end_ms, "ItemTruncate.audio_end_ms")
        if type(event.content_index) is not int or event.content_index < 0:
            raise LocalProtocolError(
                f"ItemTruncate.content_index must be a non-negative int, got {event.content_index!r}"
            )
        if event.item_id in self._replayed_ids and event.item_id not in self._received:
            # Its audio played on an earlier session; this one holds it as text.
            self._cut(event.item_id, end_ms)
            return None
        # The server rejects a truncation past the audio it sent; what we have
        # received is the most that can have been played.
        if event.item_id in self._received:
            end_ms = min(end_ms, self._received.ms(event.item_id))
        text = _dumps(
            {
                "type": "conversation.item.truncate",
                "item_id": _item_id(event.item_id),
                "content_index": event.content_index,
                "audio_end_ms": end_ms,
            }
        )
        self._cut(event.item_id, end_ms)  # the record keeps what was heard
        return text

    # ------------------------------------------------------------------
    # Input (messages -> events)
    # ------------------------------------------------------------------

    def receive_data(self, data: str | bytes | bytearray | memoryview, now: float) -> None:
        """Decode one received text message; its events (usually one) wait in :meth:`next_event`.

        ``now`` is unused (this protocol keeps no timers). Raises ``DecodeError``
        (a ``ProtocolError``) for malformed input, queuing nothing and leaving
        the state unchanged; the connection is still usable, so a driver may
        log it and go on. Types this library does not model come out as ``Unknown``.
        """
        if isinstance(data, memoryview):
            data = data.tobytes()
        try:
            msg = json_loads(data)  # (json.loads, faster)
        except (ValueError, TypeError, RecursionError) as exc:
            # JSONDecodeError and UnicodeDecodeError are ValueErrors.
            raise DecodeError(f"OpenAI message is not valid JSON: {exc}") from None
        if type(msg) is not dict:
            raise DecodeError(f"OpenAI message must be a JSON object, got {type(msg).__name__}")
        etype = msg.get("type")
        if type(etype) is not str:
            fail("OpenAI message", "type", "a string", etype)
        handler = self._handlers.get(etype)
        if handler is None:
            self._push(Unknown(etype, msg))
        else:
            handler(msg, etype)

    def next_event(self) -> ServerEvent | None:
        """The next decoded event, or ``None`` when every received message has been handled."""
        return self._events.popleft() if self._events else None


def _item_id(item_id: str) -> str:
    if not isinstance(item_id, str) or not item_id:
        raise LocalProtocolError(f"item_id must be a non-empty string, got {item_id!r}")
    return item_id


def _end_ms(end_ms: int, name: str = "audio_end_ms") -> int:
    if type(end_ms) is not int or end_ms < 0:
        raise LocalProtocolError(f"{name} must be a non-negative int, got {end_ms!r}")
    return end_ms


if TYPE_CHECKING:

    def _implements_the_interface(p: OpenAIProtocol) -> RealtimeProtocol:
        return p  # mypy checks OpenAIProtocol against the RealtimeProtocol interface
