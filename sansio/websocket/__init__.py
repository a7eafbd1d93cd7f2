"""WebSocket (RFC 6455) over wsproto: client and server machines and their events.

The implementation lives in the submodules; this package re-exports their public names."""

from adk_realtime.sansio.websocket.connection import (
    Accepted as Accepted,
    Closed as Closed,
    ConnectRequest as ConnectRequest,
    HandshakeError as HandshakeError,
    Headers as Headers,
    Message as Message,
    Rejected as Rejected,
    WebSocketClient as WebSocketClient,
    WebSocketServer as WebSocketServer,
    WsEvent as WsEvent,
    WsState as WsState,
    check_close_args as check_close_args,
    is_secret_header as is_secret_header,
    redact_headers as redact_headers,
    redact_target as redact_target,
)
from adk_realtime.sansio.websocket.events import (
    accept_close_1014 as accept_close_1014,
    redact_secrets as redact_secrets,
    secret_parts as secret_parts,
)

__all__ = [
    "Accepted",
    "Closed",
    "ConnectRequest",
    "HandshakeError",
    "Headers",
    "Message",
    "Rejected",
    "WebSocketClient",
    "WebSocketServer",
    "WsEvent",
    "WsState",
    "accept_close_1014",
    "check_close_args",
    "is_secret_header",
    "redact_headers",
    "redact_secrets",
    "redact_target",
    "secret_parts",
]
