"""Microphone and speaker for ``adk-realtime talk`` (the ``audio`` extra: sounddevice).

The microphone callback runs on PortAudio's thread; it hands 20 ms blocks to
the event loop through a bounded queue (a full queue drops the oldest block and
counts it: a live microphone cannot wait). Model audio is played from a
bounded buffer that an interruption flushes.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

import anyio
import anyio.from_thread

from adk_realtime.runner import AudioInterrupted, EventHandler, RealtimeRunner

RATE = 24000
BLOCK = RATE // 50  # 20 ms


class _Speaker:
    def __init__(self) -> None:
        self._buf: collections.deque[bytes] = collections.deque(maxlen=3000)  # 60 s
        self._lock = threading.Lock()
        self._pending = b""

    def push(self, pcm: bytes) -> None:
        with self._lock:
            self._buf.append(pcm)

    def flush(self) -> None:
        with self._lock:
            self._buf.clear()
            self._pending = b""

    def pull(self, nbytes: int) -> bytes:
        with self._lock:
            data = self._pending
            while len(data) < nbytes and self._buf:
                data += self._buf.popleft()
            self._pending = data[nbytes:]
        return data[:nbytes].ljust(nbytes, b"\0")


async def run_live_audio(runner: RealtimeRunner, inner: EventHandler) -> None:
    import sounddevice as sd

    speaker = _Speaker()
    dropped = 0
    send, receive = anyio.create_memory_object_stream[bytes](50)

    class Handler(EventHandler):
        def __getattribute__(self, name: str) -> Any:
            if name in ("on_audio", "on_interrupted"):
                return object.__getattribute__(self, name)
            return getattr(inner, name)

        def on_audio(self, audio: bytes, item_id: str) -> Any:
            speaker.push(audio)
            return inner.on_audio(audio, item_id)

        def on_interrupted(self, event: AudioInterrupted) -> Any:
            speaker.flush()
            return inner.on_interrupted(event)

    runner.handler = Handler()

    def mic_callback(indata: Any, frames: int, time: Any, status: Any) -> None:
        nonlocal dropped
        try:
            send.send_nowait(bytes(indata))
        except anyio.WouldBlock:
            dropped += 1

    def out_callback(outdata: Any, frames: int, time: Any, status: Any) -> None:
        outdata[:] = speaker.pull(frames * 2)

    with (
        sd.RawInputStream(
            samplerate=RATE, channels=1, dtype="int16", blocksize=BLOCK, callback=mic_callback
        ),
        sd.RawOutputStream(
            samplerate=RATE, channels=1, dtype="int16", blocksize=BLOCK, callback=out_callback
        ),
    ):
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run)
            await runner.wait_connected()
            async for block in receive:
                await runner.send_audio(block, RATE)
