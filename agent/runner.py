"""``RealtimeRunner``: runs a :class:`RealtimeAgent` (or a bare config) on a live session.

Theory of operation
-------------------
``await runner.run()`` connects the model, then pumps the session's events.
What differs between providers is decided by ``session.capabilities`` (see
:class:`~adk_realtime.sansio.protocol.ProviderCapabilities`), never by name:

* audio, text and transcript events go to the :class:`EventHandler` and the
  active agent's callbacks, in order, on the pump task (keep them quick);
* a ``FunctionCallDone`` starts a tool task in the runner's task group (at
  most ``max_concurrent_tools`` run at once; sync tools run in a worker
  thread), so a slow tool never stalls audio. Each call has a time limit
  (``tool_timeout``, 30 s, or the tool's own ``timeout``; see
  :mod:`adk_realtime.tool_runner`): past it the model gets an error output and
  the turn goes on. OpenAI gets exactly one
  ``response.create`` after *all* tool outputs of a response were sent;
  Gemini continues by itself after ``toolResponse``, and its
  ``toolCallCancellation`` cancels the running task;
* ``transfer_to_agent(agent_name)`` hands the conversation to a sub-agent:
  OpenAI switches instructions and tools with ``session.update`` on the same
  connection (the voice cannot change once audio was produced, so it is kept);
  Gemini reconnects with its resumption handle and the new setup;
* barge-in: when the user starts speaking while the model's audio is still
  playing, the response is cancelled and, where the provider keeps truncatable
  audio (OpenAI), the assistant item is truncated at the position actually played (reported by the app through
  ``audio_played`` or estimated as real-time playback), clamped to the audio
  received; nothing is truncated when nothing was played. An
  ``AudioInterrupted`` event tells the app to flush its speaker buffer; audio of
  the interrupted item still in flight is not passed on.

Other tasks talk to a running runner with ``send_audio``, ``send_text``,
``interrupt`` and ``close``. The agent events (:mod:`adk_realtime.agent_events`)
go to ``agent_event_sink``; ``agent.run(ctx)`` (:mod:`adk_realtime.agent_run`)
runs a runner in a task of its own and iterates them.
"""

from __future__ import annotations

import collections
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import numpy as np

from adk_realtime._loop import loop_clock
from adk_realtime.agent import TRANSFER_TOOL_NAME, CallbackContext, RealtimeAgent
from adk_realtime.agent_events import (
    AgentEnded as AgentEnded,
    AgentEvent as AgentEvent,
    AgentStarted as AgentStarted,
    AudioInterrupted as AudioInterrupted,
    Handoff as Handoff,
    RealtimeEvent as RealtimeEvent,
    RunnerMetrics as RunnerMetrics,
    ToolCallCompleted as ToolCallCompleted,
    ToolCallStarted as ToolCallStarted,
    ToolCallTimedOut as ToolCallTimedOut,
    TurnMetrics as TurnMetrics,
)
from adk_realtime.handlers import AudioOutput as AudioOutput, EventHandler as EventHandler
from adk_realtime.mcp import NO_RUN_TOOLS, MCPServer, connected_tools, uses_mcp
from adk_realtime.models import RealtimeModel
from adk_realtime.observers import RunListeners, RunObserver
from adk_realtime.playback import PlaybackTracker as PlaybackTracker
from adk_realtime.recording import (
    CallRecorder,
    Recording,
    RecordingReport,
    check_recording,
    finish_recorder,
    start_recorder,
)
from adk_realtime.runner_audio import AudioDispatch
from adk_realtime.runner_builder import RealtimeRunnerBuilder as RealtimeRunnerBuilder
from adk_realtime.sansio import events as ev
from adk_realtime.sansio.config import RealtimeConfig, keyword_hints
from adk_realtime.sansio.errors import ConfigError, ConnectionClosed, MessageTooLargeToSend
from adk_realtime.sansio.history import History
from adk_realtime.session import RealtimeSession, SessionOptions
from adk_realtime.tool_runner import (
    DEFAULT_TOOL_TIMEOUT,
    ToolTimeoutError,
    check_time_limits,
    run_tool_call,
)
from adk_realtime.tools import FunctionTool, Tool, check_tool_timeout, maybe_await, tool_definition

if TYPE_CHECKING:  # send_encoded_audio only passes it on to the session
    from adk_realtime.sansio.config import AudioEncoding

log = logging.getLogger("adk_realtime.runner")

# ----------------------------------------------------------------- context


@dataclass
class RunContext:
    """Shared state of one run: given to instruction providers, tools and callbacks."""

    state: dict[str, Any] = field(default_factory=dict)
    event_handler: EventHandler | None = None
    runner: RealtimeRunner | None = None
    agent_name: str = ""

    async def send_audio(self, pcm: bytes | np.ndarray, sample_rate: int | None = None) -> None:
        await self._require_runner().send_audio(pcm, sample_rate)

    async def send_text(self, text: str) -> None:
        await self._require_runner().send_text(text)

    async def close(self) -> None:
        await self._require_runner().close()

    def _require_runner(self) -> RealtimeRunner:
        if self.runner is None:
            raise RuntimeError("the agent is not running yet")
        return self.runner


# ----------------------------------------------------------------- runner


# A call may last hours: the per-turn latencies keep the most recent ones only.
MAX_TURN_LATENCIES = 1024


AgentEventSink = Callable[[AgentEvent], Awaitable[None] | None]
"""Gets every agent event, on the task that made it (a received audio chunk's: in the
runner task's context, perhaps from the read path, see ``runner_audio``); may return an
awaitable, which the runner awaits before going on (back-pressure, as ``agent.run(ctx)``'s
buffer does)."""


class RealtimeRunner(AudioDispatch):
    """Runs a conversation. ``await runner.run()`` until it ends; other tasks send input.

    ``tool_timeout``: seconds a tool call may take unless the tool sets its own
    ``timeout`` (30 s; ``math.inf``: no limit); on expiry the model gets an error
    output, ``on_error`` gets a ``ToolTimeoutError`` and the agent events a
    ``ToolCallTimedOut`` (see :mod:`adk_realtime.tool_runner`).
    ``agent_event_sink``: see :data:`AgentEventSink`.
    """

    @keyword_hints("RealtimeRunner")  # starting_agent=, instructions=... get a "did you mean"
    def __init__(
        self,
        model: RealtimeModel | None = None,
        agent: RealtimeAgent | None = None,
        *,
        config: RealtimeConfig | None = None,
        event_handler: EventHandler | None = None,
        tools: Sequence[Tool | Callable[..., Any]] = (),
        max_concurrent_tools: int = 4,
        playback: PlaybackTracker | None = None,
        session_options: SessionOptions | None = None,
        context: RunContext | None = None,
        agent_event_sink: AgentEventSink | None = None,
        tool_timeout: float = DEFAULT_TOOL_TIMEOUT,
        history: History | None = None,
        resume_handle: str | None = None,
        mcp_servers: Sequence[MCPServer] = (),
        observers: Sequence[RunObserver] = (),
        recording: Recording | None = None,
    ) -> None:
        if history is not None and not isinstance(history, History):
            raise ConfigError(
                "history",
                f"must be a History (History.from_json(...)), got {type(history).__name__}",
            )
        if model is None and agent is not None:
            model = agent.model
        if model is None:
            raise ConfigError("model", "RealtimeRunner needs a model (or an agent with one)")
        if max_concurrent_tools < 1:
            raise ConfigError("max_concurrent_tools", "must be at least 1")
        if check_tool_timeout(tool_timeout, "tool_timeout") is None:
            raise ConfigError("tool_timeout", "must be a number of seconds (math.inf: no limit)")
        self.tool_timeout = float(tool_timeout)
        self.model = model
        self.root_agent = agent
        self.active_agent = agent
        self.base_config = config or RealtimeConfig()
        self.handler = event_handler or EventHandler()
        self.extra_tools: list[Tool] = [
            t if isinstance(t, Tool) else FunctionTool(t) for t in tools
        ]
        names = [t.name for t in self.extra_tools]
        if len(names) != len(set(names)):
            raise ConfigError("tools", "duplicate extra tool names")
        check_time_limits(self.extra_tools, agent)  # a tool's bad ``timeout`` fails here
        self.playback = playback or PlaybackTracker()
        self._own_playback = playback is None  # sized to the session's output format
        self.metrics = RunnerMetrics()
        self.context = context or RunContext()
        self.context.runner = self
        self.context.event_handler = self.handler
        self._session_options = session_options
        self._sink = agent_event_sink
        self._limiter = anyio.CapacityLimiter(max_concurrent_tools)
        self._session: RealtimeSession | None = None
        self._connected = anyio.Event()
        self._finished = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None
        self._tool_scopes: dict[str, anyio.CancelScope] = {}
        # OpenAI follow-up batching: response id -> call ids still running
        self._open_calls: dict[str, set[str]] = {}
        self._done_responses: set[str] = set()
        self._response_active = False
        self._audio_since_response = False
        self._audio_produced = False  # the voice may be locked from the first audio on
        self._turn_started: float | None = None
        self._now: Callable[[], float] = anyio.current_time  # run() picks the loop's clock
        self._pending_usage: ev.Usage | None = None
        self._input_transcript_items: set[str] = set()
        # Items the user interrupted: their late deltas are not played (a short memory).
        self._silenced: collections.deque[str] = collections.deque(maxlen=16)
        self._closing = False
        self._failure = ""  # why the run failed, for wait_connected()
        self._audio_outputs: list[AudioOutput] = []  # notified next to the handler
        self._seed_history = history
        self._resume_handle = resume_handle
        self._final_history: History | None = None
        self._final_handle: str | None = None
        self.mcp_servers = list(mcp_servers)  # connected while run() runs (adk_realtime.mcp)
        self._mcp = NO_RUN_TOOLS  # the MCP tools of the current run (the agents' by agent)
        self.observers = list(observers)  # told about each run (adk_realtime.observers)
        self._listeners: RunListeners | None = None
        # Call recording (recording.py): the recorder of the current run, its last report.
        self.recording = check_recording(recording)
        self.recorder: CallRecorder | None = None
        self.recording_report: RecordingReport | None = None

    @staticmethod
    def builder() -> RealtimeRunnerBuilder:
        return RealtimeRunnerBuilder()

    @property
    def session(self) -> RealtimeSession | None:
        return self._session

    @property
    def history(self) -> History:
        """The conversation so far (read-only; after the run, as it ended). Save it with
        ``to_json()``; seed a new runner with ``RealtimeRunner(..., history=...)``."""
        if self._session is not None:
            return self._session.history
        if self._final_history is not None:
            return self._final_history
        return self._seed_history if self._seed_history is not None else History(())

    @property
    def resumption_handle(self) -> str | None:
        """The latest handle to resume this conversation on the provider (Gemini), for
        ``RealtimeRunner(..., resume_handle=...)`` in this or another process."""
        if self._session is not None:
            return self._session.resumption_handle
        return self._final_handle

    # -------------------------------------------------------------- input API

    async def wait_connected(self) -> RealtimeSession:
        await self._connected.wait()
        if self._session is None:
            why = f": {self._failure}" if self._failure else ""
            raise ConnectionClosed(None, f"the runner is not connected{why}")
        return self._session

    async def send_audio(self, pcm: bytes | np.ndarray, sample_rate: int | None = None) -> None:
        session = self._session or await self.wait_connected()
        if self.recorder is not None:
            self.recorder.user_audio(
                pcm, sample_rate or session.protocol.input_audio_format.sample_rate
            )
        await session.send_audio(pcm, sample_rate)

    async def send_encoded_audio(
        self, data: bytes | bytearray | memoryview, encoding: AudioEncoding
    ) -> None:
        """Send G.711 user audio (a carrier's payload): unchanged when the session takes
        that encoding, else decoded and resampled (``RealtimeSession.send_encoded_audio``)."""
        session = self._session or await self.wait_connected()
        if self.recorder is not None:
            self.recorder.user_audio(data, 8000, encoding)
        await session.send_encoded_audio(data, encoding)

    async def send_text(self, text: str, *, respond: bool = True) -> None:
        """Send a user text message and (by default) ask for a response."""
        session = self._session or await self.wait_connected()
        self._turn_started = anyio.current_time()
        await session.send_text(text)
        if respond:
            await session.create_response()

    async def send_image(self, data: bytes, mime_type: str, *, respond: bool = False) -> None:
        """Show the model an image (a user message); ``respond=True`` asks for an answer now."""
        session = self._session or await self.wait_connected()
        await session.send_image(data, mime_type)
        if respond:
            await session.create_response()

    async def send_video_frame(self, data: bytes, mime_type: str) -> None:
        """One camera frame (Gemini), rate-limited (``RealtimeSession.send_video_frame``)."""
        session = self._session or await self.wait_connected()
        await session.send_video_frame(data, mime_type)

    async def commit_audio(self, *, respond: bool = True) -> None:
        """Manual turn taking: end the user's audio turn and ask for a response."""
        session = self._session or await self.wait_connected()
        self._turn_started = anyio.current_time()
        await session.commit_audio()
        if respond:
            await session.create_response()

    async def interrupt(self) -> None:
        """Stop the model now (and truncate what was not heard, OpenAI)."""
        session = self._session or await self.wait_connected()
        await self._barge_in(session, reason="app")
        await session.interrupt()

    def audio_played(self, item_id: str, ms: int) -> None:
        """Report how much of ``item_id`` the user actually heard (for barge-in truncation)."""
        self.playback.played(item_id, ms)

    async def close(self) -> None:
        self._closing = True
        if self._session is not None:
            await self._session.close()

    # -------------------------------------------------------------- audio outputs

    @property
    def input_sample_rate(self) -> int:
        """The PCM16 rate the model takes (``send_audio`` resamples other rates to it)."""
        return self.model.input_sample_rate

    def add_audio_output(self, output: AudioOutput) -> None:
        """Play model audio into ``output`` too, from the next event on."""
        if output not in self._audio_outputs:
            self._audio_outputs.append(output)

    def remove_audio_output(self, output: AudioOutput) -> None:
        """Stop playing into ``output`` (if it was added)."""
        if output in self._audio_outputs:
            self._audio_outputs.remove(output)

    # -------------------------------------------------------------- run

    async def run(self) -> None:
        """Connect, run the conversation until it ends, then return.

        A normal close by the provider (code 1000, or 1005: no code) ends the run quietly; any other
        loss raises :class:`ConnectionClosed` (after ``on_error`` and
        ``on_disconnect`` were called). The ``mcp_servers`` (the runner's and its agents')
        are connected first and closed at the end (one that cannot be reached raises
        ``MCPServerError``).
        """
        if not uses_mcp(self.mcp_servers, self.root_agent):
            await self._run_session()
            return
        try:
            async with connected_tools(self.mcp_servers, self.root_agent, self.extra_tools) as mcp:
                try:
                    self._mcp = mcp
                    self.extra_tools.extend(mcp.shared)
                    await self._run_session()
                finally:
                    self._mcp = NO_RUN_TOOLS
                    self.extra_tools = [t for t in self.extra_tools if t not in mcp.shared]
        except Exception as exc:
            if not self._connected.is_set():  # the session never started: say why
                self._failure = f"error: {type(exc).__name__}: {exc}"
                self._connected.set()
                self._finished.set()
                await maybe_await(self.handler.on_error(exc))
            raise

    async def _run_session(self) -> None:
        self._listeners = RunListeners(self.observers, self) if self.observers else None
        error: BaseException | None = None
        config = await self._config_for(self.active_agent)
        reason = "closed"
        started = ended = False
        self._now = loop_clock()  # anyio.current_time's clock, without a look-up per event
        try:
            async with self.model.connect(
                config,
                options=self._session_options,
                history=self._seed_history,
                resume_handle=self._resume_handle,
            ) as session:
                self._session = session
                if self._own_playback:
                    self.playback.bytes_per_ms = session.output_bytes_per_ms
                self.recorder = await start_recorder(self, session)
                self._connected.set()
                await self._agent_callback(self.active_agent, "before", "start")
                started = True
                async with anyio.create_task_group() as tg:
                    self._tg = tg
                    session.offer_events_to(self._audio_now)  # (runner_audio)
                    try:
                        async for event in session:
                            await self._dispatch(session, event)
                    finally:
                        session.offer_events_to(None)
                        tg.cancel_scope.cancel()
                ended = True
                await self._agent_callback(self.active_agent, "after", "end")
        except ConnectionClosed as exc:
            reason = f"connection closed ({exc.code}): {exc.reason}"
            if exc.code in (1000, 1005):  # 1005: a close frame without a code
                # The provider ended the conversation normally: the agent's turn ends too.
                if started and not ended:
                    await self._agent_callback(self.active_agent, "after", "end")
                return
            error = exc
            await maybe_await(self.handler.on_error(exc))
            raise
        except Exception as exc:  # connect failed (refused, TLS, auth...) or the pump failed
            reason, error = f"error: {type(exc).__name__}: {exc}", exc
            self._failure = reason
            await maybe_await(self.handler.on_error(exc))
            raise
        except BaseException as exc:
            reason = f"error: {type(exc).__name__}"
            raise
        finally:
            if self._session is not None:
                self._final_history = self._session.history
                self._final_handle = self._session.resumption_handle
            self._session = None
            self._connected.set()
            self._finished.set()
            if self._listeners is not None:
                self._listeners.run_ended(reason, error)
            with anyio.CancelScope(shield=True):
                self.recording_report = await finish_recorder(self) or self.recording_report
                await maybe_await(self.handler.on_disconnect(reason))

    async def _config_for(self, agent: RealtimeAgent | None) -> RealtimeConfig:
        config = self.base_config
        if agent is not None:
            self.context.agent_name = agent.name
            config = await agent.build_config(self.context, base=config)
        more = [*self._mcp.of(agent), *self.extra_tools]  # the agent's MCP tools, the runner's
        if more:
            config = config.replace(tools=(*config.tools, *(tool_definition(t) for t in more)))
        return config

    async def _emit(self, event: AgentEvent) -> None:
        if self._listeners is not None:
            self._listeners.on_event(event)
        if self._sink is not None:
            waiting = self._sink(event)
            if waiting is not None:
                await waiting  # the sink's buffer is full of events that must not drop

    async def _agent_callback(self, agent: RealtimeAgent | None, when: str, reason: str) -> None:
        if agent is None:
            return
        callback = agent.before_agent_callback if when == "before" else agent.after_agent_callback
        await self._emit((AgentStarted if when == "before" else AgentEnded)(agent.name, reason))
        if callback is not None:
            await maybe_await(callback(CallbackContext(agent.name, self.context.state, reason)))

    # -------------------------------------------------------------- dispatch

    async def _dispatch(self, session: RealtimeSession, event: ev.ServerEvent) -> None:
        handler = self.handler
        agent = self.active_agent
        if (waiting := self._announce(event)) is not None:
            await waiting
        if isinstance(event, ev.AudioDelta):  # the hot path first (runner_audio)
            if (rest := self._audio(event, agent)) is not None:
                await maybe_await(rest)  # (a sync handler costs no coroutine per chunk)
        elif isinstance(event, ev.TranscriptDelta):
            await maybe_await(handler.on_transcript(event.delta, event.item_id))
            if agent is not None and agent.on_transcript is not None:
                await maybe_await(agent.on_transcript(event.delta, event.item_id))
        elif isinstance(event, ev.TextDelta):
            if self._turn_started is not None:
                await self._first_output(anyio.current_time())
            await maybe_await(handler.on_text(event.delta, event.item_id))
        elif isinstance(event, ev.InputTranscriptDelta):
            if not self._response_active and session.capabilities.server_handles_barge_in:
                # The user talks over audio still playing after the turn ended: nothing is
                # left for the server to interrupt (Gemini says nothing); this is the barge-in.
                await self._barge_in(session, reason="transcript")
            self._input_transcript_items.add(event.item_id)
            await maybe_await(handler.on_input_transcript(event.delta, event.item_id))
        elif isinstance(event, ev.InputTranscriptDone):
            if event.item_id not in self._input_transcript_items:
                await maybe_await(handler.on_input_transcript(event.transcript, event.item_id))
            self._input_transcript_items.discard(event.item_id)
        elif isinstance(event, ev.SpeechStarted):
            await self._barge_in(session, reason="speech")
            await maybe_await(handler.on_speech_started(event.audio_start_ms))
            if agent is not None and agent.on_speech_started is not None:
                await maybe_await(agent.on_speech_started(event.audio_start_ms))
        elif isinstance(event, ev.SpeechStopped):
            self._turn_started = anyio.current_time()
            await maybe_await(handler.on_speech_stopped(event.audio_end_ms))
            if agent is not None and agent.on_speech_stopped is not None:
                await maybe_await(agent.on_speech_stopped(event.audio_end_ms))
        elif isinstance(event, ev.FunctionCallDone):
            await self._start_tool(session, event)
        elif isinstance(event, ev.ResponseCreated):
            self._response_active = True
            self._audio_since_response = False
        elif isinstance(event, ev.ResponseDone):
            self._response_active = False
            self._account_usage(event.usage)
            for output in self._audio_outputs:
                output.end_of_response()
            await maybe_await(handler.on_response_done(event))
            if event.response_id in self._open_calls:
                # Only a response with tool calls waits for a follow-up; remembering the
                # others would keep one id per turn for the whole call.
                self._done_responses.add(event.response_id)
                await self._maybe_follow_up(session, event.response_id)
        elif isinstance(event, ev.Interrupted):
            await self._surface_interruption(truncated=False)
        elif isinstance(event, ev.SessionResumed):
            self._carry_over_responses()
        elif isinstance(event, ev.ToolCallCancelled):
            for call_id in event.call_ids:
                scope = self._tool_scopes.pop(call_id, None)
                if scope is not None:
                    scope.cancel()
        elif isinstance(event, ev.Error):
            if event.benign:
                return  # an expected race the provider reports (e.g. a cancel after the end)
            await maybe_await(handler.on_error(event))

    def _carry_over_responses(self) -> None:
        """A new connection carries the conversation on: responses cut by the switch never
        get their ``ResponseDone``. Calls still running answer on the new connection (their
        calls are in its replayed record) and one follow-up comes once all are in; a
        response whose calls were all answered was asked for again by the protocol."""
        self._response_active = False
        for response_id, calls in list(self._open_calls.items()):
            if calls:
                self._done_responses.add(response_id)
            else:
                del self._open_calls[response_id]
                self._done_responses.discard(response_id)

    async def _first_output(self, now: float) -> None:
        if self._turn_started is not None:
            latency = (now - self._turn_started) * 1000.0
            self._turn_started = None
            turns = self.metrics.turns
            turns.append(latency)
            self.metrics.turn_count += 1
            if len(turns) > MAX_TURN_LATENCIES:
                del turns[: len(turns) - MAX_TURN_LATENCIES // 2]  # amortised: trim in halves
            await self._emit(TurnMetrics(latency))

    def _account_usage(self, usage: ev.Usage | None) -> None:
        if usage is None:
            return
        self.metrics.add_usage(usage)

    # -------------------------------------------------------------- barge-in

    async def _barge_in(self, session: RealtimeSession, *, reason: str) -> None:
        vad = session.config.vad
        caps = session.capabilities
        if reason != "app" and vad is not None and vad.interrupt_response is False:
            return  # the app asked for no barge-in
        if reason == "speech" and caps.server_handles_barge_in:
            return  # the server decides and says so with `interrupted` (surfaced once, there)
        item = self.playback.current_item
        now = anyio.current_time()
        if item is None or not (self._response_active or self.playback.still_playing(item, now)):
            return
        played = self.playback.played_ms(item, now)
        truncated = False
        if self._response_active and reason == "speech":
            await session.cancel_response()  # (an app interrupt() sends its own)
        if caps.truncation and played > 0:
            await session.truncate(item, played)  # (the record is cut at it too)
            truncated = True
        else:
            session.note_heard(item, played)  # the record keeps what was heard
        self.metrics.interruptions += 1
        self.playback.forget(item)
        await self._surface_interruption(truncated=truncated, item_id=item, played_ms=played)

    async def _surface_interruption(
        self, *, truncated: bool, item_id: str | None = None, played_ms: int | None = None
    ) -> None:
        if item_id is None:
            item_id = self.playback.current_item or ""
            played_ms = self.playback.played_ms(item_id, anyio.current_time()) if item_id else 0
            if item_id:
                self.playback.forget(item_id)
                if self._session is not None:
                    self._session.note_heard(item_id, played_ms)
            self.metrics.interruptions += 1
        if item_id:
            self._silenced.append(item_id)
        event = AudioInterrupted(item_id, played_ms or 0, truncated)
        if self.recorder is not None and item_id:
            self.recorder.heard(item_id, event.played_ms)  # the agent's side ends there
        await self._emit(event)
        for output in self._audio_outputs:
            output.interrupt()
        await maybe_await(self.handler.on_interrupted(event))

    # -------------------------------------------------------------- tools

    def _find_tool(self, name: str) -> Tool | None:
        agent = self.active_agent
        if agent is not None:
            for tool in (*agent.tools, *self._mcp.of(agent)):
                if tool.name == name:
                    return tool
        for tool in self.extra_tools:
            if tool.name == name:
                return tool
        return None

    async def _start_tool(self, session: RealtimeSession, call: ev.FunctionCallDone) -> None:
        self.metrics.tool_calls += 1
        await maybe_await(self.handler.on_tool_call(call.name, call.arguments, call.call_id))
        await self._emit(ToolCallStarted(call.call_id, call.name, call.arguments))
        if call.response_id:
            self._open_calls.setdefault(call.response_id, set()).add(call.call_id)
        scope = anyio.CancelScope()
        self._tool_scopes[call.call_id] = scope
        assert self._tg is not None
        self._tg.start_soon(self._run_tool, session, call, scope)

    async def _run_tool(
        self, session: RealtimeSession, call: ev.FunctionCallDone, scope: anyio.CancelScope
    ) -> None:
        try:
            await self._run_tool_and_answer(session, call, scope)
        except ConnectionClosed:
            # The pump sees the same closure and reports it; this result has nowhere to go.
            log.warning("tool %s (%s) finished after the session closed", call.name, call.call_id)

    async def _run_tool_and_answer(
        self, session: RealtimeSession, call: ev.FunctionCallDone, scope: anyio.CancelScope
    ) -> None:
        outcome = None
        with scope:
            if (
                call.name == TRANSFER_TOOL_NAME
                and self.active_agent is not None
                and (self._find_tool(call.name) is None)
            ):
                await self._handoff(session, call)
                return
            async with self._limiter:
                tool, agent, state = (
                    self._find_tool(call.name),
                    self.active_agent,
                    self.context.state,
                )
                outcome = await run_tool_call(call, tool, agent, state, self.tool_timeout)
        self._tool_scopes.pop(call.call_id, None)
        if scope.cancelled_caught or outcome is None:
            self._close_call(call)
            return  # cancelled by the provider: its result must not be sent
        if outcome.timed_out is not None:
            self.metrics.tool_timeouts += 1
            await self._emit(ToolCallTimedOut(call.call_id, call.name, outcome.timed_out))
            timeout = ToolTimeoutError(call.name, call.call_id, outcome.timed_out)
            await maybe_await(self.handler.on_error(timeout))
        await self._answer(session, call, outcome.output, outcome.error)
        await self._call_finished(session, call)

    async def _answer(
        self, session: RealtimeSession, call: ev.FunctionCallDone, output: str, error: bool
    ) -> None:
        """Send ``output`` for ``call``; one too large to send becomes an error output (and
        ``on_error`` is told), so the model is never left without an answer."""
        try:
            await session.send_tool_response(ev.ToolResponse(call.call_id, output, call.name))
        except MessageTooLargeToSend as exc:
            await maybe_await(self.handler.on_error(exc))
            what = f"{exc.size} bytes; the provider takes at most {exc.limit}"
            output = json.dumps({"error": f"the result of {call.name} is too large ({what})"})
            error = True
            await session.send_tool_response(ev.ToolResponse(call.call_id, output, call.name))
        await self._emit(ToolCallCompleted(call.call_id, call.name, output, error))

    def _close_call(self, call: ev.FunctionCallDone) -> None:
        if call.response_id and call.response_id in self._open_calls:
            self._open_calls[call.response_id].discard(call.call_id)

    async def _call_finished(self, session: RealtimeSession, call: ev.FunctionCallDone) -> None:
        self._close_call(call)
        if call.response_id:
            await self._maybe_follow_up(session, call.response_id)

    async def _maybe_follow_up(self, session: RealtimeSession, response_id: str) -> None:
        """One response.create once the response is done and all its tools answered, where
        the model waits for it (``capabilities.response_after_tool_outputs``)."""
        calls = self._open_calls.get(response_id)
        if calls is None or calls or response_id not in self._done_responses:
            return
        del self._open_calls[response_id]
        self._done_responses.discard(response_id)
        if session.capabilities.response_after_tool_outputs:
            await session.create_response()

    # -------------------------------------------------------------- handoff

    async def _handoff(self, session: RealtimeSession, call: ev.FunctionCallDone) -> None:
        current = self.active_agent
        assert current is not None
        try:
            target_name = json.loads(call.arguments or "{}").get("agent_name", "")
        except (ValueError, AttributeError):
            target_name = ""
        root = self.root_agent or current
        target = root.find_agent(str(target_name)) if target_name else None
        if target is None or target is current:
            known = ", ".join(a.name for a in current.sub_agents) or "none"
            output = json.dumps(
                {"error": f"unknown agent {target_name!r}; available agents: {known}"}
            )
            await self._emit(ToolCallCompleted(call.call_id, call.name, output, True))
            await session.send_tool_response(ev.ToolResponse(call.call_id, output, call.name))
            await self._call_finished(session, call)
            return
        await self._agent_callback(current, "after", "handoff")
        self.active_agent = target
        config = await self._config_for(target)
        voice_kept = False
        caps = session.capabilities
        if caps.voice_locked_after_audio and self._audio_produced:
            old_voice = session.config.voice
            if config.voice != old_voice:
                # Only a voice the target asked for is "not honoured"; no voice means keep.
                voice_kept = config.voice is not None
                if voice_kept:
                    log.info(
                        "handoff to %s: voice stays %r (it cannot change after audio)",
                        target.name,
                        old_voice,
                    )
                config = config.replace(voice=old_voice)
        output = json.dumps({"result": f"transferred to {target.name}"})
        answer = ev.ToolResponse(call.call_id, output, call.name)
        if caps.reconfigure_before_tool_output:
            await session.update_session(config)  # the follow-up runs as the new agent
            await session.send_tool_response(answer)
        else:
            await session.send_tool_response(answer)  # on the connection that asked
            await session.update_session(config)  # may reconnect, resuming the conversation
        self.metrics.handoffs += 1
        await self._emit(ToolCallCompleted(call.call_id, call.name, output))
        await self._emit(Handoff(current.name, target.name, voice_kept))
        await maybe_await(self.handler.on_handoff(current.name, target.name))
        await self._agent_callback(target, "before", "handoff")
        self._tool_scopes.pop(call.call_id, None)
        await self._call_finished(session, call)
