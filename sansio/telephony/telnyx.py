"""Telnyx media streaming (bidirectional, RTP mode) as a sans-IO machine.

Wire facts, from https://developers.telnyx.com/docs/voice/programmable-voice/media-streaming
and https://developers.telnyx.com/api-reference/websockets/stream-call-media-over-websocket
(the guide's example messages are decoded in ``tests/test_telephony_telnyx.py``):

Telnyx -> us::

    connected  {event, version[, connected: {x-telnyx-streaming-auth-token}]}
                                                                StreamConnected
    start      {event, sequence_number, stream_id, start: {user_id,
                call_control_id, call_session_id, from, to, tags, client_state,
                custom_parameters, media_format: {encoding, sample_rate,
                channels}}}                                     StreamStarted
    media      {event, sequence_number, stream_id, media: {track, chunk,
                timestamp, payload}}                            MediaReceived
    dtmf       {event, stream_id, occurred_at, sequence_number, dtmf: {digit}}
                                                                DtmfReceived
    mark       {event, stream_id, sequence_number, mark: {name}}  MarkPlayed
    error      {event, payload: {code, title, detail}, stream_id}  CarrierError
    stop       {event, sequence_number, stop: {user_id, call_control_id},
                stream_id}                                      StreamStopped

us -> Telnyx (``stream_bidirectional_mode: rtp``)::

    media  {"event": "media", "media": {"payload": <base64 RTP payload, no header>}}
    mark   {"event": "mark", "mark": {"name": ...}}
    clear  {"event": "clear"}

The outbound payload is μ-law: the call's ``stream_bidirectional_codec`` must be
``PCMU`` (the default); Telnyx transcodes to the call's codec. Chunks "can be
in a size of 20 milliseconds to 30 seconds", so 20 ms frames are fine. Telnyx
sends a mark back when "the media immediately preceding the mark finishes",
at once when nothing is queued, and "the clear message will also result in all
queued marks being sent back": the accounting does not count those as heard
(:mod:`adk_realtime.sansio.telephony.playback`). The MP3 playback mode (one
file per message, once a second) is not what this codec speaks. ``start``'s
``from``/``to``, ``client_state`` and ``custom_parameters`` land in
:class:`~adk_realtime.sansio.telephony.events.StreamStarted` fields that
``repr`` does not print. The guide's ``error`` example has placeholders
(``"code": integer``), not JSON; a real frame decodes to ``CarrierError``.
"""

from __future__ import annotations

from typing import ClassVar

from adk_realtime.sansio.json_fields import JsonObject, dumps, fail
from adk_realtime.sansio.telephony.events import (
    CarrierError,
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

__all__ = ["TelnyxMediaStream"]

_AUTH_TOKEN = "x-telnyx-streaming-auth-token"


def _optional_str(obj: JsonObject, key: str, where: str, name: str) -> str | None:
    value = obj.get(key)
    if value is not None and type(value) is not str:
        fail(where, name, "a string", value)
    return value


class TelnyxMediaStream(CarrierMediaStream):
    """Our side of one Telnyx bidirectional media stream (see the module docstring).

    Feed each text message to :meth:`receive_data`, read :meth:`next_event`; after
    ``StreamStarted``, speak with :meth:`send_audio` (μ-law 8 kHz) and
    :meth:`flush`, interrupt with :meth:`clear`, and read the playback position
    (``heard_ms``, ``response_heard_ms``). Send what :meth:`data_to_send` returns.
    """

    carrier: ClassVar[str] = "Telnyx"
    _ROUTES: ClassVar[dict[str, str]] = {
        "connected": "_on_connected",
        "start": "_on_start",
        "media": "_on_media",
        "dtmf": "_on_dtmf",
        "mark": "_on_mark",
        "error": "_on_error",
        "stop": "_on_stop",
    }

    # -- Telnyx -> us --------------------------------------------------------

    def _on_connected(self, msg: JsonObject) -> None:
        where = "Telnyx connected"
        version = read_str(msg, "version", where, "version", required=False)
        details = read_object(msg, "connected", where, "connected", required=False)
        token = _optional_str(details, _AUTH_TOKEN, where, f"connected.{_AUTH_TOKEN}")
        self._push(StreamConnected("", version, token))

    def _on_start(self, msg: JsonObject) -> None:
        where = "Telnyx start"
        start = read_object(msg, "start", where, "start")
        media_format = read_object(start, "media_format", where, "start.media_format")
        started = StreamStarted(
            stream_id=read_str(msg, "stream_id", where, "stream_id"),
            call_id=read_str(start, "call_control_id", where, "start.call_control_id"),
            account_id=read_str(start, "user_id", where, "start.user_id", required=False),
            tracks=read_str_tuple(start, "tracks", where, "start.tracks"),
            encoding=read_str(media_format, "encoding", where, "start.media_format.encoding"),
            sample_rate=read_positive_int(
                media_format, "sample_rate", where, "start.media_format.sample_rate"
            ),
            channels=read_positive_int(
                media_format, "channels", where, "start.media_format.channels", default=1
            ),
            custom_parameters=read_str_map(
                start, "custom_parameters", where, "start.custom_parameters"
            ),
            caller=_optional_str(start, "from", where, "start.from"),
            called=_optional_str(start, "to", where, "start.to"),
            client_state=_optional_str(start, "client_state", where, "start.client_state"),
        )
        read_str_tuple(start, "tags", where, "start.tags")  # checked, not kept
        self._stream_started(started, "start")

    def _on_media(self, msg: JsonObject) -> None:
        self._media_received(msg, "Telnyx media")

    def _on_dtmf(self, msg: JsonObject) -> None:
        where = "Telnyx dtmf"
        dtmf = read_object(msg, "dtmf", where, "dtmf")
        self._push(DtmfReceived(read_digit(dtmf, "digit", where, "dtmf.digit")))

    def _on_mark(self, msg: JsonObject) -> None:
        where = "Telnyx mark"
        mark = read_object(msg, "mark", where, "mark")
        self._mark_echoed(read_str(mark, "name", where, "mark.name"))

    def _on_error(self, msg: JsonObject) -> None:
        where = "Telnyx error"
        payload = read_object(msg, "payload", where, "payload")
        code = payload.get("code")
        if code is not None and type(code) is not int:
            fail(where, "payload.code", "an integer", code)
        title = read_str(payload, "title", where, "payload.title", required=False)
        detail = read_str(payload, "detail", where, "payload.detail", required=False)
        self._push(CarrierError(code, title, detail))

    def _on_stop(self, msg: JsonObject) -> None:
        where = "Telnyx stop"
        stop = read_object(msg, "stop", where, "stop", required=False)
        call_id = read_str(stop, "call_control_id", where, "stop.call_control_id", required=False)
        account_id = read_str(stop, "user_id", where, "stop.user_id", required=False)
        self._stream_stopped()
        self._push(StreamStopped(call_id, account_id))

    # -- us -> Telnyx --------------------------------------------------------

    def _media_frame_parts(self, started: StreamStarted) -> tuple[str, str]:
        return '{"event":"media","media":{"payload":"', '"}}'

    def _mark_message(self, name: str) -> str:
        return dumps({"event": "mark", "mark": {"name": name}})

    def _clear_message(self) -> str:
        return '{"event":"clear"}'
