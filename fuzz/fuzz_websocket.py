"""Fuzz the WebSocket: arbitrary bytes after a valid handshake, either role.

The first input byte picks the role (bit 7: server, fed a valid request with
the first read pipelined behind it, before ``accept()``) and how the rest is
cut into reads (so frame boundaries land anywhere); only ProtocolError may
escape ``receive_data``, and exactly one ``Closed`` ends every connection.
"""

import base64
import hashlib
import re
import sys

import atheris

with atheris.instrument_imports():
    from adk_realtime.sansio.errors import ProtocolError
    from adk_realtime.sansio.websocket.connection import Closed, WebSocketClient, WebSocketServer

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _open_client() -> WebSocketClient:
    client = WebSocketClient("example.com", "/", max_message_size=4096, ping_interval=1.0)
    client.initiate(0.0)
    request = client.data_to_send()
    key = re.search(rb"Sec-WebSocket-Key: ([^\r]+)", request)
    assert key is not None
    token = base64.b64encode(hashlib.sha1(key.group(1) + _GUID).digest())
    client.receive_data(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + token + b"\r\n\r\n",
        0.0,
    )
    client.next_event()
    return client


_REQUEST = (
    b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def _open_server(pipelined: bytes) -> WebSocketServer:
    server = WebSocketServer(max_message_size=4096, ping_interval=1.0)
    server.receive_data(_REQUEST + pipelined, 0.0)
    server.accept(now=0.0)  # processes what came pipelined; never raises for it
    server.data_to_send()
    return server


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    step = data[0] % 64 + 1
    body = data[1:]
    client: WebSocketClient | WebSocketServer
    if data[0] & 0x80:
        client, body = _open_server(body[:step]), body[step:]
    else:
        client = _open_client()
    now = 0.0
    for start in range(0, len(body), step):
        now += 0.5
        try:
            client.receive_data(body[start : start + step], now)
        except ProtocolError:
            pass
        client.handle_timer(now)
        client.data_to_send()
    try:
        client.receive_data(b"", now)
    except ProtocolError:
        pass
    closed = 0
    while (event := client.next_event()) is not None:
        closed += isinstance(event, Closed)
    if closed != 1:
        raise AssertionError(f"expected exactly one Closed event, got {closed}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
