"""The input audio ledger: where every input audio byte the simulator received ended up.

Opt-in (``SimulatorHub(record_input=True)``), for tests of conversation continuity: a client
that rolls a conversation over to a new session (OpenAI) or resumes it (Gemini) must get every
byte of the user's audio into a committed turn exactly once, in order. The sessions report here:

* **committed**: audio that reached the conversation. OpenAI: each commit of the input audio
  buffer (a server-VAD commit takes the buffer up to ``speech_stopped.audio_end_ms``, a client
  ``input_audio_buffer.commit`` all of it). Gemini: with transparent resumption, the
  ``realtimeInput`` audio of the client messages up to the ``lastConsumedClientMessageIndex`` of
  each ``sessionResumptionUpdate``; without it, everything heard when a user audio turn ends.
* **discarded**: what a session had received but not committed when it ended, however it
  ended (closed, expired, dropped, lost): one entry per ended session, the last
  ``max_discarded`` kept.
* **cleared**: OpenAI ``input_audio_buffer.clear`` (the client threw it away), and audio a
  session's buffer could not hold (``overflow``); counted in bytes only.

The committed audio is kept whole (that is the point of the ledger), so leave it off outside
tests.
"""

from __future__ import annotations

import hashlib
from collections import deque

__all__ = ["InputLedger"]


class InputLedger:
    """Committed input audio in commit order, across sessions, and what was not committed."""

    def __init__(self, max_discarded: int = 1024) -> None:
        self._chunks: list[bytes] = []
        self._sha256 = hashlib.sha256()
        self.size = 0  # committed bytes
        self.commits = 0  # non-empty commits
        self.cleared_bytes = 0
        self.overflow_bytes = 0
        self.discarded: deque[bytes] = deque(maxlen=max_discarded)

    def commit(self, audio: bytes) -> None:
        """Append ``audio`` (one commit) to the committed input; empty commits are not counted."""
        if not audio:
            return
        self._chunks.append(bytes(audio))
        self._sha256.update(audio)
        self.size += len(audio)
        self.commits += 1

    def discard(self, audio: bytes) -> None:
        """A session ended holding ``audio`` uncommitted (one call per ended session)."""
        self.discarded.append(bytes(audio))

    def clear(self, audio: bytes, *, overflow: bool = False) -> None:
        """Audio a session threw away before any commit: the client cleared it, or it overflowed."""
        if overflow:
            self.overflow_bytes += len(audio)
        else:
            self.cleared_bytes += len(audio)

    def data(self) -> bytes:
        """All committed input audio, in commit order."""
        if len(self._chunks) > 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0] if self._chunks else b""

    def sha256(self) -> str:
        """The hex SHA-256 of :meth:`data` (kept as commits arrive)."""
        return self._sha256.hexdigest()

    def __repr__(self) -> str:
        return (
            f"InputLedger(size={self.size}, commits={self.commits}, "
            f"discarded={len(self.discarded)})"
        )
