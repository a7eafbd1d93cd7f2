"""Twilio Media Streams (bidirectional, ``<Connect><Stream>``) as a sans-IO machine.

Wire facts, from https://www.twilio.com/docs/voice/media-streams/websocket-messages
(every example message there is decoded in ``tests/test_telephony_twilio.py``):

Twilio -> us::

    connected  {event, protocol, version}                      StreamConnected
    start      {event, sequenceNumber, streamSid, start: {accountSid, streamSid,
                callSid, tracks, customParameters, mediaFormat: {encoding,
                sampleRate, channels}}}                         StreamStarted
    media      {event, sequenceNumber, streamSid, media: {track, chunk,
                timestamp, payload}}                            MediaReceived
    dtmf       {event, streamSid, sequenceNumber, dtmf: {track, digit}}
                                                                DtmfReceived
    mark       {event, sequenceNumber, streamSid, mark: {name}} MarkPlayed
    stop       {event, sequenceNumber, streamSid, stop: {accountSid, callSid}}
                                                                StreamStopped

us -> Twilio::

    media  {"event": "media", "streamSid": ..., "media": {"payload": <base64 μ-law>}}
    mark   {"event": "mark", "streamSid": ..., "mark": {"name": ...}}
    clear  {"event": "clear", "streamSid": ...}

``sequenceNumber``, ``chunk`` and ``timestamp`` are decimal strings; ``chunk``
and ``timestamp`` (milliseconds since the stream started) become ints. The
documented ``media`` examples abbreviate the payload (``"no+JhoaJjpz..."``),
which is not base64: decoding them raises, as it should for a real message.
Media is always ``audio/x-mulaw`` at 8000 Hz, one channel. ``mark`` echoes
follow the audio before them; a ``clear`` makes Twilio send back every mark
still waiting, which the accounting does not count as heard (see
:mod:`adk_realtime.sansio.telephony.playback`).
"""

from __future__ import annotations

from typing import ClassVar

from adk_realtime.sansio.json_fields import JsonObject, dumps
from adk_realtime.sansio.telephony.events import (
    DtmfReceived,
    StreamConnected,
    StreamStarted,
    StreamStopped,
)
from adk_realtime.sansio.telephony.media_stream import (
    CarrierMediaStream,
    read_digit,
    read_object,
    read_positive_int,
    read_str,
    read_str_map,
    read_str_tuple,
)

__all__ = ["TwilioMediaStream"]


class TwilioMediaStream(CarrierMediaStream):
    """Our side of one Twilio bidirectional Media Stream (see the module docstring).

    Feed each text message to :meth:`receive_data`, read :meth:`next_event`; after
    ``StreamStarted``, speak with :meth:`send_audio` (μ-law 8 kHz) and
    :meth:`flush`, interrupt with :meth:`clear`, and read the playback position
    (``heard_ms``, ``response_heard_ms``). Send what :meth:`data_to_send` returns.
    """

    carrier: ClassVar[str] = "Twilio"
    _ROUTES: ClassVar[dict[str, str]] = {
        "connected": "_on_connected",
        "start": "_on_start",
        "media": "_on_media",
        "dtmf": "_on_dtmf",
        "mark": "_on_mark",
        "stop": "_on_stop",
    }

    # -- Twilio -> us --------------------------------------------------------

    def _on_connected(self, msg: JsonObject) -> None:
        where = "Twilio connected"
        protocol = read_str(msg, "protocol", where, "protocol", required=False)
        version = read_str(msg, "version", where, "version", required=False)
        self._push(StreamConnected(protocol, version))

    def _on_start(self, msg: JsonObject) -> None:
        where = "Twilio start"
        start = read_object(msg, "start", where, "start")
        media_format = read_object(start, "mediaFormat", where, "start.mediaFormat")
        started = StreamStarted(
            stream_id=read_str(start, "streamSid", where, "start.streamSid"),
            call_id=read_str(start, "callSid", where, "start.callSid"),
            account_id=read_str(start, "accountSid", where, "start.accountSid"),
            tracks=read_str_tuple(start, "tracks", where, "start.tracks"),
            encoding=read_str(media_format, "encoding", where, "start.mediaFormat.encoding"),
            sample_rate=read_positive_int(
                media_format, "sampleRate", where, "start.mediaFormat.sampleRate"
            ),
            channels=read_positive_int(
                media_format, "channels", where, "start.mediaFormat.channels"
            ),
            custom_parameters=read_str_map(
                start, "customParameters", where, "start.customParameters"
            ),
        )
        self._stream_started(started, "start")

    def _on_media(self, msg: JsonObject) -> None:
        self._media_received(msg, "Twilio media")

    def _on_dtmf(self, msg: JsonObject) -> None:
        where = "Twilio dtmf"
        dtmf = read_object(msg, "dtmf", where, "dtmf")
        digit = read_digit(dtmf, "digit", where, "dtmf.digit")
        track = read_str(dtmf, "track", where, "dtmf.track", required=False)
        self._push(DtmfReceived(digit, track))

    def _on_mark(self, msg: JsonObject) -> None:
        where = "Twilio mark"
        mark = read_object(msg, "mark", where, "mark")
        self._mark_echoed(read_str(mark, "name", where, "mark.name"))

    def _on_stop(self, msg: JsonObject) -> None:
        where = "Twilio stop"
        stop = read_object(msg, "stop", where, "stop", required=False)
        call_id = read_str(stop, "callSid", where, "stop.callSid", required=False)
        account_id = read_str(stop, "accountSid", where, "stop.accountSid", required=False)
        self._stream_stopped()
        self._push(StreamStopped(call_id, account_id))

    # -- us -> Twilio --------------------------------------------------------

    def _media_frame_parts(self, started: StreamStarted) -> tuple[str, str]:
        sid = dumps({"streamSid": started.stream_id})[1:-1]
        return '{"event":"media",' + sid + ',"media":{"payload":"', '"}}'

    def _mark_message(self, name: str) -> str:
        return dumps({"event": "mark", "streamSid": self.stream_id, "mark": {"name": name}})

    def _clear_message(self) -> str:
        return dumps({"event": "clear", "streamSid": self.stream_id})
