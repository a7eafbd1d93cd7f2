"""How much model audio arrived for each output item: the byte count behind truncation.

When the user barges in, what they heard is at most what was received for the
item being played. The OpenAI codec clamps ``conversation.item.truncate`` to it
(the server refuses a position past the audio it sent), the Gemini codec
reports it for the current turn, and the runner's playback tracker bounds its
played position by it. :class:`ReceivedAudio` is that one count.

Each item keeps the bytes-per-millisecond of the format its audio arrived in
(PCM16 at 24 kHz: 48; G.711: 8), so changing :attr:`ReceivedAudio.bytes_per_ms`
later does not rewrite the history. Only the latest ``max_items`` items are
remembered: adding one more forgets the oldest.
"""

from __future__ import annotations

from collections.abc import Iterator

from adk_realtime.sansio.errors import ConfigError

__all__ = ["ReceivedAudio"]


class ReceivedAudio:
    """Bytes of audio received per item id, for the latest ``max_items`` items.

    Call :meth:`add` for every chunk; ask :meth:`ms` (or :meth:`bytes_of`) when
    a position must be bounded. An unknown item has received nothing.
    """

    __slots__ = ("_items", "_max_items", "bytes_per_ms")

    def __init__(self, bytes_per_ms: int, max_items: int) -> None:
        if type(bytes_per_ms) is not int or bytes_per_ms <= 0:
            raise ConfigError("bytes_per_ms", f"must be a positive int, got {bytes_per_ms!r}")
        if type(max_items) is not int or max_items <= 0:
            raise ConfigError("max_items", f"must be a positive int, got {max_items!r}")
        self.bytes_per_ms = bytes_per_ms
        """Bytes per millisecond of the items that start from now on."""
        self._max_items = max_items
        # item id -> [bytes received, bytes per ms of the format it arrived in]
        self._items: dict[str, list[int]] = {}

    def add(self, item_id: str, nbytes: int) -> str | None:
        """Count ``nbytes`` more for ``item_id``. Returns the id of the item forgotten to
        make room for a new one, or ``None``."""
        record = self._items.get(item_id)
        if record is not None:
            record[0] += nbytes
            return None
        forgotten = None
        if len(self._items) >= self._max_items:
            forgotten = next(iter(self._items))
            del self._items[forgotten]
        self._items[item_id] = [nbytes, self.bytes_per_ms]
        return forgotten

    def bytes_of(self, item_id: str) -> int:
        """Bytes received for ``item_id`` (0 if unknown or forgotten)."""
        record = self._items.get(item_id)
        return 0 if record is None else record[0]

    def ms(self, item_id: str) -> int:
        """Whole milliseconds received for ``item_id`` (0 if unknown or forgotten)."""
        record = self._items.get(item_id)
        return 0 if record is None else record[0] // record[1]

    def forget(self, item_id: str) -> None:
        """Drop ``item_id``'s count (nothing if unknown)."""
        self._items.pop(item_id, None)

    def clear(self) -> None:
        """Forget every item."""
        self._items.clear()

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def __iter__(self) -> Iterator[str]:
        """The remembered item ids, oldest first."""
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"ReceivedAudio({len(self._items)} items, {self.bytes_per_ms} bytes/ms)"
