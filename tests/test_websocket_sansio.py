"""The sans-IO WebSocket machine, driven by hand with a simulated clock.

Frames and handshake answers are built here from RFC 6455 directly (not with
wsproto), so the machine meets an independent peer.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from adk_realtime.sansio.errors import ConfigError, LocalProtocolError, MessageTooBig, ProtocolError
from adk_realtime.sansio.websocket.connection import (
    Accepted,
    Closed,
    ConnectRequest,
    HandshakeError,
    Message,
    Rejected,
    WebSocketClient,
    WebSocketServer,
    WsEvent,
    WsState,
)
from adk_realtime.session import SessionOptions

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# -- an independent peer: RFC 6455 by hand ------------------------------------


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, mask: bool = False) -> bytes:
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if mask:
        key = os.urandom(4)
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


def parse_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, unmasked payload) of each whole frame in ``data``."""
    out = []
    i = 0
    while i < len(data):
        opcode = data[i] & 0x0F
        masked = data[i + 1] & 0x80
        n = data[i + 1] & 0x7F
        i += 2
        if n == 126:
            (n,) = struct.unpack("!H", data[i : i + 2])
            i += 2
        elif n == 127:
            (n,) = struct.unpack("!Q", data[i : i + 8])
            i += 8
        key = data[i : i + 4] if masked else b"\0\0\0\0"
        i += 4 if masked else 0
        payload = bytes(b ^ key[j % 4] for j, b in enumerate(data[i : i + n]))
        out.append((opcode, payload))
        i += n
    return out


def accept_response(request: bytes, extra: bytes = b"") -> bytes:
    key = re.search(rb"(?i)sec-websocket-key: *([^\r]+)", request)
    assert key is not None
    token = base64.b64encode(hashlib.sha1(key.group(1) + GUID).digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + token + b"\r\n" + extra + b"\r\n"
    )


def events(ws: WebSocketClient | WebSocketServer) -> list[WsEvent]:
    out = []
    while (event := ws.next_event()) is not None:
        out.append(event)
    return out


def open_client(**kwargs: object) -> WebSocketClient:
    client = WebSocketClient("example.com", "/v1/realtime", **kwargs)  # type: ignore[arg-type]
    client.initiate(0.0)
    client.receive_data(accept_response(client.data_to_send()), 0.0)
    assert isinstance(client.next_event(), Accepted)
    assert client.state is WsState.OPEN
    return client


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode()


# -- handshake ---------------------------------------------------------------


def test_upgrade_request_carries_the_given_headers_and_subprotocols() -> None:
    client = WebSocketClient(
        "api.example.com:8443",
        "/v1/realtime?model=m",
        headers=[("Authorization", "Bearer sk-test"), ("OpenAI-Beta", "realtime=v1")],
        subprotocols=["realtime"],
    )
    assert client.data_to_send() == b""
    client.initiate(0.0)
    request = client.data_to_send()
    head = request.decode()
    assert head.startswith("GET /v1/realtime?model=m HTTP/1.1\r\n")
    assert "Host: api.example.com:8443\r\n" in head
    assert "Authorization: Bearer sk-test\r\n" in head
    assert "OpenAI-Beta: realtime=v1\r\n" in head
    assert "Sec-WebSocket-Protocol: realtime\r\n" in head
    assert request.endswith(b"\r\n\r\n")
    assert client.state is WsState.CONNECTING


def test_accepted_carries_response_headers_and_subprotocol() -> None:
    client = WebSocketClient("h", "/", subprotocols=["realtime"])
    client.initiate(0.0)
    answer = accept_response(
        client.data_to_send(), b"Sec-WebSocket-Protocol: realtime\r\nX-Request-Id: abc\r\n"
    )
    client.receive_data(answer, 0.0)
    (accepted,) = events(client)
    assert isinstance(accepted, Accepted)
    assert accepted.subprotocol == "realtime"
    assert ("x-request-id", "abc") in accepted.headers
    assert client.response_headers == accepted.headers


def test_messages_in_the_same_read_as_the_101_are_kept() -> None:
    client = WebSocketClient("h", "/")
    client.initiate(0.0)
    client.receive_data(accept_response(client.data_to_send()) + frame(1, b"early"), 0.0)
    assert events(client) == [Accepted((), None), Message("early")]


def test_a_wrong_accept_token_is_a_handshake_error_and_closes() -> None:
    client = WebSocketClient("h", "/")
    client.initiate(0.0)
    client.data_to_send()
    bad = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"
    )
    with pytest.raises(HandshakeError, match="accept token"):
        client.receive_data(bad, 0.0)
    assert events(client) == [Closed(None, "invalid handshake response")]
    assert client.state is WsState.CLOSED


def test_rejection_401_reports_status_headers_and_body() -> None:
    client = WebSocketClient("h", "/")
    client.initiate(0.0)
    client.data_to_send()
    body = b'{"error": "invalid api key"}'
    answer = (
        b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    client.receive_data(answer, 0.0)
    assert events(client) == []  # the body is still coming
    assert client.state.value == "rejecting"
    client.receive_data(body, 0.0)
    rejected, closed = events(client)
    assert isinstance(rejected, Rejected)
    assert rejected.status == 401
    assert rejected.body == body
    assert ("content-type", "application/json") in rejected.headers
    assert closed == Closed(None, "handshake rejected with HTTP 401")
    assert client.state is WsState.CLOSED


def test_rejection_body_without_length_ends_at_eof() -> None:
    client = WebSocketClient("h", "/")
    client.initiate(0.0)
    client.data_to_send()
    client.receive_data(b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\nno entry", 0.0)
    client.receive_data(b"", 0.0)
    rejected, closed = events(client)
    assert isinstance(rejected, Rejected) and rejected.body == b"no entry"
    assert isinstance(closed, Closed)


def test_rejection_body_is_capped_at_64_kib() -> None:
    client = WebSocketClient("h", "/")
    client.initiate(0.0)
    client.data_to_send()
    body = b"x" * 300_000
    client.receive_data(b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n" % len(body), 0.0)
    client.receive_data(body, 0.0)
    rejected, _closed = events(client)
    assert isinstance(rejected, Rejected) and rejected.body == body[: 64 * 1024]


def test_eof_during_the_handshake_closes_without_a_code() -> None:
    client = WebSocketClient("h", "/")
    client.initiate(0.0)
    client.receive_data(b"", 0.0)
    assert events(client) == [Closed(None, "connection lost during the handshake")]


def test_request_headers_are_validated_without_echoing_their_values() -> None:
    with pytest.raises(ConfigError) as info:
        WebSocketClient("h", "/", headers=[("Authorization", "Bearer sk-SECRET\r\nX: y")])
    assert "sk-SECRET" not in str(info.value) and info.value.field == "headers"
    with pytest.raises(ConfigError, match="set by the WebSocket handshake"):
        WebSocketClient("h", "/", headers=[("Sec-WebSocket-Key", "x")])
    with pytest.raises(ConfigError, match="target"):
        WebSocketClient("h", "no-slash")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_message_size": 0}, "max_message_size"),
        ({"ping_interval": -1.0}, "ping_interval"),
        ({"pong_timeout": 0.0}, "pong_timeout"),
        ({"close_timeout": -2.0}, "close_timeout"),
    ],
)
def test_a_bad_constructor_value_is_a_config_error_naming_field_and_value(
    kwargs: dict[str, float], field: str
) -> None:
    with pytest.raises(ConfigError) as info:
        WebSocketClient("h", "/", **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert repr(next(iter(kwargs.values()))) in str(info.value)


def test_reprs_never_show_credentials() -> None:
    client = WebSocketClient("h", "/ws?key=AIzaSECRET", headers=[("x-goog-api-key", "AIzaSECRET")])
    assert "AIzaSECRET" not in repr(client)
    server = WebSocketServer()
    client.initiate(0.0)
    server.receive_data(client.data_to_send(), 0.0)
    (request,) = events(server)
    assert isinstance(request, ConnectRequest)
    assert ("x-goog-api-key", "AIzaSECRET") in request.headers  # the data is intact...
    assert "AIzaSECRET" not in repr(request)  # ...its repr is not
    assert "AIzaSECRET" not in repr(server)
    rejected = Rejected(401, (("set-cookie", "session=SECRET"), ("api-key", "SECRET")), b"")
    assert "SECRET" not in repr(rejected)
    assert "SECRET" not in repr(Accepted((("authorization", "Bearer SECRET"),)))


# -- messages ------------------------------------------------------------------


def test_fragmented_text_is_reassembled_across_a_split_utf8_character() -> None:
    client = open_client()
    text = "héllo wörld ✓".encode()
    cut = text.index("✓".encode()) + 1  # inside the 3-byte character
    wire = frame(1, text[:4], fin=False) + frame(0, text[4:cut], fin=False) + frame(0, text[cut:])
    for i in range(len(wire)):  # one byte at a time: every split point
        client.receive_data(wire[i : i + 1], 1.0)
    assert events(client) == [Message("héllo wörld ✓")]


def test_fragmented_binary_with_an_interleaved_ping_is_reassembled_and_ponged() -> None:
    client = open_client()
    wire = frame(2, b"abc", fin=False) + frame(9, b"are you there") + frame(0, b"def")
    client.receive_data(wire, 1.0)
    assert events(client) == [Message(b"abcdef")]
    assert parse_frames(client.data_to_send()) == [(0xA, b"are you there")]


def test_message_over_the_limit_mid_reassembly_closes_1009_and_buffers_nothing_more() -> None:
    client = open_client(max_message_size=1000)
    client.receive_data(frame(2, b"a" * 400, fin=False) + frame(0, b"b" * 400, fin=False), 1.0)
    assert events(client) == []
    with pytest.raises(MessageTooBig, match="max_message_size"):
        client.receive_data(frame(0, b"c" * 400), 1.0)
    assert parse_frames(client.data_to_send()) == [(8, close_payload(1009, "message too big"))]
    assert events(client) == [Closed(1009, "message too big")]
    assert client.state is WsState.CLOSED
    assert client._parts == [] and client._size == 0
    client.receive_data(frame(2, b"later"), 2.0)  # ignored after the end
    assert events(client) == []


def test_a_huge_frame_is_refused_before_it_is_buffered() -> None:
    client = open_client(max_message_size=100_000)
    header = bytes([0x82, 127]) + struct.pack("!Q", 10**9)  # announces 1 GB
    with pytest.raises(MessageTooBig):
        client.receive_data(header + b"x" * 500_000, 1.0)
    # at most one 64 KiB feed slice was held by the parser, and none kept by us
    assert client._size == 0 and client._parts == []
    assert events(client) == [Closed(1009, "message too big")]


def test_a_text_limit_counts_utf8_bytes_not_characters() -> None:
    client = open_client(max_message_size=10)
    with pytest.raises(MessageTooBig):
        client.receive_data(frame(1, "ééééé€".encode()), 1.0)  # 6 chars, 13 bytes


def test_messages_both_ways_between_our_client_and_server_roles() -> None:
    client = WebSocketClient("h", "/chat")
    server = WebSocketServer()
    client.initiate(0.0)
    server.receive_data(client.data_to_send(), 0.0)
    (request,) = events(server)
    assert isinstance(request, ConnectRequest) and request.target == "/chat"
    server.accept()
    client.receive_data(server.data_to_send(), 0.0)
    assert isinstance(client.next_event(), Accepted)
    big = os.urandom(200_000)
    client.send_message(big)
    client.send_message("hi")
    server.receive_data(client.data_to_send(), 1.0)
    assert events(server) == [Message(big), Message("hi")]
    server.send_message("back")
    client.receive_data(server.data_to_send(), 1.0)
    assert events(client) == [Message("back")]


# -- keepalive -------------------------------------------------------------------


def test_ping_is_sent_at_the_interval_and_its_pong_clears_the_deadline() -> None:
    client = open_client(ping_interval=20.0, pong_timeout=10.0)
    assert client.get_timer() == 20.0
    client.handle_timer(19.9)  # early: nothing
    assert client.data_to_send() == b""
    client.handle_timer(20.0)
    ((opcode, payload),) = parse_frames(client.data_to_send())
    assert opcode == 9
    assert client.get_timer() == 30.0  # the pong deadline
    client.receive_data(frame(0xA, payload), 25.0)
    assert client.get_timer() == 40.0  # the next ping
    assert events(client) == []


def test_a_pong_with_another_payload_does_not_count() -> None:
    client = open_client(ping_interval=20.0, pong_timeout=10.0)
    client.handle_timer(20.0)
    client.data_to_send()
    client.receive_data(frame(0xA, b"unsolicited"), 21.0)
    assert client.get_timer() == 30.0


def test_a_missed_pong_ends_the_connection_with_1011() -> None:
    client = open_client(ping_interval=20.0, pong_timeout=10.0)
    client.handle_timer(20.0)
    client.data_to_send()
    client.handle_timer(30.0)
    assert parse_frames(client.data_to_send()) == [(8, close_payload(1011, "pong timeout"))]
    assert events(client) == [Closed(1011, "pong timeout")]
    assert client.get_timer() is None and client.close_code == 1011


@pytest.mark.parametrize(
    "options",
    [SessionOptions(), SessionOptions(keepalive_interval=2.0, keepalive_timeout=0.5)],
    ids=["defaults", "settable"],
)
def test_a_silent_peer_is_noticed_within_the_session_keepalive_limit(
    options: SessionOptions,
) -> None:
    """The session's keepalive options drive the machine: by default a peer that stops
    answering is noticed within 15 s (a ping at 10 s, its pong due 5 s later)."""
    limit = (options.keepalive_interval or 0.0) + options.keepalive_timeout
    assert limit <= 15.0
    client = open_client(
        ping_interval=options.keepalive_interval, pong_timeout=options.keepalive_timeout
    )
    now = 0.0
    while client.state is WsState.OPEN:
        timer = client.get_timer()
        assert timer is not None
        now = timer
        client.handle_timer(now)  # the peer answers nothing
    assert events(client) == [Closed(1011, "pong timeout")]
    assert now == limit


def test_session_keepalive_options_are_checked() -> None:
    for bad in (
        {"keepalive_interval": 0},
        {"keepalive_timeout": -1.0},
        {"keepalive_timeout": None},
    ):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            SessionOptions(**bad)  # type: ignore[arg-type]
    assert SessionOptions(keepalive_interval=None).keepalive_interval is None  # no pings


def test_no_keepalive_when_ping_interval_is_none() -> None:
    client = open_client(ping_interval=None)
    assert client.get_timer() is None
    client.ping(5.0)  # an explicit ping still arms the pong deadline
    assert client.get_timer() == 25.0


def test_a_text_with_a_lone_surrogate_is_refused_and_nothing_is_queued() -> None:
    client = open_client()
    with pytest.raises(LocalProtocolError, match=r"lone surrogate '\\udfff' at index 0"):
        client.send_message("\udfff tail")
    assert client.data_to_send() == b"" and client.state is WsState.OPEN
    client.send_message("caf\u00e9")
    assert [payload for _, payload in parse_frames(client.data_to_send())] == ["café".encode()]


# -- close -------------------------------------------------------------------------


def test_close_handshake_completes_with_the_peer_answer() -> None:
    client = open_client()
    client.close(1000, "bye", now=50.0)
    assert parse_frames(client.data_to_send()) == [(8, close_payload(1000, "bye"))]
    assert client.state is WsState.CLOSING
    assert client.get_timer() == 55.0
    with pytest.raises(LocalProtocolError):
        client.send_message("too late")
    client.receive_data(frame(8, close_payload(1000, "bye")), 51.0)
    assert events(client) == [Closed(1000, "bye")]
    assert client.get_timer() is None


def test_close_handshake_deadline_ends_with_1006() -> None:
    client = open_client(close_timeout=5.0)
    client.close(now=50.0)
    client.data_to_send()
    client.handle_timer(54.0)
    assert events(client) == []
    client.handle_timer(55.0)
    assert events(client) == [Closed(1006, "close handshake timed out")]
    client.close(now=60.0)  # idempotent, no second Closed
    assert events(client) == []


def test_a_peer_close_is_echoed_and_ends_with_its_code() -> None:
    client = open_client()
    client.receive_data(frame(1, b"last") + frame(8, close_payload(4001, "done")), 1.0)
    assert events(client) == [Message("last"), Closed(4001, "done")]
    assert parse_frames(client.data_to_send()) == [(8, close_payload(4001, "done"))]


def test_eof_without_a_close_frame_is_1006() -> None:
    client = open_client()
    client.receive_data(b"", 1.0)
    assert events(client) == [Closed(1006, "connection lost without a close frame")]


def test_invalid_close_arguments_are_refused_before_anything_is_sent() -> None:
    client = open_client()
    with pytest.raises(LocalProtocolError, match="1006"):
        client.close(1006, now=1.0)
    with pytest.raises(LocalProtocolError, match="123"):
        client.close(1000, "x" * 200, now=1.0)
    assert client.state is WsState.OPEN and client.data_to_send() == b""


def test_framing_errors_close_with_1002_and_raise_protocol_error() -> None:
    client = open_client()
    with pytest.raises(ProtocolError, match="framing"):
        client.receive_data(frame(0, b"continuation without a start"), 1.0)
    ((opcode, payload),) = parse_frames(client.data_to_send())
    assert opcode == 8 and payload[:2] == struct.pack("!H", 1002)
    (closed,) = events(client)
    assert isinstance(closed, Closed) and closed.code == 1002


def test_invalid_utf8_text_closes_with_1007() -> None:
    client = open_client()
    with pytest.raises(ProtocolError):
        client.receive_data(frame(1, b"\xff\xfe"), 1.0)
    (closed,) = events(client)
    assert isinstance(closed, Closed) and closed.code == 1007


# -- server role --------------------------------------------------------------------


def test_server_rejects_with_status_and_body() -> None:
    client = WebSocketClient("h", "/private")
    server = WebSocketServer()
    client.initiate(0.0)
    server.receive_data(client.data_to_send(), 0.0)
    events(server)
    server.reject(401, "bad key")
    assert events(server) == [Closed(None, "rejected with HTTP 401")]
    client.receive_data(server.data_to_send(), 0.0)
    rejected, _ = events(client)
    assert isinstance(rejected, Rejected)
    assert (rejected.status, rejected.body) == (401, b"bad key")


def test_server_answers_a_malformed_request_with_400() -> None:
    server = WebSocketServer()
    with pytest.raises(HandshakeError, match="upgrade request"):
        server.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0.0)
    assert server.data_to_send().startswith(b"HTTP/1.1 400 ")
    assert events(server) == [Closed(None, "invalid upgrade request")]


def test_server_accept_refuses_a_subprotocol_not_offered() -> None:
    client = WebSocketClient("h", "/", subprotocols=["a"])
    server = WebSocketServer()
    client.initiate(0.0)
    server.receive_data(client.data_to_send(), 0.0)
    events(server)
    with pytest.raises(LocalProtocolError):
        server.accept("b")
    server.accept("a")
    client.receive_data(server.data_to_send(), 0.0)
    assert client.subprotocol == "a"


# -- hostile input --------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=300), max_size=6))
def test_hostile_bytes_after_the_handshake_raise_only_protocol_error(chunks: list[bytes]) -> None:
    client = open_client(max_message_size=1000)
    for i, chunk in enumerate(chunks):
        try:
            client.receive_data(chunk, float(i))
        except ProtocolError:
            pass
        client.handle_timer(float(i))
        client.data_to_send()
    closed = [e for e in events(client) if isinstance(e, Closed)]
    assert len(closed) <= 1
    if closed:
        assert client.state is WsState.CLOSED


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_hostile_handshake_answers_raise_only_protocol_error(data: bytes) -> None:
    client = WebSocketClient("h", "/")
    client.initiate(0.0)
    client.data_to_send()
    for chunk in (b"HTTP/1.1 " + data, b""):
        try:
            client.receive_data(chunk, 0.0)
        except ProtocolError:
            pass
    assert [e for e in events(client) if isinstance(e, Closed)] != []


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_hostile_upgrade_requests_raise_only_protocol_error(data: bytes) -> None:
    server = WebSocketServer()
    for chunk in (b"GET / HTTP/1.1\r\n" + data, data, b""):
        try:
            server.receive_data(chunk, 0.0)
        except ProtocolError:
            pass
    server.data_to_send()


def test_keepalive_is_suspended_while_reading_is_paused() -> None:
    client = open_client(ping_interval=20.0, pong_timeout=10.0)
    client.handle_timer(20.0)  # the ping goes out; its pong is due at 30
    client.data_to_send()
    client.pause_reading(21.0)  # the app is behind: we stop reading the socket
    assert client.get_timer() is None
    client.handle_timer(60.0)  # far past the pong deadline, but we were not reading
    assert events(client) == [] and client.state is WsState.OPEN
    client.resume_reading(61.0)
    assert client.get_timer() == 70.0  # the deadline moved by the 40 s paused
    client.handle_timer(70.0)  # still no pong after reading resumed: now it is a timeout
    assert events(client) == [Closed(1011, "pong timeout")]
