"""DTLS-SRTP endpoint: two of our endpoints in memory with a simulated clock,
plus one handshake against the `openssl s_server` binary (a different OpenSSL
build and driver) over loopback UDP."""

from __future__ import annotations

import random
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from adk_realtime.sansio.errors import ConfigError, LocalProtocolError
from adk_realtime.sansio.webrtc.dtls import (
    DtlsApplicationData,
    DtlsCertificate,
    DtlsClosed,
    DtlsConnected,
    DtlsEndpoint,
    DtlsEvent,
    DtlsFailed,
    classify_datagram,
    parse_fingerprint,
)

CERT_A = DtlsCertificate.generate()
CERT_B = DtlsCertificate.generate()
CERT_EVE = DtlsCertificate.generate()


PEER_ADDRESS = ("192.0.2.7", 5000)  # opaque to DTLS: only recorded


def make_pair(mtu: int = 1200) -> tuple[DtlsEndpoint, DtlsEndpoint]:
    client = DtlsEndpoint(
        "client", certificate=CERT_A, remote_fingerprint=CERT_B.fingerprint_sha256, mtu=mtu
    )
    server = DtlsEndpoint(
        "server", certificate=CERT_B, remote_fingerprint=CERT_A.fingerprint_sha256, mtu=mtu
    )
    return client, server


def events(endpoint: DtlsEndpoint) -> list[DtlsEvent]:
    out = []
    while (event := endpoint.next_event()) is not None:
        out.append(event)
    return out


Drop = Callable[[str, int, bytes], bool]


def pump(
    a: DtlsEndpoint,
    b: DtlsEndpoint,
    now: float,
    drop: Drop = lambda sender, index, d: False,
    sent: list[bytes] | None = None,
    counter: dict[str, int] | None = None,
) -> None:
    """Deliver datagrams both ways until both sides are quiet."""
    counter = counter if counter is not None else {"client": 0, "server": 0}
    for _ in range(20):
        moved = False
        for src, dst in ((a, b), (b, a)):
            for datagram in src.datagrams_to_send(now):
                moved = True
                if sent is not None:
                    sent.append(datagram)
                index = counter[src.role]
                counter[src.role] += 1
                if not drop(src.role, index, datagram):
                    dst.receive_datagram(datagram, PEER_ADDRESS, now)
        if not moved:
            return


def handshake(client: DtlsEndpoint, server: DtlsEndpoint, now: float = 0.0) -> None:
    client.start(now)
    server.start(now)
    pump(client, server, now)


def test_handshake_completes_and_srtp_keys_match_crosswise() -> None:
    client, server = make_pair()
    handshake(client, server)
    (c_event,) = events(client)
    (s_event,) = events(server)
    assert isinstance(c_event, DtlsConnected) and isinstance(s_event, DtlsConnected)
    assert c_event.srtp_profile == s_event.srtp_profile == "SRTP_AES128_CM_SHA1_80"
    ck, sk = c_event.srtp_keys, s_event.srtp_keys
    assert ck is not None and sk is not None
    assert len(ck.local) == len(ck.remote) == 30
    assert ck.local == sk.remote and ck.remote == sk.local
    assert ck.local != ck.remote
    assert client.get_timer() is None and server.get_timer() is None
    assert client.is_connected and server.state == "connected"


def test_keys_and_certificate_never_appear_in_repr() -> None:
    client, server = make_pair()
    handshake(client, server)
    (event,) = events(client)
    assert isinstance(event, DtlsConnected) and event.srtp_keys is not None
    text = repr(event)
    assert event.srtp_keys.local.hex() not in text and "local" not in text
    assert "PRIVATE" not in repr(CERT_A) and CERT_A.fingerprint_sdp in repr(CERT_A)


def test_certificate_fingerprint_formats() -> None:
    der = CERT_A.certificate.public_bytes(serialization.Encoding.DER)
    assert len(CERT_A.fingerprint_sha256) == 32
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", CERT_A.fingerprint_sdp)
    assert parse_fingerprint(CERT_A.fingerprint_sdp) == CERT_A.fingerprint_sha256
    assert len(der) > 100
    with pytest.raises(ValueError):
        parse_fingerprint("AB:CD")


@pytest.mark.parametrize("lost", [("client", 0), ("server", 0), ("client", 1), ("server", 1)])
def test_lost_flight_is_retransmitted_after_timeout_and_handshake_completes(
    lost: tuple[str, int],
) -> None:
    client, server = make_pair()
    client.start(0.0)
    server.start(0.0)
    counter = {"client": 0, "server": 0}
    dropped: list[bytes] = []

    def drop(sender: str, index: int, datagram: bytes) -> bool:
        if (sender, index) == lost:
            dropped.append(datagram)
            return True
        return False

    pump(client, server, 0.0, drop, counter=counter)
    assert dropped, "the test did not drop anything"
    assert not client.is_connected
    now = 0.0
    for _ in range(6):
        if client.is_connected and server.is_connected:
            break
        timers = [t for t in (client.get_timer(), server.get_timer()) if t is not None]
        assert timers, "handshake stalled with no timer armed"
        now = min(timers)
        assert now < 30.0
        client.handle_timer(now)
        server.handle_timer(now)
        pump(client, server, now, drop, counter=counter)
    assert client.is_connected and server.is_connected
    assert 1.0 <= now < 4.0  # first retransmission after ~1 s
    assert client.stats["retransmissions"] + server.stats["retransmissions"] >= 1
    c_keys = next(e for e in events(client) if isinstance(e, DtlsConnected)).srtp_keys
    s_keys = next(e for e in events(server) if isinstance(e, DtlsConnected)).srtp_keys
    assert c_keys is not None and s_keys is not None and c_keys.local == s_keys.remote


def test_timer_is_not_due_before_it_fires() -> None:
    client, _server = make_pair()
    client.start(10.0)
    first = client.datagrams_to_send(10.0)
    timer = client.get_timer()
    assert timer == pytest.approx(11.0)
    client.handle_timer(10.5)  # early: nothing happens
    assert client.datagrams_to_send(10.5) == []
    client.handle_timer(timer)
    assert client.datagrams_to_send(timer) == first
    assert client.get_timer() == pytest.approx(timer + 2.0)  # doubled


def test_handshake_gives_up_after_about_30_seconds_of_silence() -> None:
    client, _server = make_pair()
    client.start(0.0)
    now, resends = 0.0, 0
    while (timer := client.get_timer()) is not None:
        now = timer
        client.handle_timer(now)
        resends += bool(client.datagrams_to_send(now))
    (event,) = events(client)
    assert isinstance(event, DtlsFailed) and "timed out" in event.reason
    assert now == pytest.approx(30.0)
    assert resends >= 4
    assert not client.is_connected


@pytest.mark.parametrize("wrong_side", ["client", "server"])
def test_unexpected_certificate_fails_with_fingerprint_mismatch_and_never_connects(
    wrong_side: str,
) -> None:
    client_expects = CERT_EVE if wrong_side == "client" else CERT_B
    server_expects = CERT_EVE if wrong_side == "server" else CERT_A
    client = DtlsEndpoint(
        "client", certificate=CERT_A, remote_fingerprint=client_expects.fingerprint_sha256
    )
    server = DtlsEndpoint(
        "server", certificate=CERT_B, remote_fingerprint=server_expects.fingerprint_sha256
    )
    handshake(client, server)
    checker = client if wrong_side == "client" else server
    other = server if wrong_side == "client" else client
    checker_events = events(checker)
    other_events = events(other)
    assert [type(e) for e in checker_events] == [DtlsFailed]
    assert isinstance(checker_events[0], DtlsFailed)
    assert "fingerprint mismatch" in checker_events[0].reason
    assert not any(isinstance(e, DtlsConnected) for e in checker_events + other_events)
    # the alert we sent makes the peer fail too, instead of waiting 30 s
    assert [type(e) for e in other_events] == [DtlsFailed]
    with pytest.raises(LocalProtocolError):
        checker.send_application_data(b"x")


@pytest.mark.parametrize("mtu", [256, 600, 1200])
def test_datagrams_never_exceed_the_mtu(mtu: int) -> None:
    client, server = make_pair(mtu)
    sent: list[bytes] = []
    client.start(0.0)
    server.start(0.0)
    pump(client, server, 0.0, sent=sent)
    assert client.is_connected and server.is_connected
    limit = client.max_application_data
    assert 0 < limit < mtu
    client.send_application_data(b"\xab" * limit)
    server.send_application_data(b"\xcd" * limit)
    pump(client, server, 0.0, sent=sent)
    assert sent and max(len(d) for d in sent) <= mtu
    if mtu == 256:
        assert len(sent) > 4  # the certificate flight had to be split


def test_application_data_round_trips_both_ways_and_oversize_is_refused() -> None:
    client, server = make_pair()
    handshake(client, server)
    events(client), events(server)
    client.send_application_data(b"sctp from client")
    server.send_application_data(b"sctp from server")
    server.send_application_data(b"second")
    pump(client, server, 0.0)
    assert events(server) == [DtlsApplicationData(b"sctp from client")]
    assert events(client) == [
        DtlsApplicationData(b"sctp from server"),
        DtlsApplicationData(b"second"),
    ]
    with pytest.raises(LocalProtocolError, match="exceeds"):
        client.send_application_data(b"x" * (client.max_application_data + 1))


def test_sending_before_connected_is_a_local_error() -> None:
    client, _ = make_pair()
    client.start(0.0)
    with pytest.raises(LocalProtocolError, match="DtlsConnected"):
        client.send_application_data(b"early")


def test_close_notify_reaches_the_peer() -> None:
    client, server = make_pair()
    handshake(client, server)
    events(client), events(server)
    client.close()
    pump(client, server, 0.0)
    assert events(client) == [DtlsClosed()]
    assert events(server) == [DtlsClosed()]
    assert server.state == "closed"


def test_random_garbage_datagrams_do_not_raise_and_do_not_break_the_handshake() -> None:
    rng = random.Random(1234)

    def garbage() -> bytes:
        kind = rng.randrange(3)
        body = rng.randbytes(rng.randrange(0, 300))
        if kind == 0:
            return body
        if kind == 1:  # looks like a DTLS record header with a random length
            return bytes([rng.randrange(20, 64), 0xFE, 0xFD]) + rng.randbytes(10) + body
        # a well-formed record framing with random content
        return (
            bytes([rng.choice([20, 21, 22, 23]), 0xFE, 0xFD])
            + rng.randbytes(8)
            + len(body).to_bytes(2, "big")
            + body
        )

    client, server = make_pair()
    client.start(0.0)
    server.start(0.0)
    for _ in range(5):
        for endpoint in (client, server):
            endpoint.receive_datagram(garbage(), PEER_ADDRESS, 0.0)
    pump(client, server, 0.0)
    for _ in range(200):
        for endpoint in (client, server):
            endpoint.receive_datagram(garbage(), PEER_ADDRESS, 0.0)
            endpoint.handle_timer(0.0)
    for endpoint in (client, server):
        for event in events(endpoint):
            assert isinstance(event, DtlsConnected | DtlsFailed | DtlsClosed)
    assert client.stats["malformed_datagrams"] > 0
    # garbage that parses as records is discarded by OpenSSL; the association survives
    assert client.is_connected and server.is_connected


def test_datagram_classification_follows_rfc_7983() -> None:
    table = {0: "stun", 3: "stun", 4: "unknown", 19: "unknown", 20: "dtls", 63: "dtls"}
    table |= {64: "unknown", 127: "unknown", 128: "rtp", 191: "rtp", 192: "unknown", 255: "unknown"}
    for first_byte, kind in table.items():
        assert classify_datagram(first_byte) == kind


# -- against an independent implementation ---------------------------------

OPENSSL = shutil.which("openssl")


@pytest.mark.skipif(OPENSSL is None, reason="no openssl command-line tool")
def test_client_handshakes_with_openssl_s_server_and_exports_the_same_keys(
    tmp_path: Path,
) -> None:
    server_cert = DtlsCertificate.generate()
    (tmp_path / "cert.pem").write_bytes(
        server_cert.certificate.public_bytes(serialization.Encoding.PEM)
    )
    (tmp_path / "key.pem").write_bytes(
        server_cert.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert OPENSSL is not None
    proc = subprocess.Popen(
        [OPENSSL, "s_server", "-dtls1_2", "-accept", f"127.0.0.1:{port}", "-naccept", "1",
         "-cert", str(tmp_path / "cert.pem"), "-key", str(tmp_path / "key.pem"),
         "-use_srtp", "SRTP_AES128_CM_SHA1_80", "-verify", "1",
         "-keymatexport", "EXTRACTOR-dtls_srtp", "-keymatexportlen", "60", "-mtu", "1200"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        banner = b""
        while b"ACCEPT" not in banner and len(banner) < 4000:
            line = proc.stdout.readline()
            assert line, banner
            banner += line
        client = DtlsEndpoint(
            "client", certificate=CERT_A, remote_fingerprint=server_cert.fingerprint_sha256
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect(("127.0.0.1", port))
        start = time.monotonic()
        client.start(0.0)
        got: list[DtlsEvent] = []
        while not client.is_connected and time.monotonic() - start < 10:
            for datagram in client.datagrams_to_send(time.monotonic() - start):
                sock.send(datagram)
            got += events(client)
            if any(isinstance(e, DtlsFailed) for e in got):
                break
            sock.settimeout(0.2)
            try:
                data = sock.recv(2048)
            except TimeoutError:
                client.handle_timer(time.monotonic() - start)
                continue
            client.receive_datagram(data, ("127.0.0.1", port), time.monotonic() - start)
        got += events(client)
        connected = [e for e in got if isinstance(e, DtlsConnected)]
        assert connected, got
        client.send_application_data(b"hello openssl\n")
        for datagram in client.datagrams_to_send(time.monotonic() - start):
            sock.send(datagram)
        client.close()
        for datagram in client.datagrams_to_send(time.monotonic() - start):
            sock.send(datagram)
        sock.close()
        # Keep its stdin open: s_server ends the session on stdin EOF, racing our data.
        watchdog = threading.Timer(10, proc.kill)
        watchdog.start()
        output = (banner + proc.stdout.read()).decode(errors="replace")  # until it exits
        watchdog.cancel()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
    match = re.search(r"Keying material: ([0-9A-Fa-f]+)", output)
    assert match, output
    material = bytes.fromhex(match.group(1))
    keys = connected[0].srtp_keys
    assert keys is not None
    assert keys.local == material[0:16] + material[32:46]  # client key + client salt
    assert keys.remote == material[16:32] + material[46:60]
    assert "hello openssl" in output


def test_gcm_profile_is_negotiated_when_offered_first_and_keys_drive_srtp() -> None:
    from adk_realtime.sansio.webrtc.srtp import SrtpSession

    gcm_only = ("SRTP_AEAD_AES_128_GCM",)
    client = DtlsEndpoint(
        "client", certificate=CERT_A, remote_fingerprint=CERT_B.fingerprint_sha256,
        srtp_profiles=gcm_only,
    )  # fmt: skip
    server = DtlsEndpoint(
        "server", certificate=CERT_B, remote_fingerprint=CERT_A.fingerprint_sha256
    )
    handshake(client, server)
    (c_event,), (s_event,) = events(client), events(server)
    assert isinstance(c_event, DtlsConnected) and isinstance(s_event, DtlsConnected)
    assert c_event.srtp_profile == "SRTP_AEAD_AES_128_GCM"
    assert c_event.srtp_keys is not None and s_event.srtp_keys is not None
    assert len(c_event.srtp_keys.local) == 28  # 16-byte key + 12-byte salt (RFC 7714)
    alice, bob = SrtpSession(c_event.srtp_keys), SrtpSession(s_event.srtp_keys)
    packet = b"\x80\x6f\x00\x01" + bytes(8) + b"opus"
    assert bob.unprotect_rtp(alice.protect_rtp(packet)) == packet
    with pytest.raises(ValueError, match="srtp_profiles"):
        DtlsEndpoint(
            "client", certificate=CERT_A, remote_fingerprint=bytes(32), srtp_profiles=["X"]
        )


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("role", "both", "'both'"),
        ("remote_fingerprint", b"\x01" * 31, repr(b"\x01" * 31)),
        ("mtu", 100, "100"),
        ("srtp_profiles", ["SRTP_NULL"], "['SRTP_NULL']"),
        ("srtp_profiles", [], "[]"),
        ("handshake_timeout", 0.0, "0.0"),
    ],
)
def test_bad_arguments_are_config_errors_naming_field_and_value(
    field: str, value: object, shown: str
) -> None:
    args: dict[str, object] = {
        "certificate": CERT_A,
        "remote_fingerprint": CERT_B.fingerprint_sha256,
    }
    role = value if field == "role" else "client"
    if field != "role":
        args[field] = value
    with pytest.raises(ConfigError) as info:
        DtlsEndpoint(role, **args)  # type: ignore[arg-type]
    assert info.value.field == field and shown in str(info.value)
