"""The frame splitter (``sansio/websocket/fast_frames.py``) changes nothing a
caller can see: the same byte stream, cut anywhere, gives the same events, the same bytes
to send and the same errors with the splitter as with wsproto alone."""

from __future__ import annotations

import itertools
import os
import re
import struct

from hypothesis import HealthCheck, example, given, settings, strategies as st

from adk_realtime.sansio.errors import ProtocolError
from adk_realtime.sansio.websocket.connection import (
    ConnectRequest,
    Message,
    WebSocketClient,
    WebSocketServer,
)
from adk_realtime.sansio.websocket.fast_frames import CARRY_LIMIT
from tests.test_websocket_sansio import frame, open_client, parse_frames

LIMIT = 4096


def without_splitter(client: WebSocketClient) -> WebSocketClient:
    client._splitter._wsproto_idle = lambda: False  # type: ignore[method-assign]
    return client


def run(client: WebSocketClient, cuts: list[bytes]) -> list[object]:
    """Everything the caller sees: events, bytes to send, errors (by type and text)."""
    seen: list[object] = []
    for piece in cuts:
        try:
            client.receive_data(piece, 1.0)
        except ProtocolError as exc:
            # (where a decoder met a bad byte depends on how the bytes were cut, either way)
            seen.append(
                (type(exc).__name__, re.sub(r"position \d+(-\d+)?", "position N", str(exc)))
            )
        seen.append(parse_frames(client.data_to_send()))  # (our frames are masked at random)
        while (event := client.next_event()) is not None:
            seen.append(event)
    seen.append(client.state)
    return seen


def cut(data: bytes, points: list[int]) -> list[bytes]:
    marks = sorted({p % (len(data) + 1) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(marks) if b > a]


TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA

frames = st.one_of(
    st.text(max_size=300).map(lambda t: frame(TEXT, t.encode("utf-8", "surrogatepass"))),
    st.binary(max_size=3000).map(lambda b: frame(BINARY, b)),
    st.binary(max_size=40).map(lambda b: frame(TEXT, b)),  # often invalid UTF-8
    st.binary(max_size=20).map(lambda b: frame(PING, b)),
    st.binary(max_size=20).map(lambda b: frame(PONG, b)),
    st.tuples(st.binary(max_size=50), st.binary(max_size=50)).map(
        lambda p: frame(BINARY, p[0], fin=False) + frame(PING, b"x") + frame(CONT, p[1])
    ),
    st.binary(max_size=30).map(lambda b: frame(CONT, b)),  # a stray continuation
    st.binary(max_size=30).map(lambda b: frame(TEXT, b, mask=True)),  # masked: not allowed
    st.sampled_from([b"\xc1\x01a", b"\x83\x00", bytes([0x81, 0x7F]) + b"\xff" * 8]),  # odd bits
    st.just(frame(BINARY, bytes(LIMIT + 1))),  # over the message limit
    st.just(frame(CLOSE, struct.pack("!H", 1000) + b"bye")),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames, max_size=12), st.lists(st.integers(0, 10**6), max_size=8))
@example(parts=[b"\x81\x04\x00\xe0\xa0\x00"], points=[31])  # bad UTF-8 met at another byte
def test_any_stream_cut_anywhere_looks_the_same_with_and_without_the_splitter(
    parts: list[bytes], points: list[int]
) -> None:
    data = b"".join(parts)
    fast = run(open_client(max_message_size=LIMIT), cut(data, points))
    plain = run(without_splitter(open_client(max_message_size=LIMIT)), cut(data, points))
    assert fast == plain


def test_text_frames_become_messages_without_wsproto() -> None:
    client = open_client()
    data = b"".join(frame(TEXT, f'{{"n":{i}}}'.encode()) for i in range(50))
    client._ws.receive_data = None  # type: ignore[assignment,method-assign]  # must not be used
    client.receive_data(data[:777], 1.0)  # a frame cut in two: the rest comes next
    client.receive_data(data[777:], 1.0)
    got = [e.data for e in iter(client.next_event, None) if isinstance(e, Message)]
    assert got == [f'{{"n":{i}}}' for i in range(50)]


def test_a_frame_larger_than_the_carry_limit_is_streamed_by_wsproto() -> None:
    client = open_client()
    payload = os.urandom(CARRY_LIMIT + 10)
    data = frame(BINARY, payload) + frame(TEXT, b"after")
    for start in range(0, len(data), 65536):
        client.receive_data(data[start : start + 65536], 1.0)
    got = [e.data for e in iter(client.next_event, None) if isinstance(e, Message)]
    assert got == [payload, "after"]


# -- the server side: a client's frames are masked -------------------------------------


def open_server(**kwargs: object) -> WebSocketServer:
    """A server role past its handshake (the request comes from our own client role)."""
    client = WebSocketClient("h", "/")
    client.initiate(0.0)
    server = WebSocketServer(**kwargs)  # type: ignore[arg-type]
    server.receive_data(client.data_to_send(), 0.0)
    assert isinstance(server.next_event(), ConnectRequest)
    server.accept(now=0.0)
    server.data_to_send()
    return server


def server_without_splitter(server: WebSocketServer) -> WebSocketServer:
    server._splitter._wsproto_idle = lambda: False  # type: ignore[method-assign]
    return server


masked_frames = st.one_of(
    st.text(max_size=300).map(lambda t: frame(TEXT, t.encode("utf-8", "surrogatepass"), mask=True)),
    st.binary(max_size=3000).map(lambda b: frame(BINARY, b, mask=True)),
    st.binary(max_size=40).map(lambda b: frame(TEXT, b, mask=True)),  # often invalid UTF-8
    st.binary(max_size=20).map(lambda b: frame(PING, b, mask=True)),
    st.binary(max_size=20).map(lambda b: frame(PONG, b, mask=True)),
    st.tuples(st.binary(max_size=50), st.binary(max_size=50)).map(
        lambda p: (
            frame(BINARY, p[0], fin=False, mask=True)
            + frame(PING, b"x", mask=True)
            + frame(CONT, p[1], mask=True)
        )
    ),
    st.binary(max_size=30).map(lambda b: frame(CONT, b, mask=True)),  # a stray continuation
    st.binary(max_size=30).map(lambda b: frame(TEXT, b)),  # unmasked: not allowed from a client
    st.sampled_from([b"\xc1\x81abcda", b"\x83\x80abcd", bytes([0x81, 0xFF]) + b"\xff" * 12]),
    st.just(frame(BINARY, bytes(LIMIT + 1), mask=True)),  # over the message limit
    st.just(frame(CLOSE, struct.pack("!H", 1000) + b"bye", mask=True)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(masked_frames, max_size=12), st.lists(st.integers(0, 10**6), max_size=8))
def test_a_servers_stream_cut_anywhere_looks_the_same_with_and_without_the_splitter(
    parts: list[bytes], points: list[int]
) -> None:
    data = b"".join(parts)
    fast = run(open_server(max_message_size=LIMIT), cut(data, points))
    plain = run(server_without_splitter(open_server(max_message_size=LIMIT)), cut(data, points))
    assert fast == plain


def test_a_servers_masked_text_frames_become_messages_without_wsproto() -> None:
    server = open_server()
    texts = [f'{{"event":"media","n":{i}}}' + "é" * i for i in range(50)]
    data = b"".join(frame(TEXT, t.encode(), mask=True) for t in texts)
    data += frame(BINARY, bytes(range(256)) * 3, mask=True)
    server._ws.receive_data = None  # type: ignore[assignment,method-assign]  # must not be used
    server.receive_data(data[:1001], 1.0)  # a frame cut in two: the rest comes next
    server.receive_data(data[1001:], 1.0)
    got = [e.data for e in iter(server.next_event, None) if isinstance(e, Message)]
    assert got == [*texts, bytes(range(256)) * 3]


# -- sending: our frames are wsproto's, byte for byte (a server's) or once unmasked -----


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        st.sampled_from([125, 126, 127, 65535, 65536, 70000]).map(lambda n: bytes(n)),
        st.sampled_from([125, 126, 65535, 65536]).map(lambda n: "é" * (n // 2) + "x" * (n % 2)),
    )
)
def test_sent_frames_are_those_wsproto_would_send(data: str | bytes) -> None:
    server = open_server()
    server.send_message(data)
    ours = server.data_to_send()
    server_without_splitter(server)._splitter.encode = lambda data: None  # type: ignore[method-assign]
    server.send_message(data)
    assert ours == server.data_to_send()  # a server's frames are not masked: the same bytes
    client = open_client()
    client.send_message(data)
    sent = client.data_to_send()
    assert sent[1] & 0x80  # masked, as a client must
    assert parse_frames(sent) == [(TEXT if isinstance(data, str) else BINARY, _bytes(data))]


def _bytes(data: str | bytes) -> bytes:
    return data.encode() if isinstance(data, str) else data


def test_a_memoryview_is_sent_as_its_bytes() -> None:
    server = open_server()
    server.send_message(memoryview(b"abc"))
    assert server.data_to_send() == b"\x82\x03abc"
