"""Barge-in bookkeeping: how much of each assistant audio item the user has heard.

:class:`~adk_realtime.runner.RealtimeRunner` feeds it every audio chunk and asks
it, when the user barges in, where to truncate the assistant item (OpenAI
``conversation.item.truncate``): at the played position, clamped to the audio
received, and nowhere when nothing was played. The audio received is counted by
the same :class:`~adk_realtime.sansio.received_audio.ReceivedAudio` the codecs use.
"""

from __future__ import annotations

from adk_realtime.sansio.received_audio import ReceivedAudio

OUTPUT_BYTES_PER_MS = 48  # PCM16 mono at 24 kHz


class PlaybackTracker:
    """How much of each assistant audio item the user has heard.

    By default playback is assumed to run in real time from the first audio
    chunk of an item; once the app reports positions with ``played`` those win.
    """

    def __init__(self, bytes_per_ms: int = OUTPUT_BYTES_PER_MS, max_items: int = 32) -> None:
        self._received = ReceivedAudio(bytes_per_ms, max_items)
        self._started: dict[str, float] = {}
        self._reported: dict[str, int] = {}
        self.current_item: str | None = None

    @property
    def bytes_per_ms(self) -> int:
        """Bytes per millisecond of the output format (48 for 24 kHz PCM16, 8 for G.711),
        for the items that start from now on."""
        return self._received.bytes_per_ms

    @bytes_per_ms.setter
    def bytes_per_ms(self, value: int) -> None:
        self._received.bytes_per_ms = value

    def on_audio(self, item_id: str, nbytes: int, now: float) -> None:
        if item_id not in self._started:  # the same items as _received
            self._started[item_id] = now
        forgotten = self._received.add(item_id, nbytes)
        if forgotten is not None:
            self._started.pop(forgotten, None)
            self._reported.pop(forgotten, None)
        self.current_item = item_id

    def played(self, item_id: str, ms: int) -> None:
        self._reported[item_id] = max(0, int(ms))

    def received_ms(self, item_id: str) -> int:
        return self._received.ms(item_id)

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
        self._received.forget(item_id)
        self._started.pop(item_id, None)
        self._reported.pop(item_id, None)
        if self.current_item == item_id:
            self.current_item = None
