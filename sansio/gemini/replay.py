"""Transparent resumption: the client messages a resumed Gemini session has not taken.

With ``setup.sessionResumption.transparent = true`` every
``sessionResumptionUpdate`` carries ``lastConsumedClientMessageIndex``: the index
of the last client message of *this connection* that the state behind the new
handle includes (the ``setup`` is message 0; each connection counts from 0).
:class:`ClientMessageLog` numbers what the protocol hands out through
``data_to_send()`` in that order and keeps the messages not yet covered by an
index; when the connection ends and the next one resumes with the handle, those
are sent again (after ``setupComplete``), so input audio in flight at a
``goAway`` or a drop reaches the conversation exactly once. A connection whose
server confirmed no index yet resumes from a handle of an earlier connection,
whose state holds none of its messages: all of them go again.

Two conditions, documented where they bite: the log is bounded (``max_bytes``;
the oldest messages go first and are counted in ``dropped``), and the messages
must reach the connection in the order ``data_to_send()`` returned them. The
session's send path guarantees that: one task at a time goes from
``data_to_send()`` to the link, so commands sent from several tasks at once do
not interleave (tests/test_send_order.py). A raw message goes through the protocol too
(``GeminiProtocol.send_raw``, which ``session.send_raw`` uses here), so it is
numbered and sent again like the rest; one written to the link around the
protocol would shift the count.
"""

from __future__ import annotations

from collections import deque

from adk_realtime.sansio.errors import ConfigError

__all__ = ["DEFAULT_MAX_REPLAY_BYTES", "ClientMessageLog"]

DEFAULT_MAX_REPLAY_BYTES = 4 * 2**20
"""About 2 minutes of 16 kHz PCM16 audio as base64 JSON."""


class ClientMessageLog:
    """The client messages of one connection a resumption may have to send again."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_REPLAY_BYTES) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ConfigError("max_replay_bytes", f"must be an int >= 0, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self._next_index = 0  # the index the next message handed out gets
        self._kept: deque[tuple[int, str]] = deque()
        self._bytes = 0
        self.dropped = 0
        """Messages that left the log unconfirmed because it was full (lifetime count)."""

    def __len__(self) -> int:
        return len(self._kept)

    def sent(self, messages: list[str], *, keep_from: int = 1) -> None:
        """Number ``messages`` (what ``data_to_send()`` returns, in order) and keep those
        at index ``keep_from`` or later (the setup, index 0, is never replayed)."""
        for message in messages:
            index = self._next_index
            self._next_index += 1
            if index < keep_from:
                continue
            self._kept.append((index, message))
            self._bytes += len(message)
        while self._bytes > self.max_bytes and self._kept:
            _, old = self._kept.popleft()
            self._bytes -= len(old)
            self.dropped += 1

    def consumed(self, index: int) -> None:
        """The server's state includes every message up to ``index``: forget them."""
        while self._kept and self._kept[0][0] <= index:
            _, old = self._kept.popleft()
            self._bytes -= len(old)

    @property
    def next_index(self) -> int:
        """The index the next message handed out gets, on this connection."""
        return self._next_index

    def restart(self) -> list[str]:
        """A new connection begins: the messages it must send again (oldest first), and
        numbering starts over."""
        return [message for _, message in self.restart_numbered()]

    def restart_numbered(self) -> list[tuple[int, str]]:
        """:meth:`restart`, each message with its index on the connection that ended."""
        replay = list(self._kept)
        self._kept.clear()
        self._bytes = 0
        self._next_index = 0
        return replay
