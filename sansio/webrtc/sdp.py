"""SDP for our WebRTC peer: build the offer, parse the answer (RFC 8866, JSEP RFC 9429).

Theory of operation
-------------------
We are always the offerer. `build_offer` writes one fixed shape of offer: a BUNDLE
group of an audio m-section (mid ``0``: Opus 111, optionally PCMU 0 / PCMA 8,
rtcp-mux, one send SSRC) and an application m-section (mid ``1``: SCTP over DTLS
for data channels). Both sections carry the same ICE credentials, DTLS fingerprint
and ``a=setup:actpass`` (the answerer picks the DTLS role), and every local
candidate followed by ``a=end-of-candidates``: candidates are gathered before the
offer is written, so there is no trickle.

`parse_answer` reads the peer's reply in two passes. Pass one splits the text into
lines (CRLF or LF, trailing blanks dropped), checks each is ``<letter>=<value>``, and groups the lines into
the session part and one part per ``m=`` line. Pass two interprets the attributes
we need and skips the rest. Any malformed line we need raises `SdpError` naming the
line number and its content; a missing essential (ICE credentials, a SHA-256
fingerprint) raises `SdpError` naming what is missing. Parsing builds new frozen
objects only, so nothing is left half-updated. `parse_offer` runs the same parser
without the answer-only checks (the tests round-trip our own offer through it).

A stateless codec (text in, frozen objects out, and back), not a sans-IO machine.

Unknown attributes are ignored, as RFC 8866 asks. TCP candidates, candidates of
other components, candidates whose address is not an IP literal (mDNS names) and
unusable ones (0.0.0.0, ::, port 0) are kept apart in ``ignored_candidates``: our
ICE agent speaks UDP only.
"""

from __future__ import annotations

import ipaddress
import re
import zlib
from dataclasses import dataclass, field
from typing import Literal

from adk_realtime.sansio.errors import ConfigError, ProtocolError

__all__ = [
    "Fingerprint",
    "IceCandidate",
    "MediaDescription",
    "RtpCodec",
    "SdpAnswer",
    "SdpError",
    "SessionDescription",
    "build_offer",
    "candidate_priority",
    "host_candidate",
    "parse_answer",
    "parse_offer",
]

DtlsRole = Literal["client", "server"]

_ICE_CHARS = re.compile(r"[A-Za-z0-9+/]+")
_FINGERPRINT = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*")
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_MAX_INT_DIGITS = 20  # keeps int() far below Python's digit limit on hostile input
_TYPE_PREFERENCE = {"host": 126, "prflx": 110, "srflx": 100, "relay": 0}
_STATIC_AUDIO = {0: ("PCMU", 8000), 8: ("PCMA", 8000)}
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_SETUP_VALUES = ("active", "passive", "actpass")


class SdpError(ProtocolError):
    """The SDP text is malformed or lacks something WebRTC needs.

    ``line_number`` (1-based) and ``line`` name the offending line when there is one.
    Check that the peer is a WebRTC endpoint, then report the message.
    """

    def __init__(self, message: str, line_number: int | None = None, line: str = "") -> None:
        if line_number is not None:
            shown = line if len(line) <= 120 else line[:117] + "..."
            message = f"SDP line {line_number} {shown!r}: {message}"
        else:
            message = f"SDP: {message}"
        super().__init__(message)
        self.line_number = line_number
        self.line = line


def _uint(text: str, what: str, maximum: int) -> int:
    # int() accepts "+5", "1_0", " 5" and non-ASCII digits; SDP numbers are plain ASCII.
    if not text or len(text) > _MAX_INT_DIGITS or not (text.isascii() and text.isdigit()):
        raise ValueError(f"{what} {text!r} is not a decimal number")
    value = int(text)
    if value > maximum:
        raise ValueError(f"{what} {value} is larger than {maximum}")
    return value


def candidate_priority(
    candidate_type: str, local_preference: int = 65535, component: int = 1
) -> int:
    """RFC 8445 section 5.1.2.1: ``2^24*type_pref + 2^8*local_pref + (256 - component)``."""
    return (
        (_TYPE_PREFERENCE.get(candidate_type, 0) << 24)
        + (local_preference << 8)
        + (256 - component)
    )


@dataclass(frozen=True, slots=True)
class IceCandidate:
    """One ICE candidate (RFC 8839 section 5.1), as carried on an ``a=candidate:`` line.

    ``transport`` is lower case (``"udp"``/``"tcp"``); ``address`` is the connection
    address as written (an IP literal for every candidate our ICE agent uses).
    """

    foundation: str
    component: int
    transport: str
    priority: int
    address: str
    port: int
    type: str
    related_address: str | None = None
    related_port: int | None = None
    tcptype: str | None = None

    @property
    def addr(self) -> tuple[str, int]:
        """The ``(host, port)`` transport address."""
        return (self.address, self.port)

    def to_sdp(self) -> str:
        """The attribute value, without the ``candidate:`` prefix."""
        text = (
            f"{self.foundation} {self.component} {self.transport} {self.priority} "
            f"{self.address} {self.port} typ {self.type}"
        )
        if self.related_address is not None and self.related_port is not None:
            text += f" raddr {self.related_address} rport {self.related_port}"
        if self.tcptype is not None:
            text += f" tcptype {self.tcptype}"
        return text

    @classmethod
    def from_sdp(cls, value: str) -> IceCandidate:
        """Parse an ``a=candidate:`` value (with or without the ``candidate:`` prefix).

        Raises `SdpError` if it is malformed.
        """
        if value.startswith("candidate:"):
            value = value[len("candidate:") :]
        try:
            return _parse_candidate(value)
        except ValueError as exc:
            raise SdpError(f"bad candidate {value[:120]!r}: {exc}") from None


def _parse_candidate(value: str) -> IceCandidate:
    bits = value.split()
    if len(bits) < 8 or bits[6] != "typ":
        raise ValueError(
            "expected '<foundation> <component> <transport> <priority> "
            "<address> <port> typ <type> ...'"
        )
    foundation = bits[0]
    if len(foundation) > 32 or not _ICE_CHARS.fullmatch(foundation):
        raise ValueError(f"foundation {foundation!r} is not 1-32 ice-chars")
    component = _uint(bits[1], "component", 256)
    if component < 1:
        raise ValueError("component must be 1-256")
    transport = bits[2].lower()
    priority = _uint(bits[3], "priority", 2**32 - 1)
    port = _uint(bits[5], "port", 65535)
    extensions: dict[str, str] = {}
    rest = bits[8:]
    if len(rest) % 2:
        raise ValueError("extension attributes must be name/value pairs")
    for name, ext_value in zip(rest[::2], rest[1::2]):
        extensions.setdefault(name, ext_value)
    related_port = None
    if "rport" in extensions:
        related_port = _uint(extensions["rport"], "rport", 65535)
    return IceCandidate(
        foundation=foundation,
        component=component,
        transport=transport,
        priority=priority,
        address=bits[4],
        port=port,
        type=bits[7],
        related_address=extensions.get("raddr"),
        related_port=related_port,
        tcptype=extensions.get("tcptype"),
    )


def host_candidate(
    address: str, port: int, *, local_preference: int = 65535, component: int = 1
) -> IceCandidate:
    """A UDP host candidate for a local socket bound to ``(address, port)``.

    The foundation is derived from the address, so candidates on one interface share it
    (RFC 8445 section 5.1.1.3).
    """
    foundation = str(zlib.crc32(f"host|udp|{address}".encode()))
    return IceCandidate(
        foundation=foundation,
        component=component,
        transport="udp",
        priority=candidate_priority("host", local_preference, component),
        address=address,
        port=port,
        type="host",
    )


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A certificate fingerprint (RFC 8122): hash ``algorithm`` (lower case) and digest."""

    algorithm: str
    value: bytes

    def to_sdp(self) -> str:
        """The digest as upper-case hex pairs joined by ``:``."""
        return ":".join(f"{b:02X}" for b in self.value)


@dataclass(frozen=True, slots=True)
class RtpCodec:
    """One payload type of an audio section (from ``a=rtpmap``/``a=fmtp`` or static)."""

    payload_type: int
    name: str
    clock_rate: int
    channels: int
    fmtp: str = ""

    @property
    def parameters(self) -> dict[str, str]:
        """The ``a=fmtp`` parameters as a dict (``minptime=10;useinbandfec=1``)."""
        pairs = (item.strip().partition("=") for item in self.fmtp.split(";"))
        return {key: val for key, _, val in pairs if key}


@dataclass(frozen=True, slots=True)
class MediaDescription:
    """One m-section, with session-level ICE/DTLS attributes folded in."""

    kind: str
    port: int
    protocol: str
    formats: tuple[str, ...]
    mid: str | None
    rejected: bool
    direction: str
    rtcp_mux: bool
    codecs: tuple[RtpCodec, ...]
    ssrcs: tuple[int, ...]
    cname: str | None
    ice_ufrag: str | None
    ice_pwd: str | None = field(repr=False)
    fingerprints: tuple[Fingerprint, ...]
    setup: str | None
    candidates: tuple[IceCandidate, ...]
    end_of_candidates: bool
    sctp_port: int | None
    max_message_size: int | None


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A parsed offer or answer, reduced to what our peer uses.

    ICE credentials, fingerprint and setup come from the first accepted section of the
    BUNDLE group (the one whose transport every bundled section shares).
    ``candidates`` are the usable ones (UDP, component 1, IP literal, not 0.0.0.0/::,
    port not 0), deduplicated.
    """

    origin: str
    ice_lite: bool
    bundle: tuple[str, ...]
    media: tuple[MediaDescription, ...]
    ice_ufrag: str
    ice_pwd: str = field(repr=False)
    fingerprint: Fingerprint
    setup: str | None
    candidates: tuple[IceCandidate, ...]
    ignored_candidates: tuple[IceCandidate, ...]
    end_of_candidates: bool
    audio: MediaDescription | None
    application: MediaDescription | None
    audio_codecs: tuple[RtpCodec, ...]
    opus: RtpCodec | None
    pcmu: RtpCodec | None
    pcma: RtpCodec | None
    audio_ssrc: int | None
    mids: tuple[str, ...]
    sctp_port: int | None
    max_message_size: int | None
    rejected: tuple[MediaDescription, ...]


@dataclass(frozen=True, slots=True)
class SdpAnswer(SessionDescription):
    """A parsed answer. ``dtls_role`` is OUR role: the answer's ``a=setup:active`` makes
    us the DTLS server; ``passive`` (or ``actpass``, which an answer should not use)
    makes us the client that sends the ClientHello."""

    dtls_role: DtlsRole


# ---------------------------------------------------------------------------- offer


def build_offer(
    *,
    ice_ufrag: str,
    ice_pwd: str,
    fingerprint_sha256: str,
    candidates: list[IceCandidate],
    audio_ssrc: int,
    cname: str,
    session_id: int,
    sctp_port: int = 5000,
    max_message_size: int = 262144,
    include_g711: bool = True,
) -> str:
    """Write our SDP offer (CRLF line endings), ready to POST as ``application/sdp``.

    ``fingerprint_sha256`` is the local certificate's SHA-256 digest as ``AB:CD:...``.
    ``candidates`` are every local candidate (gathered beforehand; no trickle).
    Raises `ConfigError` (a ``ValueError``) naming the bad argument. Next: send the
    offer, then feed the reply to `parse_answer`.
    """
    _check_offer_arguments(
        ice_ufrag=ice_ufrag, ice_pwd=ice_pwd, fingerprint_sha256=fingerprint_sha256,
        candidates=candidates, audio_ssrc=audio_ssrc, cname=cname, session_id=session_id,
        sctp_port=sctp_port, max_message_size=max_message_size,
    )  # fmt: skip
    # The default destination (m=/c=) is the best UDP candidate (RFC 8839 section 4.2.1.1).
    udp = [c for c in candidates if c.transport == "udp" and c.component == 1]
    best = max(udp, key=lambda c: c.priority, default=None)
    port, conn = 9, "IN IP4 0.0.0.0"
    if best is not None:
        version = _ip_version(best.address)
        if version is not None:
            port, conn = best.port, f"IN IP{version} {best.address}"
    transport = [
        f"c={conn}",
        f"a=ice-ufrag:{ice_ufrag}",
        f"a=ice-pwd:{ice_pwd}",
        f"a=fingerprint:sha-256 {fingerprint_sha256.upper()}",
        "a=setup:actpass",
    ]
    candidate_lines = [f"a=candidate:{c.to_sdp()}" for c in candidates]
    candidate_lines.append("a=end-of-candidates")
    formats = "111 0 8" if include_g711 else "111"

    lines = [
        "v=0",
        f"o=- {session_id} 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "a=msid-semantic:WMS *",
        f"m=audio {port} UDP/TLS/RTP/SAVPF {formats}",
        *transport,
        "a=mid:0",
        f"a=msid:adk-realtime audio-{audio_ssrc}",
        "a=sendrecv",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
    ]
    if include_g711:
        lines += ["a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000"]
    lines += [f"a=ssrc:{audio_ssrc} cname:{cname}", *candidate_lines]
    lines += [
        f"m=application {port} UDP/DTLS/SCTP webrtc-datachannel",
        *transport,
        "a=mid:1",
        f"a=sctp-port:{sctp_port}",
        f"a=max-message-size:{max_message_size}",
        *candidate_lines,
    ]
    return "\r\n".join(lines) + "\r\n"


def _check_offer_arguments(
    *, ice_ufrag: str, ice_pwd: str, fingerprint_sha256: str, candidates: list[IceCandidate],
    audio_ssrc: int, cname: str, session_id: int, sctp_port: int, max_message_size: int,
) -> None:  # fmt: skip
    """Raise `ConfigError` naming the first bad `build_offer` argument and its value."""
    checks: tuple[tuple[str, bool, str, object], ...] = (
        ("ice_ufrag", 4 <= len(ice_ufrag) <= 256 and bool(_ICE_CHARS.fullmatch(ice_ufrag)),
         "4-256 characters of [A-Za-z0-9+/]", ice_ufrag),
        ("ice_pwd", 22 <= len(ice_pwd) <= 256 and bool(_ICE_CHARS.fullmatch(ice_pwd)),
         "22-256 characters of [A-Za-z0-9+/] (a credential: its length shown)", len(ice_pwd)),
        ("fingerprint_sha256", len(fingerprint_sha256) == 95
         and bool(_FINGERPRINT.fullmatch(fingerprint_sha256)),
         "32 hex pairs joined by ':'", fingerprint_sha256),
        ("audio_ssrc", 0 <= audio_ssrc < 2**32, "a 32-bit number", audio_ssrc),
        ("cname", 0 < len(cname) <= 255 and cname.isascii() and cname.isprintable()
         and " " not in cname, "1-255 printable ASCII characters without spaces", cname),
        ("session_id", 0 <= session_id < 2**63, "0 <= session_id < 2**63", session_id),
        ("sctp_port", 0 < sctp_port < 65536, "1-65535", sctp_port),
        ("max_message_size", max_message_size >= 0, ">= 0 (0 means no limit)", max_message_size),
    )  # fmt: skip
    for name, ok, requirement, value in checks:
        if not ok:
            raise ConfigError(name, f"must be {requirement}, not {value!r}")
    for candidate in candidates:
        try:
            _parse_candidate(candidate.to_sdp())
        except ValueError as exc:
            raise ConfigError("candidates", f"{candidate!r} is invalid: {exc}") from None


def _ip_version(address: str) -> int | None:
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return None


# ---------------------------------------------------------------------------- parser


@dataclass(slots=True)
class _Line:
    number: int
    text: str

    def fail(self, message: str) -> SdpError:
        return SdpError(message, self.number, self.text)


@dataclass(slots=True)
class _RawSection:
    m_line: _Line | None  # None for the session part
    lines: list[_Line]


def _split(sdp: str) -> list[_RawSection]:
    sections = [_RawSection(None, [])]
    seen_version = False
    for number, raw in enumerate(sdp.split("\n"), 1):
        # Trailing whitespace is not part of any value we read (a stray space after
        # 'a=setup:active' or an ICE password would otherwise break the session).
        text = raw.rstrip(" \t\r")
        if not text:
            continue  # blank lines (and the final CRLF) carry nothing; tolerate them
        line = _Line(number, text)
        if len(text) < 2 or text[1] != "=" or not ("a" <= text[0] <= "z"):
            raise line.fail("expected '<type>=<value>' with a lower-case letter type")
        if not seen_version:
            if text != "v=0":
                raise line.fail("an SDP description starts with 'v=0'")
            seen_version = True
            continue
        if text[0] == "m":
            sections.append(_RawSection(line, []))
        else:
            sections[-1].lines.append(line)
    if not seen_version:
        raise SdpError("empty description (no 'v=0' line)")
    return sections


def _attr(line: _Line) -> tuple[str, str | None]:
    body = line.text[2:]
    name, colon, value = body.partition(":")
    if not _TOKEN.fullmatch(name):
        raise line.fail("attribute name is not a token")
    return name, (value if colon else None)


def _need(line: _Line, value: str | None) -> str:
    if not value:
        raise line.fail("attribute needs a value")
    return value


def _fingerprint(line: _Line, value: str) -> Fingerprint:
    algorithm, _, digest = value.strip().partition(" ")
    digest = digest.strip()
    if not algorithm or not _FINGERPRINT.fullmatch(digest):
        raise line.fail("expected 'a=fingerprint:<hash> <hex pairs joined by :>'")
    return Fingerprint(algorithm.lower(), bytes.fromhex(digest.replace(":", "")))


@dataclass(slots=True)
class _Session:
    origin: str = ""
    ice_lite: bool = False
    bundle: tuple[str, ...] = ()
    ice_ufrag: str | None = None
    ice_pwd: str | None = None
    fingerprints: tuple[Fingerprint, ...] = ()
    setup: str | None = None


def _parse_session(raw: _RawSection) -> _Session:
    session = _Session()
    fingerprints: list[Fingerprint] = []
    for line in raw.lines:
        if line.text[0] == "o":
            session.origin = line.text[2:]
        if line.text[0] != "a":
            continue
        name, value = _attr(line)
        if name == "ice-lite":
            session.ice_lite = True
        elif name == "group":
            semantics, *mids = _need(line, value).split()
            if semantics == "BUNDLE" and not session.bundle:
                session.bundle = tuple(mids)
        elif name == "ice-ufrag":
            session.ice_ufrag = _need(line, value)
        elif name == "ice-pwd":
            session.ice_pwd = _need(line, value)
        elif name == "fingerprint":
            fingerprints.append(_fingerprint(line, _need(line, value)))
        elif name == "setup":
            session.setup = _setup(line, value)
    session.fingerprints = tuple(fingerprints)
    return session


def _setup(line: _Line, value: str | None) -> str:
    if value not in _SETUP_VALUES:
        raise line.fail("a=setup must be active, passive or actpass")
    return value


@dataclass(slots=True)
class _MediaAttributes:
    """What one m-section's attribute lines say, gathered line by line."""

    ice_ufrag: str | None  # the session-level values until the section overrides them
    ice_pwd: str | None
    setup: str | None
    mid: str | None = None
    direction: str = "sendrecv"  # RFC 8866 section 6.7: the default
    rtcp_mux: bool = False
    end_of_candidates: bool = False
    fingerprints: list[Fingerprint] = field(default_factory=list)
    rtpmaps: dict[int, tuple[str, int, int]] = field(default_factory=dict)
    fmtps: dict[int, str] = field(default_factory=dict)
    ssrcs: list[int] = field(default_factory=list)
    cname: str | None = None
    candidates: list[IceCandidate] = field(default_factory=list)
    sctp_port: int | None = None
    max_message_size: int | None = None


def _read_media_attribute(
    attrs: _MediaAttributes, line: _Line, name: str, value: str | None
) -> None:
    """Take one ``a=`` line of an m-section; ValueError (or SdpError) if it is malformed."""
    if name == "mid":
        attrs.mid = _need(line, value)
    elif name in _DIRECTIONS:
        attrs.direction = name
    elif name == "rtcp-mux":
        attrs.rtcp_mux = True
    elif name == "ice-ufrag":
        attrs.ice_ufrag = _need(line, value)
    elif name == "ice-pwd":
        attrs.ice_pwd = _need(line, value)
    elif name == "fingerprint":
        attrs.fingerprints.append(_fingerprint(line, _need(line, value)))
    elif name == "setup":
        attrs.setup = _setup(line, value)
    elif name == "rtpmap":
        pt, mapping = _rtpmap(_need(line, value))
        attrs.rtpmaps.setdefault(pt, mapping)
    elif name == "fmtp":
        pt_text, _, params = _need(line, value).partition(" ")
        attrs.fmtps.setdefault(_uint(pt_text, "payload type", 127), params.strip())
    elif name == "ssrc":
        _ssrc(attrs, _need(line, value))
    elif name == "candidate":
        attrs.candidates.append(_parse_candidate(_need(line, value)))
    elif name == "end-of-candidates":
        attrs.end_of_candidates = True
    elif name == "sctp-port":
        attrs.sctp_port = _uint(_need(line, value), "sctp-port", 65535)
    elif name == "sctpmap" and attrs.sctp_port is None:
        # draft-ietf-mmusic-sctp-sdp-05 form: 'a=sctpmap:5000 webrtc-datachannel 1024'
        attrs.sctp_port = _uint(_need(line, value).partition(" ")[0], "sctpmap port", 65535)
    elif name == "max-message-size":
        attrs.max_message_size = _uint(_need(line, value), "max-message-size", 2**64 - 1)


def _rtpmap(value: str) -> tuple[int, tuple[str, int, int]]:
    """``<pt> <name>/<clock rate>[/<channels>]`` as (pt, (name, clock rate, channels))."""
    pt_text, _, encoding = value.partition(" ")
    pt = _uint(pt_text, "payload type", 127)
    enc = encoding.strip().split("/")
    if len(enc) not in (2, 3) or not enc[0]:
        raise ValueError("expected '<pt> <name>/<clock rate>[/<channels>]'")
    clock = _uint(enc[1], "clock rate", 2**32 - 1)
    channels = _uint(enc[2], "channels", 255) if len(enc) == 3 else 1
    return pt, (enc[0], clock, channels)


def _ssrc(attrs: _MediaAttributes, value: str) -> None:
    """``<ssrc> <attribute>[:<value>]``: note the SSRC, and the first one's CNAME."""
    ssrc_text, _, ssrc_attr = value.partition(" ")
    ssrc = _uint(ssrc_text, "ssrc", 2**32 - 1)
    if ssrc not in attrs.ssrcs:
        attrs.ssrcs.append(ssrc)
    key, _, ssrc_value = ssrc_attr.partition(":")
    if key == "cname" and attrs.cname is None and ssrc == attrs.ssrcs[0]:
        attrs.cname = ssrc_value


def _audio_codecs(
    formats: tuple[str, ...], attrs: _MediaAttributes, m_line: _Line
) -> tuple[RtpCodec, ...]:
    """The codecs of an audio m-line's formats: rtpmap'd or static; others skipped."""
    codecs: list[RtpCodec] = []
    for fmt in formats:
        if not (fmt.isascii() and fmt.isdigit() and len(fmt) <= 3):
            raise m_line.fail(f"payload type {fmt!r} is not a number")
        pt = int(fmt)
        if pt in attrs.rtpmaps:
            enc_name, clock, channels = attrs.rtpmaps[pt]
        elif pt in _STATIC_AUDIO:
            enc_name, clock = _STATIC_AUDIO[pt]
            channels = 1
        else:
            continue  # a dynamic payload type without rtpmap: unusable, skip
        codecs.append(RtpCodec(pt, enc_name, clock, channels, attrs.fmtps.get(pt, "")))
    return tuple(codecs)


def _parse_media(raw: _RawSection, session: _Session) -> MediaDescription:
    assert raw.m_line is not None
    m_line = raw.m_line
    bits = m_line.text[2:].split()  # any run of blanks separates the fields
    if len(bits) < 3:
        raise m_line.fail("expected 'm=<media> <port> <proto> <fmt> ...'")
    try:
        port = _uint(bits[1].partition("/")[0], "port", 65535)
    except ValueError as exc:
        raise m_line.fail(str(exc)) from None
    kind, protocol, formats = bits[0], bits[2], tuple(bits[3:])

    attrs = _MediaAttributes(session.ice_ufrag, session.ice_pwd, session.setup)
    for line in raw.lines:
        if line.text[0] != "a":
            continue
        name, value = _attr(line)
        try:
            _read_media_attribute(attrs, line, name, value)
        except ValueError as exc:
            raise line.fail(str(exc)) from None

    # Media-level fingerprints override the session's.
    fingerprints = attrs.fingerprints or list(session.fingerprints)
    sctp_port = attrs.sctp_port
    if sctp_port is None and protocol in ("DTLS/SCTP",) and formats:
        try:
            sctp_port = _uint(formats[0], "sctp port", 65535)
        except ValueError as exc:
            raise m_line.fail(str(exc)) from None
    return MediaDescription(
        kind=kind,
        port=port,
        protocol=protocol,
        formats=formats,
        mid=attrs.mid,
        rejected=port == 0,
        direction=attrs.direction,
        rtcp_mux=attrs.rtcp_mux,
        codecs=_audio_codecs(formats, attrs, m_line) if kind == "audio" else (),
        ssrcs=tuple(attrs.ssrcs),
        cname=attrs.cname,
        ice_ufrag=attrs.ice_ufrag,
        ice_pwd=attrs.ice_pwd,
        fingerprints=tuple(fingerprints),
        setup=attrs.setup,
        candidates=tuple(attrs.candidates),
        end_of_candidates=attrs.end_of_candidates,
        sctp_port=sctp_port,
        max_message_size=attrs.max_message_size,
    )


def _usable(candidate: IceCandidate) -> bool:
    # 0.0.0.0, :: and port 0 cannot be sent to; mDNS names are not IP literals.
    if candidate.transport != "udp" or candidate.component != 1 or candidate.port == 0:
        return False
    try:
        return not ipaddress.ip_address(candidate.address).is_unspecified
    except ValueError:
        return False


def _parse(sdp: str, what: str) -> SessionDescription:
    if not isinstance(sdp, str):
        raise SdpError(f"the {what} must be text, not {type(sdp).__name__}")
    raw_sections = _split(sdp)
    session = _parse_session(raw_sections[0])
    media = tuple(_parse_media(raw, session) for raw in raw_sections[1:])
    accepted = [m for m in media if not m.rejected]
    if not accepted:
        raise SdpError(f"the {what} has no accepted m-section (all missing or port 0)")
    # The BUNDLE tag: the first accepted section named in the group (RFC 9143 section 7).
    by_mid = {m.mid: m for m in accepted if m.mid is not None}
    primary = next((by_mid[mid] for mid in session.bundle if mid in by_mid), accepted[0])
    if not primary.ice_ufrag or not primary.ice_pwd:
        raise SdpError(f"the {what} has no a=ice-ufrag/a=ice-pwd for its transport")
    sha256 = next((f for f in primary.fingerprints if f.algorithm == "sha-256"), None)
    if sha256 is None or len(sha256.value) != 32:
        raise SdpError(f"the {what} has no a=fingerprint:sha-256 with a 32-byte digest")

    usable: list[IceCandidate] = []
    ignored: list[IceCandidate] = []
    seen: set[tuple[str, str, int]] = set()
    for section in accepted:
        for c in section.candidates:
            key = (c.transport, c.address, c.port)
            if key in seen:
                continue  # BUNDLE repeats the same candidates in every section
            seen.add(key)
            (usable if _usable(c) else ignored).append(c)

    audio = next((m for m in accepted if m.kind == "audio"), None)
    application = next((m for m in accepted if m.kind == "application"), None)
    codecs = audio.codecs if audio is not None else ()

    def find(name: str) -> RtpCodec | None:
        return next((c for c in codecs if c.name.lower() == name), None)

    max_message_size = None
    if application is not None:
        # RFC 8841 section 6: an absent max-message-size means 64 KiB.
        max_message_size = application.max_message_size
        if max_message_size is None:
            max_message_size = 65536

    return SessionDescription(
        origin=session.origin,
        ice_lite=session.ice_lite,
        bundle=session.bundle,
        media=media,
        ice_ufrag=primary.ice_ufrag,
        ice_pwd=primary.ice_pwd,
        fingerprint=sha256,
        setup=primary.setup,
        candidates=tuple(usable),
        ignored_candidates=tuple(ignored),
        end_of_candidates=primary.end_of_candidates,
        audio=audio,
        application=application,
        audio_codecs=codecs,
        opus=find("opus"),
        pcmu=find("pcmu"),
        pcma=find("pcma"),
        audio_ssrc=audio.ssrcs[0] if audio is not None and audio.ssrcs else None,
        mids=tuple(m.mid for m in media if m.mid is not None),
        sctp_port=application.sctp_port if application is not None else None,
        max_message_size=max_message_size,
        rejected=tuple(m for m in media if m.rejected),
    )


def parse_offer(sdp: str) -> SessionDescription:
    """Parse an offer (ours, in tests). Raises `SdpError` naming the bad line."""
    return _parse(sdp, "offer")


def parse_answer(sdp: str) -> SdpAnswer:
    """Parse the peer's answer to our offer.

    Raises `SdpError` naming the line number and content of a malformed line, or what
    is missing. Next: give ``ice_ufrag``/``ice_pwd``/``candidates``/``ice_lite`` to
    `IceAgent.set_remote`, ``fingerprint`` and ``dtls_role`` to DTLS, ``opus`` (or
    ``pcmu``/``pcma``) and ``audio_ssrc`` to RTP, ``sctp_port`` and
    ``max_message_size`` to SCTP.
    """
    parsed = _parse(sdp, "answer")
    # RFC 4145: no a=setup means 'active'. An answer 'actpass' (not allowed by RFC 5763)
    # leaves the choice to us: we become the client, which starts the handshake.
    setup = parsed.setup or "active"
    role: DtlsRole = "server" if setup == "active" else "client"
    fields = {name: getattr(parsed, name) for name in SessionDescription.__dataclass_fields__}
    return SdpAnswer(**fields, dtls_role=role)
