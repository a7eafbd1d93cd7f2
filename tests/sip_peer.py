"""baresip as an independent SIP caller for the tests (see FIELD-NOTES "baresip as a
real SIP peer"): a generated config, a WAV as its microphone, what it receives
recorded by ``sndfile``, commands and events over ``ctrl_tcp`` netstrings."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import wave
from pathlib import Path
from typing import Any

import anyio

BARESIP = shutil.which("baresip")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_wav(path: Path, pcm: bytes, rate: int = 8000) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)


class Baresip:
    """One baresip process, driven over ctrl_tcp."""

    def __init__(self, workdir: Path, microphone: Path, *, codecs: str = "g711.so") -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.records = self.dir / "records"
        self.records.mkdir(exist_ok=True)
        self.microphone = microphone
        self.codecs = codecs
        self._configure()
        (self.dir / "accounts").write_text("<sip:caller@127.0.0.1>;regint=0;answermode=manual\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.stream: anyio.abc.SocketStream | None = None
        self.events: list[dict[str, Any]] = []
        self._buffer = b""
        self._token = 0

    def _configure(self) -> None:
        """Pick its ports (free now) and write its config."""
        self.sip_port = free_port(socket.SOCK_STREAM)  # baresip listens on UDP and TCP
        self.ctrl_port = free_port(socket.SOCK_STREAM)
        modules = " ".join(f"module {m}" for m in self.codecs.split()) if self.codecs else ""
        (self.dir / "config").write_text(
            "\n".join(
                [
                    "module_path /usr/lib/baresip/modules",
                    f"sip_listen 127.0.0.1:{self.sip_port}",
                    "net_interface 127.0.0.1",
                    f"audio_source aufile,{self.microphone}",
                    "audio_player aubridge,nil-X",
                    "audio_alert aubridge,nil-Y",
                    "ausrc_srate 8000",
                    "auplay_srate 8000",
                    "rtcp_mux no",
                    f"snd_path {self.records}",
                    modules,
                    "module aufile.so",
                    "module aubridge.so",
                    "module sndfile.so",
                    "module_tmp account.so",
                    "module_app menu.so",
                    "module_app ctrl_tcp.so",
                    f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
                    "",
                ]
            )
        )

    async def start(self) -> None:
        """Start it; a port taken between picking and binding (its SIP TLS port is
        ``sip_port + 1``, never checked) makes it fail: then again on other ports."""
        for attempt in range(3):
            if attempt:
                self._configure()
            if await self._launch():
                # Connect only once it listens: connecting to a port nobody listens on
                # can self-connect (source port == destination port) and steal it.
                self.stream = await anyio.connect_tcp("127.0.0.1", self.ctrl_port)
                return
        raise AssertionError("baresip did not start:\n" + self._log_text())

    async def _launch(self) -> bool:
        assert BARESIP is not None
        self.log = open(self.dir / "baresip.log", "wb")
        self.proc = subprocess.Popen(
            [BARESIP, "-4", "-f", str(self.dir)],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
        )
        with anyio.fail_after(10):
            while b"baresip is ready" not in (self.dir / "baresip.log").read_bytes():
                if self.proc.poll() is not None:
                    break
                await anyio.sleep(0.02)
        if self.proc.poll() is None and b"Address already in use" not in self._log_bytes():
            return True
        self.proc.kill()
        self.proc.wait(timeout=5)
        self.log.close()
        return False

    def _log_bytes(self) -> bytes:
        return (self.dir / "baresip.log").read_bytes()

    def _log_text(self) -> str:
        return self._log_bytes().decode(errors="replace")

    async def command(self, command: str, params: str = "") -> None:
        assert self.stream is not None
        self._token += 1
        body = json.dumps({"command": command, "params": params, "token": str(self._token)})
        data = body.encode()
        await self.stream.send(b"%d:%s," % (len(data), data))

    async def wait_event(self, kind: str, timeout: float) -> dict[str, Any]:
        """The next event of type ``kind`` (others are kept in ``events``)."""
        with anyio.fail_after(timeout):
            while True:
                message = await self._read()
                if message.get("event"):
                    self.events.append(message)
                    if message.get("type") == kind:
                        return message

    async def _read(self) -> dict[str, Any]:
        assert self.stream is not None
        while True:
            length, colon, rest = self._buffer.partition(b":")
            if colon and len(rest) > int(length):
                body, self._buffer = rest[: int(length)], rest[int(length) + 1 :]
                parsed: dict[str, Any] = json.loads(body)
                return parsed
            self._buffer += await self.stream.receive()

    def recordings(self) -> list[Path]:
        return sorted(self.records.glob("*.wav"))

    async def stop(self) -> None:
        if self.stream is not None:
            try:
                with anyio.move_on_after(1):
                    await self.command("quit")
            except (OSError, anyio.BrokenResourceError):
                pass
            await self.stream.aclose()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()
