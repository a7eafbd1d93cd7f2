"""What a running conversation tells the app: :class:`EventHandler` (override what you
need) and :class:`AudioOutput` (a second place model audio plays, e.g. a LiveKit room or a
call recording). Re-exported by :mod:`adk_realtime.runner`, where they are used."""

from __future__ import annotations

from typing import Any, Protocol

from adk_realtime.agent_events import AudioInterrupted
from adk_realtime.sansio import events as ev

__all__ = ["AudioOutput", "EventHandler"]


class EventHandler:
    """Receives a running conversation's events. Override what you need;
    each method may be a plain function or a coroutine."""

    def on_audio(self, audio: bytes, item_id: str) -> Any:
        """Model audio: PCM16 mono 24 kHz (or G.711 if the session asked for it).

        A plain function is called as soon as the chunk is read, in the runner task's
        context, with no task switch (``adk_realtime.runner_audio``); keep it short."""

    def on_text(self, text: str, item_id: str) -> Any:
        """Model text (text modality)."""

    def on_transcript(self, text: str, item_id: str) -> Any:
        """Transcript of the model's speech, as it streams."""

    def on_input_transcript(self, text: str, item_id: str) -> Any:
        """Transcript of the user's speech."""

    def on_speech_started(self, audio_start_ms: int) -> Any:
        """The provider's VAD heard the user start speaking."""

    def on_speech_stopped(self, audio_end_ms: int) -> Any:
        """The provider's VAD heard the user stop."""

    def on_tool_call(self, name: str, arguments: str, call_id: str) -> Any:
        """The model called a tool (the runner executes it)."""

    def on_response_done(self, event: ev.ResponseDone) -> Any:
        """A response (or Gemini turn) finished."""

    def on_interrupted(self, event: AudioInterrupted) -> Any:
        """The user barged in: flush the speaker buffer."""

    def on_handoff(self, from_agent: str, to_agent: str) -> Any:
        """The conversation moved to another agent."""

    def on_error(self, error: ev.Error | BaseException) -> Any:
        """The provider reported an error, or the connection failed."""

    def on_disconnect(self, reason: str) -> Any:
        """The session ended (closed by us or by the provider)."""

    def on_dtmf(self, digit: str) -> Any:
        """The caller pressed a telephone key (``0-9 * # A-D``; a phone call's bridge)."""


# ----------------------------------------------------------------- audio outputs


class AudioOutput(Protocol):
    """Where model audio plays besides the handler (a LiveKit room: ``livekit.RoomSpeaker``).

    The runner calls it on its event pump just before the handler's matching callback, so
    the user's handler is never wrapped; return at once (queue the work).
    """

    def play(self, audio: bytes, item_id: str) -> None:
        """Model audio, as ``EventHandler.on_audio`` gets it."""

    def end_of_response(self) -> None:
        """A response ended: play out what is buffered."""

    def interrupt(self) -> None:
        """The user barged in: drop what was not played yet."""
