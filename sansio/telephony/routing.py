"""The phone server's routes, sans-IO: carriers' webhooks verified and answered, media upgrades checked.

Theory of operation
-------------------
A carrier reaches a voice agent in two steps. It POSTs the call to a webhook, which
answers with markup (:mod:`~adk_realtime.sansio.telephony.markup`) naming a media
WebSocket; then it opens that WebSocket and streams the call. `CarrierRoutes` is the
one routing core both front ends (our anyio server and the ASGI app) call: it takes a
whole `HttpRequest` (or an upgrade's target and headers), the time, what the call
load is and some fresh random bytes, and says what to answer. It never reads a
clock, draws a random number or logs; the front end does, from what it returns.

Routes (``public_url``'s path, e.g. ``/phone``, may prefix them)::

    POST /twilio/voice    X-Twilio-Signature over the URL and the form     -> TwiML
    POST /telnyx/voice    telnyx-signature-ed25519 over timestamp|body     -> TeXML
    POST /plivo/answer    X-Plivo-Signature-V3 over URL, form and nonce     -> Plivo XML
    WS   /<carrier>/media[/<token>]                                        -> the call's stream
    GET  /healthz                                                           -> 200, JSON (alive)
    GET  /readyz                          200 ready; 503 draining or full   -> JSON

A carrier is verified when its secret is given (``twilio_auth_token``,
``telnyx_public_key``, ``plivo_auth_token``). Then: a forged, stale, replayed or
missing signature is answered 403 (``Routed.refusal`` says why, for the log; the
body says nothing), and the webhook's answer points the call at
``/<carrier>/media/<token>``, a token minted for that call: it names the carrier,
expires after ``token_ttl`` seconds and opens one stream. The upgrade must carry it,
and the carrier's own signature where there is one (Twilio signs the upgrade over
its ``wss://`` URL, Plivo with V3 and a nonce; Telnyx does not sign it, so the
token is what keeps strangers out). Without the token a Twilio upgrade signature
would be the same for every call and could be replayed forever; with it each
signature opens one call, once. Plivo nonces are remembered (``max_remembered`` of
them, the oldest forgotten first) to refuse a replayed webhook. The token travels
in the path because Twilio drops a stream URL's query.

Which carriers are served: ``carriers`` if given; else the ones whose secret is
set; else (no secret at all: a development server) all three, unverified. A
carrier not served is a 404. When the call ``load`` is full a webhook answers with
the carrier's busy refusal (``<Reject reason="busy">``, Plivo's ``<Hangup>``) and
an upgrade with 503. While the server drains (``load.draining``: it is shutting
down) a webhook gets the same busy refusal and ``/readyz`` answers 503, so a load
balancer sends the next call elsewhere; an upgrade carrying a verified carrier's token
still opens (its webhook was answered before the drain began: that call was already
taken), an unverified one is 503. ``/readyz`` is also 503 at ``max_calls``: a full
process is not ready for one more call, though alive (``/healthz`` stays 200). Caller data reaches the stream as parameters, so the agent
knows who calls: the webhook's ``From`` and ``To`` under the names the call bridge
reads (``caller_parameter``, ``called_parameter``: ``caller`` and ``called``) and the
call's id (``CallSid``; ``CallUUID`` for Plivo, whose values keep their letters and
digits only, as Plivo requires).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.http_server import DEFAULT_MAX_REQUEST_BODY, HttpReply, HttpRequest
from adk_realtime.sansio.telephony.markup import (
    MARKUP_CONTENT_TYPE,
    plivo_extra_header_text,
    plivo_hangup,
    plivo_stream,
    telnyx_connect_stream,
    telnyx_reject,
    twilio_connect_stream,
    twilio_reject,
)
from adk_realtime.sansio.telephony.signatures import (
    DEFAULT_TOLERANCE,
    PLIVO_MAIN_ACCOUNT_SIGNATURE_HEADER,
    PLIVO_NONCE_HEADER,
    PLIVO_SIGNATURE_HEADER,
    TWILIO_SIGNATURE_HEADER,
    TWILIO_SIGNATURE_SETTINGS_HEADER,
    Headers,
    SignatureError,
    form_params,
    header_value,
    twilio_signature_algorithm,
    verify_plivo,
    verify_telnyx,
    verify_twilio,
    verify_twilio_websocket,
)

__all__ = [
    "CARRIERS",
    "HEALTH_PATH",
    "READY_PATH",
    "TOKEN_NONCE_BYTES",
    "CallLoad",
    "Carrier",
    "CarrierRoutes",
    "PhoneUrls",
    "Routed",
    "Shed",
]

Carrier = Literal["twilio", "telnyx", "plivo"]
Shed = Literal["draining", "full"]
"""Why a call was refused by load: the server is shutting down, or at ``max_calls``."""
CARRIERS: tuple[Carrier, ...] = ("twilio", "telnyx", "plivo")
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
TOKEN_NONCE_BYTES = 12
"""Fresh random bytes a webhook answer needs (`CarrierRoutes.answer`'s ``nonce``)."""

_WEBHOOK_PATHS: dict[Carrier, str] = {
    "twilio": "/twilio/voice",
    "telnyx": "/telnyx/voice",
    "plivo": "/plivo/answer",
}
_MEDIA_PATHS: dict[Carrier, str] = {c: f"/{c}/media" for c in CARRIERS}
_MAC_BYTES = 16
_TOKEN_BYTES = 4 + TOKEN_NONCE_BYTES + _MAC_BYTES  # expiry, nonce, MAC
_FORBIDDEN = HttpReply.text(403, "Forbidden")
_BASE64_KEY = re.compile(r"[A-Za-z0-9+/]{43}=")  # 32 bytes in standard base64


@dataclass(frozen=True, slots=True)
class CallLoad:
    """How many calls are up (``active``), how many may be (``limit``, None: any), and
    whether the server is draining (shutting down: it takes no new call)."""

    active: int = 0
    limit: int | None = None
    draining: bool = False

    @property
    def full(self) -> bool:
        return self.limit is not None and self.active >= self.limit

    @property
    def shed(self) -> Shed | None:
        """Why a new call is refused now (``"draining"`` first), or None: one is taken."""
        if self.draining:
            return "draining"
        return "full" if self.full else None


@dataclass(frozen=True, slots=True)
class Routed:
    """What to do with a request.

    ``reply`` is the answer (None for an upgrade that may go on: accept it and run the
    call on ``carrier``'s stream). ``route`` names the request for a log line
    (``"POST /twilio/voice"``: no query, no token); ``refusal`` says why it was refused
    (a signature's fault, never a secret, a number or a URL), else None. ``shed`` is set
    when a call was refused by load (draining, or at ``max_calls``).
    """

    reply: HttpReply | None
    route: str
    carrier: Carrier | None = None
    refusal: str | None = None
    shed: Shed | None = None


@dataclass(frozen=True, slots=True)
class PhoneUrls:
    """Where to point a carrier: each served carrier's webhook and media URL."""

    webhooks: dict[Carrier, str]
    media: dict[Carrier, str]
    health: str


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes | None:
    if len(text) > 64 or not text.isascii():
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:  # binascii.Error
        return None


class _Remembered:
    """A bounded set of keys seen (nonces, spent tokens), each with an expiry (None:
    kept until pushed out by newer ones, the oldest first)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: OrderedDict[bytes, float | None] = OrderedDict()

    def __contains__(self, key: bytes) -> bool:
        return key in self._seen

    def add(self, key: bytes, expires: float | None, now: float) -> None:
        self._seen[key] = expires
        if len(self._seen) > self._limit:
            for old in [k for k, e in self._seen.items() if e is not None and e <= now]:
                del self._seen[old]
        while len(self._seen) > self._limit:
            self._seen.popitem(last=False)


class CarrierRoutes:
    """The routing core (see the module docstring).

    ``public_url`` is where the carriers reach this server (``https://host[/prefix]``,
    as configured at the carrier; ``http://`` for loopback): signatures are checked
    over it, never over a Host header. ``stream_key`` (at least 16 bytes; share it
    between worker processes) signs the media tokens. Raises `ConfigError` for a bad
    value, naming it.
    """

    def __init__(
        self,
        public_url: str,
        *,
        stream_key: bytes,
        twilio_auth_token: str | None = None,
        telnyx_public_key: str | bytes | None = None,
        plivo_auth_token: str | None = None,
        carriers: Iterable[Carrier] | None = None,
        token_ttl: float = 120.0,
        telnyx_tolerance: float = DEFAULT_TOLERANCE,
        max_body_size: int = DEFAULT_MAX_REQUEST_BODY,
        max_remembered: int = 10_000,
        caller_parameter: str = "caller",
        called_parameter: str = "called",
    ) -> None:
        parts = urlsplit(public_url) if isinstance(public_url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("public_url", "give the server's public http(s):// URL")
        if parts.query or parts.fragment:
            raise ConfigError("public_url", "a base URL has no query or fragment")
        if not isinstance(stream_key, bytes) or len(stream_key) < 16:
            raise ConfigError("stream_key", "must be at least 16 random bytes")
        for name, value in (
            ("twilio_auth_token", twilio_auth_token),
            ("plivo_auth_token", plivo_auth_token),
        ):
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(name, "must be the account's auth token (a non-empty string)")
        if telnyx_public_key is not None:
            raw = telnyx_public_key
            if isinstance(raw, str):
                raw = base64.b64decode(raw, validate=True) if _BASE64_KEY.fullmatch(raw) else b""
            if not isinstance(raw, bytes) or len(raw) != 32:
                raise ConfigError(
                    "telnyx_public_key",
                    "must be the account's Ed25519 public key: its base64 text as the Telnyx "
                    "portal shows it, or the 32 raw bytes",
                )
        if not (isinstance(token_ttl, int | float) and token_ttl > 0):
            raise ConfigError("token_ttl", "must be a positive number of seconds")
        if type(max_remembered) is not int or max_remembered < 1:
            raise ConfigError("max_remembered", "must be a positive int")
        secrets = {
            "twilio": twilio_auth_token,
            "telnyx": telnyx_public_key,
            "plivo": plivo_auth_token,
        }
        chosen = list(carriers) if carriers is not None else [c for c in CARRIERS if secrets[c]]
        for carrier in chosen:
            if carrier not in CARRIERS:
                raise ConfigError("carriers", "name twilio, telnyx or plivo")
        self.carriers: tuple[Carrier, ...] = (
            tuple(chosen) if chosen or carriers is not None else CARRIERS
        )
        for name, value in (
            ("caller_parameter", caller_parameter),
            ("called_parameter", called_parameter),
        ):
            if not (isinstance(value, str) and value.isascii() and value.isalnum()):
                # Plivo's extraHeaders take letters and digits only; the others take any.
                raise ConfigError(name, "must be a name of ASCII letters and digits")
        self.verified: frozenset[Carrier] = frozenset(c for c in self.carriers if secrets[c])
        self._base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self._prefix = parts.path.rstrip("/")
        self._stream_key = stream_key
        self._caller_name = caller_parameter
        self._called_name = called_parameter
        self._twilio_token = twilio_auth_token
        self._telnyx_key = telnyx_public_key
        self._plivo_token = plivo_auth_token
        self._token_ttl = float(token_ttl)
        self._telnyx_tolerance = telnyx_tolerance
        self.max_body_size = max_body_size
        self._spent = _Remembered(max_remembered)
        self._plivo_nonces = _Remembered(max_remembered)

    def __repr__(self) -> str:
        return f"CarrierRoutes({self._base!r}, carriers={self.carriers}, verified={sorted(self.verified)})"

    # -- where things are ------------------------------------------------------

    @property
    def urls(self) -> PhoneUrls:
        media_base = "ws" + self._base[4:]  # http -> ws, https -> wss
        return PhoneUrls(
            webhooks={c: self._base + _WEBHOOK_PATHS[c] for c in self.carriers},
            media={c: media_base + _MEDIA_PATHS[c] for c in self.carriers},
            health=self._base + HEALTH_PATH,
        )

    def route_of(self, target: str) -> str:
        """``target``'s path inside this server: the public prefix removed when present."""
        path = target.partition("?")[0]
        if self._prefix and (path == self._prefix or path.startswith(self._prefix + "/")):
            path = path[len(self._prefix) :] or "/"
        return path

    def _public(self, route: str, query: str, *, websocket: bool = False) -> str:
        base = ("ws" + self._base[4:]) if websocket else self._base
        return f"{base}{route}?{query}" if query else f"{base}{route}"

    # -- plain requests ----------------------------------------------------------

    def answer(self, request: HttpRequest, now: float, load: CallLoad, nonce: bytes) -> Routed:
        """The answer to a plain request (a webhook, the health check, anything else).

        ``now`` is unix time in seconds (Telnyx timestamps and token expiry are checked
        against it); ``nonce`` is `TOKEN_NONCE_BYTES` fresh random bytes, used when the
        answer mints a media token.
        """
        route = self.route_of(request.target)
        label = f"{request.method} {route}"
        if route == HEALTH_PATH:
            if request.method not in ("GET", "HEAD"):
                return Routed(_not_allowed("GET, HEAD"), label)
            health = {"status": "ok", "active_calls": load.active, "max_calls": load.limit}
            body = json.dumps(health).encode()
            return Routed(HttpReply(200, body, "application/json"), label)
        if route == READY_PATH:
            if request.method not in ("GET", "HEAD"):
                return Routed(_not_allowed("GET, HEAD"), label)
            shed = load.shed
            ready = {
                "status": shed or "ready",
                "active_calls": load.active,
                "max_calls": load.limit,
            }
            body = json.dumps(ready).encode()
            return Routed(HttpReply(503 if shed else 200, body, "application/json"), label)
        for carrier in self.carriers:
            if route == _WEBHOOK_PATHS[carrier]:
                if request.method != "POST":
                    return Routed(_not_allowed("POST"), label, carrier)
                if len(request.body) > self.max_body_size:
                    return Routed(HttpReply.text(413, "Content Too Large"), label, carrier)
                return self._webhook(carrier, request, route, label, now, load, nonce)
            if route == _MEDIA_PATHS[carrier] or route.startswith(_MEDIA_PATHS[carrier] + "/"):
                reply = HttpReply.text(426, "Upgrade Required", ("Upgrade", "websocket"))
                media = f"{request.method} {_MEDIA_PATHS[carrier]}"  # the token stays out
                return Routed(reply, media, carrier)
        # Not a route of ours: the path is anyone's text (a number, a token), so not logged.
        return Routed(HttpReply.text(404, "Not Found"), f"{request.method} <unknown path>")

    def _webhook(
        self,
        carrier: Carrier,
        request: HttpRequest,
        route: str,
        label: str,
        now: float,
        load: CallLoad,
        nonce: bytes,
    ) -> Routed:
        try:
            form = self._verified_form(carrier, request, route, now)
        except SignatureError as exc:
            # A body that is not form data cannot come from a carrier that signs it.
            if carrier in self.verified:
                return Routed(_FORBIDDEN, label, carrier, str(exc))
            return Routed(HttpReply.text(400, "Bad Request"), label, carrier, str(exc))
        shed = load.shed
        if shed is not None:
            return Routed(_markup(_BUSY[carrier]()), label, carrier, shed=shed)
        params = dict(form)
        media = self._media_url(carrier, now, nonce)
        call_id = "CallUUID" if carrier == "plivo" else "CallSid"
        sources = [(self._caller_name, "From"), (self._called_name, "To"), (call_id, call_id)]
        pairs = [(name, params.get(field, "")) for name, field in sources]
        if carrier == "plivo":
            extra = [(name, plivo_extra_header_text(value)) for name, value in pairs]
            document = plivo_stream(media, [(name, value) for name, value in extra if value])
        else:
            build = twilio_connect_stream if carrier == "twilio" else telnyx_connect_stream
            document = build(media, [(name, value) for name, value in pairs if value])
        return Routed(_markup(document), label, carrier)

    def _verified_form(
        self, carrier: Carrier, request: HttpRequest, route: str, now: float
    ) -> list[tuple[str, str]]:
        """The webhook's form fields, once its signature (if the carrier is verified) holds.

        The form stays a list of pairs: a repeated field is signed with all its values.
        """
        verified = carrier in self.verified
        if verified and carrier == "telnyx":
            assert self._telnyx_key is not None
            verify_telnyx(
                self._telnyx_key,
                request.body,
                request.headers,
                now=now,
                tolerance=self._telnyx_tolerance,
            )
        form = form_params(request.body)
        url = self._public(route, request.query)
        if verified and carrier == "twilio":
            assert self._twilio_token is not None
            settings = header_value(request.headers, TWILIO_SIGNATURE_SETTINGS_HEADER)
            verify_twilio(
                self._twilio_token,
                url,
                form,
                header_value(request.headers, TWILIO_SIGNATURE_HEADER),
                algorithm=twilio_signature_algorithm(settings),
            )
        if verified and carrier == "plivo":
            self._verify_plivo("POST", [url], form, request.headers, now)
        return form

    def _verify_plivo(
        self,
        method: str,
        urls: Sequence[str],
        form: list[tuple[str, str]] | None,
        headers: Headers,
        now: float,
    ) -> None:
        """Plivo's V3 signature over any of ``urls`` (the spellings a URL may have been
        signed with), then its nonce, which must be new."""
        assert self._plivo_token is not None
        signature = header_value(headers, PLIVO_SIGNATURE_HEADER) or header_value(
            headers, PLIVO_MAIN_ACCOUNT_SIGNATURE_HEADER
        )
        nonce = header_value(headers, PLIVO_NONCE_HEADER)
        for index, url in enumerate(urls):
            try:
                verify_plivo(self._plivo_token, method, url, form, signature, nonce)
                break
            except SignatureError as exc:
                if exc.reason != "mismatch" or index == len(urls) - 1:
                    raise
        assert nonce is not None  # verify_plivo refuses a request without one
        key = nonce.encode("utf-8", "surrogatepass")
        if key in self._plivo_nonces:
            raise SignatureError(
                "stale", f"{PLIVO_NONCE_HEADER} was seen before (a replayed request)"
            )
        self._plivo_nonces.add(key, None, now)

    # -- media tokens ------------------------------------------------------------

    def _media_url(self, carrier: Carrier, now: float, nonce: bytes) -> str:
        url = self._public(_MEDIA_PATHS[carrier], "", websocket=True)
        if carrier not in self.verified:
            return url
        if not isinstance(nonce, bytes) or len(nonce) != TOKEN_NONCE_BYTES:
            raise ConfigError("nonce", f"must be {TOKEN_NONCE_BYTES} fresh random bytes")
        expiry = int(now + self._token_ttl).to_bytes(4, "big")
        return f"{url}/{_b64url(expiry + nonce + self._token_mac(carrier, expiry + nonce))}"

    def _token_mac(self, carrier: Carrier, body: bytes) -> bytes:
        return hmac.new(self._stream_key, carrier.encode() + b"|" + body, hashlib.sha256).digest()[
            :_MAC_BYTES
        ]

    def _check_token(self, carrier: Carrier, token: str, now: float) -> bytes:
        """The token's key for the spent set, once it is known to be genuine and fresh."""
        raw = _b64url_decode(token)
        if raw is None or len(raw) != _TOKEN_BYTES:
            raise SignatureError("malformed", "the media URL's token is not one this server makes")
        body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if not hmac.compare_digest(mac, self._token_mac(carrier, body)):
            raise SignatureError(
                "mismatch", "the media URL's token was not made here for this carrier"
            )
        if int.from_bytes(body[:4], "big") < now:
            raise SignatureError(
                "stale", "the media URL's token has expired (the webhook was too long ago)"
            )
        if body in self._spent:
            raise SignatureError(
                "stale", "the media URL's token was used already (a replayed upgrade)"
            )
        return body

    # -- upgrades ------------------------------------------------------------------

    def check_upgrade(self, target: str, headers: Headers, now: float, load: CallLoad) -> Routed:
        """Whether a WebSocket upgrade to ``target`` may open a call: ``Routed.reply`` is
        None (accept it, then run the call on ``Routed.carrier``'s stream) or the
        refusal to answer with (403 forged, stale or replayed; 404 no such stream;
        503 full). A verified carrier's token is spent here."""
        route = self.route_of(target)
        query = target.partition("?")[2]
        carrier = next(
            (
                c
                for c in self.carriers
                if route == _MEDIA_PATHS[c] or route.startswith(_MEDIA_PATHS[c] + "/")
            ),
            None,
        )
        label = f"GET {_MEDIA_PATHS[carrier] if carrier else '<unknown path>'} (upgrade)"
        if carrier is None:
            return Routed(HttpReply.text(404, "Not Found"), label)
        token = route[len(_MEDIA_PATHS[carrier]) + 1 :]
        if carrier not in self.verified:
            if token:
                return Routed(HttpReply.text(404, "Not Found"), label, carrier)
        else:
            try:
                if not token:
                    raise SignatureError(
                        "missing", "the media URL has no token (give the URL the webhook answered)"
                    )
                if carrier == "twilio":
                    assert self._twilio_token is not None
                    verify_twilio_websocket(
                        self._twilio_token,
                        self._public(route, query, websocket=True),
                        header_value(headers, TWILIO_SIGNATURE_HEADER),
                        algorithm=twilio_signature_algorithm(
                            header_value(headers, TWILIO_SIGNATURE_SETTINGS_HEADER)
                        ),
                    )
                elif carrier == "plivo":
                    spellings = [
                        self._public(route, query, websocket=True),
                        self._public(route, query),
                    ]
                    self._verify_plivo("GET", spellings, None, headers, now)
                spent = self._check_token(carrier, token, now)
            except SignatureError as exc:
                return Routed(_FORBIDDEN, label, carrier, str(exc))
            self._spent.add(spent, float(int.from_bytes(spent[:4], "big")), now)
        if load.full or (load.draining and carrier not in self.verified):
            shed = load.shed
            reason = "draining" if shed == "draining" else "at max_calls"
            return Routed(
                HttpReply.text(503, "Service Unavailable"), label, carrier, reason, shed=shed
            )
        return Routed(None, label, carrier)


_BUSY = {
    "twilio": lambda: twilio_reject("busy"),
    "telnyx": lambda: telnyx_reject("busy"),
    "plivo": lambda: plivo_hangup("busy"),
}


def _markup(document: str) -> HttpReply:
    return HttpReply(200, document.encode("utf-8"), MARKUP_CONTENT_TYPE)


def _not_allowed(allow: str) -> HttpReply:
    return HttpReply.text(405, "Method Not Allowed", ("Allow", allow))
