"""WebRTC with anyio (asyncio or trio): UDP sockets, timers and the HTTPS signalling
around the sans-IO `PeerConnection` and `HttpExchange`. No protocol logic lives here.

Usage::

    async with open_peer(local_addresses=["127.0.0.1"]) as peer:
        answer = await http_request(unified_call_request(url, sdp=peer.offer, ...))
        peer.set_answer(read_call_answer(answer).sdp)
        peer.send_message('{"type": "session.update", ...}')   # queued until the channel opens
        while (event := await peer.next_event()) is not None:
            ...                                                 # AudioFrame, ChannelMessage...

Tasks (in the peer's own task group): one *reader* per UDP socket (datagram ->
``receive_datagram``), the *timer* (sleeps until ``get_timer()`` or until an input
may have changed it, then ``handle_timer``) and the *writer* (sends what
``datagrams_to_send()`` gave, in order). Every input is followed by `_kick`, which
moves the peer's datagrams to the writer and wakes the timer and `next_event`.

The peer's own queues are bounded (see `PeerConnection`); the writer's queue too
(``MAX_WRITE_QUEUE`` datagrams, oldest dropped and counted: UDP may lose them anyway).

Binding: local addresses are IP literals, bound as they are (a plain socket bound to the
numeric tuple, then handed to anyio). Nothing is resolved: anyio's own
``create_udp_socket`` asks ``getaddrinfo`` with ``AI_ADDRCONFIG``, which fails even for
``127.0.0.1`` on a host whose only interface is loopback. A bind that fails is a
`BindError`; a host name is a `ConfigError`.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc

from adk_realtime.drivers._errors import single_error
from adk_realtime.drivers.http_client import HttpConnectError, http_request as _http_request
from adk_realtime.sansio.errors import ConfigError, RealtimeError
from adk_realtime.sansio.http import HttpExchange, HttpResponse
from adk_realtime.sansio.webrtc.peer import PeerConnection, PeerEvent, PeerState

__all__ = [
    "MAX_WRITE_QUEUE",
    "BindError",
    "SignallingError",
    "WebRTCPeer",
    "bind_udp",
    "default_local_addresses",
    "http_request",
    "open_peer",
]

log = logging.getLogger("adk_realtime.drivers.webrtc")

MAX_WRITE_QUEUE = 2048


class SignallingError(HttpConnectError):
    """The HTTP(S) offer/answer exchange could not be carried out (connect, TLS, timeout)."""


class BindError(RealtimeError):
    """No UDP socket could be bound to ``address`` (not an address of this host, no such
    address family here, no port left...); ``reason`` is the system's word for it."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"cannot bind a UDP socket to {address}: {reason}")
        self.address = address
        self.reason = reason


async def bind_udp(address: str) -> anyio.abc.UDPSocket:
    """A UDP socket on the IP literal ``address`` (an ephemeral port), resolving nothing.

    Raises `ConfigError` if ``address`` is not an IP literal and `BindError` if the
    system refuses the socket or the bind.
    """
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    except ValueError:
        raise ConfigError(
            "local_addresses", f"{address!r} is not an IP address (names are not resolved)"
        ) from None
    raw: socket.socket | None = None
    try:
        raw = socket.socket(family, socket.SOCK_DGRAM)
        raw.setblocking(False)
        raw.bind((address, 0))  # a numeric tuple: no getaddrinfo, no AI_ADDRCONFIG
        return await anyio.abc.UDPSocket.from_socket(raw)
    except OSError as exc:
        if raw is not None:
            raw.close()
        raise BindError(address, exc.strerror or exc.__class__.__name__) from None


def default_local_addresses() -> list[str]:
    """The host's non-loopback IPv4 addresses (from its name), else ``["127.0.0.1"]``.

    Sends nothing. Pass ``local_addresses`` explicitly when the host name does not
    resolve to the interface the peer can reach.
    """
    found: list[str] = []
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        infos = []
    for info in infos:
        address = str(info[4][0])
        ip = ipaddress.ip_address(address)
        if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified) and address not in found:
            found.append(address)
    if not found:
        log.warning("no non-loopback IPv4 address found for this host; using 127.0.0.1")
        found = ["127.0.0.1"]
    return found


async def http_request(
    exchange: HttpExchange,
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 15.0,
) -> HttpResponse:
    """Carry out one `HttpExchange` on a fresh TCP (TLS for ``https``) connection.

    The exchange must have been built with a ``url``. Raises `SignallingError` if the
    connection, TLS or the whole exchange (``timeout`` seconds) fails; errors in the
    reply come from the exchange (`HttpError`).
    """
    try:
        return await _http_request(exchange, ssl_context=ssl_context, timeout=timeout)
    except HttpConnectError as exc:
        raise SignallingError(str(exc)) from None


class WebRTCPeer:
    """A `PeerConnection` on real UDP sockets. Get one from `open_peer`.

    Commands are plain (non-blocking) methods; `next_event` waits for the next event.
    """

    def __init__(self, pc: PeerConnection, sockets: Sequence[anyio.abc.UDPSocket]) -> None:
        self.pc = pc
        self._sockets = list(sockets)
        self._writes: deque[tuple[bytes, int, tuple[str, int]]] = deque()
        self._write_ready = anyio.Event()
        self._write_lock = anyio.Lock()
        self._changed = anyio.Event()  # the timer or the event queue may have changed
        self._closed = False
        #: datagrams the writer dropped (queue full) or failed to send (socket error)
        self.stats: dict[str, int] = {"write_dropped": 0, "send_errors": 0}

    def __repr__(self) -> str:
        return f"<WebRTCPeer {self.pc.state.value} sockets={len(self._sockets)}>"

    @property
    def offer(self) -> str:
        """Our SDP offer: send it to the answerer, then `set_answer`."""
        return self.pc.create_offer()

    @property
    def state(self) -> PeerState:
        return self.pc.state

    def set_answer(self, sdp: str) -> None:
        """Apply the answer; ICE starts. Raises `SdpError` for a bad answer."""
        self.pc.set_answer(sdp, anyio.current_time())
        self._kick()

    def send_audio(self, pcm: bytes, sample_rate: int | None = None) -> None:
        """Send PCM16 mono (dropped and counted before the connection is up)."""
        self.pc.send_audio(pcm, sample_rate)
        self._kick()

    def send_message(self, data: str | bytes) -> None:
        """Send on ``oai-events``; raises `DataChannelQueueFull` past 50 waiting messages."""
        self.pc.send_message(data, anyio.current_time())
        self._kick()

    async def next_event(self) -> PeerEvent | None:
        """The next peer event; None once the peer was closed and its events drained."""
        while True:
            event = self.pc.next_event()
            if event is not None:
                self._kick()  # reading may reopen SCTP's receive window
                return event
            if self._closed:
                return None
            changed = self._changed
            await changed.wait()

    async def wait_changed(self) -> None:
        """Wait until the peer processed any input (a datagram, a timer, a command).

        For callers that wait for a condition on `pc` (room in a queue, a state).
        """
        if not self._closed:
            await self._changed.wait()

    @property
    def closed(self) -> bool:
        return self._closed

    async def aclose(self) -> None:
        """Hang up (SCTP ABORT + DTLS close_notify go out) and close the sockets.

        The background tasks end by themselves; `next_event` then returns what is left
        and None after it.
        """
        if self._closed:
            return
        self.pc.close()
        self._kick()
        with anyio.move_on_after(1, shield=True):
            await self._drain_writes()
        self._closed = True
        self._wake()
        self._write_ready.set()
        with anyio.CancelScope(shield=True):
            for sock in self._sockets:
                await sock.aclose()

    # ---------------------------------------------------------------- internals

    def _wake(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    def _kick(self) -> None:
        for data, route in self.pc.datagrams_to_send(anyio.current_time()):
            if len(self._writes) >= MAX_WRITE_QUEUE:
                self._writes.popleft()
                self.stats["write_dropped"] += 1
            self._writes.append((data, route.local, route.remote))
        if self._writes:
            self._write_ready.set()
        self._wake()

    async def _drain_writes(self) -> None:
        async with self._write_lock:  # the writer task and aclose() may both drain
            await self._drain_locked()

    async def _drain_locked(self) -> None:
        while self._writes:
            data, local, remote = self._writes.popleft()
            try:
                await self._sockets[local].sendto(data, remote[0], remote[1])
            except (OSError, anyio.BrokenResourceError) as exc:
                self.stats["send_errors"] += 1
                log.debug("UDP send to %s failed: %s", remote, exc)

    async def _writer(self) -> None:
        while not self._closed:
            await self._write_ready.wait()
            self._write_ready = anyio.Event()
            if not self._closed:
                await self._drain_writes()

    async def _reader(self, index: int) -> None:
        sock = self._sockets[index]
        while not self._closed:
            try:
                data, addr = await sock.receive()
            except anyio.BrokenResourceError as exc:
                # trio reports a socket error (an ICMP error...) as BrokenResourceError
                # from OSError; asyncio's has no cause: its transport is gone
                if self._closed or not isinstance(exc.__cause__, OSError):
                    return
                log.debug("UDP receive error ignored: %s", exc.__cause__)
                continue
            except anyio.ClosedResourceError:
                return
            except OSError as exc:  # an ICMP error reported on the socket: UDP goes on
                log.debug("UDP receive error ignored: %s", exc)
                continue
            route = (index, (str(addr[0]), int(addr[1])))
            self.pc.receive_datagram(data, route, anyio.current_time())
            self._kick()

    async def _timer(self) -> None:
        last: float | None = None
        while not self._closed:
            changed = self._changed
            deadline = self.pc.get_timer()
            now = anyio.current_time()
            delay = math.inf if deadline is None else deadline - now
            if delay > 0:
                with anyio.move_on_after(delay):
                    await changed.wait()
                continue
            if deadline == last:
                await anyio.sleep(0.001)  # a timer that handling did not move: do not spin
            last = deadline
            self.pc.handle_timer(now)
            self._kick()


@asynccontextmanager
async def open_peer(
    *,
    local_addresses: Sequence[str] | None = None,
    **peer_options: Any,
) -> AsyncIterator[WebRTCPeer]:
    """Bind one UDP socket per local address (ephemeral ports) and run a `PeerConnection`.

    ``local_addresses`` (IP literals) default to `default_local_addresses`; they are bound
    without name resolution (`bind_udp`): `BindError` if one cannot be bound, and the
    sockets already bound are closed. ``peer_options`` go to `PeerConnection` (``rng``,
    ``input_rate``, ``output_rate``, ``certificate``, ``setup_timeout``...). On exit the
    peer hangs up and the sockets close.
    """
    addresses = list(local_addresses) if local_addresses else default_local_addresses()
    sockets: list[anyio.abc.UDPSocket] = []
    try:
        for address in addresses:
            sockets.append(await bind_udp(address))
        bound = [
            (address, int(sock.extra(anyio.abc.SocketAttribute.local_port)))
            for address, sock in zip(addresses, sockets)
        ]
        pc = PeerConnection(local_addresses=bound, **peer_options)
    except BaseException:
        for sock in sockets:
            await sock.aclose()
        raise
    try:
        async with anyio.create_task_group() as tg:
            peer = WebRTCPeer(pc, sockets)
            for index in range(len(sockets)):
                tg.start_soon(peer._reader, index)
            tg.start_soon(peer._timer)
            tg.start_soon(peer._writer)
            try:
                yield peer
            finally:
                with anyio.CancelScope(shield=True):
                    await peer.aclose()
    except BaseExceptionGroup as group:
        # The body's own error (ConnectionClosed, AuthError...) comes out as itself, so
        # callers can catch it by type; the background tasks raise nothing of their own.
        raise single_error(group) from None
