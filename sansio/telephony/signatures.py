"""Webhook signatures of the phone carriers and of OpenAI: verify them (and make them), sans-IO.

Theory of operation
-------------------
Functions, not a state machine. A verifier takes what the request carried (its URL,
its form parameters or raw body, its headers), the account's secret and, where the
scheme has a timestamp, ``now`` (unix seconds: the caller reads the clock). It returns
None for a genuine request and raises `SignatureError` otherwise; ``error.reason`` is
``"missing"``, ``"malformed"``, ``"stale"`` or ``"mismatch"``. Signatures are compared
with `hmac.compare_digest`. Messages name the header and what was wrong, never a
secret, a signature, a parameter value or the URL (a Twilio URL may carry basic-auth
credentials; form parameters carry the caller's number). A bad *secret* (the caller's
configuration, not the request) raises `ConfigError`, which names the field only.
Headers are a mapping or ``(name, value)`` pairs (str or bytes), looked up without
regard to case; a signature header that appears twice is refused as malformed.

The constructions, as the providers' documentation and SDKs define them:

* **Twilio** ``X-Twilio-Signature``: base64(HMAC-SHA1(auth token, URL + for each POST
  parameter sorted by name, name + value)). Repeated names: values sorted, duplicates
  dropped (``twilio`` 9.13 ``RequestValidator``). A JSON body is not in the string:
  Twilio adds ``bodySHA256=<hex SHA-256 of the body>`` to the URL's query and signs the
  URL alone. Twilio signs inconsistently with or without the default port, so both
  spellings are tried (the SDK tries the URL with any port removed and with the default
  one added; it adds ``:80`` to ``wss`` URLs, we add ``:443``). A Media Stream's
  WebSocket upgrade is a GET signed over the ``wss://`` URL Twilio dialled, query
  included, with no parameters: `verify_twilio_websocket`. A Webhooks Rule may sign
  with a SharedKey and HMAC-SHA256 instead, announced by
  ``X-Twilio-Webhooks-Signature-Settings: key=...,algorithm=HMAC_SHA256``
  (`twilio_signature_algorithm`); only the hash and the key change.
* **Telnyx** ``telnyx-signature-ed25519`` (base64, 64 bytes) over
  ``f"{telnyx-timestamp}|{raw body}"`` with the account's Ed25519 public key (base64,
  32 bytes); the timestamp must be within ``tolerance`` (300 s) of ``now``. Needs the
  ``cryptography`` package (imported when used).
* **Plivo** ``X-Plivo-Signature-V3`` (``-Ma-V3`` for the main account's token): base64
  (HMAC-SHA256(auth token, base URL + "." + ``X-Plivo-Signature-V3-Nonce``)); the base
  URL is scheme://host/path, then for a GET ``?`` + the query and parameters merged,
  sorted, ``k=v`` joined by ``&``; for a POST ``?`` + the sorted query, ``.`` when there
  are both, then the sorted POST parameters as name + value. The header may hold
  several signatures separated by commas (``plivo`` 4.63 ``validate_v3_signature``).
  Plivo has no timestamp: keep the nonces you saw to refuse replays.
* **OpenAI** (standard-webhooks): ``webhook-signature`` holds space-separated
  ``v1,<base64 HMAC-SHA256(key, f"{webhook-id}.{webhook-timestamp}.{raw body}")>``;
  the secret is ``whsec_<base64 key>``; the timestamp must be within ``tolerance``
  (300 s) of ``now``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import SplitResult, parse_qsl, urlparse, urlsplit, urlunparse, urlunsplit

from adk_realtime.sansio.errors import ConfigError, ProtocolError

__all__ = [
    "DEFAULT_TOLERANCE",
    "PLIVO_MAIN_ACCOUNT_SIGNATURE_HEADER",
    "PLIVO_NONCE_HEADER",
    "PLIVO_SIGNATURE_HEADER",
    "TELNYX_SIGNATURE_HEADER",
    "TELNYX_TIMESTAMP_HEADER",
    "TWILIO_SIGNATURE_HEADER",
    "TWILIO_SIGNATURE_SETTINGS_HEADER",
    "WEBHOOK_ID_HEADER",
    "WEBHOOK_SIGNATURE_HEADER",
    "WEBHOOK_TIMESTAMP_HEADER",
    "FormParams",
    "Headers",
    "SignatureError",
    "form_params",
    "header_value",
    "openai_webhook_headers",
    "openai_webhook_signature",
    "plivo_signature",
    "telnyx_public_key",
    "telnyx_signature",
    "twilio_body_url",
    "twilio_signature",
    "twilio_signature_algorithm",
    "verify_openai_webhook",
    "verify_plivo",
    "verify_telnyx",
    "verify_twilio",
    "verify_twilio_websocket",
]

TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
TWILIO_SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
TELNYX_SIGNATURE_HEADER = "telnyx-signature-ed25519"
TELNYX_TIMESTAMP_HEADER = "telnyx-timestamp"
PLIVO_SIGNATURE_HEADER = "X-Plivo-Signature-V3"
PLIVO_MAIN_ACCOUNT_SIGNATURE_HEADER = "X-Plivo-Signature-Ma-V3"
PLIVO_NONCE_HEADER = "X-Plivo-Signature-V3-Nonce"
WEBHOOK_ID_HEADER = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp"
WEBHOOK_SIGNATURE_HEADER = "webhook-signature"

DEFAULT_TOLERANCE = 300.0  # seconds either side of now: Telnyx's and standard-webhooks' window

Headers = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]
FormParams = Mapping[str, str | Sequence[str]] | Iterable[tuple[str, str]]
SignatureReason = Literal["missing", "malformed", "stale", "mismatch"]
TwilioAlgorithm = Literal["HMAC_SHA1", "HMAC_SHA256"]

_TWILIO_ALGORITHMS: dict[str, TwilioAlgorithm] = {
    "HMAC_SHA1": "HMAC_SHA1",
    "HMAC_SHA256": "HMAC_SHA256",
}
_TWILIO_DIGESTS = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
_WEBSOCKET_SCHEMES = {"https": "wss", "http": "ws"}
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
_MAX_FORM_FIELDS = 1000  # a Twilio or Plivo callback has a few dozen
_WHSEC = "whsec_"


class SignatureError(ProtocolError):
    """A webhook's signature is missing, malformed, stale or does not match.

    ``reason`` says which (``"missing"``, ``"malformed"``, ``"stale"``, ``"mismatch"``);
    answer 401/403 and do not act on the request. The message holds no secret,
    signature, URL or parameter value.
    """

    def __init__(self, reason: SignatureReason, message: str) -> None:
        super().__init__(message)
        self.reason: SignatureReason = reason


# ---------------------------------------------------------------------------- helpers


def _utf8(text: str | bytes) -> bytes:
    # surrogatepass: a str holding a lone surrogate still encodes (and then mismatches).
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")


def _header_text(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    if isinstance(value, str):
        return value
    raise ConfigError(
        "headers", f"names and values must be str or bytes, not {type(value).__name__}"
    )


def _header_pairs(headers: Headers) -> Iterator[tuple[str, str]]:
    items: Iterable[Any] = headers.items() if isinstance(headers, Mapping) else headers
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise ConfigError("headers", "give a mapping or (name, value) pairs")
        yield _header_text(item[0]), _header_text(item[1])


def header_value(headers: Headers, name: str) -> str | None:
    """The value of header ``name`` (any case, surrounding blanks stripped), or None.

    Raises `SignatureError` (malformed) if the header appears more than once: two
    signatures or timestamps for one request are refused, never chosen between.
    """
    wanted = name.lower()
    found: str | None = None
    for key, value in _header_pairs(headers):
        if key.strip().lower() == wanted:
            if found is not None:
                raise SignatureError("malformed", f"the {name} header appears more than once")
            found = value.strip(" \t")
    return found


def _required_header(headers: Headers, name: str) -> str:
    value = header_value(headers, name)
    if not value:
        raise SignatureError("missing", f"the request has no {name} header")
    return value


def _secret(field: str, secret: str | bytes) -> bytes:
    if not isinstance(secret, str | bytes) or not secret:
        raise ConfigError(field, "must be a non-empty string")
    return _utf8(secret)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str) -> bytes | None:
    """Strict standard base64, or None."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text
        return None


def _matches_any(given: Iterable[str], expected: Iterable[str]) -> bool:
    wanted = [_utf8(e) for e in expected]
    matched = False
    for candidate in given:
        raw = _utf8(candidate)
        for e in wanted:
            matched |= hmac.compare_digest(e, raw)
    return matched


def _unix_seconds(text: str, header: str) -> int:
    if not _UNIX_SECONDS.fullmatch(text):
        raise SignatureError("malformed", f"the {header} header is not a whole number of seconds")
    return int(text)


def _check_fresh(timestamp: int, now: float, tolerance: float, header: str) -> None:
    if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
        raise ConfigError("now", "must be the current time in unix seconds (a finite number)")
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float):
        raise ConfigError("tolerance", "must be a number of seconds")
    if not (tolerance > 0 and math.isfinite(tolerance)):
        raise ConfigError("tolerance", "must be a positive, finite number of seconds")
    # Whole seconds, as the SDKs compare the current unix second with the header.
    age = math.floor(now) - timestamp
    if age > tolerance:
        raise SignatureError(
            "stale",
            f"the {header} header is {age} s old, more than the {tolerance:g} s allowed "
            "(a replay, or a clock that is off)",
        )
    if -age > tolerance:
        raise SignatureError(
            "stale",
            f"the {header} header is {-age} s ahead of now, more than the {tolerance:g} s "
            "allowed (a clock that is off)",
        )


def _grouped(params: FormParams | None, field: str) -> dict[str, list[str]]:
    """Parameters as name -> values, whatever shape they came in."""
    out: dict[str, list[str]] = {}
    if params is None:
        return out
    items: Iterable[Any] = params.items() if isinstance(params, Mapping) else params
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise ConfigError(field, "give a mapping of names to values, or (name, value) pairs")
        name, value = item
        values = [value] if isinstance(value, str) else list(value)
        if not all(isinstance(v, str) for v in values):
            raise ConfigError(field, "values must be strings (or sequences of strings)")
        out.setdefault(name, []).extend(values)
    return out


def form_params(body: bytes | str) -> list[tuple[str, str]]:
    """The fields of an ``application/x-www-form-urlencoded`` body, in order.

    Blank values are kept: carriers sign them too (dropping ``CallerName=`` is the
    classic cause of a mismatch). Raises `SignatureError` (malformed) for a body that
    is not UTF-8 form data.
    """
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        return parse_qsl(
            text, keep_blank_values=True, errors="strict", max_num_fields=_MAX_FORM_FIELDS
        )
    except ValueError:  # UnicodeDecodeError, or too many fields
        raise SignatureError("malformed", "the form body is not UTF-8 form data") from None


def _split_url(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises for a bad port)
    except (ValueError, TypeError):
        raise SignatureError("malformed", "the request URL cannot be parsed") from None
    if not parts.scheme or not parts.netloc:
        raise SignatureError("malformed", "the request URL is not absolute")
    return parts


# ---------------------------------------------------------------------------- Twilio


def twilio_signature_algorithm(settings: str | None) -> TwilioAlgorithm:
    """The algorithm named in ``X-Twilio-Webhooks-Signature-Settings`` (``key=...,
    algorithm=HMAC_SHA256``); ``"HMAC_SHA1"`` (the Auth Token scheme) when it is absent.

    With the header, the key is the Webhooks Rule's SharedKey secret, not the Auth
    Token. Raises `SignatureError` (malformed) for an algorithm this module lacks.
    """
    for part in (settings or "").split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip() == "algorithm" and value.strip():
            algorithm = _TWILIO_ALGORITHMS.get(value.strip().upper())
            if algorithm is None:
                raise SignatureError(
                    "malformed", f"{TWILIO_SIGNATURE_SETTINGS_HEADER} names an unknown algorithm"
                )
            return algorithm
    return "HMAC_SHA1"


def _twilio_params(params: FormParams | None) -> bytes:
    grouped = _grouped(params, "params")
    # Twilio's validator: names sorted; a repeated name's values sorted, duplicates dropped.
    return _utf8(
        "".join(name + value for name in sorted(grouped) for value in sorted(set(grouped[name])))
    )


def _twilio_mac(key: bytes, url: str, params: bytes, algorithm: TwilioAlgorithm) -> str:
    digest = _TWILIO_DIGESTS.get(algorithm)
    if digest is None:
        raise ConfigError("algorithm", "must be 'HMAC_SHA1' or 'HMAC_SHA256'")
    return _b64(hmac.new(key, _utf8(url) + params, digest).digest())


def twilio_signature(
    auth_token: str,
    url: str,
    params: FormParams | None = None,
    *,
    algorithm: TwilioAlgorithm = "HMAC_SHA1",
) -> str:
    """The ``X-Twilio-Signature`` of a request to ``url`` carrying form ``params``.

    ``url`` is the whole URL, query included (for a JSON body, the one `twilio_body_url`
    made). ``params`` is a mapping (a value may be a sequence of strings) or pairs.
    """
    key = _secret("auth_token", auth_token)
    return _twilio_mac(key, url, _twilio_params(params), algorithm)


def twilio_body_url(url: str, body: bytes | str) -> str:
    """``url`` with the ``bodySHA256`` query parameter Twilio adds for a JSON ``body``."""
    digest = hashlib.sha256(_utf8(body)).hexdigest()
    base, _, fragment = url.partition("#")
    joined = f"{base}{'&' if '?' in base else '?'}bodySHA256={digest}"
    return f"{joined}#{fragment}" if fragment else joined


def _twilio_url_variants(url: str) -> list[str]:
    """``url`` as given and normalised, and with its port removed (any port, as Twilio's
    validator does) or the scheme's default port added."""
    parts = _split_url(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    prefix = userinfo + at
    if parts.port is not None:
        netloc = prefix + hostport[: hostport.rfind(":")]
    else:
        default = _DEFAULT_PORTS.get(parts.scheme.lower())
        netloc = f"{prefix}{hostport.rstrip(':')}:{default}" if default else parts.netloc
    variants = [url, urlunsplit(parts), urlunsplit(parts._replace(netloc=netloc))]
    return list(dict.fromkeys(variants))


def _check_twilio_body(url: str, body: bytes | str) -> None:
    query = parse_qsl(_split_url(url).query, keep_blank_values=True)
    hashes = [value for name, value in query if name == "bodySHA256"]
    if not hashes:
        raise SignatureError(
            "missing",
            "a raw (JSON) body is signed through the URL's bodySHA256 query parameter, "
            "and this URL has none",
        )
    expected = hashlib.sha256(_utf8(body)).hexdigest()
    if not _matches_any(hashes[:1], [expected]):
        raise SignatureError("mismatch", "the body does not match the bodySHA256 query parameter")


def verify_twilio(
    auth_token: str,
    url: str,
    params: FormParams | bytes | str | None,
    signature: str | None,
    *,
    algorithm: TwilioAlgorithm = "HMAC_SHA1",
) -> None:
    """Check the ``X-Twilio-Signature`` (``signature``) of a request to ``url``.

    ``url`` is the public URL Twilio requested, query included (rebuild it from your
    configuration, not from a proxy's Host header). ``params``: the form fields of a
    POST (see `form_params`), None for a GET, or the raw body of a JSON POST (then the
    URL's ``bodySHA256`` must match it). ``algorithm`` comes from
    `twilio_signature_algorithm`. Raises `SignatureError`.
    """
    if not signature:
        raise SignatureError("missing", f"the request has no {TWILIO_SIGNATURE_HEADER} header")
    key = _secret("auth_token", auth_token)
    form: FormParams | None = None
    if isinstance(params, bytes | str):
        _check_twilio_body(url, params)
    else:
        form = params
    signed = _twilio_params(form)
    expected = [_twilio_mac(key, v, signed, algorithm) for v in _twilio_url_variants(url)]
    if not _matches_any([signature.strip()], expected):
        raise SignatureError(
            "mismatch",
            f"{TWILIO_SIGNATURE_HEADER} does not match this request "
            "(another auth token, URL or set of parameters)",
        )


def verify_twilio_websocket(
    auth_token: str,
    url: str,
    signature: str | None,
    *,
    algorithm: TwilioAlgorithm = "HMAC_SHA1",
) -> None:
    """Check the ``X-Twilio-Signature`` of a Media Stream's WebSocket upgrade.

    ``url`` is the ``<Stream url="wss://...">`` Twilio dialled, query included; an
    ``https://`` spelling (what a server behind TLS termination sees) is read as
    ``wss://``. The upgrade is a GET: no parameters are signed. Raises `SignatureError`.
    """
    scheme, sep, rest = url.partition("://")
    if sep:
        url = f"{_WEBSOCKET_SCHEMES.get(scheme.lower(), scheme)}://{rest}"
    verify_twilio(auth_token, url, None, signature, algorithm=algorithm)


# ---------------------------------------------------------------------------- Plivo


def _plivo_query(grouped: Mapping[str, Sequence[str]]) -> str:
    return "&".join(
        f"{name}={value}" for name in sorted(grouped) for value in sorted(grouped[name])
    )


def _plivo_base(method: str, url: str, params: FormParams | None) -> str:
    """The string Plivo signs before ``.nonce`` (see the module docstring)."""
    verb = method.upper() if isinstance(method, str) else ""
    if verb not in ("GET", "POST"):
        raise ConfigError("method", "Plivo signs GET and POST callbacks only")
    _split_url(url)
    parts = urlparse(url)
    base = urlunparse((parts.scheme, parts.netloc, parts.path, "", "", ""))
    query = _grouped(parse_qsl(parts.query, keep_blank_values=True), "url")
    posted = _grouped(params, "params")
    if verb == "GET":
        merged = {**posted, **query}  # the URL's query wins, as in Plivo's SDK
        text = _plivo_query(merged)
        return f"{base}?{text}" if text else base
    text = _plivo_query(query)
    if text or posted:
        base += "?" + text
    if text and posted:
        base += "."
    return base + "".join(name + value for name in sorted(posted) for value in sorted(posted[name]))


def plivo_signature(
    auth_token: str, method: str, url: str, nonce: str, params: FormParams | None = None
) -> str:
    """The ``X-Plivo-Signature-V3`` of a ``method`` (GET/POST) callback to ``url`` with
    ``params`` and ``nonce`` (the ``X-Plivo-Signature-V3-Nonce`` header)."""
    key = _secret("auth_token", auth_token)
    signed = _utf8(_plivo_base(method, url, params)) + b"." + _utf8(nonce)
    return _b64(hmac.new(key, signed, "sha256").digest())


def verify_plivo(
    auth_token: str,
    method: str,
    url: str,
    params: FormParams | None,
    signature: str | None,
    nonce: str | None,
) -> None:
    """Check a Plivo V3 signature: ``signature`` is ``X-Plivo-Signature-V3`` (with the
    account's token) or ``X-Plivo-Signature-Ma-V3`` (with the main account's), possibly
    several separated by commas; ``nonce`` is ``X-Plivo-Signature-V3-Nonce``.

    ``url`` is the callback URL Plivo requested, query included; ``params`` the POST
    form fields (see `form_params`), or None. Raises `SignatureError`.
    """
    if not signature:
        raise SignatureError("missing", f"the request has no {PLIVO_SIGNATURE_HEADER} header")
    if not nonce:
        raise SignatureError("missing", f"the request has no {PLIVO_NONCE_HEADER} header")
    expected = plivo_signature(auth_token, method, url, nonce, params)
    if not _matches_any([s.strip() for s in signature.split(",")], [expected]):
        raise SignatureError(
            "mismatch",
            f"{PLIVO_SIGNATURE_HEADER} does not match this request "
            "(another auth token, URL or set of parameters)",
        )


# ---------------------------------------------------------------------------- Telnyx


def _telnyx_public_key(public_key: str | bytes) -> bytes:
    raw = _b64decode(public_key) if isinstance(public_key, str) else public_key
    if not isinstance(raw, bytes) or len(raw) != 32:
        raise ConfigError(
            "public_key",
            "must be the account's Ed25519 public key: its base64 text as the Telnyx "
            "portal shows it, or the 32 raw bytes",
        )
    return raw


def _missing_cryptography() -> ModuleNotFoundError:
    return ModuleNotFoundError(
        "Telnyx signatures need the 'cryptography' package: pip install cryptography "
        "(the adk-realtime[webrtc] extra has it)",
        name="cryptography",
    )


def verify_telnyx(
    public_key: str | bytes,
    body: bytes | str,
    headers: Headers,
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> None:
    """Check ``telnyx-signature-ed25519`` over ``telnyx-timestamp|body`` at ``now``.

    ``body`` is the raw request body, exactly as received (not re-serialised JSON).
    Raises `SignatureError`; `ConfigError` for a key that is not an Ed25519 public key.
    """
    key = _telnyx_public_key(public_key)
    signature = _required_header(headers, TELNYX_SIGNATURE_HEADER)
    stamp = _required_header(headers, TELNYX_TIMESTAMP_HEADER)
    _check_fresh(
        _unix_seconds(stamp, TELNYX_TIMESTAMP_HEADER), now, tolerance, TELNYX_TIMESTAMP_HEADER
    )
    raw = _b64decode(signature)
    if raw is None or len(raw) != 64:
        raise SignatureError(
            "malformed", f"the {TELNYX_SIGNATURE_HEADER} header is not 64 bytes of base64"
        )
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        raise _missing_cryptography() from None
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(raw, _utf8(stamp) + b"|" + _utf8(body))
    except InvalidSignature:
        raise SignatureError(
            "mismatch",
            f"{TELNYX_SIGNATURE_HEADER} does not match this body and timestamp "
            "(another account's key, or a changed body)",
        ) from None


def _ed25519_private_key(private_key: bytes) -> Any:
    if not isinstance(private_key, bytes) or len(private_key) != 32:
        raise ConfigError("private_key", "must be a 32-byte Ed25519 private key (its seed)")
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    except ImportError:
        raise _missing_cryptography() from None
    return Ed25519PrivateKey.from_private_bytes(private_key)


def telnyx_signature(private_key: bytes, timestamp: int | str, body: bytes | str) -> str:
    """The ``telnyx-signature-ed25519`` value Telnyx would send: for tests and simulated
    carriers (``private_key`` is a 32-byte Ed25519 seed)."""
    signer = _ed25519_private_key(private_key)
    signed: bytes = signer.sign(_utf8(str(timestamp)) + b"|" + _utf8(body))
    return _b64(signed)


def telnyx_public_key(private_key: bytes) -> str:
    """The base64 public key (as the Telnyx portal shows it) of a 32-byte Ed25519 seed."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = _ed25519_private_key(private_key).public_key()
    raw: bytes = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return _b64(raw)


# ---------------------------------------------------------------------------- OpenAI


def _webhook_key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes) and secret:
        return secret
    if not isinstance(secret, str) or not secret.startswith(_WHSEC):
        raise ConfigError(
            "secret", "an OpenAI webhook secret is 'whsec_' and base64 (or the raw key as bytes)"
        )
    text = secret[len(_WHSEC) :]
    key = _b64decode(text + "=" * (-len(text) % 4))
    if not key:
        raise ConfigError("secret", "the part after 'whsec_' is not base64 of a key")
    return key


def _webhook_mac(key: bytes, webhook_id: str, timestamp: str, body: bytes | str) -> str:
    signed = _utf8(webhook_id) + b"." + _utf8(timestamp) + b"." + _utf8(body)
    return _b64(hmac.new(key, signed, "sha256").digest())


def openai_webhook_signature(
    secret: str | bytes, webhook_id: str, timestamp: int | str, body: bytes | str
) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) for ``body`` sent as
    ``webhook_id`` at ``timestamp``: for tests and simulated webhooks."""
    return "v1," + _webhook_mac(_webhook_key(secret), webhook_id, str(timestamp), body)


def openai_webhook_headers(
    secret: str | bytes, webhook_id: str, timestamp: int, body: bytes | str
) -> list[tuple[str, str]]:
    """The three standard-webhooks headers OpenAI sends with ``body``."""
    return [
        (WEBHOOK_ID_HEADER, webhook_id),
        (WEBHOOK_TIMESTAMP_HEADER, str(timestamp)),
        (WEBHOOK_SIGNATURE_HEADER, openai_webhook_signature(secret, webhook_id, timestamp, body)),
    ]


def verify_openai_webhook(
    secret: str | bytes,
    body: bytes | str,
    headers: Headers,
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> None:
    """Check an OpenAI webhook (standard-webhooks) at ``now``; ``secret`` is the endpoint's
    ``whsec_...`` signing secret, ``body`` the raw request body as received.

    Any one of the ``v1`` signatures in ``webhook-signature`` may match (OpenAI sends
    several while a secret is rotated). Raises `SignatureError`; `ConfigError` for a
    secret that is not ``whsec_`` and base64.
    """
    key = _webhook_key(secret)
    webhook_id = _required_header(headers, WEBHOOK_ID_HEADER)
    stamp = _required_header(headers, WEBHOOK_TIMESTAMP_HEADER)
    signatures = _required_header(headers, WEBHOOK_SIGNATURE_HEADER)
    _check_fresh(
        _unix_seconds(stamp, WEBHOOK_TIMESTAMP_HEADER), now, tolerance, WEBHOOK_TIMESTAMP_HEADER
    )
    # Other versions (v1a: asymmetric keys) are skipped, as standard-webhooks does.
    v1 = [entry[3:] for entry in signatures.split() if entry.startswith("v1,")]
    if not v1:
        raise SignatureError(
            "malformed", f"the {WEBHOOK_SIGNATURE_HEADER} header has no v1 signature"
        )
    if not _matches_any(v1, [_webhook_mac(key, webhook_id, stamp, body)]):
        raise SignatureError(
            "mismatch",
            f"no signature in {WEBHOOK_SIGNATURE_HEADER} matches this body "
            "(another endpoint's secret, or a changed body)",
        )
