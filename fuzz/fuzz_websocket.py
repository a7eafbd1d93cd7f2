"""Fuzz the WebSocket client: arbitrary bytes after a valid handshake answer.

The first input byte picks how the rest is cut into reads (so frame boundaries
land anywhere); only ProtocolError may escape ``receive_data``.
"""

import base64
import hashlib
import re
import sys

import atheris

with atheris.instrument_imports():
    from adk_realtime.sansio.errors import ProtocolError
    from adk_realtime.sansio.websocket import Closed, WebSocketClient

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


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    client = _open_client()
    step = data[0] % 64 + 1
    body = data[1:]
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
