"""A simulated phone caller: dial a phone server the way Twilio (or Telnyx, Plivo) does.

``await call("http://127.0.0.1:8080/twilio/voice", question="What is the weather in
Paris?")`` does what a carrier does when someone rings the number:

1. it POSTs the call to the webhook, signed with the auth token when one is given
   (``X-Twilio-Signature``; Plivo's V3 signature and nonce; Telnyx's Ed25519 with
   ``telnyx_private_key``), and reads the answer's ``<Stream>`` URL and parameters
   (a ``ws(s)://`` URL skips this step and is dialled directly);
2. it opens that WebSocket, signing the upgrade as the carrier does, and plays the
   carrier's side of the stream with
   :class:`~adk_realtime.sansio.telephony.simulated_carrier.SimulatedCarrier`:
   ``connected``/``start`` (custom parameters, the caller's number), then μ-law
   ``media`` every 20 ms in real time: the question as speech (the simulator's tone
   code, synthesised at 24 kHz and resampled to 8 kHz), silence after it, as a line
   never stops sending;
3. it plays what comes back on a real-time playout clock, sends each ``mark`` back
   once the audio before it has played, honours ``clear`` (drops what was not played,
   returns the waiting marks), optionally presses DTMF keys or talks over the answer
   (``interrupt_with``), and hangs up (``stop``) once the answer has been heard and
   the line has been quiet for ``quiet_ms``.

The result holds what the caller heard (PCM16 at 8 kHz; written as a WAV if asked)
and its transcript, decoded with the simulator's speech decoder: a real model's voice
decodes to nothing, the audio is still there.
"""

from __future__ import annotations

import secrets
import ssl
import time
import wave
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlencode, urlsplit

import anyio

from adk_realtime.drivers.http_client import http_request
from adk_realtime.drivers.websocket import open_websocket
from adk_realtime.sansio.audio import Resampler, ulaw_decode, ulaw_encode
from adk_realtime.sansio.errors import ConfigError, ConnectionClosed, RealtimeError
from adk_realtime.sansio.http import HttpExchange, parse_url
from adk_realtime.sansio.sim.speech import SpeechRecognizer, synthesize_speech
from adk_realtime.sansio.telephony.markup import MarkupError, read_stream_instruction
from adk_realtime.sansio.telephony.signatures import (
    PLIVO_NONCE_HEADER,
    PLIVO_SIGNATURE_HEADER,
    TELNYX_SIGNATURE_HEADER,
    TELNYX_TIMESTAMP_HEADER,
    TWILIO_SIGNATURE_HEADER,
    plivo_signature,
    telnyx_signature,
    twilio_signature,
)
from adk_realtime.sansio.telephony.simulated_carrier import (
    ClearHonoured,
    FramePlayed,
    SimulatedCarrier,
    SimulatedPlivo,
    SimulatedTelnyx,
    SimulatedTwilio,
)

__all__ = ["CallResult", "CarrierName", "PhoneCallError", "call", "spoken_ulaw"]

CarrierName = Literal["twilio", "telnyx", "plivo"]
_CARRIERS: dict[str, type[SimulatedCarrier]] = {
    "twilio": SimulatedTwilio,
    "telnyx": SimulatedTelnyx,
    "plivo": SimulatedPlivo,
}
_RATE = 8000
_LEAD_MS = 300  # silence before the caller speaks, as after "hello?" on a real line
_LINGER_S = 1.0  # after stop, how long the server has to close its side


class PhoneCallError(RealtimeError):
    """The call could not be placed: the webhook refused it or answered without a stream."""


@dataclass
class CallResult:
    """What happened on the call, from the caller's side.

    ``audio`` is what the caller heard (PCM16 mono, ``sample_rate`` 8000) from the first
    of the answer on, the silences between answers included; ``transcript`` is that
    audio decoded by the simulator's speech decoder. ``heard_ms``/``dropped_ms``: audio played, and dropped
    unplayed by a ``clear`` (barge-in); ``marks_returned``: marks sent back.
    ``server_hung_up``: the server closed the stream before the caller hung up (with
    ``close_code``). ``gaps_ms``: each silence the caller heard between two frames of
    answer, in ms (a pause between answers, or audio that came late: an underrun).
    """

    transcript: str
    audio: bytes = field(repr=False)
    carrier: str
    heard_ms: int
    dropped_ms: int
    marks_returned: int
    clears: int
    call_seconds: float
    stream_url: str = field(repr=False)
    server_hung_up: bool = False
    close_code: int | None = None
    sample_rate: int = _RATE
    wav: Path | None = None
    gaps_ms: list[int] = field(default_factory=list, repr=False)

    @property
    def answered(self) -> bool:
        """Whether any of the agent's audio reached the caller."""
        return self.heard_ms > 0


def spoken_ulaw(text: str) -> bytes:
    """``text`` as the simulator's speech, as a telephone carries it: synthesised at
    24 kHz, resampled to 8 kHz, μ-law encoded."""
    resampler = Resampler(24000, _RATE)
    pcm = resampler.process(synthesize_speech(text, 24000)) + resampler.flush()
    return ulaw_encode(pcm)


def _form(carrier: str, call_id: str, caller: str, called: str) -> dict[str, str]:
    """The fields a carrier's voice webhook carries for a ringing inbound call."""
    if carrier == "plivo":
        return {
            "CallUUID": call_id,
            "From": caller,
            "To": called,
            "Direction": "inbound",
            "CallStatus": "ringing",
            "Event": "StartApp",
        }
    form = {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": call_id,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": caller,
        "To": called,
    }
    if carrier == "twilio":
        form |= {"ApiVersion": "2010-04-01", "Caller": caller, "Called": called}
    return form


def _webhook_headers(
    carrier: str,
    url: str,
    form: dict[str, str],
    body: str,
    auth_token: str | None,
    telnyx_key: bytes | None,
) -> list[tuple[str, str]]:
    headers = [("Content-Type", "application/x-www-form-urlencoded")]
    if carrier == "twilio" and auth_token:
        headers.append((TWILIO_SIGNATURE_HEADER, twilio_signature(auth_token, url, form)))
    elif carrier == "plivo" and auth_token:
        nonce = str(secrets.randbelow(10**20))
        headers.append((PLIVO_NONCE_HEADER, nonce))
        headers.append(
            (PLIVO_SIGNATURE_HEADER, plivo_signature(auth_token, "POST", url, nonce, form))
        )
    elif carrier == "telnyx" and telnyx_key:
        stamp = int(time.time())
        headers.append((TELNYX_TIMESTAMP_HEADER, str(stamp)))
        headers.append((TELNYX_SIGNATURE_HEADER, telnyx_signature(telnyx_key, stamp, body)))
    return headers


def _upgrade_headers(carrier: str, url: str, auth_token: str | None) -> list[tuple[str, str]]:
    if carrier == "twilio" and auth_token:
        return [(TWILIO_SIGNATURE_HEADER, twilio_signature(auth_token, url))]
    if carrier == "plivo" and auth_token:
        nonce = str(secrets.randbelow(10**20))
        signature = plivo_signature(auth_token, "GET", url, nonce)
        return [(PLIVO_NONCE_HEADER, nonce), (PLIVO_SIGNATURE_HEADER, signature)]
    return []


async def _dial_webhook(
    url: str,
    carrier: str,
    form: dict[str, str],
    auth_token: str | None,
    telnyx_key: bytes | None,
    timeout: float,
    ssl_context: ssl.SSLContext | None,
) -> tuple[str, dict[str, str]]:
    """POST the ringing call to the webhook; the stream URL and parameters it answers."""
    body = urlencode(form)
    headers = _webhook_headers(carrier, url, form, body, auth_token, telnyx_key)
    where = parse_url(url)
    exchange = HttpExchange("POST", where.target, headers, body.encode(), url=where)
    response = await http_request(exchange, timeout=timeout, ssl_context=ssl_context)
    if response.status != 200:
        hint = " (check the auth token)" if response.status == 403 else ""
        raise PhoneCallError(
            f"the webhook at {where.authority} answered HTTP {response.status}{hint}"
        )
    try:
        instruction = read_stream_instruction(response.body)
    except MarkupError as exc:
        raise PhoneCallError(f"the webhook did not put the call on a stream: {exc}") from None
    return instruction.url, dict(instruction.parameters)


async def call(
    url: str,
    *,
    question: str,
    carrier: CarrierName = "twilio",
    auth_token: str | None = None,
    telnyx_private_key: bytes | None = None,
    caller: str = "+15550100001",
    called: str = "+15550100002",
    parameters: Mapping[str, str] | None = None,
    dtmf: str = "",
    interrupt_with: str | None = None,
    interrupt_after_ms: int = 600,
    quiet_ms: int = 1500,
    answer_timeout: float = 30.0,
    wav: str | Path | None = None,
    connect_timeout: float = 15.0,
    ssl_context: ssl.SSLContext | None = None,
) -> CallResult:
    """Call the phone server at ``url`` and ask ``question`` (see the module docstring).

    ``url`` is the carrier's webhook (``http(s)://.../twilio/voice``) or a media stream
    (``ws(s)://.../twilio/media``, then the stream's custom parameters are ``caller``,
    ``called`` and ``parameters``). ``auth_token`` signs as Twilio or Plivo do; ``telnyx_private_key``
    (a 32-byte Ed25519 seed) as Telnyx does. ``dtmf`` keys are pressed after the
    question. ``interrupt_with`` is said once ``interrupt_after_ms`` of the answer has
    been heard (barge-in). The call ends ``quiet_ms`` after the answer stopped playing,
    or ``answer_timeout`` seconds after the question if no answer comes. ``wav`` writes
    what was heard. ``ssl_context`` verifies ``https``/``wss`` (default: the system CAs).
    Raises `PhoneCallError` when the webhook refuses the call, and the WebSocket's
    errors (``HandshakeRejected``: the upgrade was refused).
    """
    if carrier not in _CARRIERS:
        raise ConfigError("carrier", "must be 'twilio', 'telnyx' or 'plivo'")
    call_id = ("CA" if carrier == "twilio" else "v3:") + secrets.token_hex(16)
    if urlsplit(url).scheme in ("http", "https"):
        form = _form(carrier, call_id, caller, called)
        stream_url, params = await _dial_webhook(
            url, carrier, form, auth_token, telnyx_private_key, connect_timeout, ssl_context
        )
    else:
        stream_url, params = url, {"caller": caller, "called": called}
    params |= dict(parameters or {})
    machine = _CARRIERS[carrier](
        stream_id=("MZ" if carrier == "twilio" else "") + secrets.token_hex(16),
        call_id=call_id,
        custom_parameters=params,
        caller=caller,
        called=called,
    )
    headers = _upgrade_headers(carrier, stream_url, auth_token)
    line = _Line(machine, quiet_ms, answer_timeout, interrupt_with, interrupt_after_ms, dtmf)
    started = anyio.current_time()
    async with open_websocket(
        stream_url, headers=headers, connect_timeout=connect_timeout, ssl_context=ssl_context
    ) as ws:
        await line.run(ws, question)
    result = line.result(carrier, stream_url, anyio.current_time() - started)
    if wav is not None:
        result.wav = Path(wav)
        with wave.open(str(result.wav), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(_RATE)
            out.writeframes(result.audio)
    return result


class _Line:
    """One call's driving loop around the carrier machine (the caller's policy)."""

    def __init__(
        self,
        machine: SimulatedCarrier,
        quiet_ms: int,
        answer_timeout: float,
        interrupt_with: str | None,
        interrupt_after_ms: int,
        dtmf: str,
    ) -> None:
        self.machine = machine
        self.quiet_ms = quiet_ms
        self.answer_timeout_ms = int(answer_timeout * 1000)
        self.interrupt_with = interrupt_with
        self.interrupt_after_ms = interrupt_after_ms
        self.dtmf = dtmf
        self.heard = bytearray()
        self.ears = SpeechRecognizer(_RATE)
        self.dropped_ms = 0
        self.last_heard_ms = 0  # stream time of the latest frame of answer played
        self.gaps_ms: list[int] = []
        self.talking = True  # the question is queued
        self.spoke_until_ms = 0  # stream time the caller's latest utterance ended
        self.send_lock = anyio.Lock()
        self.ws: _Sendable | None = None
        self.server_close: int | None = None  # the close code, when the server hung up
        self.server_gone = anyio.Event()

    async def run(self, ws: _Sendable, question: str) -> None:
        self.ws = ws
        machine = self.machine
        machine.start(anyio.current_time())
        machine.say(bytes([0xFF]) * (_RATE * _LEAD_MS // 1000) + spoken_ulaw(question))
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._read, ws, tg.cancel_scope)
            while not machine.stopped:
                deadline = machine.get_timer()
                if deadline is not None:
                    await anyio.sleep_until(deadline)
                machine.handle_timer(anyio.current_time())
                self._decide()
                await self._flush()
            # After ``stop`` the carrier has nothing more to say: the server closes first
            # (within a second), so the two sides never close over each other.
            with anyio.move_on_after(_LINGER_S):
                await self.server_gone.wait()
            tg.cancel_scope.cancel()

    async def _read(self, ws: _Sendable, scope: anyio.CancelScope) -> None:
        try:
            while True:
                message = await ws.receive()
                self.machine.receive_data(message, anyio.current_time())
                await self._flush()
        except ConnectionClosed as exc:
            self._server_hung_up(exc)
            self.server_gone.set()
            if self.server_close is not None:
                scope.cancel()  # the server hung up on the caller: the call is over

    def _server_hung_up(self, exc: ConnectionClosed) -> None:
        """The server ended the call: nothing more can be sent (``stop`` included)."""
        if self.server_close is None and not self.machine.stopped:
            self.server_close = exc.code
        self.machine.hang_up()
        self.machine.data_to_send()  # the stop it queued has nowhere to go

    def _decide(self) -> None:
        """The caller's turn-taking: DTMF after the question, barge-in, hanging up once
        the answer to what it last said has played and the line is quiet (or none came)."""
        machine = self.machine
        now_ms = machine.played_ms
        if machine.speaking:
            return
        if self.talking:  # an utterance has just gone out whole
            self.talking = False
            self.spoke_until_ms = now_ms
            if self.dtmf:
                machine.press(self.dtmf)
                self.dtmf = ""
        if self.interrupt_with and machine.heard_ms >= self.interrupt_after_ms:
            machine.say(spoken_ulaw(self.interrupt_with))
            self.interrupt_with = None
            self.talking = True
            return
        if machine.queued_ms or machine.pending_marks:
            return  # the answer is still playing
        if self.last_heard_ms > self.spoke_until_ms:
            if now_ms - self.last_heard_ms >= self.quiet_ms:
                machine.hang_up()
        elif now_ms - self.spoke_until_ms >= self.answer_timeout_ms:
            machine.hang_up()  # no answer to what the caller said

    async def _flush(self) -> None:
        assert self.ws is not None
        async with self.send_lock:
            try:
                for message in self.machine.data_to_send():
                    await self.ws.send(message)
            except ConnectionClosed as exc:
                self._server_hung_up(exc)
            while (event := self.machine.next_event()) is not None:
                if isinstance(event, FramePlayed):
                    # What the ear gets is a timeline: the silence between answers counts.
                    gap_ms = event.at_ms - self.last_heard_ms if self.heard else 0
                    if gap_ms > 0:
                        self.gaps_ms.append(gap_ms)
                    pcm = bytes(gap_ms * _RATE // 1000 * 2) + ulaw_decode(event.payload)
                    self.heard += pcm
                    self.ears.feed(pcm)
                    self.last_heard_ms = event.at_ms + 20
                elif isinstance(event, ClearHonoured):
                    self.dropped_ms += event.dropped_ms

    def result(self, carrier: str, stream_url: str, seconds: float) -> CallResult:
        return CallResult(
            transcript=self.ears.text,
            audio=bytes(self.heard),
            carrier=carrier,
            heard_ms=self.machine.heard_ms,
            dropped_ms=self.dropped_ms,
            marks_returned=self.machine.marks_returned,
            clears=self.machine.clears,
            call_seconds=seconds,
            stream_url=stream_url,
            server_hung_up=self.server_close is not None,
            close_code=self.server_close,
            gaps_ms=self.gaps_ms,
        )


class _Sendable(Protocol):
    """What the line needs of a WebSocket (our client connection has it)."""

    async def send(self, message: str | bytes) -> None: ...

    async def receive(self) -> str | bytes: ...
