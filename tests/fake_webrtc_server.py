"""A fake OpenAI WebRTC server on loopback: aiohttp answers the signalling (unified
multipart flow, ephemeral client secrets), aiortc is the media peer (echoes the caller's
audio back, answers the ``oai-events`` channel with events built from the official SDK
models) and every client event it receives is validated strictly against the SDK's GA
types.

aiortc and aiohttp are asyncio libraries, so the server runs on its own thread with its
own asyncio loop (as `tests.fake_server.FakeServer` does for WebSocket): the client
under test then runs under asyncio *or* trio. From the test's side only ``async with``,
`hang_up` and the recorded lists are used; the recorded lists are filled on the server
thread before the server sends the replies the test waits for, so reading them after
that reply arrived needs no lock.

aiortc gathers its host candidates with ``aioice.ice.get_host_addresses``, which skips
loopback: patch that module attribute (process-wide, so the server thread sees it too)
to return ``["127.0.0.1"]`` before starting the server.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import aiortc
import anyio
import anyio.to_thread
from aiohttp import web

from tests.oracles_openai import example_server_event, validate_ga_client

KEY = "sk-test-0123456789abcdef"
TOKEN = "ek_test_0123456789"

T = TypeVar("T")


class EchoTrack(aiortc.MediaStreamTrack):  # type: ignore[misc]
    """Sends back every frame the caller sends (the 'model' speaks with your voice)."""

    kind = "audio"

    def __init__(self, source: Any) -> None:
        super().__init__()
        self.source = source

    async def recv(self) -> Any:
        return await self.source.recv()


class FakeOpenAI:
    """POST /v1/realtime/calls and /v1/realtime/client_secrets, answered by aiortc.

    ``async with FakeOpenAI() as server: ... server.base_url ...`` from any anyio backend.
    `answer` and `close_peers` run on the server's loop; `hang_up` is for the test.
    """

    def __init__(self) -> None:
        self.pcs: list[Any] = []
        self.requests: list[dict[str, Any]] = []
        self.client_events: list[dict[str, Any]] = []
        self.invalid: list[str] = []
        self.errors: list[BaseException] = []  # raised in the server's callbacks
        self.port = 0
        self._runner: Any = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="fake-openai-webrtc", daemon=True)

    # ------------------------------------------------------------ the test's side

    async def __aenter__(self) -> FakeOpenAI:
        self._thread.start()
        try:
            await self._on_server(self._start())
        except BaseException:
            await self._stop_thread()
            raise
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        try:
            await self._on_server(self._stop())
        finally:
            await self._stop_thread()
        if self.errors and exc_type is None:
            raise self.errors[0]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def hang_up(self) -> None:
        """Close every peer connection on the server (from the test)."""
        await self._on_server(self.close_peers())

    async def _on_server(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        """Run ``coro`` on the server's loop; wait for it without blocking the test's."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return await anyio.to_thread.run_sync(future.result, timeout, abandon_on_cancel=True)
        finally:
            future.cancel()  # a no-op once done; stops it if the test was cancelled

    async def _stop_thread(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            await anyio.to_thread.run_sync(self._thread.join, 10)

    # ------------------------------------------------------------ the server's side

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
            # what aiortc left behind (its tasks end soon after close): cancel and reap
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/realtime/calls", self.calls)
        app.router.add_post("/v1/realtime/client_secrets", self.client_secrets)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        await self.close_peers()
        await self._runner.cleanup()

    async def close_peers(self) -> None:
        for pc in self.pcs:
            await pc.close()

    @staticmethod
    def refuse(token: str) -> Any:
        # Like the real API, the message echoes the credential (masked there, not here):
        # the client must keep it out of its errors.
        body = {"error": {"message": f"Incorrect API key provided: {token}", "type": "auth"}}
        return web.json_response(body, status=401)

    async def client_secrets(self, request: Any) -> Any:
        auth = request.headers.get("Authorization", "")
        body = await request.json()
        self.requests.append({"path": request.path, "auth": auth, "json": body})
        if auth != f"Bearer {KEY}":
            return self.refuse(auth.removeprefix("Bearer "))
        return web.json_response({"value": TOKEN, "expires_at": 2_000_000_000})

    async def calls(self, request: Any) -> Any:
        auth = request.headers.get("Authorization", "")
        record: dict[str, Any] = {"path": request.path, "auth": auth, "type": request.content_type}
        self.requests.append(record)
        if request.content_type == "multipart/form-data":
            if auth != f"Bearer {KEY}":
                return self.refuse(auth.removeprefix("Bearer "))
            reader = await request.multipart()
            parts = {}
            while (part := await reader.next()) is not None:
                parts[part.name] = (part.headers.get("Content-Type"), await part.text())
            record["parts"] = parts
            offer = parts["sdp"][1]
            record["session"] = json.loads(parts["session"][1])
        elif request.content_type == "application/sdp":
            if auth != f"Bearer {TOKEN}":
                return self.refuse(auth.removeprefix("Bearer "))
            offer = await request.text()
        else:
            return web.json_response({"error": {"message": "bad content type"}}, status=400)
        answer = await self.answer(offer)
        return web.Response(
            status=201,
            text=answer,
            content_type="application/sdp",
            headers={"Location": f"/v1/realtime/calls/rtc_{len(self.pcs)}"},
        )

    async def answer(self, offer: str) -> str:
        pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
        self.pcs.append(pc)

        @pc.on("track")  # type: ignore[untyped-decorator]
        def on_track(track: Any) -> None:
            pc.addTrack(EchoTrack(track))

        @pc.on("datachannel")  # type: ignore[untyped-decorator]
        def on_datachannel(channel: Any) -> None:
            try:
                assert channel.label == "oai-events"
                channel.send(example_server_event("ga", "session.created"))
            except BaseException as exc:
                self.errors.append(exc)
                raise

            @channel.on("message")  # type: ignore[untyped-decorator]
            def on_message(message: str) -> None:
                try:
                    self.on_client_event(channel, message)
                except BaseException as exc:
                    self.errors.append(exc)
                    raise

        await pc.setRemoteDescription(aiortc.RTCSessionDescription(offer, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    def on_client_event(self, channel: Any, message: str) -> None:
        event = json.loads(message)
        try:
            validate_ga_client(event)
        except AssertionError as exc:
            self.invalid.append(f"{event.get('type')}: {exc}")
        self.client_events.append(event)
        kind = event["type"]
        if kind == "session.update":
            channel.send(example_server_event("ga", "session.updated"))
        elif kind == "response.create":
            channel.send(example_server_event("ga", "response.created", response={"id": "r1"}))
            channel.send(
                example_server_event(
                    "ga",
                    "response.output_item.added",
                    response_id="r1",
                    item={"id": "item_1", "type": "message", "role": "assistant"},
                )
            )
            channel.send(
                example_server_event(
                    "ga",
                    "response.output_audio_transcript.delta",
                    delta="Hello",
                    item_id="item_1",
                    response_id="r1",
                )
            )
        elif kind == "output_audio_buffer.clear":
            channel.send(
                example_server_event("ga", "output_audio_buffer.cleared", response_id="r1")
            )
            channel.send(
                example_server_event(
                    "ga", "response.done", response={"id": "r1", "status": "cancelled"}
                )
            )
