"""Playback accounting for a carrier media stream: how much of what we sent the caller heard.

Theory of operation
-------------------
A carrier plays the audio we send in the order it arrives, from a buffer on its
side; our audio usually arrives much faster than real time, so most of it
waits there. To learn what was actually played, we place a *mark* (Plivo: a
*checkpoint*) after some audio; the carrier sends the mark back when the audio
before it has finished playing. :class:`PlaybackLedger` keeps the books; the
codecs in this package feed it (one 20 ms frame at a time) and read it.

Positions are milliseconds on the *playback timeline*: the audio the caller
will hear if nothing more is dropped, counted from the start of the stream.

* ``sent_ms``: the end of the audio queued so far (marks are placed here);
* ``heard_ms``: the position of the latest mark the carrier sent back, so the
  caller has heard at least this much; it never goes past ``sent_ms`` and
  never goes back;
* ``ahead_ms = sent_ms - heard_ms``: queued audio not yet confirmed played
  (part of it may have played since the last mark came back);
* ``dropped_ms``: audio cut off by ``clear()`` calls, in total.

Marks come back in the order they were placed (the audio plays in order), so
the echo of a mark also settles every mark placed before it.

``clear()`` (a barge-in) tells the carrier to drop the audio it has not played
yet. What the carrier does with the marks still waiting differs:

* Twilio "empties the audio buffer and sends back mark messages matching any
  remaining mark messages"
  (https://www.twilio.com/docs/voice/media-streams/websocket-messages);
* Telnyx: "the clear message will also result in all queued marks being sent
  back" (https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming);
* Plivo sends ``playedStream`` "only ... if the preceding events were played
  successfully" (https://plivo.com/docs/voice/xml/the-stream-element/checkpoint-event),
  and confirms the clear itself with ``clearedAudio``.

An echo that comes back because of a clear does not mean the audio was
played, and it looks exactly like one that does. So at ``clear()`` the ledger
moves every waiting mark to a *cleared* list: their echoes, whenever they
come, are reported (``MarkPlayed(heard=False)``) but never move ``heard_ms``.
The timeline is then cut at ``heard_ms``: ``sent_ms`` falls back to it, the
difference is added to ``dropped_ms``, and new audio is counted from there. A
mark that was really played but whose echo was still on the wire when we sent
the clear is counted as dropped too: ``heard_ms`` is a lower bound that never
overshoots (it may lag by up to one mark interval plus the network delay).

Responses: ``begin_response(key)`` opens a segment of the timeline for one
model response; audio added while it is open belongs to it. For a response
spanning ``[start, end)``, ``response_heard_ms(key) = clamp(heard_ms - start,
0, end - start)``. A clear ends the open response and cuts every response at
the cleared position.

Worked example (a mark every 5 frames = 100 ms, as the codecs place them)::

    begin_response("r1"); 250 ms of audio    frames 1..12 (a 13th frame is padded
    flush()                                  at flush: 260 ms), marks at 100, 200,
                                             and 260 (the end of r1)
    sent_ms=260  heard_ms=0    ahead_ms=260
    echo of the mark at 100                  heard_ms=100, ahead_ms=160
    begin_response("r2"); 300 ms of audio    marks at 360, 460, 560
    sent_ms=560
    echo of the mark at 200                  heard_ms=200; response_heard_ms("r1")=200
    clear()                                  the marks at 260, 360, 460, 560 move to
                                             the cleared list; dropped_ms=360,
                                             sent_ms=heard_ms=200; r1 is cut to
                                             [0, 200), r2 to [260, 260)
    echoes of 260, 360, 460, 560 (Twilio)    MarkPlayed(heard=False): heard_ms stays 200
    begin_response("r3"); 100 ms of audio    r3 spans [200, 300); mark at 300
    echo of the mark at 300                  heard_ms=300; response_heard_ms("r3")=100,
                                             response_heard_ms("r1")=200,
                                             response_heard_ms("r2")=0

Every list here is bounded: at most ``max_pending_marks`` marks wait for an
echo (the codec skips automatic marks when full and counts them; an explicit
mark is refused), the cleared list keeps the latest ``max_pending_marks``
(an older one's late echo then reads as unknown, which does not count as heard
either), and the latest ``max_responses`` responses are remembered (an unknown
or forgotten key has sent and heard nothing).
"""

from __future__ import annotations

from collections import deque

from adk_realtime.sansio.errors import ConfigError, LocalProtocolError

__all__ = ["PlaybackLedger"]


class PlaybackLedger:
    """The books of one stream's outbound audio: sent, heard, dropped, per response.

    The codec calls :meth:`add_audio` for every frame it queues,
    :meth:`place_mark` when it queues a mark, :meth:`mark_echoed` when the
    carrier sends one back and :meth:`clear` when it queues a clear; the bridge
    reads the positions. Pure bookkeeping: it queues no messages.
    """

    __slots__ = (
        "_cleared",
        "_current",
        "_dropped",
        "_heard",
        "_max_pending",
        "_max_responses",
        "_pending",
        "_responses",
        "_sent",
    )

    def __init__(self, max_pending_marks: int = 4096, max_responses: int = 64) -> None:
        for name, value in (
            ("max_pending_marks", max_pending_marks),
            ("max_responses", max_responses),
        ):
            if type(value) is not int or value <= 0:
                raise ConfigError(name, f"must be a positive int, got {value!r}")
        self._max_pending = max_pending_marks
        self._max_responses = max_responses
        self._sent = 0
        self._heard = 0
        self._dropped = 0
        # (name, position) of marks sent and not yet echoed, oldest first
        self._pending: deque[tuple[str, int]] = deque()
        # marks that were waiting at a clear: their echoes do not count as heard
        self._cleared: deque[tuple[str, int]] = deque(maxlen=max_pending_marks)
        # response key -> [start, end] on the timeline, oldest first
        self._responses: dict[str, list[int]] = {}
        self._current: str | None = None

    # -- positions -------------------------------------------------------

    @property
    def sent_ms(self) -> int:
        """End of the audio queued so far, on the playback timeline."""
        return self._sent

    @property
    def heard_ms(self) -> int:
        """Position of the latest mark the carrier sent back as played."""
        return self._heard

    @property
    def ahead_ms(self) -> int:
        """Audio queued but not yet confirmed played: ``sent_ms - heard_ms``."""
        return self._sent - self._heard

    @property
    def dropped_ms(self) -> int:
        """Audio cut off by clears since the stream started."""
        return self._dropped

    @property
    def pending_marks(self) -> int:
        """Marks sent whose echo has not come back."""
        return len(self._pending)

    @property
    def current_response(self) -> str | None:
        """The key of the open response, if any."""
        return self._current

    # -- the codec's side -------------------------------------------------

    def add_audio(self, ms: int) -> None:
        """Count ``ms`` more milliseconds queued (for the open response too)."""
        self._sent += ms
        if self._current is not None:
            self._responses[self._current][1] = self._sent

    def has_room_for_mark(self) -> bool:
        """Whether :meth:`place_mark` may be called (fewer than the maximum are waiting)."""
        return len(self._pending) < self._max_pending

    def place_mark(self, name: str) -> int:
        """Record a mark placed at ``sent_ms`` and return that position.

        Raises ``LocalProtocolError`` when ``max_pending_marks`` are already waiting.
        """
        if len(self._pending) >= self._max_pending:
            raise LocalProtocolError(
                f"{self._max_pending} marks are waiting for the carrier to send them back; "
                "no more can be tracked"
            )
        self._pending.append((name, self._sent))
        return self._sent

    def mark_echoed(self, name: str) -> tuple[int | None, bool]:
        """The carrier sent back mark ``name``: returns ``(position_ms, heard)``.

        A mark that was waiting at a clear gives its position and false (it is
        looked for first: echoes come back in the order the marks went out, and
        those went out before the clear, so a name a user gave twice means the
        older mark). A waiting mark (the first of that name) settles itself and
        every mark placed before it, and moves ``heard_ms`` to its position
        (``heard`` is true). An unknown name gives ``(None, False)``.
        """
        for index, (cleared_name, position) in enumerate(self._cleared):
            if cleared_name == name:
                del self._cleared[index]
                return position, False
        for index, (pending_name, position) in enumerate(self._pending):
            if pending_name == name:
                for _ in range(index + 1):
                    self._pending.popleft()
                # max(): a user's mark may repeat a name at an earlier position.
                self._heard = max(self._heard, position)
                return position, True
        return None, False

    def clear_confirmed(self) -> None:
        """The carrier confirmed a clear (Plivo's ``clearedAudio``): the marks it
        dropped will never come back, so none of the cleared list is waited for."""
        self._cleared.clear()

    def clear(self) -> None:
        """The carrier is told to drop unplayed audio: cut the timeline at ``heard_ms``.

        Waiting marks move to the cleared list, the open response ends, and every
        response is cut at the cleared position.
        """
        cut = self._heard
        self._dropped += self._sent - cut
        self._sent = cut
        self._cleared.extend(self._pending)
        self._pending.clear()
        for span in self._responses.values():
            span[1] = min(span[1], max(span[0], cut))
        self._current = None

    # -- responses ----------------------------------------------------------

    def begin_response(self, key: str) -> None:
        """Open response ``key`` at ``sent_ms``; audio added from now on belongs to it.

        Beginning the open response again does nothing; a key used before raises
        ``LocalProtocolError`` (a key names one response).
        """
        if key == self._current:
            return
        if key in self._responses:
            raise LocalProtocolError(f"response {key!r} was already begun; keys name one response")
        if len(self._responses) >= self._max_responses:
            del self._responses[next(iter(self._responses))]
        self._responses[key] = [self._sent, self._sent]
        self._current = key

    def knows_response(self, key: str) -> bool:
        """Whether ``key`` was begun (and is still remembered)."""
        return key in self._responses

    def end_response(self) -> None:
        """Close the open response (audio added later belongs to none)."""
        self._current = None

    def response_sent_ms(self, key: str) -> int:
        """Milliseconds of response ``key`` on the timeline (after any clear cut it)."""
        span = self._responses.get(key)
        return 0 if span is None else span[1] - span[0]

    def response_heard_ms(self, key: str) -> int:
        """Milliseconds of response ``key`` the caller is confirmed to have heard."""
        span = self._responses.get(key)
        if span is None:
            return 0
        start, end = span
        return max(0, min(self._heard, end) - start)

    def __repr__(self) -> str:
        return (
            f"PlaybackLedger(sent_ms={self._sent}, heard_ms={self._heard}, "
            f"dropped_ms={self._dropped}, pending_marks={len(self._pending)})"
        )
