"""``OpenAIRealtimeModel``: the OpenAI Realtime API (GA ``gpt-realtime`` or the beta dialect).

``transport="websocket"`` (default) speaks JSON events over a WebSocket;
``transport="webrtc"`` carries audio as Opus RTP and events on the
``oai-events`` data channel. Both give the same :class:`RealtimeSession`.
"""

from __future__ import annotations

import importlib
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Literal
from urllib.parse import urlsplit

from adk_realtime.models import RealtimeModel, websocket_link
from adk_realtime.sansio.config import RealtimeConfig
from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.history import History
from adk_realtime.sansio.openai import wire as openai_wire
from adk_realtime.sansio.openai.conversation import DEFAULT_MAX_REPLAY_MS
from adk_realtime.sansio.openai.protocol import OpenAIProtocol, dialect_for_model
from adk_realtime.session import (
    Link,
    LinkStats,
    RealtimeSession,
    SessionOptions,
    open_session,
)

DEFAULT_BASE_URL = openai_wire.DEFAULT_BASE_URL


# What the webrtc extra brings (libopus is checked, with its own advice, when a codec is made).
_WEBRTC_MODULES = ("cryptography", "OpenSSL", "pylibsrtp", "aioice")


def _require_webrtc_extra() -> None:
    """Fail now, naming the extra, rather than at connect time naming one of its modules."""
    for name in _WEBRTC_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ModuleNotFoundError(
                f"transport='webrtc' needs the webrtc extra (no module {name!r}): "
                "pip install 'adk-realtime[webrtc]'",
                name=name,
            ) from exc


class OpenAIRealtimeModel(RealtimeModel):
    """An OpenAI realtime model.

    ``OpenAIRealtimeModel(api_key, "gpt-realtime")`` for the GA API;
    ``gpt-4o-realtime-preview-*`` models speak the beta dialect (and send the
    ``OpenAI-Beta: realtime=v1`` header). ``base_url`` points it anywhere: a
    proxy, a local server or the simulator (``ws://127.0.0.1:P/v1``). For Azure
    OpenAI use :meth:`azure`.
    """

    provider = "openai"
    default_voice = openai_wire.DEFAULT_VOICE

    def __init__(
        self,
        api_key: str,
        model: str = "gpt-realtime",
        *,
        base_url: str | None = None,
        dialect: Literal["ga", "beta"] | None = None,
        transport: Literal["websocket", "webrtc"] = "websocket",
        ssl_context: ssl.SSLContext | None = None,
        auth_header: Literal["authorization", "api-key"] = "authorization",
        url: str | None = None,
        extra_headers: Sequence[tuple[str, str]] = (),
        webrtc_options: object | None = None,
    ) -> None:
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("OpenAIRealtimeModel needs an API key (got an empty value)")
        if transport not in ("websocket", "webrtc"):
            raise ValueError(f"transport must be 'websocket' or 'webrtc', got {transport!r}")
        if transport == "webrtc":
            _require_webrtc_extra()
        self._api_key = api_key
        self.model_id = model
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.dialect = dialect or dialect_for_model(model)
        self.transport = transport
        self._ssl_context = ssl_context
        self._auth_header = auth_header
        self._url = url
        self._extra_headers = tuple(extra_headers)
        self.webrtc_options = webrtc_options

    @classmethod
    def azure(
        cls,
        endpoint: str,
        deployment: str,
        api_key: str,
        *,
        api_version: str = "2024-10-01-preview",
        dialect: Literal["ga", "beta"] | None = None,
    ) -> OpenAIRealtimeModel:
        """Azure OpenAI: ``endpoint`` like ``https://NAME.openai.azure.com``; key in ``api-key``."""
        host = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}").netloc
        url = openai_wire.azure_endpoint_url(host, deployment, api_version)
        return cls(api_key, deployment, url=url, auth_header="api-key", dialect=dialect or "beta")

    def __repr__(self) -> str:
        return f"OpenAIRealtimeModel(model={self.model_id!r}, dialect={self.dialect!r}, transport={self.transport!r}, base_url={self.base_url!r})"

    @property
    def accepts_g711(self) -> bool:
        """True over the WebSocket transport (``audio/pcmu`` and ``audio/pcma`` both ways);
        WebRTC carries Opus."""
        return self.transport == "websocket"

    def _protocol(self, options: SessionOptions | None = None) -> OpenAIProtocol:
        opts = options or SessionOptions()
        replay_ms = DEFAULT_MAX_REPLAY_MS if opts.max_replay_ms is None else opts.max_replay_ms
        return OpenAIProtocol(
            self.model_id,
            dialect=self.dialect,
            transport=self.transport,
            history_limits=opts.history_limits,
            max_replay_ms=replay_ms,
        )

    @property
    def url(self) -> str:
        return self._url or self._protocol().endpoint_url(self.base_url)

    def headers(self) -> list[tuple[str, str]]:
        if self._auth_header == "api-key":
            headers = [("api-key", self._api_key)]
        else:
            headers = [("Authorization", f"Bearer {self._api_key}")]
        headers.extend(self._protocol().handshake_headers())
        headers.extend(self._extra_headers)
        return headers

    def connect(
        self,
        config: RealtimeConfig | None = None,
        *,
        options: SessionOptions | None = None,
        history: History | None = None,
        resume_handle: str | None = None,
    ) -> AbstractAsyncContextManager[RealtimeSession]:
        """``async with model.connect(config) as session:`` — sends ``session.update`` first.

        ``options`` (:class:`SessionOptions`) tune the session: queue sizes, the rollover
        (a replacement session before ``expires_at`` or after a drop, seeded with the
        conversation so far) and over the WebSocket transport the keepalive.
        ``history`` seeds the conversation (``conversation.item.create`` per item before
        anything else). OpenAI has no resumption handles: ``resume_handle`` raises
        ``ConfigError`` (seed with ``history`` instead).
        """
        if resume_handle is not None:
            raise ConfigError(
                "resume_handle",
                "OpenAI Realtime sessions cannot be resumed by handle; "
                "pass history=session.history to carry a conversation over",
            )
        return self._connect(config or RealtimeConfig(), options, history)

    @asynccontextmanager
    async def _connect(
        self, config: RealtimeConfig, options: SessionOptions | None, history: History | None
    ) -> AsyncIterator[RealtimeSession]:
        protocol = self._protocol(options)
        if self.transport == "webrtc":
            # lazily: webrtc_link needs this module (a cycle) and the optional webrtc extra
            from adk_realtime.webrtc_link import webrtc_link_factory

            stats = LinkStats()
            factory = webrtc_link_factory(self, protocol, config, stats)
            session = RealtimeSession(
                protocol,
                config,
                factory,
                provider=self.provider,
                media=True,
                link_stats=stats,
                options=options,
                history=history,
            )
        else:

            def factory(_handle: str | None) -> AbstractAsyncContextManager[Link]:
                return websocket_link(
                    self.url,
                    self.headers(),
                    ssl_context=self._ssl_context,
                    secrets=[self._api_key],
                    options=options,
                )

            session = RealtimeSession(
                protocol, config, factory, provider=self.provider, options=options, history=history
            )
        async with open_session(session) as opened:
            yield opened

    # for the WebRTC transport (never printed)
    def _secret(self) -> str:
        return self._api_key
