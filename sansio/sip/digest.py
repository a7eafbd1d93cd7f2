"""Digest authentication of a caller (RFC 2617, RFC 7616: MD5 and SHA-256, qop=auth).

A trunk that must authenticate to us gets a 401 with ``WWW-Authenticate: Digest
realm=..., nonce=..., algorithm=...`` and resends its request with an
``Authorization`` header. The nonce is stateless: ``<issued>.<hmac>``, where
``issued`` is the whole second the 401 was built at (the ``now`` given to the machine)
and the HMAC is keyed by the ``nonce_key`` the application passes in, so no table of
nonces is kept and no randomness is drawn here; a nonce older than ``nonce_lifetime``
seconds is stale (a new 401 says ``stale=true``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.sip.message import parse_params, split_values

__all__ = ["DigestAuth", "digest_response"]

_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def _h(algorithm: str, text: str) -> str:
    return _HASHES[algorithm](text.encode("utf-8")).hexdigest()


def digest_response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str = "",
    cnonce: str = "",
) -> str:
    """The ``response`` value a client computes (RFC 7616 3.4.1); ``qop`` None: RFC 2069."""
    ha1 = _h(algorithm, f"{username}:{realm}:{password}")
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop is None:
        return _h(algorithm, f"{ha1}:{nonce}:{ha2}")
    return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


@dataclass(frozen=True, slots=True)
class DigestAuth:
    """Who may call: ``credentials`` (user -> password), the ``realm``, the
    ``nonce_key`` nonces are signed with, ``algorithm`` (``"MD5"`` or ``"SHA-256"``)."""

    credentials: Mapping[str, str]
    realm: str
    nonce_key: bytes
    algorithm: str = "SHA-256"
    nonce_lifetime: float = 300.0

    def __post_init__(self) -> None:
        if self.algorithm not in _HASHES:
            raise ConfigError("algorithm", f"must be 'MD5' or 'SHA-256', got {self.algorithm!r}")
        if not isinstance(self.nonce_key, bytes) or not self.nonce_key:
            raise ConfigError("nonce_key", "must be non-empty bytes (a secret of the server)")
        if not self.realm or '"' in self.realm:
            raise ConfigError(
                "realm", f"must be a non-empty name without quotes, got {self.realm!r}"
            )

    def nonce(self, now: float) -> str:
        issued = str(int(now))
        mac = hmac.new(self.nonce_key, issued.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{issued}.{mac}"

    def challenge(self, now: float, *, stale: bool = False) -> str:
        """The ``WWW-Authenticate`` value of a 401 built at ``now``."""
        value = (
            f'Digest realm="{self.realm}", nonce="{self.nonce(now)}", '
            f'algorithm={self.algorithm}, qop="auth"'
        )
        return value + (", stale=true" if stale else "")

    def check(self, authorization: str | None, method: str, now: float) -> str:
        """``"ok"``, ``"stale"`` (a good answer to an expired nonce) or ``"no"``."""
        if authorization is None or not authorization[:7].lower() == "digest ":
            return "no"
        fields = parse_params(";".join(split_values(authorization[7:])))
        nonce = fields.get("nonce", "")
        issued, _dot, _mac = nonce.partition(".")
        if not issued.isdigit() or not hmac.compare_digest(nonce, self.nonce(int(issued))):
            return "no"
        algorithm = fields.get("algorithm", "MD5").upper()
        user = fields.get("username", "")
        password = self.credentials.get(user)
        if algorithm not in _HASHES or password is None or fields.get("realm") != self.realm:
            return "no"
        qop = fields.get("qop") or None
        if qop not in (None, "auth"):
            return "no"
        expected = digest_response(
            algorithm=algorithm,
            username=user,
            realm=self.realm,
            password=password,
            method=method,
            uri=fields.get("uri", ""),
            nonce=nonce,
            qop=qop,
            nc=fields.get("nc", ""),
            cnonce=fields.get("cnonce", ""),
        )
        if not hmac.compare_digest(expected, fields.get("response", "")):
            return "no"
        return "stale" if now - int(issued) > self.nonce_lifetime else "ok"
