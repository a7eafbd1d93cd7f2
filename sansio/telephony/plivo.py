"""Plivo audio streams (``<Stream bidirectional="true">``) as a sans-IO machine.

Wire facts, from
https://plivo.com/docs/voice-agents/audio-streaming/concepts/audio-streaming-reference
(its example messages are decoded in ``tests/test_telephony_plivo.py``) and
https://plivo.com/docs/voice/xml/the-stream-element/checkpoint-event:

Plivo -> us::

    start         {event, sequenceNumber, start: {callId, streamId, accountId,
                   tracks, mediaFormat: {encoding, sampleRate}}, extra_headers}
                                                                StreamStarted
    media         {event, sequenceNumber, streamId, media: {track, timestamp,
                   chunk, payload}, extra_headers}               MediaReceived
    dtmf          {event, sequenceNumber, streamId, dtmf: {track, digit,
                   timestamp}, extra_headers}                    DtmfReceived
    playedStream  {event, sequenceNumber, streamId, name}        MarkPlayed
    clearedAudio  {event, sequenceNumber, streamId}              PlaybackCleared
    stop          {event, sequenceNumber, streamId, reason}      StreamStopped

us -> Plivo::

    playAudio   {"event": "playAudio", "media": {"contentType": "audio/x-mulaw",
                 "sampleRate": 8000, "payload": <base64>}}
    checkpoint  {"event": "checkpoint", "streamId": ..., "name": ...}
    clearAudio  {"event": "clearAudio", "streamId": ...}

Plivo sends no ``connected`` message. ``sequenceNumber`` and ``media.chunk`` are
JSON numbers; ``media.timestamp`` is Unix time in milliseconds, as a string. The
reference lists no ``stop`` over the WebSocket (the stream's end goes to the
``statusCallbackUrl``), but Plivo's own stream SDK (``plivo-stream-sdk-java``,
``StopEvent``: ``reason``) decodes one, so it is understood here.

``playAudio`` must match the stream's ``contentType``: this codec sends μ-law
at 8000 Hz, so the ``<Stream>`` element needs
``contentType="audio/x-mulaw;rate=8000"`` (Plivo's default is L16); on any
other format ``send_audio`` raises ``LocalProtocolError`` saying so. A
checkpoint comes back as ``playedStream`` "only ... if the preceding events
were played successfully": after ``clearAudio`` the waiting checkpoints are
not sent back (Plivo confirms the clear with ``clearedAudio`` instead), and
should one come anyway, it does not count as heard
(:mod:`adk_realtime.sansio.telephony.playback`).

``extra_headers`` (the ``<Stream extraHeaders>`` attribute) becomes
``StreamStarted.custom_parameters``: the ``key=value`` pairs it holds, split at
``;`` or ``,`` (Plivo's docs show both); a piece without ``=`` is ignored.
"""

from __future__ import annotations

from typing import ClassVar

from adk_realtime.sansio.json_fields import JsonObject, dumps
from adk_realtime.sansio.telephony.events import (
    DtmfReceived,
    PlaybackCleared,
    StreamStarted,
    StreamStopped,
)
from adk_realtime.sansio.telephony.media_stream import (
    CarrierMediaStream,
    read_digit,
    read_object,
    read_positive_int,
    read_str,
    read_str_tuple,
)

__all__ = ["PLIVO_CONTENT_TYPE", "PlivoAudioStream", "parse_extra_headers"]

PLIVO_CONTENT_TYPE = "audio/x-mulaw"
"""What this codec's ``playAudio`` carries, at 8000 Hz."""
_SAMPLE_RATE = 8000


def parse_extra_headers(text: str) -> dict[str, str]:
    """The ``key=value`` pairs of Plivo's ``extra_headers``, split at ``;`` or ``,``."""
    pairs: dict[str, str] = {}
    for piece in text.replace(",", ";").split(";"):
        key, sep, value = piece.partition("=")
        key = key.strip()
        if sep and key:
            pairs[key] = value.strip()
    return pairs


class PlivoAudioStream(CarrierMediaStream):
    """Our side of one Plivo bidirectional audio stream (see the module docstring).

    Feed each text message to :meth:`receive_data`, read :meth:`next_event`; after
    ``StreamStarted``, speak with :meth:`send_audio` (μ-law 8 kHz) and
    :meth:`flush`, interrupt with :meth:`clear`, and read the playback position
    (``heard_ms``, ``response_heard_ms``). Send what :meth:`data_to_send` returns.
    """

    carrier: ClassVar[str] = "Plivo"
    _ROUTES: ClassVar[dict[str, str]] = {
        "start": "_on_start",
        "media": "_on_media",
        "dtmf": "_on_dtmf",
        "playedStream": "_on_played_stream",
        "clearedAudio": "_on_cleared_audio",
        "stop": "_on_stop",
    }

    # -- Plivo -> us ---------------------------------------------------------

    def _on_start(self, msg: JsonObject) -> None:
        where = "Plivo start"
        start = read_object(msg, "start", where, "start")
        media_format = read_object(start, "mediaFormat", where, "start.mediaFormat")
        extra = read_str(msg, "extra_headers", where, "extra_headers", required=False)
        started = StreamStarted(
            stream_id=read_str(start, "streamId", where, "start.streamId"),
            call_id=read_str(start, "callId", where, "start.callId"),
            account_id=read_str(start, "accountId", where, "start.accountId", required=False),
            tracks=read_str_tuple(start, "tracks", where, "start.tracks"),
            encoding=read_str(media_format, "encoding", where, "start.mediaFormat.encoding"),
            sample_rate=read_positive_int(
                media_format, "sampleRate", where, "start.mediaFormat.sampleRate"
            ),
            channels=read_positive_int(
                media_format, "channels", where, "start.mediaFormat.channels", default=1
            ),
            custom_parameters=parse_extra_headers(extra),
        )
        self._stream_started(started, "start")

    def _on_media(self, msg: JsonObject) -> None:
        self._media_received(msg, "Plivo media")

    def _on_dtmf(self, msg: JsonObject) -> None:
        where = "Plivo dtmf"
        dtmf = read_object(msg, "dtmf", where, "dtmf")
        digit = read_digit(dtmf, "digit", where, "dtmf.digit")
        track = read_str(dtmf, "track", where, "dtmf.track", required=False)
        self._push(DtmfReceived(digit, track))

    def _on_played_stream(self, msg: JsonObject) -> None:
        self._mark_echoed(read_str(msg, "name", "Plivo playedStream", "name"))

    def _on_cleared_audio(self, msg: JsonObject) -> None:
        self.ledger.clear_confirmed()
        self._push(PlaybackCleared())

    def _on_stop(self, msg: JsonObject) -> None:
        reason = read_str(msg, "reason", "Plivo stop", "reason", required=False)
        self._stream_stopped()
        self._push(StreamStopped(reason=reason))

    # -- us -> Plivo ---------------------------------------------------------

    def _audio_refusal(self) -> str | None:
        started = self._started
        if started is None or (
            started.encoding == PLIVO_CONTENT_TYPE and started.sample_rate == _SAMPLE_RATE
        ):
            return None
        return (
            f"the stream carries {started.encoding} at {started.sample_rate} Hz and playAudio "
            f"must match it; this codec sends {PLIVO_CONTENT_TYPE} at {_SAMPLE_RATE} Hz: set "
            f'contentType="{PLIVO_CONTENT_TYPE};rate={_SAMPLE_RATE}" on <Stream>'
        )

    def _media_frame_parts(self, started: StreamStarted) -> tuple[str, str]:
        head = dumps({"contentType": PLIVO_CONTENT_TYPE, "sampleRate": _SAMPLE_RATE})[:-1]
        return '{"event":"playAudio","media":' + head + ',"payload":"', '"}}'

    def _mark_message(self, name: str) -> str:
        return dumps({"event": "checkpoint", "streamId": self.stream_id, "name": name})

    def _clear_message(self) -> str:
        return dumps({"event": "clearAudio", "streamId": self.stream_id})
