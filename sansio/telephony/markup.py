"""Call-answer markup: the XML a carrier's voice webhook answers with, made and read, sans-IO.

Theory of operation
-------------------
When a call arrives the carrier POSTs to a webhook and obeys the XML document the
answer carries. To put the call on a media stream (our WebSocket), each carrier has
its own dialect; to refuse it, its own verb. Functions, not a machine: each builder
takes what the document needs and returns its text; `read_stream_instruction` reads
one back (what a simulated carrier does with it).

* **Twilio TwiML** (https://www.twilio.com/docs/voice/twiml/stream)::

      <Response><Connect><Stream url="wss://..."><Parameter name=".." value=".."/>
      </Stream></Connect></Response>          <Response><Reject reason="busy"/></Response>

  ``<Connect><Stream>`` is the bidirectional stream; Twilio drops a query string from
  the ``url`` (pass data as ``<Parameter>``: they arrive in ``start.customParameters``).
* **Telnyx TeXML** (https://developers.telnyx.com/docs/voice/programmable-voice/texml-verbs/stream):
  the same shape, with ``bidirectionalMode="rtp"`` (base64 RTP payloads both ways,
  what :class:`~adk_realtime.sansio.telephony.telnyx.TelnyxMediaStream` speaks; the
  default ``mp3`` mode is one file per message) and ``bidirectionalCodec="PCMU"``;
  ``<Parameter>`` children arrive in ``start.custom_parameters``. Reject: ``<Reject
  reason="busy|rejected"/>``.
* **Plivo XML** (https://plivo.com/docs/voice/xml/the-stream-element): ``<Response>
  <Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000"
  extraHeaders="k=v,k=v">wss://...</Stream></Response>``; the URL is the element's
  text. ``extraHeaders`` (Plivo allows letters and digits only, 512 bytes in all)
  arrive in ``start``'s ``extra_headers``. Plivo has no ``<Reject>``: ``<Hangup
  reason="busy|rejected"/>``.

Every attribute value and text is XML-escaped (``& < > "`` and the white space an
attribute would otherwise fold: ``\\t \\n \\r``); a character XML 1.0 cannot carry at
all (a control character, a lone surrogate) becomes U+FFFD, so a caller's odd input
can never break the document. The Twilio output is byte for byte what the ``twilio``
package's ``VoiceResponse`` writes for the same call (the tests compare them).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from adk_realtime.sansio.errors import ConfigError, DecodeError

__all__ = [
    "MARKUP_CONTENT_TYPE",
    "MarkupError",
    "Parameters",
    "RejectReason",
    "StreamInstruction",
    "plivo_extra_header_text",
    "plivo_hangup",
    "plivo_stream",
    "read_stream_instruction",
    "telnyx_connect_stream",
    "telnyx_reject",
    "twilio_connect_stream",
    "twilio_reject",
]

MARKUP_CONTENT_TYPE = "text/xml; charset=utf-8"
"""The ``Content-Type`` of an answer (all three carriers take ``text/xml``)."""

Parameters = Mapping[str, str] | Iterable[tuple[str, str]]
RejectReason = Literal["rejected", "busy"]

_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
_REASONS = ("rejected", "busy")
_STREAM_SCHEMES = ("wss://", "ws://")
_PLIVO_CONTENT_TYPE = "audio/x-mulaw;rate=8000"
_PLIVO_EXTRA_MAX = 512  # bytes, Plivo's limit for extraHeaders
_PLIVO_WORD = re.compile(r"[A-Za-z0-9]+")
# Characters XML 1.0 cannot carry, escaped or not.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MAX_MARKUP = 64 * 1024  # an answer document is a few hundred bytes


class MarkupError(DecodeError):
    """A carrier answer is not markup `read_stream_instruction` understands."""


# ---------------------------------------------------------------------------- writing


def _text(value: str) -> str:
    value = _NOT_XML.sub("\ufffd", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute(value: str) -> str:
    # As ElementTree writes attributes (and so Twilio's VoiceResponse): white space is
    # kept as character references, which attribute-value normalisation would fold.
    escaped = _text(value).replace('"', "&quot;")
    return escaped.replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#09;")


def _element(tag: str, attributes: Iterable[tuple[str, str]], inner: str | None = None) -> str:
    attrs = "".join(f' {name}="{_attribute(value)}"' for name, value in attributes)
    if inner is None:
        return f"<{tag}{attrs} />"
    return f"<{tag}{attrs}>{inner}</{tag}>"


def _document(inner: str) -> str:
    return f"{_DECLARATION}<Response>{inner}</Response>"


def _stream_url(url: str) -> str:
    if not isinstance(url, str) or not url.lower().startswith(_STREAM_SCHEMES):
        raise ConfigError("url", "a media stream URL starts with wss:// (or ws:// on loopback)")
    return url


def _pairs(parameters: Parameters, field_name: str) -> list[tuple[str, str]]:
    items = parameters.items() if isinstance(parameters, Mapping) else parameters
    pairs = []
    for item in items:
        if not (
            isinstance(item, tuple) and len(item) == 2 and all(isinstance(s, str) for s in item)
        ):
            raise ConfigError(
                field_name, "give a mapping of names to values, or (name, value) pairs"
            )
        if not item[0]:
            raise ConfigError(field_name, "a parameter needs a name")
        pairs.append(item)
    return pairs


def _reason(reason: str) -> str:
    if reason not in _REASONS:
        raise ConfigError("reason", "must be 'rejected' or 'busy'")
    return reason


def twilio_connect_stream(url: str, parameters: Parameters = ()) -> str:
    """TwiML that connects the call to a bidirectional Media Stream at ``url``.

    ``parameters`` become ``<Parameter name value>`` children (they reach the stream's
    ``start`` message as ``customParameters``). Raises `ConfigError` for a URL that is
    not ``wss://``/``ws://`` or a parameter without a name.
    """
    children = "".join(
        _element("Parameter", [("name", name), ("value", value)])
        for name, value in _pairs(parameters, "parameters")
    )
    stream = _element("Stream", [("url", _stream_url(url))], children or None)
    return _document(_element("Connect", [], stream))


def twilio_reject(reason: RejectReason = "rejected") -> str:
    """TwiML that refuses the call unanswered (``busy``: a busy tone; no charge)."""
    return _document(_element("Reject", [("reason", _reason(reason))]))


def telnyx_connect_stream(url: str, parameters: Parameters = (), *, codec: str = "PCMU") -> str:
    """TeXML that connects the call to a bidirectional stream at ``url`` in RTP mode.

    ``codec`` is the payload both ways (``PCMU``, μ-law 8 kHz, is what the carrier
    codecs send); ``parameters`` become ``<Parameter>`` children, as for Twilio.
    """
    children = "".join(
        _element("Parameter", [("name", name), ("value", value)])
        for name, value in _pairs(parameters, "parameters")
    )
    attributes = [
        ("url", _stream_url(url)),
        ("bidirectionalMode", "rtp"),
        ("bidirectionalCodec", codec),
    ]
    return _document(_element("Connect", [], _element("Stream", attributes, children or None)))


def telnyx_reject(reason: RejectReason = "rejected") -> str:
    """TeXML that refuses the call unanswered."""
    return _document(_element("Reject", [("reason", _reason(reason))]))


def plivo_extra_header_text(value: str) -> str:
    """``value`` cut to what Plivo's ``extraHeaders`` allow: its letters and digits only
    (a number ``+1 415-555`` becomes ``1415555``)."""
    return "".join(_PLIVO_WORD.findall(value))


def plivo_stream(url: str, extra_headers: Parameters = (), *, keep_call_alive: bool = True) -> str:
    """Plivo XML that streams the call, both ways, as μ-law 8 kHz to ``url``.

    ``extra_headers`` (names and values of letters and digits, 512 bytes in all: see
    `plivo_extra_header_text`) arrive in the stream's ``start`` as ``extra_headers``.
    ``keep_call_alive`` holds the call for as long as the stream runs. Raises
    `ConfigError` for anything Plivo would refuse.
    """
    pairs = _pairs(extra_headers, "extra_headers")
    for name, value in pairs:
        if not _PLIVO_WORD.fullmatch(name) or (value and not _PLIVO_WORD.fullmatch(value)):
            raise ConfigError(
                "extra_headers",
                "Plivo allows letters and digits only (see plivo_extra_header_text)",
            )
    extra = ",".join(f"{name}={value}" for name, value in pairs)
    if len(extra) > _PLIVO_EXTRA_MAX:
        raise ConfigError("extra_headers", f"Plivo takes at most {_PLIVO_EXTRA_MAX} bytes of them")
    attributes = [
        ("bidirectional", "true"),
        ("keepCallAlive", "true" if keep_call_alive else "false"),
        ("contentType", _PLIVO_CONTENT_TYPE),
    ]
    if extra:
        attributes.append(("extraHeaders", extra))
    return _document(_element("Stream", attributes, _text(_stream_url(url))))


def plivo_hangup(reason: RejectReason = "rejected") -> str:
    """Plivo XML that refuses the call (Plivo's ``<Hangup reason>``; it has no ``<Reject>``)."""
    return _document(_element("Hangup", [("reason", _reason(reason))]))


# ---------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class StreamInstruction:
    """What an answer asks the carrier to do: stream the call to ``url``.

    ``dialect`` is ``"twiml"`` (Twilio and Telnyx share it: ``<Connect><Stream url>``)
    or ``"plivo"``; ``parameters`` are the ``<Parameter>`` children or Plivo's
    ``extraHeaders`` pairs (never printed by ``repr``: they carry callers' numbers).
    """

    dialect: Literal["twiml", "plivo"]
    url: str
    parameters: Mapping[str, str] = field(default_factory=dict, repr=False)
    attributes: Mapping[str, str] = field(default_factory=dict)


def _parse(markup: str | bytes) -> ElementTree.Element:
    if len(markup) > _MAX_MARKUP:
        raise MarkupError(f"the answer is over {_MAX_MARKUP} bytes; a call answer is a few hundred")
    start = markup[:4096]
    probe = (start.decode("latin-1") if isinstance(start, bytes) else start).lower()
    if "<!doctype" in probe or "<!entity" in probe:  # no entity expansion, ever
        raise MarkupError("the answer declares a DTD; call markup never does")
    try:
        root = ElementTree.fromstring(markup)
    except ElementTree.ParseError as exc:
        raise MarkupError(f"the answer is not well-formed XML ({exc})") from None
    if root.tag != "Response":
        raise MarkupError(f"the answer's root element is <{root.tag[:40]}>, not <Response>")
    return root


def read_stream_instruction(markup: str | bytes) -> StreamInstruction:
    """The media stream an answer asks for (TwiML/TeXML ``<Connect><Stream>`` or Plivo's
    ``<Stream>``).

    Raises `MarkupError` when the answer is not XML, declares a DTD, or streams nothing
    (a ``<Reject>``, ``<Hangup>``, a one-way ``<Start><Stream>``...): the message names
    the first verb found.
    """
    root = _parse(markup)
    for verb in root:
        if verb.tag == "Connect":
            stream = verb.find("Stream")
            url = stream.get("url") if stream is not None else None
            if stream is None or not url:
                raise MarkupError("<Connect> holds no <Stream url=...>")
            parameters = {
                p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")
            }
            return StreamInstruction("twiml", url, parameters, dict(stream.attrib))
        if verb.tag == "Stream" and (verb.get("bidirectional") or "").lower() == "true":
            url = (verb.text or "").strip()
            if not url:
                raise MarkupError("<Stream> has no URL in its text")
            extra = verb.get("extraHeaders") or ""
            pairs = (piece.partition("=") for piece in extra.split(",") if piece)
            parameters = {name: value for name, _, value in pairs}
            return StreamInstruction("plivo", url, parameters, dict(verb.attrib))
        raise MarkupError(
            f"the answer does not stream the call: its first verb is <{verb.tag[:40]}>"
        )
    raise MarkupError("the answer is an empty <Response>")
