"""WebSocket URLs: split for connecting, and shown with their secrets hidden.

Pure string work (no resolution, no sockets): the client driver connects to what
:func:`parse_websocket_url` returns and names the URL by :attr:`WebSocketUrl.label` in errors
and logs, where a query value that may be a credential (``key=``, ``access_token=``) is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from adk_realtime.sansio.errors import ConfigError

__all__ = ["WebSocketUrl", "parse_websocket_url"]


@dataclass(frozen=True, slots=True)
class WebSocketUrl:
    """A ``ws://`` or ``wss://`` URL split for connecting: TCP host and port, Host header, target."""

    secure: bool
    host: str
    port: int
    host_header: str
    target: str

    @property
    def label(self) -> str:
        """The URL for errors and logs: query values hidden, except the public ones."""
        path, sep, query = self.target.partition("?")
        if sep:
            shown = []
            for part in query.split("&"):
                name = part.partition("=")[0]
                if part:
                    shown.append(part if name.lower() in _PUBLIC_QUERY else f"{name}=<redacted>")
            path += "?" + "&".join(shown)
        return f"{'wss' if self.secure else 'ws'}://{self.host_header}{path}"


# Query parameters whose values errors and logs show (a model name is not a secret);
# any other value may be a credential (``key=``, ``access_token=``...) and is hidden.
_PUBLIC_QUERY = frozenset({"model", "api-version", "deployment", "intent"})


def parse_websocket_url(url: str) -> WebSocketUrl:
    """Split ``url``; raises :class:`ConfigError` unless it is a ``ws://`` or ``wss://`` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ConfigError(
            "url", f"a WebSocket URL starts with ws:// or wss://, got {parts.scheme!r}"
        )
    host = parts.hostname
    if not host:
        raise ConfigError("url", "the URL has no host")
    secure = parts.scheme == "wss"
    try:
        port = parts.port or (443 if secure else 80)
    except ValueError:
        raise ConfigError("url", "the URL's port is not a number in 1-65535") from None
    name = f"[{host}]" if ":" in host else host
    default = 443 if secure else 80
    host_header = name if port == default else f"{name}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return WebSocketUrl(secure, host, port, host_header, target)
