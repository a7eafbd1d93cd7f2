"""DTLS 1.2 endpoint for WebRTC (RFC 6347, DTLS-SRTP per RFC 5763/5764), sans-IO.

Theory of operation
-------------------
OpenSSL (through pyOpenSSL) runs the handshake and the record layer over two
memory BIOs; this class only moves bytes and keeps the time. Datagrams from the
network go in with :meth:`DtlsEndpoint.receive_datagram`; whatever OpenSSL
writes comes out of :meth:`DtlsEndpoint.datagrams_to_send`. A DTLS association
has one peer: the address a datagram came from is opaque here (the caller's
route, e.g. the ICE pair) and only recorded as :attr:`DtlsEndpoint.remote_address`;
the caller decides where the output goes. A memory BIO is a
byte stream, so one read returns a whole flight glued together: we split it at
the 13-byte record headers and pack whole records into datagrams of at most
``mtu`` bytes (OpenSSL already fragments handshake messages to that size,
because ``OP_NO_QUERY_MTU`` makes it honour ``set_ciphertext_mtu``).

Peers authenticate by certificate fingerprint, not by a CA: the verify callback
accepts a self-signed certificate only if the SHA-256 of its DER equals the
``a=fingerprint`` the signalling gave us; anything else fails the handshake.

Time: OpenSSL's own retransmission timer reads the system clock, which a
sans-IO object must not depend on. So the schedule is ours, driven by ``now``,
and mirrors OpenSSL's (1 s, doubling, capped at 60 s, reset when a new flight
goes out). When our timer fires we ask OpenSSL to retransmit
(``DTLSv1_handle_timeout``); if its clock says "not yet" (a simulated clock, or
a driver that woke early) we resend the bytes of the last flight ourselves,
which a peer that lost them accepts. The handshake gives up ``handshake_timeout``
(30 s by default) after start.

States (:class:`DtlsState`) and transitions (everything that changes ``_state`` is in
this file)::

    state        input                          -> next state   event
    NEW          start() / first datagram       -> HANDSHAKING  -
    HANDSHAKING  handshake done, fingerprint ok -> CONNECTED    DtlsConnected
    HANDSHAKING  alert / verify failure / 30 s  -> FAILED       DtlsFailed
    CONNECTED    application record             -> CONNECTED    DtlsApplicationData
    CONNECTED    close_notify from the peer     -> CLOSED       DtlsClosed
    CONNECTED    close()                        -> CLOSED       DtlsClosed
    CONNECTED    fatal alert / protocol error   -> FAILED       DtlsFailed
    FAILED, CLOSED  anything                    -> (ignored)    -

Driving loop::

    dtls.start(now)                               # once ICE has a working pair
    dtls.receive_datagram(data, addr, now)        # each datagram classified "dtls"
    dtls.handle_timer(now)                        # when now >= dtls.get_timer()
    dtls.send_application_data(packet)            # an SCTP packet, once connected
    for datagram in dtls.datagrams_to_send(now): send it to the peer
    while (ev := dtls.next_event()) is not None: ...
    re-arm the timer from dtls.get_timer()
"""

from __future__ import annotations

import enum
import hashlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL

from adk_realtime.sansio.errors import LocalProtocolError
from adk_realtime.sansio.webrtc._checks import require
from adk_realtime.sansio.webrtc.srtp import SRTP_PROFILES, SrtpKeys

__all__ = [
    "DEFAULT_SRTP_PROFILES",
    "DtlsApplicationData",
    "DtlsCertificate",
    "DtlsClosed",
    "DtlsConnected",
    "DtlsEndpoint",
    "DtlsEvent",
    "DtlsFailed",
    "DtlsState",
    "classify_datagram",
]

RECORD_HEADER_LEN = 13
INITIAL_RTO = 1.0
MAX_RTO = 60.0
HANDSHAKE_TIMEOUT = 30.0
#: Offered DTLS-SRTP profiles, in preference order (a server picks the first the client offered).
DEFAULT_SRTP_PROFILES = ("SRTP_AES128_CM_SHA1_80", "SRTP_AEAD_AES_128_GCM")
_EXPORTER_LABEL = b"EXTRACTOR-dtls_srtp"
_RECV_CHUNK = 65536
# Fixed validity window: sans-IO code reads no clock, and WebRTC peers
# authenticate the certificate by fingerprint, not by its dates.
_DEFAULT_NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
_DEFAULT_NOT_AFTER = datetime(2099, 12, 31, tzinfo=UTC)


def classify_datagram(first_byte: int) -> Literal["stun", "dtls", "rtp", "unknown"]:
    """Demultiplex a datagram on one 5-tuple by its first byte (RFC 7983).

    0-3 is STUN, 20-63 DTLS, 128-191 RTP or RTCP (tell them apart with
    ``adk_realtime.sansio.webrtc.rtp.is_rtcp``); everything else (ZRTP,
    TURN channels, garbage) is "unknown" and should be dropped and counted.
    """
    if 0 <= first_byte <= 3:
        return "stun"
    if 20 <= first_byte <= 63:
        return "dtls"
    if 128 <= first_byte <= 191:
        return "rtp"
    return "unknown"


def format_fingerprint(digest: bytes) -> str:
    """Format a digest as SDP writes it: upper-case hex pairs joined by colons."""
    return ":".join(f"{b:02X}" for b in digest)


def parse_fingerprint(text: str) -> bytes:
    """Parse an SDP ``a=fingerprint:sha-256`` value ("AB:CD:...") into 32 bytes.

    Raises ``ValueError`` if it is not 32 colon-separated hex pairs.
    """
    parts = text.strip().split(":")
    digest = bytes(int(p, 16) for p in parts if len(p) == 2)
    if len(parts) != 32 or len(digest) != 32:
        raise ValueError(f"not a sha-256 fingerprint: {text[:120]!r}")
    return digest


class DtlsCertificate:
    """A certificate and its private key, identified to the peer by SHA-256 fingerprint.

    Create one per peer connection with :meth:`generate` and put
    :attr:`fingerprint_sdp` in the SDP offer as ``a=fingerprint:sha-256 ...``.
    """

    __slots__ = ("certificate", "fingerprint_sdp", "fingerprint_sha256", "private_key")

    def __init__(self, certificate: x509.Certificate, private_key: ec.EllipticCurvePrivateKey):
        self.certificate = certificate
        self.private_key = private_key
        der = certificate.public_bytes(serialization.Encoding.DER)
        self.fingerprint_sha256: bytes = hashlib.sha256(der).digest()
        self.fingerprint_sdp: str = format_fingerprint(self.fingerprint_sha256)

    @classmethod
    def generate(
        cls,
        *,
        not_before: datetime = _DEFAULT_NOT_BEFORE,
        not_after: datetime = _DEFAULT_NOT_AFTER,
    ) -> DtlsCertificate:
        """Make a fresh ECDSA P-256 self-signed certificate (what browsers use).

        The validity dates default to a fixed wide window because this layer
        reads no clock; pass your own if a peer checks them.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "adk-realtime")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    def __repr__(self) -> str:  # never shows the private key
        return f"DtlsCertificate(fingerprint_sdp={self.fingerprint_sdp!r})"


# -- events -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DtlsConnected:
    """The handshake finished and the peer's fingerprint matched.

    ``srtp_keys`` are the SRTP master keys oriented for this side (hand them to
    ``SrtpSession``); ``None`` if the peer negotiated no SRTP profile (a
    data-channel-only peer). ``srtp_profile`` is the negotiated profile name.
    """

    srtp_keys: SrtpKeys | None
    srtp_profile: str | None = None


@dataclass(frozen=True, slots=True)
class DtlsApplicationData:
    """Decrypted application data (an SCTP packet, for WebRTC data channels)."""

    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class DtlsFailed:
    """The DTLS association failed; ``reason`` says why. Tear down the peer connection."""

    reason: str


@dataclass(frozen=True, slots=True)
class DtlsClosed:
    """The association closed cleanly (close_notify from the peer, or our close())."""


DtlsEvent = DtlsConnected | DtlsApplicationData | DtlsFailed | DtlsClosed


class DtlsState(enum.StrEnum):
    """Where a :class:`DtlsEndpoint` is (see the module docstring's table)."""

    NEW = "new"
    HANDSHAKING = "handshaking"
    CONNECTED = "connected"
    FAILED = "failed"
    CLOSED = "closed"


def _records_are_well_formed(data: bytes) -> bool:
    """True if ``data`` is a sequence of complete DTLS records (no overrun, no tail)."""
    i, n = 0, len(data)
    if n < RECORD_HEADER_LEN:
        return False
    while i < n:
        if n - i < RECORD_HEADER_LEN or not 20 <= data[i] <= 63:
            return False
        i += RECORD_HEADER_LEN + int.from_bytes(data[i + 11 : i + 13], "big")
    return i == n


def split_records(data: bytes) -> list[bytes]:
    """Split a glued byte run from the memory BIO at the DTLS record headers."""
    records = []
    i, n = 0, len(data)
    while i < n:
        end = i + RECORD_HEADER_LEN
        if end <= n:
            end += int.from_bytes(data[i + 11 : i + 13], "big")
        records.append(data[i : min(end, n)])
        i = end
    return records


def pack_datagrams(records: list[bytes], mtu: int) -> list[bytes]:
    """Pack whole records into datagrams of at most ``mtu`` bytes (a bigger record goes alone)."""
    datagrams: list[bytes] = []
    current = bytearray()
    for record in records:
        if current and len(current) + len(record) > mtu:
            datagrams.append(bytes(current))
            current.clear()
        current += record
    if current:
        datagrams.append(bytes(current))
    return datagrams


class DtlsEndpoint:
    """One side of a DTLS association carrying DTLS-SRTP keys and SCTP.

    ``role`` is "client" if our SDP says ``a=setup:active`` (we send the
    ClientHello), "server" for ``a=setup:passive``. ``remote_fingerprint`` is
    the SHA-256 digest from the peer's ``a=fingerprint`` (see
    :func:`parse_fingerprint`). ``mtu`` bounds every datagram we emit.
    ``srtp_profiles`` are the DTLS-SRTP profiles offered, preferred first.
    ``handshake_timeout`` bounds the handshake from :meth:`start` (a silent or stalled
    peer fails with `DtlsFailed` then).
    """

    def __init__(
        self,
        role: Literal["client", "server"],
        *,
        certificate: DtlsCertificate,
        remote_fingerprint: bytes,
        mtu: int = 1200,
        srtp_profiles: Sequence[str] = DEFAULT_SRTP_PROFILES,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
    ) -> None:
        require("role", role in ("client", "server"), "'client' or 'server'", role)
        require(
            "remote_fingerprint",
            isinstance(remote_fingerprint, bytes) and len(remote_fingerprint) == 32,
            "the 32-byte SHA-256 of the peer's certificate (see parse_fingerprint)",
            remote_fingerprint,
        )
        require("mtu", isinstance(mtu, int) and 256 <= mtu <= 65507, "256-65507 bytes", mtu)
        profiles = list(srtp_profiles)
        require(
            "srtp_profiles",
            bool(profiles) and all(p in SRTP_PROFILES for p in profiles),
            f"a non-empty list among {sorted(SRTP_PROFILES)}",
            profiles,
        )
        positive = "a positive number of seconds"
        require("handshake_timeout", handshake_timeout > 0, positive, handshake_timeout)
        self.role = role
        self.mtu = mtu
        self.handshake_timeout = handshake_timeout
        self.certificate = certificate
        self._remote_fingerprint = remote_fingerprint
        #: where the peer's latest datagram came from (the caller's opaque address)
        self.remote_address: object = None
        self._state = DtlsState.NEW
        self._events: deque[DtlsEvent] = deque()
        self._outgoing: list[bytes] = []
        self._last_flight: list[bytes] = []
        self._fingerprint_mismatch = False
        self._deadline: float | None = None
        self._retransmit_at: float | None = None
        self._rto = INITIAL_RTO
        #: counters a caller can read: datagrams dropped as malformed, resends we made.
        self.stats: dict[str, int] = {
            "malformed_datagrams": 0,
            "ignored_datagrams": 0,
            "retransmissions": 0,
            "final_flight_resent": 0,
        }

        ctx = SSL.Context(SSL.DTLS_CLIENT_METHOD if role == "client" else SSL.DTLS_SERVER_METHOD)
        ctx.set_options(SSL.OP_NO_QUERY_MTU | SSL.OP_NO_TICKET)
        ctx.use_certificate(certificate.certificate)
        ctx.use_privatekey(certificate.private_key)
        ctx.check_privatekey()
        ctx.set_tlsext_use_srtp(":".join(srtp_profiles).encode("ascii"))
        ctx.set_cipher_list(b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:HIGH")
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, self._verify)
        conn = SSL.Connection(ctx, None)
        conn.set_ciphertext_mtu(mtu)
        if role == "client":
            conn.set_connect_state()
        else:
            conn.set_accept_state()
        self._conn = conn

    # -- public API ------------------------------------------------------

    @property
    def state(self) -> DtlsState:
        """Where the endpoint is: NEW, HANDSHAKING, CONNECTED, FAILED or CLOSED."""
        return self._state

    @property
    def is_connected(self) -> bool:
        return self._state is DtlsState.CONNECTED

    def start(self, now: float) -> None:
        """Begin the handshake (the client writes its ClientHello; the server waits).

        Call once ICE has a working pair. Then flush :meth:`datagrams_to_send`
        and arm the timer from :meth:`get_timer`. Calling it again is a no-op.
        """
        if self._state is not DtlsState.NEW:
            return
        self._state = DtlsState.HANDSHAKING
        self._deadline = now + self.handshake_timeout
        if self.role == "client":
            self._step_handshake(now)

    def receive_datagram(self, data: bytes, addr: object, now: float) -> None:
        """Feed one UDP datagram whose first byte classified as "dtls", from ``addr``.

        ``addr`` is opaque (the caller's route); it becomes :attr:`remote_address`
        once the datagram passed the record check. Malformed datagrams are dropped and
        counted in ``stats``; a datagram before :meth:`start` starts the endpoint.
        Afterwards flush :meth:`datagrams_to_send` (OpenSSL may answer or retransmit),
        drain :meth:`next_event`, and re-arm the timer from :meth:`get_timer`.
        """
        if self._state is DtlsState.NEW:
            self.start(now)
        if self._state not in (DtlsState.HANDSHAKING, DtlsState.CONNECTED):
            self.stats["ignored_datagrams"] += 1
            return
        if not _records_are_well_formed(data):
            # A stream BIO would let a bogus length swallow the next datagram.
            self.stats["malformed_datagrams"] += 1
            return
        self.remote_address = addr
        if self._state is DtlsState.CONNECTED and data[0] in (20, 22) and self._last_flight:
            # The peer resends its last handshake flight: ours (the final one) was
            # lost. OpenSSL drops the resend as a replay, so answer with our flight.
            self._outgoing.extend(self._last_flight)
            self.stats["final_flight_resent"] += 1
            return
        self._conn.bio_write(data)
        if self._state is DtlsState.HANDSHAKING:
            self._step_handshake(now)
        if self._state is DtlsState.CONNECTED:
            self._read_application_data()

    def datagrams_to_send(self, now: float) -> list[bytes]:
        """Return (and forget) the datagrams to send to the peer, each at most ``mtu`` bytes.

        ``now`` is the time they leave; the output does not depend on it (each flight
        is timed when OpenSSL writes it, within the input or timer call that made it).
        """
        out, self._outgoing = self._outgoing, []
        return out

    def next_event(self) -> DtlsEvent | None:
        """Pop the next event, or ``None``. Call until it returns ``None``."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must next be called (same clock as ``now``), or ``None``."""
        if self._state is not DtlsState.HANDSHAKING:
            return None
        if self._retransmit_at is None:
            return self._deadline
        assert self._deadline is not None
        return min(self._retransmit_at, self._deadline)

    def handle_timer(self, now: float) -> None:
        """Retransmit the last flight or give up; a call before the timer is due does nothing.

        Afterwards flush :meth:`datagrams_to_send`, drain :meth:`next_event`
        and re-arm from :meth:`get_timer`.
        """
        if self._state is not DtlsState.HANDSHAKING:
            return
        assert self._deadline is not None
        if now >= self._deadline:
            self._flush_bio()  # may hold nothing; keeps the BIO empty
            timeout = self.handshake_timeout
            self._fail(f"handshake timed out after {timeout:g} s without an answer")
            return
        if self._retransmit_at is None or now < self._retransmit_at:
            return
        try:
            retransmitted = self._conn.DTLSv1_handle_timeout()
        except SSL.Error as exc:
            self._flush_bio()
            self._fail(f"handshake failed: {_describe(exc)}")
            return
        produced = self._flush_bio()
        if retransmitted and produced:
            self._last_flight = produced
        elif self._last_flight:
            # OpenSSL's own clock is not due yet: resend the last flight as is.
            self._outgoing.extend(self._last_flight)
        self.stats["retransmissions"] += 1
        self._rto = min(self._rto * 2, MAX_RTO)
        self._retransmit_at = now + self._rto

    def send_application_data(self, data: bytes) -> None:
        """Encrypt ``data`` (one SCTP packet) into one record; then flush :meth:`datagrams_to_send`.

        Raises :class:`LocalProtocolError` before the handshake completed or
        after the association ended, or if ``data`` would not fit in one
        datagram (see :attr:`max_application_data`).
        """
        if self._state is not DtlsState.CONNECTED:
            raise LocalProtocolError(
                f"cannot send application data while DTLS is {self._state.value}; "
                "wait for DtlsConnected"
            )
        limit = self.max_application_data
        if len(data) > limit:
            raise LocalProtocolError(
                f"application data of {len(data)} bytes exceeds the {limit}-byte DTLS payload "
                f"limit for mtu={self.mtu}; send smaller packets"
            )
        try:
            self._conn.send(data)
        except SSL.Error as exc:
            self._flush_bio()
            self._fail(f"sending failed: {_describe(exc)}")
            return
        self._flush_bio()

    @property
    def max_application_data(self) -> int:
        """Largest ``send_application_data`` payload that still fits in one ``mtu`` datagram."""
        if self._state is not DtlsState.CONNECTED:
            return 0
        return int(self._conn.get_cleartext_mtu())

    def close(self) -> None:
        """Send close_notify and end the association; flush :meth:`datagrams_to_send` after."""
        if self._state in (DtlsState.FAILED, DtlsState.CLOSED):
            return
        if self._state is DtlsState.CONNECTED:
            try:
                self._conn.shutdown()
            except SSL.Error:
                pass  # closing anyway; nothing the caller can do
            self._flush_bio()
        self._state = DtlsState.CLOSED
        self._events.append(DtlsClosed())

    # -- internals -------------------------------------------------------

    def _verify(self, conn: SSL.Connection, cert: object, errno: int, depth: int, ok: int) -> bool:
        # Self-signed is expected; only the leaf's fingerprint decides.
        if depth != 0:
            return True
        try:
            der = cert.to_cryptography().public_bytes(serialization.Encoding.DER)  # type: ignore[attr-defined]
        except Exception:
            self._fingerprint_mismatch = True
            return False
        if hashlib.sha256(der).digest() != self._remote_fingerprint:
            self._fingerprint_mismatch = True
            return False
        return True

    def _step_handshake(self, now: float) -> None:
        try:
            self._conn.do_handshake()
        except SSL.WantReadError:
            self._after_flight(now, self._flush_bio())
            return
        except SSL.Error as exc:
            self._flush_bio()  # the alert, so the peer fails fast too
            if self._fingerprint_mismatch:
                self._fail("fingerprint mismatch: the peer's certificate is not the one in its SDP")
            else:
                self._fail(f"handshake failed: {_describe(exc)}")
            return
        self._after_flight(now, self._flush_bio())
        self._on_handshake_done()

    def _after_flight(self, now: float, produced: list[bytes]) -> None:
        if produced:
            self._last_flight = produced
            self._rto = INITIAL_RTO
            self._retransmit_at = now + self._rto
        if self._conn.DTLSv1_get_timeout() is None:
            # OpenSSL expects no answer (e.g. server waiting for a ClientHello).
            self._retransmit_at = None

    def _on_handshake_done(self) -> None:
        peer = self._conn.get_peer_certificate(as_cryptography=True)
        if peer is None or (
            hashlib.sha256(peer.public_bytes(serialization.Encoding.DER)).digest()
            != self._remote_fingerprint
        ):
            self._fail("fingerprint mismatch: the peer's certificate is not the one in its SDP")
            return
        keys: SrtpKeys | None = None
        profile_name: str | None = None
        profile = self._conn.get_selected_srtp_profile()
        if profile:
            profile_name = profile.decode("ascii")
            lengths = SRTP_PROFILES.get(profile_name)
            if lengths is None:
                self._fail(f"peer selected unsupported SRTP profile {profile_name}")
                return
            key_len, salt_len = lengths
            material = self._conn.export_keying_material(_EXPORTER_LABEL, 2 * (key_len + salt_len))
            client_key = material[:key_len]
            server_key = material[key_len : 2 * key_len]
            client_salt = material[2 * key_len : 2 * key_len + salt_len]
            server_salt = material[2 * key_len + salt_len :]
            client, server = client_key + client_salt, server_key + server_salt
            if self.role == "client":
                keys = SrtpKeys(local=client, remote=server, profile=profile_name)
            else:
                keys = SrtpKeys(local=server, remote=client, profile=profile_name)
        self._state = DtlsState.CONNECTED
        self._retransmit_at = None
        self._events.append(DtlsConnected(srtp_keys=keys, srtp_profile=profile_name))

    def _read_application_data(self) -> None:
        while self._state is DtlsState.CONNECTED:
            try:
                data = self._conn.recv(_RECV_CHUNK)
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:
                self._flush_bio()
                self._state = DtlsState.CLOSED
                self._events.append(DtlsClosed())
                break
            except SSL.Error as exc:
                self._flush_bio()
                self._fail(f"connection failed: {_describe(exc)}")
                break
            if data:
                self._events.append(DtlsApplicationData(data))
        # A retransmitted peer flight makes OpenSSL resend its last flight.
        self._flush_bio()

    def _flush_bio(self) -> list[bytes]:
        chunks = []
        while True:
            try:
                chunk = self._conn.bio_read(_RECV_CHUNK)
            except SSL.WantReadError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        if not chunks:
            return []
        datagrams = pack_datagrams(split_records(b"".join(chunks)), self.mtu)
        self._outgoing.extend(datagrams)
        return datagrams

    def _fail(self, reason: str) -> None:
        self._state = DtlsState.FAILED
        self._retransmit_at = None
        self._events.append(DtlsFailed(reason))


def _describe(exc: SSL.Error) -> str:
    """OpenSSL's error queue as one readable line."""
    parts = []
    for item in exc.args[0] if exc.args and isinstance(exc.args[0], list) else []:
        if isinstance(item, tuple) and item:
            parts.append(str(item[-1]))
    return "; ".join(parts) or exc.__class__.__name__
