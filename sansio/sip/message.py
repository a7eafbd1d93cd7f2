"""SIP messages (RFC 3261 section 7, 20, 25): parse, serialise, read header values.

A datagram holds one message: a start line (``INVITE sip:a@b SIP/2.0`` or
``SIP/2.0 200 OK``), header lines, an empty line, a body. Parsing follows the
grammar where it matters and is lenient where RFC 4475 says a robust parser is:
header names are case-insensitive and compact forms (``v``, ``f``, ``t``, ``i``,
``m``, ``l``, ``c``, ``k``, ``s``, ``e``) are expanded; folded lines (a line starting
with space or tab) continue the header before; whitespace around the colon is
allowed; headers that hold comma-separated lists (Via, Contact, Route...) are kept
as written and split by :func:`split_values` (commas inside quotes or ``<>`` are not
separators). ``Content-Length`` cuts the body (extra bytes after it are ignored on a
datagram); a body shorter than it announces, a bad start line, a header line without
a colon, or a missing/garbled mandatory header raise :class:`SipParseError`, a
``DecodeError``: the caller answers 400 when it can (:attr:`SipParseError.message`
holds what was parsed) or drops the datagram.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from adk_realtime.sansio.errors import DecodeError

__all__ = [
    "COMPACT_FORMS",
    "MAX_MESSAGE_BYTES",
    "NameAddr",
    "SipMessage",
    "SipParseError",
    "Via",
    "canonical_name",
    "parse_cseq",
    "parse_message",
    "parse_name_addr",
    "parse_params",
    "parse_via",
    "split_values",
]

MAX_MESSAGE_BYTES = 65_535  # one UDP datagram at most
MAX_HEADERS = 200

COMPACT_FORMS = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",
    "u": "Allow-Events",
    "r": "Refer-To",
}
_CANONICAL = {
    name.lower(): name
    for name in (
        "Accept", "Allow", "Authorization", "Call-ID", "Contact", "Content-Disposition",
        "Content-Encoding", "Content-Length", "Content-Type", "CSeq", "Expires", "From",
        "Max-Forwards", "Proxy-Authenticate", "Proxy-Authorization", "Record-Route",
        "Require", "Route", "Server", "Subject", "Supported", "To", "Unsupported",
        "User-Agent", "Via", "WWW-Authenticate", "Warning", "Event", "Allow-Events",
        "Refer-To", "Reason",
    )
}  # fmt: skip
_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_REQUEST_LINE = re.compile(r"^([^ \t]+) ([^ \t]+) SIP/(\d+)\.(\d+)$", re.IGNORECASE)
_STATUS_LINE = re.compile(r"^SIP/(\d+)\.(\d+) (\d{3})(?: (.*))?$", re.IGNORECASE)
_MANDATORY_IN_REQUESTS = ("Via", "From", "To", "Call-ID", "CSeq")


class SipParseError(DecodeError):
    """A datagram is not a SIP message we can accept. ``message``: what could be
    parsed (enough to answer 400: a request with Via, From, To, Call-ID and CSeq), or
    ``None`` (drop the datagram); ``status``: the response to answer with (400, or 505
    for a SIP version other than 2.0)."""

    def __init__(self, why: str, message: SipMessage | None = None, status: int = 400) -> None:
        super().__init__(why)
        self.message = message
        self.status = status


def canonical_name(name: str) -> str:
    """The header's name as this module files it: compact forms expanded, known names
    in their RFC spelling, others as written."""
    lowered = name.lower()
    if lowered in COMPACT_FORMS:
        return COMPACT_FORMS[lowered]
    return _CANONICAL.get(lowered, name)


@dataclass(slots=True)
class SipMessage:
    """One SIP request (``method``, ``uri``) or response (``status``, ``reason``).

    ``headers`` in order, names canonical (:func:`canonical_name`), values with folding
    undone and surrounding whitespace stripped. ``body`` is the message body.
    """

    method: str | None = None
    uri: str | None = None
    status: int | None = None
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = field(default=b"", repr=False)

    @property
    def is_request(self) -> bool:
        return self.method is not None

    def get(self, name: str) -> str | None:
        """The first value of header ``name`` (any case, compact form allowed), or None."""
        wanted = canonical_name(name).lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def get_all(self, name: str, *, strict: bool = False) -> list[str]:
        """Every value of header ``name``, comma-separated lists split (:func:`split_values`;
        ``strict``: an empty element is a :class:`SipParseError`)."""
        wanted = canonical_name(name).lower()
        values: list[str] = []
        for key, value in self.headers:
            if key.lower() == wanted:
                values += split_values(value, strict=strict)
        return values

    def serialize(self) -> bytes:
        """The message as bytes: start line, headers in order (Content-Length rewritten to
        the body's length, appended when absent), empty line, body."""
        if self.method is not None:
            start = f"{self.method} {self.uri} SIP/2.0"
        else:
            start = f"SIP/2.0 {self.status} {self.reason}"
        lines = [start]
        for name, value in self.headers:
            if name != "Content-Length":
                lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


def split_values(value: str, *, strict: bool = False) -> list[str]:
    """Split a header value at the commas that separate list elements (not those in
    quotes or inside ``<...>``); elements are stripped, empty ones dropped (``strict``:
    refused with :class:`SipParseError`)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    angle = 0
    for char in value:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            angle += 1
        elif not quoted and char == ">" and angle:
            angle -= 1
        elif char == "," and not quoted and not angle:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    if strict and not all(parts):
        raise SipParseError(f"an empty element in the list {value[:64]!r}")
    return [part for part in parts if part]


def _start_line(line: str) -> SipMessage:
    request = _REQUEST_LINE.match(line)
    if request is not None:
        method, uri, major, minor = request.groups()
        if not _TOKEN.match(method):
            raise SipParseError(f"the method {method[:32]!r} is not a token")
        if (major, minor) != ("2", "0"):
            raise SipParseError(f"SIP version {major}.{minor} is not 2.0")
        if ":" not in uri or uri.startswith("<"):
            raise SipParseError(f"the request URI {uri[:64]!r} is not a bare URI with a scheme")
        return SipMessage(method=method, uri=uri)
    status = _STATUS_LINE.match(line)
    if status is not None:
        major, minor, code, reason = status.groups()
        if (major, minor) != ("2", "0"):
            raise SipParseError(f"SIP version {major}.{minor} is not 2.0")
        if not 100 <= int(code) <= 699:
            raise SipParseError(f"status {code} is out of range")
        return SipMessage(status=int(code), reason=reason or "")
    raise SipParseError(f"not a SIP start line: {line[:64]!r}")


def _header_lines(lines: list[str]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not headers:
                raise SipParseError("a continuation line before any header")
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}".strip())
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not _TOKEN.match(name):
            raise SipParseError(f"a header line without a valid name: {line[:48]!r}")
        headers.append((canonical_name(name), value.strip()))
        if len(headers) > MAX_HEADERS:
            raise SipParseError(f"more than {MAX_HEADERS} header lines")
    return headers


def parse_message(data: bytes | bytearray | memoryview) -> SipMessage:
    """Parse one datagram into a :class:`SipMessage`; :class:`SipParseError` if it is not
    one we accept (see the module docstring)."""
    raw = bytes(data)
    if len(raw) > MAX_MESSAGE_BYTES:
        raise SipParseError(f"a {len(raw)}-byte message is larger than a datagram")
    raw = raw.lstrip(b"\r\n")  # RFC 3261 7.5: empty lines before the start line are ignored
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("the start line and headers are not UTF-8") from None
    lines = text.replace("\r\n", "\n").split("\n")
    try:
        message = _start_line(lines[0])
    except SipParseError as exc:
        # A request line we refuse may still be answerable: read the headers for the 400.
        parts = lines[0].split(" ")
        if len(parts) < 3 or not parts[-1].upper().startswith("SIP/"):
            raise
        try:
            headers = _header_lines(lines[1:])
        except SipParseError:
            raise exc from None
        shaped = SipMessage(method=parts[0] or "?", uri=parts[1], headers=headers)
        status = 505 if "version" in str(exc) else 400
        raise SipParseError(str(exc), _answerable(shaped), status) from None
    message.headers = _header_lines(lines[1:])
    if len([1 for name, _v in message.headers if name == "Content-Length"]) > 1:
        raise SipParseError("more than one Content-Length", _answerable(message))
    message.body = body
    length = message.get("Content-Length")
    if length is not None:
        if not length.isdigit() or len(length) > 9:
            raise SipParseError(
                f"Content-Length {length[:16]!r} is not a number", _answerable(message)
            )
        if int(length) > len(body):
            raise SipParseError(
                f"Content-Length {length} is longer than the {len(body)}-byte body",
                _answerable(message),
            )
        message.body = body[: int(length)]
    if message.is_request:
        try:
            _check_mandatory(message)
        except SipParseError as exc:
            raise SipParseError(str(exc), _answerable(message), exc.status) from None
    else:
        _check_cseq(message)
    return message


def _answerable(message: SipMessage) -> SipMessage | None:
    """``message`` if a 400 can be built for it (a request with the headers a response
    copies, each readable), else None."""
    if not message.is_request or message.method == "ACK":
        return None
    for name in _MANDATORY_IN_REQUESTS:
        if message.get(name) is None:
            return None
    try:
        parse_via(message.get_all("Via")[0])
    except (SipParseError, IndexError):
        return None
    return message


def _check_mandatory(message: SipMessage) -> None:
    for name in _MANDATORY_IN_REQUESTS:
        if message.get(name) is None:
            raise SipParseError(f"the {message.method} has no {name} header", None)
    try:
        parse_via(message.get_all("Via")[0])
    except IndexError:
        raise SipParseError("the Via header is empty") from None
    _number, method = parse_cseq(message.get("CSeq") or "")
    if method != message.method:
        raise SipParseError(
            f"CSeq method {method[:16]!r} differs from the request's {(message.method or '')[:16]!r}",
            _answerable(message),
        )
    for via in message.get_all("Via", strict=True):
        parse_via(via)
    forwards = message.get("Max-Forwards")
    if forwards is not None and (
        not forwards.isdigit() or len(forwards) > 9 or int(forwards) > 255
    ):
        raise SipParseError(f"Max-Forwards {forwards[:16]!r} is not 0-255", _answerable(message))
    for name in ("From", "To"):
        parse_name_addr(message.get(name) or "")


def _check_cseq(message: SipMessage) -> None:
    cseq = message.get("CSeq")
    if cseq is None or message.get("Call-ID") is None:
        raise SipParseError("a response without CSeq or Call-ID")
    parse_cseq(cseq)


def parse_cseq(value: str) -> tuple[int, str]:
    """``"314159 INVITE"`` -> ``(314159, "INVITE")``; :class:`SipParseError` otherwise
    (the number is at most 2**31 - 1, RFC 3261 8.1.1.5)."""
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or len(parts[0]) > 10:
        raise SipParseError(f"CSeq {value[:32]!r} is not '<number> <method>'")
    number = int(parts[0])
    if number >= 2**31:
        raise SipParseError(f"CSeq number {number} is larger than 2**31 - 1")
    if not _TOKEN.match(parts[1]):
        raise SipParseError(f"CSeq method {parts[1][:16]!r} is not a token")
    return number, parts[1]


def parse_params(text: str) -> dict[str, str]:
    """``;a=1;b;c="x y"`` -> ``{"a": "1", "b": "", "c": "x y"}`` (names lower-cased)."""
    params: dict[str, str] = {}
    for part in split_params(text):
        name, _eq, value = part.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        params[name.strip().lower()] = value
    return params


def split_params(text: str) -> list[str]:
    """Split at semicolons outside quotes; empty parts dropped."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value: ``transport`` (``UDP``), ``host``, ``port`` (None: default) and its
    parameters (``branch``, ``received``, ``rport``...; names lower-cased)."""

    transport: str
    host: str
    port: int | None
    params: dict[str, str]

    @property
    def branch(self) -> str:
        return self.params.get("branch", "")


_VIA = re.compile(r"^SIP\s*/\s*2\.0\s*/\s*([A-Za-z0-9]+)\s+([^;\s]+)\s*(;.*)?$", re.IGNORECASE)


def parse_via(value: str) -> Via:
    """One Via value (``SIP/2.0/UDP host:port;branch=z9hG4bK...``)."""
    match = _VIA.match(value.strip())
    if match is None:
        raise SipParseError(f"Via {value[:64]!r} is not 'SIP/2.0/<transport> <host>'")
    transport, sent_by, rest = match.groups()
    if rest and any(not part.strip() for part in rest.split(";")[1:]):
        raise SipParseError(f"Via {value[:64]!r} has an empty parameter")
    host, port = split_host_port(sent_by)
    return Via(transport.upper(), host, port, parse_params(rest or ""))


def split_host_port(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port`` -> (host, port or None)."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket:
            raise SipParseError(f"an unterminated IPv6 reference: {text[:64]!r}")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise SipParseError(f"garbage after an IPv6 reference: {text[:64]!r}")
    else:
        host, _colon, port_text = text.partition(":")
    if not host:
        raise SipParseError(f"no host in {text[:64]!r}")
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SipParseError(f"port {port_text[:16]!r} is not 1-65535")
    return host, int(port_text)


@dataclass(frozen=True, slots=True)
class NameAddr:
    """A From/To/Contact value: ``display`` name, ``uri``, header ``params`` (``tag``)."""

    display: str
    uri: str
    params: dict[str, str]

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")


def parse_name_addr(value: str) -> NameAddr:
    """``"Bob" <sip:bob@b.com>;tag=1`` or ``sip:bob@b.com;tag=1`` (addr-spec: parameters
    after the URI are the header's, RFC 3261 20.10)."""
    value = value.strip()
    if "<" in value:
        display, _lt, rest = value.partition("<")
        uri, gt, params = rest.partition(">")
        if not gt:
            raise SipParseError(f"an unterminated <URI> in {value[:64]!r}")
        display = display.strip()
        if len(display) >= 2 and display[0] == display[-1] == '"':
            display = display[1:-1]
    else:
        display = ""
        uri, _semi, params = value.partition(";")
        params = ";" + params if params else ""
    uri = uri.strip()
    if ":" not in uri:
        raise SipParseError(f"no URI in {value[:64]!r}")
    return NameAddr(display, uri, parse_params(params))


def uri_user(uri: str) -> str | None:
    """The user part of a ``sip:user@host`` URI, or None."""
    _scheme, _colon, rest = uri.partition(":")
    user, at, _host = rest.partition("@")
    return user.split(";")[0] if at else None
