"""RE-CONFIG bookkeeping for SCTP stream resets (RFC 6525), without packets or timers.

Theory of operation: :class:`StreamResetter` tracks both directions of the
Outgoing SSN Reset exchange and returns what the association must do; the
association sends the chunks, runs the timer and raises the events.

* Ours: ``add`` queues stream ids; ``next_request`` hands out one request at a
  time (sequence numbers start at our initial TSN); ``on_chunk`` reads the
  peer's response: success finishes it, "in progress" means ask again later.
* Theirs: a request is performed once every TSN up to its "sender's last
  assigned TSN" has arrived; until then it is answered "in progress" and kept
  as ``deferred`` (RFC 6525 5.2.2 E2), and ``check_deferred`` performs it as soon
  as the cumulative TSN catches up. A retransmitted request gets the same answer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from adk_realtime.sansio.webrtc.sctp.chunks import (
    PARAM_ADD_INCOMING_STREAMS,
    PARAM_ADD_OUTGOING_STREAMS,
    PARAM_INCOMING_RESET,
    PARAM_OUTGOING_RESET,
    PARAM_RECONFIG_RESPONSE,
    RESULT_BAD_SEQUENCE,
    RESULT_DENIED,
    RESULT_IN_PROGRESS,
    RESULT_SUCCESS_NOTHING,
    RESULT_SUCCESS_PERFORMED,
    OutgoingResetRequest,
    ReconfigChunk,
    ReconfigResponse,
    SctpError,
)
from adk_realtime.sansio.webrtc.sctp.queues import unwrap32

_M32 = 0xFFFFFFFF
_MAX_STREAMS_PER_REQUEST = 64


@dataclass
class ReconfigOutcome:
    """What one RE-CONFIG chunk asks of the association."""

    send: list[ReconfigChunk] = field(default_factory=list)  # responses to transmit
    peer_reset: list[tuple[int, ...]] = field(default_factory=list)  # reset these inbound
    ours_reset: tuple[int, ...] = ()  # our reset succeeded: SSNs of these restart at 0
    retry_later: bool = False  # our request is "in progress": re-arm the timer
    finished: bool = False  # our request got its final answer: stop the timer
    refused: int = 0  # requests we denied, or denials we got
    malformed: int = 0


class StreamResetter:
    """Both sides of the Outgoing SSN Reset Request exchange."""

    def __init__(self, our_initial_tsn: int) -> None:
        self.queue: list[int] = []
        self.resetting: set[int] = set()
        self.request: OutgoingResetRequest | None = None
        self.deferred: OutgoingResetRequest | None = None
        self.peer_expected = 0
        self._seq = our_initial_tsn
        self._peer_last = RESULT_SUCCESS_NOTHING

    def add(self, stream_ids: list[int] | tuple[int, ...]) -> None:
        """Queue streams to reset; a stream already being reset is not queued twice."""
        for sid in stream_ids:
            if sid not in self.resetting:
                self.resetting.add(sid)
                self.queue.append(sid)

    def next_request(self, last_assigned_tsn: int) -> ReconfigChunk | None:
        """The next request to send, if none is in flight and streams are waiting."""
        if self.request is not None or not self.queue:
            return None
        streams = tuple(self.queue[:_MAX_STREAMS_PER_REQUEST])
        del self.queue[:_MAX_STREAMS_PER_REQUEST]
        self.request = OutgoingResetRequest(
            self._seq & _M32,
            (self.peer_expected - 1) & _M32,
            last_assigned_tsn & _M32,
            streams,
        )
        self._seq += 1
        return ReconfigChunk((self.request.param(),))

    def retransmission(self) -> ReconfigChunk | None:
        """The request in flight, to send again when the timer fires."""
        return None if self.request is None else ReconfigChunk((self.request.param(),))

    def on_chunk(self, chunk: ReconfigChunk, cum: int) -> ReconfigOutcome:
        """Apply a RE-CONFIG chunk; ``cum`` is our cumulative received TSN (unwrapped)."""
        out = ReconfigOutcome()
        for ptype, value in chunk.params:
            try:
                if ptype == PARAM_OUTGOING_RESET:
                    self._peer_request(OutgoingResetRequest.decode(value), cum, out)
                elif ptype == PARAM_RECONFIG_RESPONSE:
                    self._response(ReconfigResponse.decode(value), out)
                elif (
                    ptype
                    in (
                        PARAM_INCOMING_RESET,
                        PARAM_ADD_OUTGOING_STREAMS,
                        PARAM_ADD_INCOMING_STREAMS,
                    )
                    and len(value) >= 4
                ):
                    out.refused += 1
                    out.send.append(_answer(struct.unpack_from("!I", value)[0], RESULT_DENIED))
                else:
                    out.malformed += 1
            except SctpError:
                out.malformed += 1
        return out

    def check_deferred(self, cum: int) -> ReconfigOutcome | None:
        """Perform the deferred peer request once ``cum`` reached its last TSN."""
        req = self.deferred
        if req is None or unwrap32(req.last_tsn, cum) > cum:
            return None
        out = ReconfigOutcome()
        self._perform(req, out)
        return out

    def _perform(self, req: OutgoingResetRequest, out: ReconfigOutcome) -> None:
        self.deferred = None
        self.peer_expected += 1
        self._peer_last = RESULT_SUCCESS_PERFORMED
        out.peer_reset.append(req.streams)
        out.send.append(_answer(req.request_seq, RESULT_SUCCESS_PERFORMED))

    def _peer_request(self, req: OutgoingResetRequest, cum: int, out: ReconfigOutcome) -> None:
        expected = self.peer_expected & _M32
        if req.request_seq == expected:
            if unwrap32(req.last_tsn, cum) <= cum:
                self._perform(req, out)
            else:  # data sent before the reset is still missing
                self.deferred = req
                out.send.append(_answer(req.request_seq, RESULT_IN_PROGRESS))
        elif req.request_seq == (expected - 1) & _M32:
            out.send.append(_answer(req.request_seq, self._peer_last))  # a retransmission
        else:
            out.send.append(_answer(req.request_seq, RESULT_BAD_SEQUENCE))

    def _response(self, resp: ReconfigResponse, out: ReconfigOutcome) -> None:
        req = self.request
        if req is None or resp.response_seq != req.request_seq:
            out.malformed += 1
            return
        if resp.result == RESULT_IN_PROGRESS:
            out.retry_later = True
            return
        self.request = None
        out.finished = True
        self.resetting.difference_update(req.streams)
        if resp.result in (RESULT_SUCCESS_PERFORMED, RESULT_SUCCESS_NOTHING):
            out.ours_reset = req.streams
        else:
            out.refused += 1


def _answer(seq: int, result: int) -> ReconfigChunk:
    return ReconfigChunk((ReconfigResponse(seq, result).param(),))
