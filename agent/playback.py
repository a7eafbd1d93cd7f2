"""Barge-in bookkeeping: how much of each assistant audio item the user has heard.

:class:`~adk_realtime.runner.RealtimeRunner` feeds it every audio chunk and asks
it, when the user barges in, where to truncate the assistant item (OpenAI
``conversation.item.truncate``): at the played position, clamped to the audio
received, and nowhere when nothing was played.
"""

from __future__ import annotations

OUTPUT_BYTES_PER_MS = 48  # PCM16 mono at 24 kHz


class PlaybackTracker:
    """How much of each assistant audio item the user has heard.

    By default playback is assumed to run in real time from the first audio
    chunk of an item; once the app reports positions with ``played`` those win.
    """

    def __init__(self, bytes_per_ms: int = OUTPUT_BYTES_PER_MS, max_items: int = 32) -> None:
        self.bytes_per_ms = bytes_per_ms
        self._max_items = max_items
        self._received: dict[str, int] = {}
        self._started: dict[str, float] = {}
        self._reported: dict[str, int] = {}
        self.current_item: str | None = None

    def on_audio(self, item_id: str, nbytes: int, now: float) -> None:
        if item_id not in self._received:
            if len(self._received) >= self._max_items:
                oldest = next(iter(self._received))
                for d in (self._received, self._started, self._reported):
                    d.pop(oldest, None)
            self._received[item_id] = 0
            self._started[item_id] = now
        self._received[item_id] += nbytes
        self.current_item = item_id

    def played(self, item_id: str, ms: int) -> None:
        self._reported[item_id] = max(0, int(ms))

    def received_ms(self, item_id: str) -> int:
        return self._received.get(item_id, 0) // self.bytes_per_ms

    def played_ms(self, item_id: str, now: float) -> int:
        received = self.received_ms(item_id)
        if item_id in self._reported:
            return min(self._reported[item_id], received)
        started = self._started.get(item_id)
        if started is None:
            return 0
        return min(int((now - started) * 1000), received)

    def still_playing(self, item_id: str, now: float) -> bool:
        return self.played_ms(item_id, now) < self.received_ms(item_id)

    def forget(self, item_id: str) -> None:
        for d in (self._received, self._started, self._reported):
            d.pop(item_id, None)
        if self.current_item == item_id:
            self.current_item = None
