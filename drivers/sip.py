"""SIP over UDP with anyio (asyncio or trio): the sockets and the clock of
:class:`~adk_realtime.sansio.sip.uas.SipUas` and of each call's
:class:`~adk_realtime.sansio.sip.rtp_session.RtpMediaSession`.

Binding: addresses are IP literals bound as they are: a plain socket bound to the
numeric tuple, then wrapped (anyio's ``create_udp_socket`` resolves the host with
``getaddrinfo`` and ``AI_ADDRCONFIG``, which fails on a loopback-only host even for a
numeric address). :class:`UasDriver` runs the SIP machine: one reader task feeds it
datagrams, one timer task runs ``handle_timer`` when due; every event goes to the
callback given to :meth:`UasDriver.run`; commands are made on ``driver.uas`` and
followed by :meth:`UasDriver.flush`.

:class:`TcpUasDriver` runs the same machine over TCP (RFC 3261 18.3): each accepted
connection's bytes are cut into messages by a
:class:`~adk_realtime.sansio.sip.framing.SipStreamFramer` and fed as datagrams from the
connection's peer address; what the machine sends to an address goes out on that
peer's connection (none open: dropped, the machine's timers decide). A stream that
cannot be framed is closed.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable

import anyio
import anyio.abc

from adk_realtime.sansio.sip.events import SipEvent
from adk_realtime.sansio.sip.framing import FramedMessage, SipStreamFramer
from adk_realtime.sansio.sip.uas import SipUas

__all__ = ["TcpUasDriver", "UasDriver", "bind_tcp_listener", "bind_udp_port"]

log = logging.getLogger("adk_realtime.sip")

Address = tuple[str, int]


async def bind_udp_port(host: str, port: int = 0) -> anyio.abc.UDPSocket:
    """A UDP socket bound to the IP literal ``host`` and ``port`` (0: any free port),
    resolving nothing. ``OSError`` when the system refuses it."""
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    raw = socket.socket(family, socket.SOCK_DGRAM)
    try:
        raw.setblocking(False)
        raw.bind((host, port))
        return await anyio.abc.UDPSocket.from_socket(raw)
    except BaseException:
        raw.close()
        raise


async def bind_tcp_listener(host: str, port: int = 0) -> anyio.abc.SocketListener:
    """A TCP listener bound to the IP literal ``host`` and ``port`` (0: any free port),
    resolving nothing. ``OSError`` when the system refuses it."""
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    raw = socket.socket(family, socket.SOCK_STREAM)
    try:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        raw.setblocking(False)
        raw.bind((host, port))
        raw.listen(128)
        return await anyio.abc.SocketListener.from_socket(raw)
    except BaseException:
        raw.close()
        raise


class UasDriver:
    """Runs a :class:`SipUas` on a bound UDP socket (see the module docstring)."""

    def __init__(self, uas: SipUas, sock: anyio.abc.UDPSocket | None) -> None:
        self.uas = uas
        self.sock = sock
        self._wake = anyio.Event()
        self._sending = anyio.Lock()  # one writer at a time: calls' tasks flush too

    async def run(self, on_event: Callable[[SipEvent], None]) -> None:
        """Read, time and write until cancelled; ``on_event`` gets each event (it may
        make commands on ``uas``; they are sent when it returns)."""
        assert self.sock is not None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._timers, on_event)
            async for data, addr in self.sock:
                self.uas.receive_datagram(data, (addr[0], addr[1]), anyio.current_time())
                await self._after(on_event)

    async def flush(self) -> None:
        """Send what the machine queued (call after a command) and re-arm its timer."""
        async with self._sending:
            for data, addr in self.uas.datagrams_to_send(anyio.current_time()):
                try:
                    await self._send(data, addr)
                except (OSError, anyio.ClosedResourceError, anyio.BrokenResourceError):
                    pass  # an unreachable peer: the retransmission timers decide its fate
        self._wake.set()

    async def _send(self, data: bytes, addr: Address) -> None:
        assert self.sock is not None
        await self.sock.sendto(data, addr[0], addr[1])

    async def _after(self, on_event: Callable[[SipEvent], None]) -> None:
        while (event := self.uas.next_event()) is not None:
            on_event(event)
        await self.flush()

    async def _timers(self, on_event: Callable[[SipEvent], None]) -> None:
        while True:
            self._wake = anyio.Event()
            due = self.uas.get_timer()
            delay = None if due is None else max(0.0, due - anyio.current_time())
            with anyio.move_on_after(delay if delay is not None else float("inf")):
                await self._wake.wait()
            due = self.uas.get_timer()
            if due is not None and due <= anyio.current_time():
                self.uas.handle_timer(anyio.current_time())
                await self._after(on_event)


class TcpUasDriver(UasDriver):
    """Runs a :class:`SipUas` (``transport="TCP"``) on a TCP listener (see the module
    docstring)."""

    def __init__(self, uas: SipUas, listener: anyio.abc.SocketListener) -> None:
        super().__init__(uas, None)
        self.listener = listener
        self.connections: dict[Address, anyio.abc.SocketStream] = {}
        """The open connections, by the peer's address."""

    async def run(self, on_event: Callable[[SipEvent], None]) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._timers, on_event)
            await self.listener.serve(lambda stream: self._connection(stream, on_event))

    async def _connection(
        self, stream: anyio.abc.SocketStream, on_event: Callable[[SipEvent], None]
    ) -> None:
        peer = stream.extra(anyio.abc.SocketAttribute.remote_address)
        addr: Address = (str(peer[0]), int(peer[1]))
        self.connections[addr] = stream
        framer = SipStreamFramer()
        try:
            async with stream:
                while not framer.failed:
                    try:
                        data = await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                        return
                    framer.receive_data(data, anyio.current_time())
                    while (event := framer.next_event()) is not None:
                        if isinstance(event, FramedMessage):
                            self.uas.receive_datagram(event.data, addr, anyio.current_time())
                        else:
                            log.info("sip: closing a TCP connection: %s", event.reason)
                    await self._after(on_event)
        finally:
            if self.connections.get(addr) is stream:
                del self.connections[addr]

    async def _send(self, data: bytes, addr: Address) -> None:
        stream = self.connections.get(addr)
        if stream is not None:
            await stream.send(data)
