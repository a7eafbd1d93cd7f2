"""One HTTP/1.1 request over TCP (TLS for ``https``) with anyio: the shell of `HttpExchange`.

The exchange (:class:`~adk_realtime.sansio.http.HttpExchange`) owns the protocol; this
module connects, writes what it says, feeds what comes back and closes. Used for the
OpenAI WebRTC signalling and by the simulated phone caller's webhook POST.
"""

from __future__ import annotations

import ssl

import anyio
import anyio.abc

from adk_realtime.sansio.errors import RealtimeError
from adk_realtime.sansio.http import HttpExchange, HttpResponse

__all__ = ["HttpConnectError", "http_request"]

_READ_SIZE = 65536


class HttpConnectError(RealtimeError):
    """The request could not be carried out: no connection, TLS failed, or it took too long."""


async def http_request(
    exchange: HttpExchange,
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = 15.0,
) -> HttpResponse:
    """Carry out one `HttpExchange` on a fresh TCP (TLS for ``https``) connection.

    The exchange must have been built with a ``url``. Raises `HttpConnectError` if the
    connection, TLS or the whole exchange (``timeout`` seconds) fails; errors in the
    reply come from the exchange (`HttpError`).
    """
    url = exchange.url
    if url is None:
        raise HttpConnectError("the HTTP exchange has no URL to connect to")
    if url.secure and ssl_context is None:
        ssl_context = ssl.create_default_context()  # verification on, SNI = host
    try:
        with anyio.fail_after(timeout):
            stream: anyio.abc.ByteStream
            if url.secure:
                stream = await anyio.connect_tcp(
                    url.host, url.port, tls=True, ssl_context=ssl_context, tls_hostname=url.host
                )
            else:
                stream = await anyio.connect_tcp(url.host, url.port)
            async with stream:
                await stream.send(exchange.data_to_send())
                while True:
                    try:
                        data = await stream.receive(_READ_SIZE)
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        data = b""
                    exchange.receive_data(data, anyio.current_time())
                    response = exchange.next_event()
                    if response is not None:
                        return response
    except TimeoutError:
        raise HttpConnectError(
            f"HTTP {exchange.method} to {url.authority} timed out after {timeout:g} s"
        ) from None
    except ssl.SSLError as exc:
        raise HttpConnectError(f"TLS with {url.authority} failed: {exc.reason}") from None
    except (anyio.EndOfStream, anyio.BrokenResourceError):
        # the peer hung up during the TLS handshake (a plain-HTTP server, say)
        raise HttpConnectError(
            f"TLS with {url.authority} failed: the connection closed during the handshake"
        ) from None
    except OSError as exc:
        raise HttpConnectError(
            f"cannot reach {url.authority}: {exc.strerror or exc.__class__.__name__}"
        ) from None
