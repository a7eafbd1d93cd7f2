"""The OpenAI Realtime WebRTC transport: a media link for :class:`RealtimeSession`.

``OpenAIRealtimeModel(key, transport="webrtc", webrtc_options=WebRTCOptions(...))``
uses this module. Opening a link:

1. bind UDP sockets and build the offer (``drivers.webrtc.open_peer``);
2. signal it: the *unified* flow POSTs ``multipart/form-data`` (``sdp`` + ``session``)
   to ``/v1/realtime/calls`` with the API key; the *ephemeral* flow first trades the
   key for a short-lived ``ek_...`` token at ``/v1/realtime/client_secrets``, then
   POSTs the bare offer with that token (what a browser does with a token minted by
   your server);
3. apply the answer, wait until ICE + DTLS are up and ``oai-events`` is open
   (``connect_timeout``), and yield the :class:`WebRTCLink`.

The link carries JSON events on the data channel exactly as a WebSocket carries them,
and audio out of band: `send_audio` encodes PCM16 to Opus RTP; `receive` returns the
peer's decoded audio as ready :class:`AudioDelta` events (PCM16 24 kHz, 20 ms each)
stamped with the protocol's current item and response ids, interleaved with the data
channel's text messages. A failed or closed peer makes `receive` raise
:class:`ConnectionClosed` as soon as the state change is read.
"""

from __future__ import annotations

import collections
import logging
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import anyio

from adk_realtime.sansio.config import RealtimeConfig
from adk_realtime.sansio.errors import ConfigError, ConnectionClosed, LocalProtocolError
from adk_realtime.sansio.events import AudioDelta
from adk_realtime.sansio.http import (
    CallAnswer,
    client_secret_request,
    parse_url,
    read_call_answer,
    read_client_secret,
    sdp_call_request,
    unified_call_request,
)
from adk_realtime.sansio.openai import wire as openai_wire

if TYPE_CHECKING:  # types only: adk_realtime.openai imports this module lazily (a cycle)
    from adk_realtime.drivers.webrtc import WebRTCPeer
    from adk_realtime.openai import OpenAIRealtimeModel
    from adk_realtime.sansio.openai.protocol import OpenAIProtocol
    from adk_realtime.session import Link, LinkFactory, LinkStats

__all__ = ["WebRTCLink", "WebRTCOptions", "webrtc_link_factory"]

log = logging.getLogger("adk_realtime.webrtc")

_MAX_EARLY_EVENTS = 256  # events read while waiting for the channel to open
_ENDED = frozenset({"failed", "closed"})  # PeerState values after which nothing is sent


@dataclass(frozen=True, slots=True)
class WebRTCOptions:
    """How ``transport="webrtc"`` connects.

    ``local_addresses``: the IP addresses to bind UDP sockets on (one candidate each);
    default: the host's non-loopback IPv4 addresses. ``flow``: ``"unified"`` (API key
    and offer in one call) or ``"ephemeral"`` (mint a client secret first).
    ``calls_url`` / ``client_secrets_url`` default to ``{base_url}/realtime/calls`` and
    ``{base_url}/realtime/client_secrets`` (``ws``/``wss`` base URLs map to
    ``http``/``https``). ``ssl_context`` verifies HTTPS (default: system CAs).
    ``http_timeout`` bounds each HTTP exchange, ``connect_timeout`` the time from the
    answer until the data channel is open. ``setup_timeout`` bounds DTLS, SCTP and the
    channel once ICE found a path: a peer that refused our DTLS certificate fails then,
    saying so.
    """

    local_addresses: Sequence[str] | None = None
    flow: Literal["unified", "ephemeral"] = "unified"
    calls_url: str | None = None
    client_secrets_url: str | None = None
    ssl_context: ssl.SSLContext | None = None
    http_timeout: float = 15.0
    connect_timeout: float = 20.0
    setup_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.flow not in ("unified", "ephemeral"):
            raise ConfigError("flow", f"must be 'unified' or 'ephemeral', not {self.flow!r}")
        if self.local_addresses is not None:
            if isinstance(self.local_addresses, str):
                raise ConfigError("local_addresses", "give a sequence of IP addresses, not a str")
            object.__setattr__(self, "local_addresses", tuple(self.local_addresses))
        if self.http_timeout <= 0 or self.connect_timeout <= 0:
            raise ConfigError("timeout", "http_timeout and connect_timeout must be positive")
        if not self.setup_timeout > 0:
            raise ConfigError("setup_timeout", f"must be positive, not {self.setup_timeout!r}")


class WebRTCLink:
    """A :class:`MediaLink` over one WebRTC peer connection (see the module docstring)."""

    def __init__(
        self,
        peer: WebRTCPeer,
        protocol: OpenAIProtocol,
        call_id: str | None,
        stats: LinkStats | None = None,
    ) -> None:
        self._peer = peer
        self._protocol = protocol
        self.call_id = call_id
        self._early: collections.deque[Any] = collections.deque()
        self._closing = False
        self._stats = stats
        self.dropped_early_events = 0  # read before the channel opened, beyond _MAX_EARLY_EVENTS

    def __repr__(self) -> str:
        return f"<WebRTCLink call_id={self.call_id!r} {self._peer.state.value}>"

    async def send(self, message: str) -> None:
        """Send one event on ``oai-events``. Before the channel opens up to 50 wait in
        order; past that this waits for room. Raises ConnectionClosed once the peer
        failed or closed, and `LocalProtocolError` (the link stays up) for a message
        larger than the peer's ``a=max-message-size``."""
        from adk_realtime.sansio.webrtc.datachannel import DataChannelQueueFull

        while True:
            if self._peer.closed:
                raise ConnectionClosed(None, "WebRTC link is closed")
            try:
                self._peer.send_message(message)
                return
            except DataChannelQueueFull:
                await self._peer.wait_changed()  # the queue drains as the channel opens
            except LocalProtocolError as exc:
                if self._peer.state.value in _ENDED:
                    raise ConnectionClosed(None, str(exc)) from None
                raise  # the connection is fine: e.g. over the peer's max-message-size

    async def send_audio(self, pcm: bytes, sample_rate: int) -> None:
        """Send PCM16 mono at 8, 16, 24 or 48 kHz as Opus (20 ms RTP packets)."""
        if self._peer.closed:
            raise ConnectionClosed(None, "WebRTC link is closed")
        self._peer.send_audio(pcm, sample_rate)

    async def receive(self) -> str | bytes | AudioDelta:
        """The next data channel message or the peer's next 20 ms of audio as an
        :class:`AudioDelta`; raises :class:`ConnectionClosed` when the peer is gone."""
        while True:
            event = self._early.popleft() if self._early else await self._peer.next_event()
            result = self._translate(event)
            if result is not None:
                return result

    def _translate(self, event: Any) -> str | bytes | AudioDelta | None:
        from adk_realtime.sansio.webrtc import peer as p

        if event is None:
            raise ConnectionClosed(1000 if self._closing else None, "WebRTC peer closed")
        if isinstance(event, p.AudioFrame):
            proto = self._protocol
            return AudioDelta(
                event.pcm, item_id=proto.current_item_id or "", response_id=proto.response_id or ""
            )
        if isinstance(event, p.ChannelMessage):
            if event.label == self._peer.pc.channel_label:
                return event.data
            return None  # a channel the peer opened: not part of the Realtime API
        if isinstance(event, p.ChannelClosed) and event.label == self._peer.pc.channel_label:
            code = 1000 if self._closing else None
            raise ConnectionClosed(code, "the oai-events data channel closed")
        if isinstance(event, p.ConnectionStateChanged):
            if event.state is p.PeerState.FAILED:
                raise ConnectionClosed(None, f"WebRTC connection failed: {event.reason}")
            if event.state is p.PeerState.CLOSED:
                code = 1000 if self._closing else None
                raise ConnectionClosed(code, f"WebRTC connection closed: {event.reason}")
        return None

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Hang up: SCTP ABORT and DTLS close_notify go out, the sockets close."""
        self._closing = True
        await self._peer.aclose()

    async def _wait_open(self, timeout: float) -> None:
        from adk_realtime.sansio.webrtc import peer as p

        with anyio.move_on_after(timeout) as scope:
            while True:
                event = await self._peer.next_event()
                if (
                    isinstance(event, p.ChannelOpened)
                    and event.label == self._peer.pc.channel_label
                ):
                    self._log_drops()
                    return
                if event is None or (
                    isinstance(event, p.ConnectionStateChanged)
                    and event.state in (p.PeerState.FAILED, p.PeerState.CLOSED)
                ):
                    self._translate(event)  # raises ConnectionClosed with the reason
                if isinstance(event, p.AudioFrame | p.ChannelMessage):
                    if len(self._early) >= _MAX_EARLY_EVENTS:
                        self._early.popleft()  # stale audio from before the channel opened
                        self._count_drop()
                    self._early.append(event)
        self._log_drops()
        if scope.cancelled_caught:
            raise ConnectionClosed(
                None,
                f"WebRTC connection not established within {timeout:g} s "
                f"(state {self._peer.state.value}); check local_addresses and the network",
            )

    def _count_drop(self) -> None:
        self.dropped_early_events += 1
        if self._stats is not None:
            self._stats.dropped_events += 1

    def _log_drops(self) -> None:
        if self.dropped_early_events:
            log.warning(
                "webrtc: dropped %d events read before the data channel opened (%d kept)",
                self.dropped_early_events,
                _MAX_EARLY_EVENTS,
            )


def _urls(model: OpenAIRealtimeModel, options: WebRTCOptions) -> tuple[str, str]:
    base = model.base_url.rstrip("/")
    calls = options.calls_url or f"{base}/realtime/calls"
    secrets = options.client_secrets_url or f"{base}/realtime/client_secrets"
    parse_url(calls)  # ConfigError now rather than at connect time
    parse_url(secrets)
    return calls, secrets


def call_session(model: OpenAIRealtimeModel, config: RealtimeConfig) -> dict[str, Any]:
    """The GA ``session`` object sent with the call (what ``session.update`` carries,
    plus ``model``)."""
    session = openai_wire.session_object(config, "ga")
    session["model"] = model.model_id
    return session


async def _signal(
    model: OpenAIRealtimeModel,
    config: RealtimeConfig,
    options: WebRTCOptions,
    offer: str,
) -> CallAnswer:
    from adk_realtime.drivers.webrtc import http_request

    calls_url, secrets_url = _urls(model, options)
    key = model._secret()
    session = call_session(model, config)
    timeout, ctx = options.http_timeout, options.ssl_context
    if options.flow == "unified":
        exchange = unified_call_request(calls_url, sdp=offer, session=session, api_key=key)
        response = await http_request(exchange, ssl_context=ctx, timeout=timeout)
        return read_call_answer(response, secrets=[key])
    exchange = client_secret_request(secrets_url, session=session, api_key=key)
    response = await http_request(exchange, ssl_context=ctx, timeout=timeout)
    token = read_client_secret(response, secrets=[key])
    exchange = sdp_call_request(calls_url, sdp=offer, token=token)
    response = await http_request(exchange, ssl_context=ctx, timeout=timeout)
    return read_call_answer(response, secrets=[key, token])


@asynccontextmanager
async def _open_link(
    model: OpenAIRealtimeModel,
    protocol: OpenAIProtocol,
    config: RealtimeConfig,
    options: WebRTCOptions,
    stats: LinkStats | None,
) -> AsyncIterator[Link]:
    from adk_realtime.drivers.webrtc import open_peer

    addresses = list(options.local_addresses) if options.local_addresses else None
    async with open_peer(local_addresses=addresses, setup_timeout=options.setup_timeout) as peer:
        answer = await _signal(model, config, options, peer.offer)
        peer.set_answer(answer.sdp)
        link = WebRTCLink(peer, protocol, answer.call_id, stats)
        log.info("webrtc: call %s answered; connecting", answer.call_id or "(no id)")
        await link._wait_open(options.connect_timeout)
        try:
            yield link
        finally:
            link._closing = True
            with anyio.CancelScope(shield=True):
                await peer.aclose()


def webrtc_link_factory(
    model: OpenAIRealtimeModel,
    protocol: OpenAIProtocol,
    config: RealtimeConfig,
    stats: LinkStats | None = None,
) -> LinkFactory:
    """The link factory ``OpenAIRealtimeModel(transport="webrtc")`` gives its session;
    every link counts what it drops in ``stats`` (the session's ``link_stats``).

    Raises `ConfigError` for the beta dialect (OpenAI's WebRTC calls speak GA) or bad
    options.
    """
    options = model.webrtc_options if model.webrtc_options is not None else WebRTCOptions()
    if not isinstance(options, WebRTCOptions):
        raise ConfigError("webrtc_options", "must be an adk_realtime.webrtc_link.WebRTCOptions")
    if model.dialect != "ga":
        raise ConfigError(
            "transport", "WebRTC needs the GA dialect (gpt-realtime models); use the WebSocket"
        )
    _urls(model, options)

    def factory(_handle: str | None) -> AbstractAsyncContextManager[Link]:
        return _open_link(model, protocol, config, options, stats)

    return factory
