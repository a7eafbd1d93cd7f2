"""OpenAI's SIP connector, sans-IO: the incoming-call webhook and the call-control requests.

Theory of operation
-------------------
Functions and one record, no state machine. A phone call reaches OpenAI over a SIP
trunk pointed at ``sip:$PROJECT_ID@sip.api.openai.com;transport=tls``. OpenAI then
POSTs a ``realtime.call.incoming`` webhook to the project's endpoint, and the
application, within the ring time:

1. checks the webhook's signature (`signatures.verify_openai_webhook`), then reads it
   with `parse_incoming_call` -> `IncomingCall` (the call id and the INVITE's SIP
   headers, untrusted caller metadata);
2. answers with `accept_call_request` (the session configuration, built from a
   `RealtimeConfig` as the GA session object of `adk_realtime.sansio.openai.wire`) or
   `reject_call_request` (a SIP status; OpenAI sends 603 Decline when none is given);
3. attaches to the accepted call: a WebSocket to `call_websocket_url`
   (``wss://api.openai.com/v1/realtime?call_id=...``, bearer: the API key) over which
   the usual Realtime events flow (the OpenAI codec; the driver is elsewhere);
4. later may transfer the caller with `refer_call_request` (SIP REFER to a ``tel:`` or
   ``sip:`` URI) or end the call with `hangup_call_request`.

Every builder returns a ready `HttpExchange` (``POST /v1/realtime/calls/{call_id}/
{accept|reject|refer|hangup}``, JSON, ``Authorization: Bearer``), the request the
``openai`` SDK's ``client.realtime.calls`` makes (``tests/test_openai_sip.py`` captures
the SDK's own request to compare). Run it with any HTTP driver, then
`read_call_control_response`. The API key never shows in a repr or an error; neither
do SIP header values or transfer targets (phone numbers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode

from adk_realtime.sansio.config import RealtimeConfig
from adk_realtime.sansio.errors import ConfigError, DecodeError
from adk_realtime.sansio.http import (
    HttpExchange,
    HttpResponse,
    bearer_header,
    check_status,
    parse_url,
)
from adk_realtime.sansio.openai.wire import DEFAULT_BASE_URL, session_object

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_REALTIME_URL",
    "INCOMING_CALL_EVENT",
    "IncomingCall",
    "IncomingCallError",
    "accept_call_request",
    "accept_session",
    "call_websocket_url",
    "hangup_call_request",
    "parse_incoming_call",
    "read_call_control_response",
    "refer_call_request",
    "reject_call_request",
    "sip_uri_user",
]

DEFAULT_API_URL = "https://api.openai.com/v1"
DEFAULT_REALTIME_URL = DEFAULT_BASE_URL  # wss://api.openai.com/v1
INCOMING_CALL_EVENT = "realtime.call.incoming"

# RFC 3261 7.3.3: the compact forms a SIP header name may take on the wire.
_COMPACT_NAMES = {
    "call-id": "i",
    "contact": "m",
    "content-encoding": "e",
    "content-length": "l",
    "content-type": "c",
    "from": "f",
    "subject": "s",
    "supported": "k",
    "to": "t",
    "via": "v",
}
# RFC 3986 pchar minus "/": what a path segment may hold unescaped (the SDK quotes the same).
_SEGMENT_SAFE = "!$&'()*+,;=:@"
_PLAIN_EVENT_TYPE = re.compile(r"[a-z0-9_.]{1,64}")
_REFER_SCHEMES = ("sip", "sips", "tel")


class IncomingCallError(DecodeError):
    """A ``realtime.call.incoming`` webhook body that is not one (bad JSON, wrong type,
    missing or mistyped fields). ``event_type`` is the body's ``type`` when it had one."""

    def __init__(self, message: str, event_type: str | None = None) -> None:
        super().__init__(message)
        self.event_type = event_type


@dataclass(frozen=True, slots=True, repr=False)
class IncomingCall:
    """A SIP call waiting for an answer: accept, reject (or let it ring out).

    ``sip_headers`` are the INVITE's headers in order, repeats kept, authorisation
    headers left out by OpenAI: untrusted caller metadata, and personal (they carry
    phone numbers), so the repr shows only how many there are.
    """

    call_id: str
    event_id: str
    created_at: int
    sip_headers: tuple[tuple[str, str], ...]
    sip_media_security: str | None = None  # "srtp", "rtp", or None when unknown

    def __repr__(self) -> str:
        return (
            f"IncomingCall(call_id={self.call_id!r}, event_id={self.event_id!r}, "
            f"created_at={self.created_at}, sip_headers=<{len(self.sip_headers)} headers>)"
        )

    def header_values(self, name: str) -> tuple[str, ...]:
        """Every value of SIP header ``name`` (any case, or its compact form), in order."""
        wanted = name.lower()
        names = {wanted, _COMPACT_NAMES.get(wanted, wanted)}
        return tuple(value for key, value in self.sip_headers if key.strip().lower() in names)

    def header(self, name: str) -> str | None:
        """The first value of SIP header ``name``, or None."""
        values = self.header_values(name)
        return values[0] if values else None

    @property
    def from_header(self) -> str | None:
        """The ``From`` header as sent (display name, URI, tag)."""
        return self.header("From")

    @property
    def to_header(self) -> str | None:
        """The ``To`` header as sent."""
        return self.header("To")

    @property
    def caller(self) -> str | None:
        """The user part of the ``From`` URI (usually the caller's number), or None."""
        return sip_uri_user(self.from_header)

    @property
    def callee(self) -> str | None:
        """The user part of the ``To`` URI (usually the number dialled), or None."""
        return sip_uri_user(self.to_header)


def _addr_uri(value: str) -> str:
    """The URI of a name-addr (``"Ann" <sip:...>;tag=1``) or addr-spec (``sip:...;tag=1``)."""
    text = value.strip()
    start = 0
    if text.startswith('"'):  # a quoted display name may hold "<": skip it
        i = 1
        while i < len(text) and text[i] != '"':
            i += 2 if text[i] == "\\" else 1
        start = i + 1
    left = text.find("<", start)
    if left >= 0:
        right = text.find(">", left)
        return text[left + 1 : right] if right > left else ""
    return text[start:].split(";", 1)[0]  # addr-spec: header parameters follow ";"


def sip_uri_user(value: str | None) -> str | None:
    """The user of the SIP or tel URI in a ``From``/``To`` value, or None.

    ``"Ann" <sip:+14155550123@pbx.example;user=phone>;tag=9`` and
    ``<tel:+14155550123>`` both give ``+14155550123``.
    """
    if not value:
        return None
    scheme, sep, rest = _addr_uri(value).strip().partition(":")
    scheme = scheme.lower()
    if not sep:
        return None
    if scheme in ("sip", "sips"):
        user, at, _host = rest.rpartition("@")
        if not at:
            return None
        user = user.split(":", 1)[0].split(";", 1)[0]  # drop a password, user parameters
    elif scheme == "tel":
        user = rest.split(";", 1)[0]
    else:
        return None
    return unquote(user) or None


# ---------------------------------------------------------------------------- the webhook


def _field(obj: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        name = "string" if kind is str else "integer"
        raise IncomingCallError(f"{where}{key} is missing or not a {name}", INCOMING_CALL_EVENT)
    return value


def _sip_headers(data: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    raw = data.get("sip_headers")
    if not isinstance(raw, list):
        raise IncomingCallError("data.sip_headers is missing or not a list", INCOMING_CALL_EVENT)
    headers = []
    for i, item in enumerate(raw):
        where = f"data.sip_headers[{i}]."
        if not isinstance(item, dict):
            raise IncomingCallError(f"data.sip_headers[{i}] is not an object", INCOMING_CALL_EVENT)
        headers.append((_field(item, "name", str, where), _field(item, "value", str, where)))
    return tuple(headers)


def parse_incoming_call(body: bytes | str) -> IncomingCall:
    """Read a ``realtime.call.incoming`` webhook body (after its signature was checked).

    Raises `IncomingCallError` (a `DecodeError`) for anything else: a body that is not
    JSON, another event type (``error.event_type`` says which), missing or mistyped
    fields. Messages name the field, never its value.
    """
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: absurd nesting
        raise IncomingCallError("the webhook body is not JSON") from None
    if not isinstance(event, dict):
        raise IncomingCallError("the webhook body is not a JSON object")
    kind = event.get("type")
    if kind != INCOMING_CALL_EVENT:
        plain = isinstance(kind, str) and _PLAIN_EVENT_TYPE.fullmatch(kind)
        shown = f"{kind!r}" if plain else "missing or not a plain event name"
        raise IncomingCallError(
            f"the webhook event type is {shown}, not {INCOMING_CALL_EVENT!r}",
            kind if isinstance(kind, str) else None,
        )
    if event.get("object", "event") not in ("event", None):
        raise IncomingCallError("object is not 'event'", INCOMING_CALL_EVENT)
    data = event.get("data")
    if not isinstance(data, dict):
        raise IncomingCallError("data is missing or not an object", INCOMING_CALL_EVENT)
    security = data.get("sip_media_security")
    if security is not None and not isinstance(security, str):
        raise IncomingCallError("data.sip_media_security is not a string", INCOMING_CALL_EVENT)
    call_id = _field(data, "call_id", str, "data.")
    if not call_id:
        raise IncomingCallError("data.call_id is empty", INCOMING_CALL_EVENT)
    return IncomingCall(
        call_id=call_id,
        event_id=_field(event, "id", str, ""),
        created_at=_field(event, "created_at", int, ""),
        sip_headers=_sip_headers(data),
        sip_media_security=security,
    )


# ---------------------------------------------------------------------------- requests


def _call_segment(call_id: str) -> str:
    if not isinstance(call_id, str) or not call_id:
        raise ConfigError("call_id", "must be the non-empty id of the webhook's call")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in call_id) or call_id in (".", ".."):
        raise ConfigError("call_id", "is not a call id (control characters or a dot segment)")
    return quote(call_id, safe=_SEGMENT_SAFE)


def _json(body: Mapping[str, Any]) -> bytes:
    # Compact UTF-8, as the SDK serialises (the bytes match for the same key order).
    try:
        text = json.dumps(dict(body), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError("session", f"is not JSON-serialisable: {type(exc).__name__}") from None
    return text.encode("utf-8", "surrogatepass")


def _call_request(
    call_id: str, action: str, api_key: str, base_url: str, body: Mapping[str, Any] | None
) -> HttpExchange:
    url = parse_url(f"{base_url.rstrip('/')}/realtime/calls/{_call_segment(call_id)}/{action}")
    headers = [bearer_header(api_key), ("Content-Type", "application/json"), ("Accept", "*/*")]
    return HttpExchange("POST", url.target, headers, b"" if body is None else _json(body), url=url)


def accept_session(config: RealtimeConfig, *, model: str | None = None) -> dict[str, Any]:
    """The body of an accept: ``model`` (when given) and the GA session object of
    ``config`` (``type: "realtime"``, instructions, audio, tools...)."""
    return _with_model(session_object(config, "ga"), model)


def _with_model(body: Mapping[str, Any], model: str | None) -> dict[str, Any]:
    # An explicit model wins over one in the session (or in RealtimeConfig.extra).
    if model is None:
        return dict(body)
    return {"model": model, **{k: v for k, v in body.items() if k != "model"}}


def accept_call_request(
    call_id: str,
    session: RealtimeConfig | Mapping[str, Any],
    *,
    api_key: str,
    model: str | None = None,
    base_url: str = DEFAULT_API_URL,
) -> HttpExchange:
    """``POST /v1/realtime/calls/{call_id}/accept``: answer the call with this session.

    ``session`` is a `RealtimeConfig` (made into `accept_session`) or a ready GA session
    mapping (``type`` is set to ``"realtime"`` when absent); ``model`` picks the model
    (the server's default when None). Next: run it, `read_call_control_response`, then
    attach at `call_websocket_url`.
    """
    if isinstance(session, RealtimeConfig):
        body = accept_session(session, model=model)
    elif isinstance(session, Mapping):
        body = _with_model({"type": "realtime", **session}, model)
    else:
        raise ConfigError("session", "must be a RealtimeConfig or a session mapping")
    return _call_request(call_id, "accept", api_key, base_url, body)


def reject_call_request(
    call_id: str,
    *,
    api_key: str,
    status_code: int | None = None,
    base_url: str = DEFAULT_API_URL,
) -> HttpExchange:
    """``POST /v1/realtime/calls/{call_id}/reject``: refuse the call with SIP
    ``status_code`` (4xx-6xx, e.g. 486 Busy Here); OpenAI's default is 603 Decline."""
    body: dict[str, Any] = {}
    if status_code is not None:
        if isinstance(status_code, bool) or not isinstance(status_code, int):
            raise ConfigError("status_code", "must be a SIP status code (an int, 400-699)")
        if not 400 <= status_code <= 699:
            raise ConfigError("status_code", f"{status_code} is not a SIP failure status (400-699)")
        body["status_code"] = status_code
    return _call_request(call_id, "reject", api_key, base_url, body)


def refer_call_request(
    call_id: str, target_uri: str, *, api_key: str, base_url: str = DEFAULT_API_URL
) -> HttpExchange:
    """``POST /v1/realtime/calls/{call_id}/refer``: transfer the caller (SIP REFER) to
    ``target_uri``, a ``tel:+14155550123`` or ``sip:agent@example.com`` URI (it becomes
    the ``Refer-To`` header). Pass it to `read_call_control_response` as a secret."""
    if not isinstance(target_uri, str) or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target_uri):
        raise ConfigError("target_uri", "must be a tel: or sip: URI without control characters")
    scheme, sep, rest = target_uri.partition(":")
    if not sep or not rest or scheme.lower() not in _REFER_SCHEMES:
        raise ConfigError("target_uri", "must be a tel:, sip: or sips: URI")
    return _call_request(call_id, "refer", api_key, base_url, {"target_uri": target_uri})


def hangup_call_request(
    call_id: str, *, api_key: str, base_url: str = DEFAULT_API_URL
) -> HttpExchange:
    """``POST /v1/realtime/calls/{call_id}/hangup``: end the call (SIP or WebRTC)."""
    return _call_request(call_id, "hangup", api_key, base_url, None)


def read_call_control_response(response: HttpResponse, *, secrets: Sequence[str] = ()) -> None:
    """Return if OpenAI took the accept/reject/refer/hangup (any 2xx); else raise
    `AuthError` (401/403) or `HttpStatusError` (404: the call is gone or was answered).
    ``secrets`` (the API key, a transfer target) are cut out of the server's message."""
    check_status(response, tuple(range(200, 300)), secrets=secrets)


def call_websocket_url(call_id: str, base_url: str = DEFAULT_REALTIME_URL) -> str:
    """The Realtime WebSocket of an accepted call: ``wss://api.openai.com/v1/realtime?
    call_id=...`` under ``base_url`` (bearer: the API key, as for any Realtime socket)."""
    _call_segment(call_id)  # the same checks
    # Form-encoded, as the SDK's realtime client writes its query.
    return f"{base_url.rstrip('/')}/realtime?{urlencode({'call_id': call_id})}"
