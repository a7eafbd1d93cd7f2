"""An OpenAI Realtime conversation with nothing but the standard library and the sans-IO core.

No asyncio, no anyio, no threads: one socket (TLS from ``ssl``), one
``selectors`` loop, and ``time.monotonic()`` handed to the state machines.
Two pure objects do all the protocol work:

* ``WebSocketClient`` (``adk_realtime.sansio.websocket.connection``): the HTTP upgrade,
  framing, pings and the close handshake. We feed it the bytes we read and
  write out whatever ``data_to_send()`` returns; ``get_timer()`` says when to
  wake it up with ``handle_timer(now)``.
* ``OpenAIProtocol`` (``adk_realtime.sansio.openai.protocol``): the Realtime API's JSON
  events, both ways, as unified events (``TextDelta``, ``FunctionCallDone``...). The
  same contract: commands queue messages we hand to the WebSocket from
  ``data_to_send()``; each received message goes to ``receive_data(data, now)`` and
  its events come out of ``next_event()``.

The loop: send ``session.update`` (with a ``get_weather`` tool), one user
message and ``response.create``; print the answer as it streams; when the
model calls the tool, run it and send the output, then ask for the follow-up
response; when that one is done, close the WebSocket politely.

    OPENAI_API_KEY=sk-... python examples/sansio_blocking.py
    python examples/sansio_blocking.py --url ws://127.0.0.1:8765/v1/realtime?model=gpt-realtime \\
        --api-key sk-simulator --audio        # against `adk-realtime sim`

This file is the proof that the core is independent of any event loop: put
the same two objects in a Qt timer, a game loop or a trio program instead.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import ssl
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from adk_realtime.sansio.config import RealtimeConfig, ToolDefinition
from adk_realtime.sansio.errors import ProtocolError
from adk_realtime.sansio.events import (
    AudioDelta,
    Error,
    FunctionCallDone,
    ItemCreate,
    ResponseCreate,
    ResponseDone,
    ServerEvent,
    SessionCreated,
    SessionUpdated,
    TextDelta,
    ToolResponse,
    TranscriptDelta,
)
from adk_realtime.sansio.openai.protocol import OpenAIProtocol
from adk_realtime.sansio.websocket.connection import (
    Accepted,
    Closed,
    Message,
    Rejected,
    WebSocketClient,
    WsEvent,
    redact_target,
)

DEFAULT_URL = "wss://api.openai.com/v1/realtime?model=gpt-realtime"
DEFAULT_QUESTION = "What is the weather in Paris?"


def say(kind: str, text: str = "") -> None:
    print(f"[{kind}] {text}".rstrip(), flush=True)


# ---------------------------------------------------------------- the tool


def get_weather(city: str) -> dict[str, Any]:
    table = {"paris": (18, "sunny"), "london": (12, "cloudy"), "tokyo": (22, "clear")}
    temp, sky = table.get(city.strip().lower(), (20, "mild"))
    return {"city": city, "temperature_c": temp, "conditions": sky}


TOOLS: dict[str, Callable[..., Any]] = {"get_weather": get_weather}
WEATHER_TOOL = ToolDefinition(
    name="get_weather",
    description="Current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city, e.g. Paris."}},
        "required": ["city"],
    },
)


# ---------------------------------------------------------------- transport


class Transport:
    """A non-blocking socket (plain or TLS) with an output buffer; no protocol knowledge."""

    _WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._out = bytearray()

    @property
    def wants_write(self) -> bool:
        return bool(self._out)

    def write(self, data: bytes) -> None:
        """Queue ``data`` and send as much as the socket takes now."""
        self._out += data
        self.flush()

    def flush(self) -> None:
        while self._out:
            try:
                sent = self.sock.send(self._out)
            except self._WOULD_BLOCK:
                return
            del self._out[:sent]

    def read(self) -> bytes | None:
        """Everything readable now; ``b""`` at end of stream, ``None`` if nothing yet.

        TLS may hold decrypted bytes the selector cannot see, so read until the
        socket would block rather than once.
        """
        chunks: list[bytes] = []
        while True:
            try:
                data = self.sock.recv(65536)
            except self._WOULD_BLOCK:
                break
            except (ConnectionResetError, ssl.SSLError):
                data = b""
            if not data:
                if chunks:
                    break  # deliver what came first; EOF shows up on the next read
                return b""
            chunks.append(data)
        return b"".join(chunks) if chunks else None

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.sock.close()


def open_socket(url: str) -> tuple[socket.socket, str, str]:
    """Connect to ``url`` (ws:// or wss://) and return the socket, Host header and target."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise SystemExit(f"--url must be a ws:// or wss:// URL, got {parts.scheme or url!r}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    sock = socket.create_connection((parts.hostname, port), timeout=10)
    if secure:
        # Certificate and host name are verified (the default context does both).
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return sock, host, target


# ---------------------------------------------------------------- conversation


class Conversation:
    """Reacts to WebSocket and Realtime events by queueing messages; never touches the socket."""

    def __init__(
        self, ws: WebSocketClient, proto: OpenAIProtocol, config: RealtimeConfig, question: str
    ) -> None:
        self.ws = ws
        self.proto = proto
        self.config = config
        self.question = question
        self.completed = False
        self._streaming = False
        self._answered_tool = False
        self._audio_bytes = 0

    def flush(self) -> None:
        """Move what the Realtime commands queued onto the WebSocket."""
        for message in self.proto.data_to_send():
            self.ws.send_message(message)

    def on_ws_event(self, event: WsEvent, now: float) -> None:
        if isinstance(event, Accepted):
            say("connected", "WebSocket handshake accepted")
            self.proto.start(self.config)  # session.update
            say("user", self.question)
            self.proto.send_event(ItemCreate(text=self.question))
            self.proto.send_event(ResponseCreate())
            self.flush()
        elif isinstance(event, Rejected):
            body = event.body[:300].decode("utf-8", "replace")
            say("error", f"handshake refused with HTTP {event.status}: {body}")
        elif isinstance(event, Message):
            try:
                self.proto.receive_data(event.data, now)
            except ProtocolError as exc:  # a malformed event: report it and go on
                say("error", str(exc))
                return
            while (item := self.proto.next_event()) is not None:
                self.on_event(item, now)
            self.flush()  # what the handlers queued (a tool output, response.create)
        elif isinstance(event, Closed):
            self._end_line()
            say("closed", f"{event.code} {event.reason}")

    def on_event(self, event: ServerEvent, now: float) -> None:
        if isinstance(event, SessionCreated):
            say("session", "created")
        elif isinstance(event, SessionUpdated):
            say("session", "updated")
        elif isinstance(event, TextDelta | TranscriptDelta):
            if not self._streaming:
                print("[assistant] ", end="", flush=True)
                self._streaming = True
            print(event.delta, end="", flush=True)
        elif isinstance(event, AudioDelta):
            self._audio_bytes += len(event.delta)  # 24 kHz PCM16, ready to play
        elif isinstance(event, FunctionCallDone):
            self._end_line()
            say("tool", f"{event.name}({event.arguments})")
            output = self.run_tool(event.name, event.arguments)
            say("tool-result", output)
            response = ToolResponse(event.call_id, output, event.name)
            self.proto.send_event(ItemCreate(tool_response=response))
            self._answered_tool = True
        elif isinstance(event, ResponseDone):
            self._end_line()
            if self._audio_bytes:
                say("audio", f"{self._audio_bytes} bytes of 24 kHz PCM16")
                self._audio_bytes = 0
            say("done", f"response {event.response_id} {event.status}")
            if self._answered_tool:
                # The model waits for us after tool outputs: ask for the follow-up.
                self._answered_tool = False
                self.proto.send_event(ResponseCreate())
            else:
                self.completed = True
                self.ws.close(1000, "done", now=now)
        elif isinstance(event, Error):
            self._end_line()
            say("error", f"{event.code}: {event.message}")

    def run_tool(self, name: str, arguments: str) -> str:
        tool = TOOLS.get(name)
        if tool is None:
            return json.dumps({"error": f"unknown tool {name!r}"})
        try:
            return json.dumps(tool(**json.loads(arguments or "{}")))
        except Exception as exc:  # the model hears about failures instead of us crashing
            return json.dumps({"error": f"{type(exc).__name__}: {exc}"})

    def _end_line(self) -> None:
        if self._streaming:
            print(flush=True)
            self._streaming = False


# ---------------------------------------------------------------- the loop


def converse(url: str, api_key: str, question: str, *, audio: bool, timeout: float) -> int:
    model = parse_qs(urlsplit(url).query).get("model", ["gpt-realtime"])[0]
    proto = OpenAIProtocol(model)  # GA or beta dialect from the model name
    sock, host, target = open_socket(url)
    say("info", f"connecting to {host}{redact_target(target)} (model {model}, {proto.dialect})")
    headers = [("Authorization", f"Bearer {api_key}"), *proto.handshake_headers()]
    ws = WebSocketClient(host, target, headers=headers)
    config = RealtimeConfig(
        instruction="You are a helpful assistant. Use get_weather for weather questions.",
        modalities=("audio",) if audio else ("text",),
        voice="alloy" if audio else None,
        tools=(WEATHER_TOOL,),
    )
    conversation = Conversation(ws, proto, config, question)
    transport = Transport(sock)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    now = time.monotonic()
    ws.initiate(now)
    closed = False
    try:
        while True:
            # 1. Let the state machines react, then write what they queued.
            while (event := ws.next_event()) is not None:
                conversation.on_ws_event(event, now)
                closed = closed or isinstance(event, Closed)
            transport.write(ws.data_to_send())
            if closed:
                break
            # 2. Sleep until the socket is ready or the WebSocket's next timer is due.
            now = time.monotonic()
            if now >= deadline:
                say("error", f"no answer within {timeout:g} s")
                break
            timer = ws.get_timer()
            wake = deadline if timer is None else min(timer, deadline)
            interest = selectors.EVENT_READ
            if transport.wants_write:
                interest |= selectors.EVENT_WRITE
            selector.modify(sock, interest)
            ready = selector.select(max(0.0, wake - now))
            now = time.monotonic()
            # 3. Feed whatever happened, with the time it happened.
            for _key, mask in ready:
                if mask & selectors.EVENT_WRITE:
                    transport.flush()
                if mask & selectors.EVENT_READ:
                    data = transport.read()
                    if data is not None:
                        try:
                            ws.receive_data(data, now)  # b"" is end of stream
                        except ProtocolError as exc:  # the connection is already failed
                            say("error", str(exc))
            timer = ws.get_timer()
            if timer is not None and now >= timer:
                ws.handle_timer(now)
    finally:
        selector.close()
        transport.close()
    return 0 if conversation.completed else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--url", default=DEFAULT_URL, help=f"WebSocket URL (default {DEFAULT_URL})")
    p.add_argument("--api-key", default=None, help="API key (default: $OPENAI_API_KEY)")
    p.add_argument("--question", default=DEFAULT_QUESTION)
    p.add_argument("--audio", action="store_true", help="ask for spoken answers (transcript)")
    p.add_argument("--timeout", type=float, default=60.0)
    args = p.parse_args(argv)
    api_key = args.api_key or os.environ.get("OPENAI_API_KEY")
    if not api_key:
        raise SystemExit("no API key: pass --api-key or set OPENAI_API_KEY")
    try:
        return converse(args.url, api_key, args.question, audio=args.audio, timeout=args.timeout)
    except OSError as exc:  # refused, unreachable, TLS verification failed...
        raise SystemExit(f"cannot connect to {urlsplit(args.url).netloc}: {exc}") from None


if __name__ == "__main__":
    sys.exit(main())
