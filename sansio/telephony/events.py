"""The events of a carrier media stream: one vocabulary for Twilio, Telnyx and Plivo.

A carrier (the telephone company's side) opens a WebSocket to us and streams the
call's audio as JSON messages; :class:`~adk_realtime.sansio.telephony.media_stream.CarrierMediaStream`
and its three subclasses decode those messages into these frozen, slotted
events, whatever the carrier's own names are:

======================  ==================  ====================  ====================
event                   Twilio              Telnyx                Plivo
======================  ==================  ====================  ====================
``StreamConnected``     ``connected``       ``connected``         (none)
``StreamStarted``       ``start``           ``start``             ``start``
``MediaReceived``       ``media``           ``media``             ``media``
``DtmfReceived``        ``dtmf``            ``dtmf``              ``dtmf``
``MarkPlayed``          ``mark`` (echo)     ``mark`` (echo)       ``playedStream``
``PlaybackCleared``     (none)              (none)                ``clearedAudio``
``CarrierError``        (none)              ``error``             (none)
``StreamStopped``       ``stop``            ``stop``              ``stop``
======================  ==================  ====================  ====================

Callers' phone numbers and application data ride in :class:`StreamStarted`
(Telnyx's ``from``/``to``, Twilio's ``customParameters``, Plivo's
``extra_headers``) and Telnyx's stream token in :class:`StreamConnected`: they
are fields a bridge can read, but ``repr()`` never prints them, so a logged
event leaks neither a number nor a token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from adk_realtime.sansio.config import AudioEncoding, AudioFormat

__all__ = [
    "CarrierError",
    "DtmfReceived",
    "MarkPlayed",
    "MediaReceived",
    "PlaybackCleared",
    "StreamConnected",
    "StreamStarted",
    "StreamStopped",
    "TelephonyEvent",
]


# The carriers' names of the G.711 encodings (Twilio and Plivo write MIME types, Telnyx the
# RTP payload names).
_G711_NAMES: Mapping[str, AudioEncoding] = {
    "audio/x-mulaw": AudioEncoding.G711_ULAW,
    "audio/pcmu": AudioEncoding.G711_ULAW,
    "pcmu": AudioEncoding.G711_ULAW,
    "audio/x-alaw": AudioEncoding.G711_ALAW,
    "audio/pcma": AudioEncoding.G711_ALAW,
    "pcma": AudioEncoding.G711_ALAW,
}


@dataclass(frozen=True, slots=True)
class StreamConnected:
    """The carrier opened the WebSocket (Twilio's and Telnyx's first message).

    ``protocol`` is Twilio's ``"Call"`` (empty for Telnyx). ``auth_token`` is the
    stream token Telnyx repeats when ``stream_auth_token`` was set on the call
    (compare it with the one you set, in constant time); never printed by ``repr``.
    """

    protocol: str = ""
    version: str = ""
    auth_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class StreamStarted:
    """The stream began: who it belongs to and the format of the audio that will arrive.

    ``encoding`` is the carrier's own name for it (``"audio/x-mulaw"``, Telnyx's
    ``"PCMU"``). ``custom_parameters`` are Twilio's ``customParameters``,
    Telnyx's ``custom_parameters`` or the ``key=value`` pairs of Plivo's
    ``extra_headers``; ``caller``/``called`` are Telnyx's ``from``/``to``;
    ``client_state`` is Telnyx's. Those four are never printed by ``repr``.
    """

    stream_id: str
    call_id: str
    account_id: str = ""
    tracks: tuple[str, ...] = ()
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000
    channels: int = 1
    custom_parameters: Mapping[str, str] = field(default_factory=dict, repr=False)
    caller: str | None = field(default=None, repr=False)
    called: str | None = field(default=None, repr=False)
    client_state: str | None = field(default=None, repr=False)

    @property
    def audio_format(self) -> AudioFormat | None:
        """The inbound audio as an :class:`AudioFormat`: G.711 μ-law or A-law at 8 kHz, one
        channel, whatever the carrier calls it (``audio/x-mulaw``, ``PCMU``, ``audio/x-alaw``,
        ``PCMA``); ``None`` for anything else (L16, G.722, Opus, another rate)."""
        if self.sample_rate != 8000 or self.channels != 1:
            return None
        encoding = _G711_NAMES.get(self.encoding.lower())
        return None if encoding is None else AudioFormat(encoding, 8000)


@dataclass(frozen=True, slots=True)
class MediaReceived:
    """Audio from the call: ``payload`` is the decoded bytes in the stream's encoding.

    ``chunk`` counts the carrier's messages per track. ``timestamp_ms`` is what the
    carrier wrote: milliseconds since the stream started for Twilio and Telnyx,
    Unix time in milliseconds for Plivo. Both are ``None`` when absent. The
    payload is left out of ``repr`` (it is the caller's voice, and long).
    """

    payload: bytes = field(repr=False)
    track: str = "inbound"
    chunk: int | None = None
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    """The caller pressed a key: ``digit`` is one of ``0-9 * # A-D``."""

    digit: str
    track: str = ""


@dataclass(frozen=True, slots=True)
class MarkPlayed:
    """The carrier sent back a mark (Plivo: a checkpoint, ``playedStream``).

    ``position_ms`` is the outbound audio position the mark followed when this
    codec placed it, ``None`` for a name it did not place. ``heard`` says whether
    the echo moved ``heard_ms`` forward: it is false for the echo of a mark
    queued before a ``clear()`` (the carrier returns those when it drops the
    audio, see the accounting in
    :mod:`adk_realtime.sansio.telephony.playback`) and for unknown names.
    """

    name: str
    position_ms: int | None = None
    heard: bool = False


@dataclass(frozen=True, slots=True)
class PlaybackCleared:
    """Plivo confirmed a ``clearAudio``: the audio it had queued was dropped."""


@dataclass(frozen=True, slots=True)
class CarrierError:
    """The carrier reported an error on the stream (Telnyx's ``error`` frame), e.g.
    ``100003 malformed_frame`` or ``100005 rate_limit_reached``."""

    code: int | None
    title: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class StreamStopped:
    """The stream ended (the call hung up or the stream was stopped).

    ``call_id``/``account_id`` are what the carrier repeated (Twilio, Telnyx);
    ``reason`` is Plivo's, when it gives one.
    """

    call_id: str = ""
    account_id: str = ""
    reason: str = ""


TelephonyEvent = (
    StreamConnected
    | StreamStarted
    | MediaReceived
    | DtmfReceived
    | MarkPlayed
    | PlaybackCleared
    | CarrierError
    | StreamStopped
)
"""Any event a carrier media stream machine gives from ``next_event()``."""
