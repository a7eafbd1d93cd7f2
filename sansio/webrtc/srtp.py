"""SRTP/SRTCP protection for one peer connection (RFC 3711), on libsrtp via pylibsrtp.

Theory of operation
-------------------
DTLS-SRTP (RFC 5764) gives each direction its own master key and salt; the DTLS
endpoint hands them over oriented for this side as :class:`SrtpKeys`. We keep
two libsrtp sessions: one outbound with an "any outbound SSRC" policy, one
inbound with "any inbound SSRC", so the first packet of a new SSRC creates its
stream without set-up (libsrtp allows one wildcard template per session).

Inbound packets that fail authentication or the replay check are not errors
for the caller: they are what an attacker or a duplicating network produces.
``unprotect_*`` returns ``None`` and counts them in :attr:`SrtpSession.stats`.

The 20 ms path: ``protect_rtp_into`` encrypts an RTP packet in place in the
caller's preallocated ``bytearray`` (which must have room for the auth tag),
so the only allocation per packet is the ``bytes`` handed to the socket. That
calls libsrtp through pylibsrtp's cffi binding directly; if a future pylibsrtp
changes those internals we fall back to its public (copying) methods.

No state machine: a session is ready once constructed and never changes state.
It is a codec (each call returns its result), not a sans-IO machine; the media
pipelines in ``webrtc.media`` are the machines that use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pylibsrtp

from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.webrtc._checks import require

__all__ = ["SRTP_PROFILES", "SRTP_TRAILER_MAX", "SrtpKeys", "SrtpSession"]

#: DTLS-SRTP profile name -> (master key length, master salt length), RFC 5764 / RFC 7714.
SRTP_PROFILES: dict[str, tuple[int, int]] = {
    "SRTP_AES128_CM_SHA1_80": (16, 14),
    "SRTP_AEAD_AES_128_GCM": (16, 12),
}
_PYLIBSRTP_PROFILE = {
    "SRTP_AES128_CM_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "SRTP_AEAD_AES_128_GCM": pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
}
#: Room to leave after an RTP packet for ``protect_rtp_into`` (tag, no MKI).
SRTP_TRAILER_MAX = 16
#: Room after an RTCP packet for SRTCP (E flag + index, tag).
SRTCP_TRAILER_MAX = 4 + 16
_MAX_PACKET = 1500
_MIN_RTP = 12
_MIN_RTCP = 8

try:  # pylibsrtp internals used for the in-place path; see the module docstring.
    from pylibsrtp._binding import ffi as _ffi, lib as _lib

    _ERRORS: list[str] = list(pylibsrtp.ERRORS)
except Exception:  # pragma: no cover - depends on the installed pylibsrtp
    _ffi = _lib = None
    _ERRORS = []


@dataclass(frozen=True, slots=True)
class SrtpKeys:
    """SRTP master key + salt for each direction, oriented for this side.

    ``local`` protects what we send, ``remote`` unprotects what we receive.
    The key bytes never appear in ``repr``.
    """

    local: bytes = field(repr=False)
    remote: bytes = field(repr=False)
    profile: str = "SRTP_AES128_CM_SHA1_80"


def _classify(message: str) -> str:
    if "authentication" in message:
        return "auth_failed"
    if "replay" in message:
        return "replayed"
    return "rejected"


class SrtpSession:
    """Protect outbound and unprotect inbound RTP/RTCP with one pair of :class:`SrtpKeys`.

    Create it on ``DtlsConnected``; it is ready at once. ``stats`` counts
    packets per outcome: ``rtp_protected``, ``rtp_unprotected``,
    ``rtp_auth_failed``, ``rtp_replayed``, ``rtp_rejected`` (malformed or
    other libsrtp errors) and the same with ``rtcp_``.
    """

    def __init__(self, keys: SrtpKeys, *, use_fast_path: bool = True) -> None:
        profile = _PYLIBSRTP_PROFILE.get(keys.profile)
        if profile is None:
            raise ConfigError(
                "keys.profile",
                f"unsupported SRTP profile {keys.profile!r}; use one of {sorted(SRTP_PROFILES)}",
            )
        key_len, salt_len = SRTP_PROFILES[keys.profile]
        for name, value in (("keys.local", keys.local), ("keys.remote", keys.remote)):
            # key material: shown by its length only
            wanted = f"{key_len + salt_len} bytes of key+salt for {keys.profile}"
            require(name, len(value) == key_len + salt_len, wanted, f"{len(value)} bytes")
        self.profile = keys.profile
        self._tx = pylibsrtp.Session(
            pylibsrtp.Policy(
                key=keys.local, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile
            )
        )
        self._rx = pylibsrtp.Session(
            pylibsrtp.Policy(
                key=keys.remote, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile
            )
        )
        self.stats: dict[str, int] = dict.fromkeys(
            (
                f"{kind}_{outcome}"
                for kind in ("rtp", "rtcp")
                for outcome in ("protected", "unprotected", "auth_failed", "replayed", "rejected")
            ),
            0,
        )
        self._fast = bool(
            use_fast_path
            and _lib is not None
            and hasattr(self._tx, "_srtp")
            and hasattr(self._rx, "_srtp")
        )
        if self._fast:
            assert _ffi is not None
            self._tx_ctx: Any = self._tx._srtp[0]
            self._rx_ctx: Any = self._rx._srtp[0]
            self._len: Any = _ffi.new("int *")
            self._scratch = bytearray(_MAX_PACKET + SRTCP_TRAILER_MAX)
            self._scratch_c: Any = _ffi.from_buffer("char[]", self._scratch, require_writable=True)
            self._into_buf: bytearray | None = None
            self._into_c: Any = None

    # -- outbound ----------------------------------------------------------

    def protect_rtp(self, packet: bytes) -> bytes:
        """Encrypt and authenticate one RTP packet; send the result.

        Raises ``ValueError`` if ``packet`` is not a plausible RTP packet
        (that is our own bug, not the peer's).
        """
        if not self._fast:
            out = self._tx.protect(bytes(packet))
            self.stats["rtp_protected"] += 1
            return out
        n = len(packet)
        self._check_outbound(n, _MIN_RTP)
        self._scratch[:n] = packet
        return bytes(memoryview(self._scratch)[: self._run_tx(_lib.srtp_protect, "rtp", n)])

    def protect_rtp_into(self, buf: bytearray, length: int) -> int:
        """Encrypt the RTP packet in ``buf[:length]`` in place; return the new length.

        ``buf`` needs :data:`SRTP_TRAILER_MAX` spare bytes after ``length``.
        Reuse the same ``bytearray`` every time (it stays exported to libsrtp,
        so it cannot be resized while this session uses it); then send
        ``memoryview(buf)[:returned_length]``.
        """
        if not self._fast:
            out = self._tx.protect(bytes(buf[:length]))
            buf[: len(out)] = out
            self.stats["rtp_protected"] += 1
            return len(out)
        self._check_outbound(length, _MIN_RTP)
        if len(buf) < length + SRTP_TRAILER_MAX:
            raise ValueError(f"buffer needs {SRTP_TRAILER_MAX} spare bytes for the SRTP tag")
        if buf is not self._into_buf:
            assert _ffi is not None
            self._into_c = _ffi.from_buffer("char[]", buf, require_writable=True)
            self._into_buf = buf
        self._len[0] = length
        rc = _lib.srtp_protect(self._tx_ctx, self._into_c, self._len)
        if rc != _lib.srtp_err_status_ok:
            raise ValueError(f"SRTP protect failed: {_ERRORS[rc] if rc < len(_ERRORS) else rc}")
        self.stats["rtp_protected"] += 1
        return int(self._len[0])

    def protect_rtcp(self, packet: bytes) -> bytes:
        """Encrypt and authenticate one (compound) RTCP packet; send the result."""
        if not self._fast:
            out = self._tx.protect_rtcp(bytes(packet))
            self.stats["rtcp_protected"] += 1
            return out
        n = len(packet)
        self._check_outbound(n, _MIN_RTCP)
        self._scratch[:n] = packet
        return bytes(memoryview(self._scratch)[: self._run_tx(_lib.srtp_protect_rtcp, "rtcp", n)])

    # -- inbound -----------------------------------------------------------

    def unprotect_rtp(self, packet: bytes) -> bytes | None:
        """Authenticate and decrypt one SRTP packet; ``None`` (counted) if it must be dropped.

        Feed the result to the RTP depacketizer. Drops: auth failure
        (tampered or wrong key), replay (duplicate or too old), malformed.
        """
        return self._unprotect(packet, "rtp", _MIN_RTP + 4)

    def unprotect_rtcp(self, packet: bytes) -> bytes | None:
        """Authenticate and decrypt one SRTCP packet; ``None`` (counted) if it must be dropped."""
        return self._unprotect(packet, "rtcp", _MIN_RTCP + 4)

    # -- internals ---------------------------------------------------------

    def _check_outbound(self, n: int, minimum: int) -> None:
        if not minimum <= n <= _MAX_PACKET:
            raise ValueError(f"cannot protect a {n}-byte packet (want {minimum}..{_MAX_PACKET})")

    def _run_tx(self, func: Any, kind: str, n: int) -> int:
        self._len[0] = n
        rc = func(self._tx_ctx, self._scratch_c, self._len)
        if rc != _lib.srtp_err_status_ok:
            raise ValueError(f"SRTP protect failed: {_ERRORS[rc] if rc < len(_ERRORS) else rc}")
        self.stats[f"{kind}_protected"] += 1
        return int(self._len[0])

    def _unprotect(self, packet: bytes, kind: str, minimum: int) -> bytes | None:
        n = len(packet)
        if not minimum <= n <= _MAX_PACKET:
            self.stats[f"{kind}_rejected"] += 1
            return None
        if not self._fast:
            try:
                if kind == "rtp":
                    out = self._rx.unprotect(bytes(packet))
                else:
                    out = self._rx.unprotect_rtcp(bytes(packet))
            except pylibsrtp.Error as exc:
                self.stats[f"{kind}_{_classify(str(exc))}"] += 1
                return None
            self.stats[f"{kind}_unprotected"] += 1
            return out
        self._scratch[:n] = packet
        self._len[0] = n
        func = _lib.srtp_unprotect if kind == "rtp" else _lib.srtp_unprotect_rtcp
        rc = func(self._rx_ctx, self._scratch_c, self._len)
        if rc != _lib.srtp_err_status_ok:
            message = _ERRORS[rc] if rc < len(_ERRORS) else ""
            self.stats[f"{kind}_{_classify(message)}"] += 1
            return None
        self.stats[f"{kind}_unprotected"] += 1
        return bytes(memoryview(self._scratch)[: self._len[0]])
