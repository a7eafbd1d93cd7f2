"""The interface every provider protocol object implements, and what a provider can do.

A provider protocol (``OpenAIProtocol``, ``GeminiProtocol``) is a pure state
machine between the unified events and one provider's JSON messages. It never
sees a socket and speaks the same sans-IO contract as every machine in
:mod:`adk_realtime.sansio`: input through ``receive_data``, events out through
``next_event``, commands that queue messages collected by ``data_to_send``.

Everything a session or runner would otherwise decide by provider name is
here: :class:`ProviderCapabilities` (``protocol.capabilities``) says what the
provider can do over this connection, and the commands (``interrupt``,
``send_audio``...) do the provider's part themselves.

Driving loop::

    proto = OpenAIProtocol(model)
    proto.start(config)                      # first thing on a fresh connection
    for msg in proto.data_to_send():
        transport.send(msg)
    if proto.capabilities.setup_acknowledgement:
        ...                                  # read until SessionCreated, then send
        ...                                  # data_to_send() (a new Gemini conversation's
        ...                                  # history) before anything else
    proto.send_event(client_event)           # a command queues 0, 1 or more messages
    for msg in proto.data_to_send():
        transport.send(msg)
    ...
    proto.receive_data(data, now)            # raises DecodeError on bad input
    while (event := proto.next_event()) is not None:
        handle(event)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from adk_realtime.sansio.config import AudioFormat, RealtimeConfig
from adk_realtime.sansio.events import ClientEvent, ServerEvent
from adk_realtime.sansio.history import History

__all__ = ["ProviderCapabilities", "RealtimeProtocol"]


@dataclass(frozen=True, slots=True)
class ProviderCapabilities:
    """What one provider can do over one transport; the session and the runner go by it.

    Read it as ``protocol.capabilities``; it never changes for a protocol object.
    """

    live_session_update: bool
    """A new config applies on the live connection (``update_session``). If False the
    session reconnects and ``start`` sends the new config, resuming the conversation."""

    truncation: bool
    """The provider keeps assistant audio the client truncates to what the user heard
    (``ItemTruncate``) when the user barges in."""

    output_audio_clear: bool
    """The provider buffers model audio it has not played yet (OpenAI over WebRTC), and
    ``interrupt`` drops it too."""

    explicit_activity: bool
    """With VAD off, the client marks the user's turn with activity start/end messages
    (Gemini); ``send_audio`` opens the activity and ``AudioCommit`` ends it."""

    tool_call_cancellation: bool
    """The provider may cancel its own tool calls (``ToolCallCancelled``); their results
    must then not be sent."""

    resumption: bool
    """A connection that ends can be resumed on a new one: reconnect and ``start`` again
    while ``resumable`` (the setup carries ``resumption_handle``)."""

    rollover: bool
    """A connection that ends can be replaced by a fresh provider session that ``start``
    seeds from the conversation record (``protocol.history``): the items, the input
    audio not yet committed, and a new response where one was cut off. The session
    layer rolls over on ``GoAway`` (OpenAI's ``session_expired``) or an unexpected
    close, and drops the messages it held for the old connection: ``start`` queues
    what they carried."""

    replays_unconfirmed: bool
    """``start`` on a new connection re-sends, from the protocol's own record, every
    message of the previous connection the provider may not have taken (OpenAI: the
    conversation and the input audio not yet committed). Messages encoded before that
    ``start`` must not also be re-sent by the session: it drops its held copies."""

    setup_acknowledgement: bool
    """After ``start``, nothing else may be sent until ``SessionCreated`` arrives."""

    response_after_tool_outputs: bool
    """After tool outputs the model waits for ``ResponseCreate`` (OpenAI); if False it
    continues by itself (Gemini)."""

    server_handles_barge_in: bool
    """When the user starts speaking, the provider stops its output itself and says so
    with ``Interrupted``; the client cancels nothing on ``SpeechStarted``."""

    voice_locked_after_audio: bool
    """Once the model has produced audio, the voice cannot change for this conversation."""

    reconfigure_before_tool_output: bool
    """On a handoff (a tool call that changes the agent), apply the new config before
    answering the call, so the follow-up runs with it (OpenAI); if False answer first,
    then reconfigure (Gemini: the answer goes out on the connection that asked)."""

    max_message_size: int
    """The largest client message the provider accepts, in bytes of its text (a wire
    fact: a larger one makes the provider close the connection, 1009). The protocol's
    commands never queue a larger message: ``send_audio`` splits audio into several
    messages, the other commands raise ``MessageTooLargeToSend`` and queue nothing."""


class RealtimeProtocol(Protocol):
    """What the session layer needs from a provider protocol.

    Every command raises ``LocalProtocolError`` (queuing nothing) for a command
    the provider cannot take now, and ``ConfigError`` for a config it cannot take.
    """

    @property
    def capabilities(self) -> ProviderCapabilities:
        """What this provider can do over this connection's transport."""
        ...

    @property
    def input_audio_format(self) -> AudioFormat:
        """The format :meth:`send_audio` takes (after the session's conversion)."""
        ...

    @property
    def output_audio_format(self) -> AudioFormat:
        """The format of ``AudioDelta.delta`` coming out."""
        ...

    @property
    def resumption_handle(self) -> str | None:
        """The handle the next :meth:`start` resumes from (``None``: a new conversation)."""
        ...

    @property
    def expires_at(self) -> float | None:
        """When the provider ends this session (unix seconds), once it said so; else None."""
        ...

    @property
    def resumable(self) -> bool:
        """True while the provider says this conversation can be resumed on a new connection."""
        ...

    @property
    def history(self) -> History:
        """The conversation so far (a snapshot of the protocol's record): save it, or give
        it to :meth:`seed` of another protocol to continue the conversation."""
        ...

    # -- input and events

    def receive_data(self, data: str | bytes, now: float) -> None:
        """Decode one received message; raises ``DecodeError`` and queues nothing on bad input.

        Then read its events with :meth:`next_event`. Decoding queues no message but
        one: the history of a new conversation that may only follow the setup's
        acknowledgement (Gemini); send :meth:`data_to_send` after ``SessionCreated``.
        """
        ...

    def next_event(self) -> ServerEvent | None:
        """The next decoded event, or ``None`` when all received messages are handled."""
        ...

    # -- output and timers

    def data_to_send(self) -> list[str]:
        """The messages queued by commands since the last call; send them in order."""
        ...

    @property
    def has_data_to_send(self) -> bool:
        """Whether :meth:`data_to_send` would return messages (it takes none of them)."""
        ...

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` is due, or ``None``."""
        ...

    def handle_timer(self, now: float) -> None:
        """Run what was due at ``now``."""
        ...

    # -- commands (each queues messages; collect them with data_to_send)

    def start(self, config: RealtimeConfig) -> None:
        """Queue the first messages of a fresh connection (OpenAI session.update, Gemini setup).

        A new provider conversation gets the record (the :meth:`seed`, or the
        conversation so far: ``capabilities.rollover``) replayed; a resumed one does not.
        Next: send them; with ``capabilities.setup_acknowledgement`` wait for
        ``SessionCreated``, then send :meth:`data_to_send` before anything else.
        """
        ...

    def seed(self, history: History) -> None:
        """Make ``history`` the start of the conversation (before the first :meth:`start`,
        which replays it). ``ConfigError`` for a history the provider cannot take."""
        ...

    def note_heard(self, item_id: str, audio_end_ms: int) -> None:
        """The listener heard only ``audio_end_ms`` of the assistant's item ``item_id``
        (a barge-in): cut its transcript in the record there. Queues nothing."""
        ...

    def update_session(self, config: RealtimeConfig) -> None:
        """Queue a live configuration change (``capabilities.live_session_update`` only)."""
        ...

    def send_event(self, event: ClientEvent) -> None:
        """Queue one client command, updating local state."""
        ...

    def send_audio(self, audio: bytes) -> None:
        """The fast path of ``AudioAppend``: queue the message(s) carrying ``audio``
        (with what the provider needs around it, e.g. Gemini's ``activityStart``)."""
        ...

    def interrupt(self) -> None:
        """Queue what stops the model talking now, if the provider has such a message."""
        ...

    def send_raw(self, message: str) -> None:
        """Queue one wire message as-is (``LocalProtocolError`` if it is not text,
        ``MessageTooLargeToSend`` over ``capabilities.max_message_size``)."""
        ...

    def send_image(self, data: bytes | bytearray | memoryview, mime_type: str) -> None:
        """Queue a user message holding one image; the model sees it from its next
        response on (``ResponseCreate`` asks for one now). ``LocalProtocolError`` for an
        image the provider cannot take (empty, its type not listed, bytes of another type)."""
        ...

    def send_video_frame(
        self, data: bytes | bytearray | memoryview, mime_type: str, now: float
    ) -> None:
        """Queue one video frame, rate-limited by the provider's policy (Gemini: at most
        ``max_video_fps``, a frame too soon waits for :meth:`handle_timer`, replacing the
        one waiting); ``LocalProtocolError`` where the provider takes no video (OpenAI)."""
        ...
