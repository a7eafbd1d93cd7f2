"""``GeminiRealtimeModel`` and ``GeminiLiveBackend``: the Gemini Live API.

Backends:

* ``GeminiLiveBackend.Public(api_key, api_version="v1beta")`` — the public
  API; the key travels in the ``x-goog-api-key`` header, never in the URL.
  An ephemeral token (``auth_tokens/...``) uses the
  ``BidiGenerateContentConstrained`` endpoint with ``Authorization: Token``.
* ``GeminiLiveBackend.Vertex(project, location, token_provider)`` — Vertex AI;
  ``token_provider`` (sync or async) is called on every (re)connect, so a
  refreshed OAuth token is always used.

Sessions resume transparently: on ``goAway`` or an unexpected close while the
server said the session is resumable, the session reconnects with the latest
``sessionResumptionUpdate.newHandle`` (see :mod:`adk_realtime.session`).
"""

from __future__ import annotations

import inspect
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

from adk_realtime.models import RealtimeModel, websocket_link
from adk_realtime.sansio.config import RealtimeConfig
from adk_realtime.sansio.gemini import wire as gemini_wire
from adk_realtime.sansio.gemini.protocol import INPUT_AUDIO_FORMAT, GeminiProtocol
from adk_realtime.sansio.history import History
from adk_realtime.session import Link, RealtimeSession, SessionOptions, open_session

PUBLIC_BASE_URL = gemini_wire.PUBLIC_BASE_URL
vertex_host = gemini_wire.vertex_host

TokenProvider = Callable[[], str | Awaitable[str]]


@dataclass(frozen=True)
class _Public:
    api_key: str = field(repr=False)
    api_version: str = "v1beta"
    base_url: str | None = None

    def __repr__(self) -> str:
        return f"GeminiLiveBackend.Public(api_version={self.api_version!r}, base_url={self.base_url!r})"

    @property
    def ephemeral(self) -> bool:
        return self.api_key.startswith(gemini_wire.EPHEMERAL_TOKEN_PREFIX)

    def url(self) -> str:
        return gemini_wire.public_endpoint_url(
            self.base_url or PUBLIC_BASE_URL, self.api_version, constrained=self.ephemeral
        )

    async def headers(self) -> list[tuple[str, str]]:
        if self.ephemeral:
            return [("Authorization", f"Token {self.api_key}")]
        return [("x-goog-api-key", self.api_key)]

    def secrets(self) -> list[str]:
        return [self.api_key]


@dataclass(frozen=True)
class _Vertex:
    project: str
    location: str
    token_provider: TokenProvider = field(repr=False)
    base_url: str | None = None
    _last_token: list[str] = field(default_factory=list, repr=False, compare=False)

    def __repr__(self) -> str:
        return f"GeminiLiveBackend.Vertex(project={self.project!r}, location={self.location!r})"

    def url(self) -> str:
        return gemini_wire.vertex_endpoint_url(self.location, self.base_url)

    async def headers(self) -> list[tuple[str, str]]:
        token = self.token_provider()
        if inspect.isawaitable(token):
            token = await token
        if not isinstance(token, str) or not token:
            raise ValueError("Vertex token_provider returned no token")
        self._last_token[:] = [token]
        return [("Authorization", f"Bearer {token}")]

    def secrets(self) -> list[str]:
        return list(self._last_token)


class GeminiLiveBackend:
    """How to reach Gemini Live: ``Public(api_key)`` or ``Vertex(project, location, token_provider)``."""

    Public = _Public
    Vertex = _Vertex


class GeminiRealtimeModel(RealtimeModel):
    """A Gemini Live model, e.g. ``GeminiRealtimeModel(backend, "gemini-live-2.5-flash-native-audio")``."""

    provider = "gemini"
    default_voice = gemini_wire.DEFAULT_VOICE
    reports_speech_start = False  # Gemini interrupts by itself and says `interrupted` only

    def __init__(
        self,
        backend: _Public | _Vertex,
        model: str = "gemini-live-2.5-flash-native-audio",
        *,
        base_url: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        transparent_resumption: bool | None = None,
    ) -> None:
        """``transparent_resumption``: ask the server which client messages each
        resumption handle covers and send the rest again on the resumed connection, so no
        input audio is lost at a ``goAway`` or a drop. The API offers it on Vertex only;
        None (the default) turns it on there."""
        if not isinstance(backend, _Public | _Vertex):
            raise TypeError(
                "backend must be GeminiLiveBackend.Public(...) or GeminiLiveBackend.Vertex(...)"
            )
        if base_url is not None:
            from dataclasses import replace

            backend = replace(backend, base_url=base_url)
        self.backend = backend
        self.model_id = model
        self._ssl_context = ssl_context
        self.transparent_resumption = transparent_resumption

    def __repr__(self) -> str:
        return f"GeminiRealtimeModel({self.backend!r}, model={self.model_id!r})"

    @property
    def input_sample_rate(self) -> int:
        return INPUT_AUDIO_FORMAT.sample_rate

    def _protocol(
        self, resume_handle: str | None = None, options: SessionOptions | None = None
    ) -> GeminiProtocol:
        limits = None if options is None else options.history_limits
        if isinstance(self.backend, _Vertex):
            return GeminiProtocol(
                self.model_id,
                vertex_project=self.backend.project,
                vertex_location=self.backend.location,
                resume_handle=resume_handle,
                transparent_resumption=self.transparent_resumption,
                history_limits=limits,
            )
        return GeminiProtocol(
            self.model_id,
            resume_handle=resume_handle,
            transparent_resumption=self.transparent_resumption,
            history_limits=limits,
        )

    def connect(
        self,
        config: RealtimeConfig | None = None,
        *,
        options: SessionOptions | None = None,
        history: History | None = None,
        resume_handle: str | None = None,
    ) -> AbstractAsyncContextManager[RealtimeSession]:
        """``async with model.connect(config) as session:`` — waits for ``setupComplete``.

        ``options`` (:class:`SessionOptions`) tune the session: queue sizes, resumption,
        the setup timeout and the WebSocket keepalive (``keepalive_interval``,
        ``keepalive_timeout``). ``resume_handle`` (``session.resumption_handle`` of an
        earlier session, from any process) resumes that conversation on the server;
        ``history`` instead seeds a new one (sent as the initial ``clientContent``).
        """
        return self._connect(config or RealtimeConfig(), options, history, resume_handle)

    @asynccontextmanager
    async def _connect(
        self,
        config: RealtimeConfig,
        options: SessionOptions | None,
        history: History | None,
        resume_handle: str | None,
    ) -> AsyncIterator[RealtimeSession]:
        backend = self.backend

        @asynccontextmanager
        async def factory(_handle: str | None) -> AsyncIterator[Link]:
            headers = await backend.headers()  # fresh token on every (re)connect
            async with websocket_link(
                backend.url(),
                headers,
                ssl_context=self._ssl_context,
                secrets=backend.secrets(),
                options=options,
            ) as link:
                yield link

        session = RealtimeSession(
            self._protocol(resume_handle, options),
            config,
            factory,
            provider=self.provider,
            options=options,
            history=history,
        )
        async with open_session(session) as opened:
            yield opened
