"""RFC 6455 conformance of the sans-IO WebSocket, byte by byte, against a hand-made peer.

The cases follow the sections of the RFC (and the Autobahn|Testsuite cases
built from them): the opening handshake of both roles, framing, fragmentation,
control frames, close codes and the close handshake. Every frame on the wire
here is built by :func:`tests.test_websocket_sansio.frame`, not by wsproto.
"""

from __future__ import annotations

import base64
import re
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from adk_realtime.sansio.errors import MessageTooBig, ProtocolError
from adk_realtime.sansio.websocket.connection import (
    Accepted,
    Closed,
    ConnectRequest,
    HandshakeError,
    Message,
    Rejected,
    WebSocketClient,
    WebSocketServer,
    WsState,
)
from tests.test_websocket_sansio import (
    accept_response,
    close_payload,
    events,
    frame,
    open_client,
    parse_frames,
)

# -- the client's opening handshake (section 4.1) ------------------------------------


def _request_of(client: WebSocketClient) -> bytes:
    client.initiate(0.0)
    return client.data_to_send()


def _header(request: bytes, name: str) -> str:
    found = re.search(rb"(?im)^" + name.encode() + rb": *([^\r]*)\r$", request)
    assert found is not None, name
    return found.group(1).decode()


def test_the_key_is_16_random_bytes_in_base64_and_the_version_is_13() -> None:
    first = _request_of(WebSocketClient("h", "/"))
    second = _request_of(WebSocketClient("h", "/"))
    key = _header(first, "Sec-WebSocket-Key")
    assert len(base64.b64decode(key, validate=True)) == 16
    assert key != _header(second, "Sec-WebSocket-Key")
    assert _header(first, "Sec-WebSocket-Version") == "13"
    assert _header(first, "Upgrade").lower() == "websocket"
    assert "upgrade" in _header(first, "Connection").lower()
    assert first.startswith(b"GET / HTTP/1.1\r\n")


def test_the_host_header_keeps_a_non_default_port() -> None:
    request = _request_of(WebSocketClient("example.com:8080", "/ws"))
    assert _header(request, "Host") == "example.com:8080"
    request = _request_of(WebSocketClient("[::1]:9000", "/ws"))
    assert _header(request, "Host") == "[::1]:9000"


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nconnection: upgrade\r\n",
        b"HTTP/1.1 101 OK\r\nUPGRADE: WEBSOCKET\r\nCONNECTION: UPGRADE\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: keep-alive, Upgrade\r\n",
        b"HTTP/1.1 101 \r\nConnection:Upgrade\r\nUpgrade:   websocket  \r\n",
    ],
)
def test_a_101_is_accepted_whatever_the_header_case_and_token_lists(head: bytes) -> None:
    client = WebSocketClient("h", "/")
    key = _header(_request_of(client), "Sec-WebSocket-Key")
    token = re.search(rb"Accept: (.*)\r\n", accept_response(b"Sec-WebSocket-Key: " + key.encode()))
    assert token is not None
    client.receive_data(head + b"sec-websocket-ACCEPT: " + token.group(1) + b"\r\n\r\n", 0.0)
    (accepted,) = events(client)
    assert isinstance(accepted, Accepted) and client.state is WsState.OPEN


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (b"Sec-WebSocket-Extensions: permessage-deflate\r\n", "extension"),
        (b"Sec-WebSocket-Protocol: chat\r\n", "subprotocol"),
    ],
)
def test_an_extension_or_subprotocol_we_did_not_offer_fails_the_handshake(
    extra: bytes, match: str
) -> None:
    client = WebSocketClient("h", "/")
    answer = accept_response(_request_of(client), extra)
    with pytest.raises(HandshakeError, match=match):
        client.receive_data(answer, 0.0)
    assert events(client) == [Closed(None, "invalid handshake response")]


def test_a_101_without_the_upgrade_headers_fails_the_handshake() -> None:
    client = WebSocketClient("h", "/")
    answer = accept_response(_request_of(client)).replace(b"Upgrade: websocket\r\n", b"")
    with pytest.raises(HandshakeError, match="Upgrade"):
        client.receive_data(answer, 0.0)
    assert client.state is WsState.CLOSED


def test_interim_1xx_answers_before_the_101_are_skipped() -> None:
    client = WebSocketClient("h", "/")
    answer = accept_response(_request_of(client))
    client.receive_data(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n", 0.0)
    client.receive_data(b"Link: </a.css>; rel=preload\r\n\r\n", 0.0)
    assert events(client) == [] and client.state is WsState.CONNECTING
    client.receive_data(answer + frame(1, b"hi"), 0.0)
    assert events(client) == [Accepted((), None), Message("hi")]


def test_a_redirect_is_a_rejection_that_carries_its_status_and_location() -> None:
    client = WebSocketClient("h", "/")
    _request_of(client)
    client.receive_data(
        b"HTTP/1.1 301 Moved Permanently\r\nLocation: wss://other.example/ws\r\n"
        b"Content-Length: 0\r\n\r\n",
        0.0,
    )
    rejected, closed = events(client)
    assert isinstance(rejected, Rejected) and rejected.status == 301
    assert ("location", "wss://other.example/ws") in rejected.headers
    assert closed == Closed(None, "handshake rejected with HTTP 301")


def test_a_non_http_answer_is_a_handshake_error() -> None:
    client = WebSocketClient("h", "/")
    _request_of(client)
    with pytest.raises(HandshakeError):
        client.receive_data(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", 0.0)
    assert client.state is WsState.CLOSED


# -- framing (section 5) ---------------------------------------------------------------


def test_every_client_frame_is_masked_with_a_fresh_key() -> None:
    client = open_client()
    client.send_message("hello")
    client.send_message(b"")
    client.ping(1.0)
    client.close(now=2.0)
    wire = client.data_to_send()
    keys, i = [], 0
    while i < len(wire):
        assert wire[i + 1] & 0x80, "client frames must be masked"
        n = wire[i + 1] & 0x7F
        keys.append(wire[i + 2 : i + 6])
        i += 6 + n
    assert len(keys) == 4 and len(set(keys)) > 1
    assert [op for op, _ in parse_frames(wire)] == [1, 2, 9, 8]


def _fails_with(client: WebSocketClient, wire: bytes, code: int) -> None:
    with pytest.raises(ProtocolError):
        client.receive_data(wire, 1.0)
    sent = parse_frames(client.data_to_send())
    assert [(op, p[:2]) for op, p in sent] == [(8, struct.pack("!H", code))]
    *messages, closed = events(client)
    assert all(isinstance(m, Message) for m in messages)
    assert isinstance(closed, Closed) and closed.code == code
    assert client.state is WsState.CLOSED and client.close_code == code
    client.receive_data(frame(1, b"after the end"), 2.0)  # ignored, no second Closed
    assert events(client) == []


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(frame(1, b"masked", mask=True), id="masked-server-frame"),
        pytest.param(bytes([0x80 | 0x40 | 1, 2]) + b"hi", id="rsv1"),
        pytest.param(bytes([0x80 | 0x20 | 2, 0]), id="rsv2"),
        pytest.param(bytes([0x80 | 0x10 | 9, 0]), id="rsv3-on-ping"),
        pytest.param(frame(3, b"x"), id="opcode-3"),
        pytest.param(frame(7), id="opcode-7"),
        pytest.param(frame(0xB, b"x"), id="opcode-11"),
        pytest.param(frame(0xF), id="opcode-15"),
        pytest.param(frame(9, b"x", fin=False), id="fragmented-ping"),
        pytest.param(frame(8, close_payload(1000), fin=False), id="fragmented-close"),
        pytest.param(frame(9, b"x" * 126), id="ping-126-bytes"),
        pytest.param(frame(0xA, b"x" * 126), id="pong-126-bytes"),
        pytest.param(frame(8, close_payload(1000, "x" * 124)), id="close-126-bytes"),
        pytest.param(frame(8, b"\x03"), id="close-1-byte"),
        pytest.param(frame(0, b"nothing to continue"), id="lone-continuation"),
        pytest.param(frame(1, b"a", fin=False) + frame(1, b"b"), id="text-mid-fragmentation"),
        pytest.param(frame(2, b"a", fin=False) + frame(2, b"b"), id="binary-mid-fragmentation"),
        pytest.param(frame(1, b"done") + frame(0, b"more"), id="continuation-after-fin"),
    ],
)
def test_framing_violations_fail_the_connection_with_1002(wire: bytes) -> None:
    _fails_with(open_client(), wire, 1002)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000])
def test_a_close_frame_with_an_invalid_code_fails_with_1002(code: int) -> None:
    _fails_with(open_client(), frame(8, struct.pack("!H", code & 0xFFFF)), 1002)


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 4999])
def test_a_close_frame_with_a_valid_code_ends_with_that_code(code: int) -> None:
    client = open_client()
    client.receive_data(frame(8, close_payload(code, "ok")), 1.0)
    assert events(client) == [Closed(code, "ok")]
    assert parse_frames(client.data_to_send()) == [(8, close_payload(code, "ok"))]


@pytest.mark.parametrize("code", [1000, 1014, 4000])
def test_invalid_utf8_in_the_close_reason_fails_with_1007(code: int) -> None:
    _fails_with(open_client(), frame(8, struct.pack("!H", code) + b"\xce\xba\xe1\xbd"), 1007)


def test_invalid_utf8_split_across_fragments_fails_with_1007() -> None:
    client = open_client()
    client.receive_data(frame(1, "κό".encode(), fin=False), 1.0)
    _fails_with(client, frame(0, b"\xed\xa0\x80"), 1007)  # a UTF-16 surrogate


def test_a_bad_frame_after_our_close_ends_at_once() -> None:
    client = open_client()
    client.close(now=1.0)
    client.data_to_send()
    with pytest.raises(ProtocolError):
        client.receive_data(frame(5), 2.0)
    assert client.data_to_send() == b""  # our close frame is already out
    (closed,) = events(client)
    assert isinstance(closed, Closed) and closed.code == 1002


# -- messages and fragmentation -------------------------------------------------------------


def test_empty_text_and_binary_messages_and_empty_fragments() -> None:
    client = open_client()
    wire = (
        frame(1)
        + frame(2)
        + frame(1, fin=False)
        + frame(0, fin=False)
        + frame(0)
        + frame(2, fin=False)
        + frame(0, b"x")
    )
    client.receive_data(wire, 1.0)
    assert events(client) == [Message(""), Message(b""), Message(""), Message(b"x")]


def test_many_tiny_fragments_are_reassembled() -> None:
    client = open_client()
    text = "ü€" * 300
    data = text.encode()
    wire = frame(1, data[:1], fin=False)
    wire += b"".join(frame(0, data[i : i + 1], fin=False) for i in range(1, len(data) - 1))
    wire += frame(0, data[-1:])
    client.receive_data(wire, 1.0)
    assert events(client) == [Message(text)]


def test_a_fragmented_message_split_at_every_byte_boundary() -> None:
    payload = bytes(range(256)) * 2
    wire = (
        frame(2, payload[:100], fin=False)
        + frame(9, b"ping!")
        + frame(0, payload[100:400], fin=False)
        + frame(0, payload[400:])
        + frame(1, "fin ✓".encode())
    )
    for cut in range(1, len(wire)):
        client = open_client()
        client.receive_data(wire[:cut], 1.0)
        client.receive_data(wire[cut:], 1.0)
        assert events(client) == [Message(payload), Message("fin ✓")], cut
        assert parse_frames(client.data_to_send()) == [(0xA, b"ping!")]


def test_pings_get_identical_pongs_even_mid_message_and_pongs_alone_are_ignored() -> None:
    client = open_client(ping_interval=None)
    wire = (
        frame(1, b"he", fin=False)
        + frame(9, bytes(range(125)))
        + frame(0xA, b"unsolicited")
        + frame(9)
        + frame(0, b"llo")
    )
    client.receive_data(wire, 1.0)
    assert events(client) == [Message("hello")]
    assert parse_frames(client.data_to_send()) == [(0xA, bytes(range(125))), (0xA, b"")]
    assert client.get_timer() is None and client.state is WsState.OPEN


def test_the_size_limit_counts_the_whole_fragmented_message_and_resets_after_it() -> None:
    client = open_client(max_message_size=10)
    client.receive_data(frame(2, b"12345", fin=False) + frame(0, b"67890"), 1.0)
    client.receive_data(frame(1, b"0123456789"), 1.0)  # exactly the limit, twice
    assert events(client) == [Message(b"1234567890"), Message("0123456789")]
    client.receive_data(frame(2, b"123456", fin=False), 1.0)
    with pytest.raises(MessageTooBig):
        client.receive_data(frame(0, b"12345"), 1.0)
    assert [e for e in events(client) if isinstance(e, Closed)] == [Closed(1009, "message too big")]


def test_the_size_limit_holds_over_many_small_fragments_without_buffering_them() -> None:
    client = open_client(max_message_size=1000)
    with pytest.raises(MessageTooBig):
        client.receive_data(frame(2, fin=False) + frame(0, b"x", fin=False) * 5000, 1.0)
    assert client._size == 0 and client._parts == []


# -- the close handshake (section 7) ----------------------------------------------------------


def test_a_peer_close_without_a_code_surfaces_1005_and_is_echoed_empty() -> None:
    client = open_client()
    client.receive_data(frame(8), 1.0)
    assert events(client) == [Closed(1005, "")]
    assert parse_frames(client.data_to_send()) == [(8, b"")]


def test_our_close_answered_without_a_code_ends_with_1005() -> None:
    client = open_client()
    client.close(1000, now=1.0)
    client.data_to_send()
    client.receive_data(frame(8), 2.0)
    assert events(client) == [Closed(1005, "")]


def test_messages_after_our_close_are_still_delivered_until_the_peer_answers() -> None:
    client = open_client()
    client.close(4000, "going", now=1.0)
    client.data_to_send()
    client.receive_data(frame(1, b"in flight") + frame(9, b"p"), 2.0)
    assert events(client) == [Message("in flight")]
    assert client.state is WsState.CLOSING
    client.receive_data(frame(8, close_payload(4000, "going")) + frame(1, b"junk"), 3.0)
    assert events(client) == [Closed(4000, "going")]
    assert client.data_to_send() == b""  # no second close frame


def test_the_server_role_closes_after_the_client_answers() -> None:
    server = _accepted_server()
    server.close(1001, "restart", now=1.0)
    assert parse_frames(server.data_to_send()) == [(8, close_payload(1001, "restart"))]
    server.receive_data(frame(8, close_payload(1001), mask=True), 2.0)
    assert events(server) == [Closed(1001, "")]


# -- the server's opening handshake (section 4.2) --------------------------------------------

_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def _request(*lines: bytes) -> bytes:
    return b"GET /chat HTTP/1.1\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


_GOOD = (
    b"Host: server.example.com",
    b"Upgrade: websocket",
    b"Connection: Upgrade",
    b"Sec-WebSocket-Key: " + _KEY,
    b"Sec-WebSocket-Version: 13",
)


def _accepted_server() -> WebSocketServer:
    server = WebSocketServer()
    server.receive_data(_request(*_GOOD), 0.0)
    events(server)
    server.accept()
    server.data_to_send()
    return server


def test_the_server_accepts_the_rfc_example_and_answers_its_token() -> None:
    server = WebSocketServer()
    server.receive_data(_request(*_GOOD), 0.0)
    (request,) = events(server)
    assert isinstance(request, ConnectRequest) and request.target == "/chat"
    server.accept()
    answer = server.data_to_send()
    assert answer.startswith(b"HTTP/1.1 101 ")
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in answer


def test_the_server_reads_subprotocol_lists_across_headers() -> None:
    server = WebSocketServer()
    server.receive_data(
        _request(*_GOOD, b"Sec-WebSocket-Protocol: chat, superchat", b"Sec-WebSocket-Protocol: v3"),
        0.0,
    )
    (request,) = events(server)
    assert isinstance(request, ConnectRequest)
    assert request.subprotocols == ("chat", "superchat", "v3")
    server.accept("superchat")
    assert b"Sec-WebSocket-Protocol: superchat\r\n" in server.data_to_send()


@pytest.mark.parametrize(
    ("drop", "add", "status"),
    [
        (b"Sec-WebSocket-Key", b"", 400),
        (b"Sec-WebSocket-Key", b"Sec-WebSocket-Key: c2hvcnQ=", 400),  # 5 bytes, not 16
        (b"Sec-WebSocket-Key", b"Sec-WebSocket-Key: not base64 at all!!!!", 400),
        (b"Sec-WebSocket-Version", b"", 400),
        (b"Sec-WebSocket-Version", b"Sec-WebSocket-Version: 8", 426),
        (b"Upgrade", b"", 400),
        (b"Connection", b"Connection: keep-alive", 400),
    ],
)
def test_the_server_refuses_a_bad_upgrade_request(drop: bytes, add: bytes, status: int) -> None:
    lines = [line for line in _GOOD if not line.startswith(drop)] + ([add] if add else [])
    server = WebSocketServer()
    with pytest.raises(HandshakeError):
        server.receive_data(_request(*lines), 0.0)
    answer = server.data_to_send()
    assert answer.startswith(b"HTTP/1.1 %d " % status)
    if drop == b"Sec-WebSocket-Version":
        assert b"sec-websocket-version: 13\r\n" in answer.lower()
    assert events(server) == [Closed(None, "invalid upgrade request")]
    assert server.state is WsState.CLOSED


def test_the_server_accepts_connection_token_lists() -> None:
    lines = [line for line in _GOOD if not line.startswith(b"Connection")]
    server = WebSocketServer()
    server.receive_data(_request(*lines, b"Connection: keep-alive, Upgrade"), 0.0)
    assert isinstance(server.next_event(), ConnectRequest)


def test_frames_pipelined_after_the_request_are_delivered_on_accept() -> None:
    server = WebSocketServer()
    server.receive_data(_request(*_GOOD) + frame(1, b"early", mask=True), 0.0)
    assert isinstance(server.next_event(), ConnectRequest)
    server.receive_data(frame(2, b"and more", mask=True), 0.0)  # before accept() too
    assert events(server) == []
    server.accept()
    assert events(server) == [Message("early"), Message(b"and more")]
    server.receive_data(frame(1, b"later", mask=True), 1.0)
    assert events(server) == [Message("later")]


def test_a_bad_pipelined_frame_fails_the_connection_on_accept() -> None:
    server = WebSocketServer()
    server.receive_data(_request(*_GOOD) + frame(1, b"unmasked"), 0.0)
    events(server)
    server.accept()
    assert server.data_to_send().startswith(b"HTTP/1.1 101 ")
    (closed,) = events(server)
    assert isinstance(closed, Closed) and closed.code == 1002
    assert server.state is WsState.CLOSED


def test_the_server_fails_unmasked_client_frames_with_1002() -> None:
    server = _accepted_server()
    with pytest.raises(ProtocolError):
        server.receive_data(frame(1, b"unmasked"), 1.0)
    ((opcode, payload),) = parse_frames(server.data_to_send())
    assert opcode == 8 and payload[:2] == struct.pack("!H", 1002)


def _masked_frames() -> st.SearchStrategy[bytes]:
    opcodes = st.sampled_from([0, 1, 2, 3, 8, 9, 0xA, 0xB])
    payloads = st.binary(max_size=130)
    return st.builds(
        lambda op, p, fin: frame(op, p, fin=fin, mask=True), opcodes, payloads, st.booleans()
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_masked_frames(), max_size=8), st.integers(0, 8), st.integers(1, 40))
def test_the_server_role_survives_any_frame_sequence(
    frames: list[bytes], pipelined: int, step: int
) -> None:
    server = WebSocketServer(max_message_size=200)
    server.receive_data(_request(*_GOOD) + b"".join(frames[:pipelined]), 0.0)
    assert isinstance(server.next_event(), ConnectRequest)
    server.accept()
    rest = b"".join(frames[pipelined:])
    for start in range(0, len(rest), step):
        try:
            server.receive_data(rest[start : start + step], 1.0)
        except ProtocolError:
            assert server.state is WsState.CLOSED
    server.receive_data(b"", 2.0)
    seen = events(server)
    assert [type(e) for e in seen].count(Closed) == 1 and isinstance(seen[-1], Closed)
    assert server.state is WsState.CLOSED and server.get_timer() is None
