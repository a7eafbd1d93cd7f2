"""SDP offer/answer for one telephone audio stream (RFC 4566, RFC 3264).

We speak G.711 at 8 kHz (PCMU, payload type 0; PCMA, 8) with ``telephone-event``
(RFC 4733 DTMF, dynamic payload type) and 20 ms packets. :func:`parse_audio_offer`
reads the first ``m=audio`` line of an offer (its connection address, port, payload
types, ``rtpmap``, ``ptime`` and direction; media-level ``c=`` beats session-level);
:func:`negotiate` picks our codec (PCMU first: OpenAI takes it as it comes) or returns
None when the offer has none we speak (answer 488); :func:`build_answer` writes our
answer. Hold: an offer ``sendonly`` is answered ``recvonly``, ``inactive`` or the old
``c=0.0.0.0`` (RFC 2543 hold) ``inactive``; ``sendrecv`` again is unhold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adk_realtime.sansio.errors import DecodeError

__all__ = [
    "AudioOffer",
    "AudioPlan",
    "SdpAudioError",
    "build_answer",
    "negotiate",
    "parse_audio_offer",
]

_STATIC = {0: ("PCMU", 8000), 8: ("PCMA", 8000)}
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_ANSWER_DIRECTION = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


class SdpAudioError(DecodeError):
    """The SDP is malformed or has no audio stream; the message says how."""


@dataclass(frozen=True, slots=True)
class AudioOffer:
    """The audio stream of an offer. ``rtpmap``: payload type -> (encoding, rate)."""

    address: str
    port: int
    payload_types: tuple[int, ...]
    rtpmap: dict[int, tuple[str, int]] = field(default_factory=dict)
    direction: str = "sendrecv"
    ptime: int | None = None


@dataclass(frozen=True, slots=True)
class AudioPlan:
    """What we agreed: ``codec`` (``"PCMU"``/``"PCMA"``) on ``payload_type``, DTMF on
    ``telephone_event`` (None: none offered), the peer's RTP ``remote`` address, our
    ``direction``."""

    codec: str
    payload_type: int
    telephone_event: int | None
    remote: tuple[str, int]
    direction: str
    offered: tuple[int, ...] = ()

    @property
    def on_hold(self) -> bool:
        """Whether the caller put us on hold (we must not send)."""
        return self.direction in ("recvonly", "inactive")


def _text(sdp: bytes | str) -> str:
    if isinstance(sdp, str):
        return sdp
    try:
        return bytes(sdp).decode("utf-8")
    except UnicodeDecodeError:
        raise SdpAudioError("the SDP is not UTF-8") from None


def _connection(value: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpAudioError(f"c={value[:48]!r} is not 'IN IP4 <address>'")
    return parts[2].split("/")[0]


def parse_audio_offer(sdp: bytes | str) -> AudioOffer:
    """The first ``m=audio`` stream of ``sdp``; :class:`SdpAudioError` when there is none or
    the lines it needs are malformed."""
    session_address: str | None = None
    media: dict[str, object] | None = None
    direction = "sendrecv"
    for raw in _text(sdp).replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            if media is not None:
                break  # only the first audio stream matters
            parts = value.split()
            if parts and parts[0] == "audio":
                if len(parts) < 4 or not parts[1].split("/")[0].isdigit():
                    raise SdpAudioError(f"m={value[:64]!r} is malformed")
                if not all(p.isdigit() and int(p) < 128 for p in parts[3:]):
                    raise SdpAudioError(f"m={value[:64]!r} has a bad payload type")
                port = int(parts[1].split("/")[0])
                fmts = tuple(int(p) for p in parts[3:])
                media = {
                    "port": port,
                    "fmts": fmts,
                    "rtpmap": {},
                    "dir": direction,
                    "proto": parts[2],
                }
            continue
        if kind == "c":
            if media is None:
                session_address = _connection(value)
            else:
                media["address"] = _connection(value)
        elif kind == "a":
            _attribute(value, media, session=media is None)
            if media is None and value in _DIRECTIONS:
                direction = value
    if media is None:
        raise SdpAudioError("the SDP has no m=audio line")
    address = media.get("address", session_address)
    if not isinstance(address, str):
        raise SdpAudioError("the SDP has no connection address for its audio")
    payload_types = media["fmts"]
    rtpmap = media["rtpmap"]
    ptime = media.get("ptime")
    assert isinstance(payload_types, tuple) and isinstance(rtpmap, dict)
    return AudioOffer(
        address=address,
        port=int(str(media["port"])),
        payload_types=payload_types,
        rtpmap=rtpmap,
        direction=str(media["dir"]),
        ptime=ptime if isinstance(ptime, int) else None,
    )


def _attribute(value: str, media: dict[str, object] | None, *, session: bool) -> None:
    if media is None:
        return
    if value in _DIRECTIONS:
        media["dir"] = value
    elif value.startswith("rtpmap:"):
        pt_text, _space, encoding = value[7:].partition(" ")
        name, _slash, rest = encoding.partition("/")
        rate = rest.split("/")[0]
        if pt_text.isdigit() and rate.isdigit():
            rtpmap = media["rtpmap"]
            assert isinstance(rtpmap, dict)
            rtpmap[int(pt_text)] = (name.strip(), int(rate))
    elif value.startswith("ptime:") and value[6:].strip().isdigit():
        media["ptime"] = int(value[6:].strip())


def negotiate(offer: AudioOffer, prefer: tuple[str, ...] = ("PCMU", "PCMA")) -> AudioPlan | None:
    """Our answer's choices for ``offer``, or None when it has no codec we speak (or
    its audio stream is refused: port 0), which is a 488."""
    if offer.port == 0:
        return None
    codecs: dict[str, int] = {}
    event: int | None = None
    for pt in offer.payload_types:
        name, rate = offer.rtpmap.get(pt, _STATIC.get(pt, ("", 0)))
        if rate != 8000:
            continue
        upper = name.upper()
        if upper in ("PCMU", "PCMA"):
            codecs.setdefault(upper, pt)
        elif upper == "TELEPHONE-EVENT" and event is None:
            event = pt
    for name in prefer:
        if name in codecs:
            held = offer.address in ("0.0.0.0", "::")
            direction = "inactive" if held else _ANSWER_DIRECTION[offer.direction]
            return AudioPlan(
                codec=name,
                payload_type=codecs[name],
                telephone_event=event,
                remote=(offer.address, offer.port),
                direction=direction,
                offered=offer.payload_types,
            )
    return None


def build_answer(
    plan: AudioPlan, host: str, port: int, *, session_id: int = 1, version: int = 1
) -> bytes:
    """Our SDP answer: one ``m=audio`` with the chosen codec (and telephone-event),
    ``ptime:20``, the direction of ``plan``; RTP at ``host:port``. ``version`` goes up
    by one with each new answer in the dialog (RFC 3264 8)."""
    family = "IP6" if ":" in host else "IP4"
    fmts = [plan.payload_type] + (
        [plan.telephone_event] if plan.telephone_event is not None else []
    )
    lines = [
        "v=0",
        f"o=- {session_id} {version} IN {family} {host}",
        "s=adk-realtime",
        f"c=IN {family} {host}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(str(pt) for pt in fmts)}",
        f"a=rtpmap:{plan.payload_type} {plan.codec}/8000",
    ]
    if plan.telephone_event is not None:
        lines += [
            f"a=rtpmap:{plan.telephone_event} telephone-event/8000",
            f"a=fmtp:{plan.telephone_event} 0-16",
        ]
    lines += ["a=ptime:20", f"a={plan.direction}"]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")
