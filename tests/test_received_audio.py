"""ReceivedAudio: the one per-item count of model audio (OpenAI and Gemini codecs, playback)."""

from __future__ import annotations

import pytest

from adk_realtime.playback import PlaybackTracker
from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.received_audio import ReceivedAudio


def test_counts_per_item_in_the_rate_each_item_arrived_in() -> None:
    audio = ReceivedAudio(48, max_items=4)
    assert audio.add("a", 4800) is None and audio.add("a", 96) is None
    audio.bytes_per_ms = 8  # e.g. the session switched to G.711
    audio.add("b", 800)
    assert (audio.bytes_of("a"), audio.ms("a")) == (4896, 102)
    assert (audio.bytes_of("b"), audio.ms("b")) == (800, 100)
    assert audio.ms("unknown") == 0 and "unknown" not in audio


def test_the_oldest_item_is_forgotten_and_named() -> None:
    audio = ReceivedAudio(48, max_items=2)
    audio.add("a", 48)
    audio.add("b", 48)
    assert audio.add("c", 48) == "a"
    assert list(audio) == ["b", "c"] and len(audio) == 2 and audio.ms("a") == 0
    audio.forget("b")
    audio.forget("nothing")
    assert list(audio) == ["c"]
    audio.clear()
    assert len(audio) == 0


@pytest.mark.parametrize(("bytes_per_ms", "max_items"), [(0, 1), (48, 0), (48.0, 1), (48, True)])
def test_bad_sizes_are_config_errors(bytes_per_ms: object, max_items: object) -> None:
    with pytest.raises(ConfigError):
        ReceivedAudio(bytes_per_ms, max_items)  # type: ignore[arg-type]


def test_playback_forgets_an_evicted_item_entirely() -> None:
    tracker = PlaybackTracker(max_items=2)
    tracker.on_audio("a", 4800, now=0.0)
    tracker.played("a", 50)
    tracker.on_audio("b", 4800, now=1.0)
    tracker.on_audio("c", 4800, now=2.0)  # "a" is forgotten: received, start and report
    assert tracker.received_ms("a") == 0 and tracker.played_ms("a", now=3.0) == 0
    tracker.on_audio("a", 480, now=4.0)  # heard of again: a new item, nothing reported
    assert tracker.played_ms("a", now=4.0075) == 7  # from its new start, not the old report
    assert tracker.received_ms("b") == 0  # the oldest again, to make room for "a"
    assert tracker.received_ms("c") == 100 and tracker.current_item == "a"
