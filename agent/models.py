"""``RealtimeModel``: what every provider model offers (``connect(config)``)."""

from __future__ import annotations

import abc
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from adk_realtime.sansio.config import RealtimeConfig
from adk_realtime.sansio.errors import AuthError, RealtimeError
from adk_realtime.sansio.history import History
from adk_realtime.session import Link, RealtimeSession, SessionOptions

# Header names whose values must never be logged or shown.
SECRET_HEADERS = frozenset({"authorization", "api-key", "x-goog-api-key"})


class RealtimeModel(abc.ABC):
    """A provider model. ``async with model.connect(config) as session: ...``"""

    provider: str = ""  # a label for logs and repr
    model_id: str = ""
    default_voice: str = ""  # a voice the provider always has

    @abc.abstractmethod
    def connect(
        self,
        config: RealtimeConfig | None = None,
        *,
        options: SessionOptions | None = None,
        history: History | None = None,
        resume_handle: str | None = None,
    ) -> AbstractAsyncContextManager[RealtimeSession]:
        """Open a session; the context manager closes it on exit. ``options`` tune it
        (:class:`SessionOptions`: queue sizes, resumption, rollover, keepalive).

        ``history`` seeds the new conversation with an earlier one (``session.history``,
        possibly saved with ``to_json()`` and loaded with ``History.from_json``).
        ``resume_handle`` resumes a conversation the provider kept (Gemini:
        ``session.resumption_handle``, from this or another process); a provider without
        resumption handles raises ``ConfigError`` for it."""

    @property
    def input_sample_rate(self) -> int:
        """The PCM16 rate the provider takes (audio at other rates is resampled)."""
        return 24000

    @property
    def output_sample_rate(self) -> int:
        return 24000

    @property
    def accepts_g711(self) -> bool:
        """Whether sessions take and give G.711 audio as configured (``AudioFormat.g711_ulaw``
        in and out): a telephone bridge then passes the carrier's bytes through untouched."""
        return False

    @property
    def reports_speech_start(self) -> bool:
        """Whether the provider says when the user starts speaking (``SpeechStarted``).
        Without it (Gemini) a telephone bridge turns input transcription on: the user's
        transcribed speech over audio still playing is how a barge-in is seen."""
        return True


def redact(text: str, *secrets: str | None) -> str:
    """Remove every secret from ``text`` (server messages sometimes echo credentials)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


def websocket_url(url: str) -> str:
    """``https://host/...`` -> ``wss://host/...``, ``http://`` -> ``ws://``; others unchanged."""
    scheme, sep, rest = url.partition("://")
    mapped = {"https": "wss", "http": "ws"}.get(scheme.lower()) if sep else None
    return f"{mapped}://{rest}" if mapped else url


@asynccontextmanager
async def websocket_link(
    url: str,
    headers: Sequence[tuple[str, str]],
    *,
    ssl_context: ssl.SSLContext | None = None,
    secrets: Sequence[str | None] = (),
    max_message_size: int = 16 * 2**20,
    options: SessionOptions | None = None,
) -> AsyncIterator[Link]:
    """Open a WebSocket link; map handshake 401/403 to :class:`AuthError`.

    ``http://``/``https://`` URLs (as the providers' HTTP SDKs spell their base
    URLs) mean ``ws://``/``wss://``. The keepalive comes from ``options``
    (``keepalive_interval``, ``keepalive_timeout``; the defaults of
    :class:`SessionOptions` without it).
    """
    from adk_realtime.drivers import websocket as _ws

    url = websocket_url(url)
    options = options or SessionOptions()
    try:
        async with _ws.open_websocket(
            url,
            headers=headers,
            ssl_context=ssl_context,
            max_message_size=max_message_size,
            ping_interval=options.keepalive_interval,
            pong_timeout=options.keepalive_timeout,
        ) as conn:
            yield conn
    except _ws.HandshakeRejected as exc:
        body = redact(exc.body.decode("utf-8", "replace"), *secrets)[:2000]  # redact, then cut
        if exc.status in (401, 403):
            raise AuthError(exc.status, body or "credentials refused") from None
        where = f"{exc.url}: " if exc.url else ""
        hint = " (no such endpoint: check the base URL)" if exc.status == 404 else ""
        raise RealtimeError(
            f"{where}WebSocket handshake refused (HTTP {exc.status}){hint}: {body}"
        ) from None
