"""Serve phone calls: the carriers' webhooks and media streams in front of a voice agent.

:class:`PhoneServer` holds a model, an agent (or a factory that picks one per call)
and the carriers' secrets. It has one routing core
(:class:`~adk_realtime.sansio.telephony.routing.CarrierRoutes`: verify, answer with
markup, check the media upgrade) and two front ends that call the same three methods,
:meth:`PhoneServer.handle_http`, :meth:`PhoneServer.check_upgrade` and
:meth:`PhoneServer.handle_media`:

* our own anyio server (asyncio or trio): ``async with serve_phone(server, host,
  port) as where: ...``;
* ASGI: :attr:`PhoneServer.asgi_app` runs under uvicorn or hypercorn and mounts in
  Starlette/FastAPI (``Mount("/phone", app=server.asgi_app)``; then give
  ``public_url="https://host/phone"``).

Each accepted media stream becomes one call: the carrier's codec
(:class:`~adk_realtime.sansio.telephony.twilio.TwilioMediaStream` and its siblings)
joined to one runner by :func:`adk_realtime.call_bridge.bridge_call`.

    server = PhoneServer(model, agent, public_url="https://abc.ngrok.app",
                         twilio_auth_token=os.environ["TWILIO_AUTH_TOKEN"])
    async with serve_phone(server, "0.0.0.0", 8080):
        await anyio.sleep_forever()

Serving: ``GET /healthz`` (alive), ``GET /readyz`` (503 while draining or at
``max_calls``), ``GET /metrics`` (Prometheus, when ``prometheus_client`` is installed;
else 404 saying so). :meth:`PhoneServer.drain` stops taking calls, lets the active ones
finish up to a deadline and ends the rest; :mod:`adk_realtime.serving` runs it as worker
processes that drain on SIGTERM.

Refusals are logged (``adk_realtime.phone``: the route and the reason, never a
secret, a token, a caller's number or a query) and answered without detail.
"""

from __future__ import annotations

import functools
import logging
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.abc

from adk_realtime.call_observer import CallObserver, NullObserver, ObserverFanOut
from adk_realtime.drivers.asgi import AsgiApp, asgi_app
from adk_realtime.drivers.websocket_server import WebSocketServerHandle, serve
from adk_realtime.sansio.errors import ConfigError, RealtimeError
from adk_realtime.sansio.http_server import DEFAULT_MAX_REQUEST_BODY, HttpReply, HttpRequest
from adk_realtime.sansio.telephony.media_stream import CarrierMediaStream
from adk_realtime.sansio.telephony.openai_sip import (
    DEFAULT_API_URL,
    IncomingCall,
    IncomingCallError,
    parse_incoming_call,
)
from adk_realtime.sansio.telephony.plivo import PlivoAudioStream
from adk_realtime.sansio.telephony.routing import (
    TOKEN_NONCE_BYTES,
    CallLoad,
    Carrier,
    CarrierRoutes,
    PhoneUrls,
    Routed,
    Shed,
)
from adk_realtime.sansio.telephony.signatures import (
    Headers,
    SignatureError,
    openai_webhook_signature,
    verify_openai_webhook,
)
from adk_realtime.sansio.telephony.telnyx import TelnyxMediaStream
from adk_realtime.sansio.telephony.twilio import TwilioMediaStream

if TYPE_CHECKING:  # the bridge is imported when the first call comes
    from adk_realtime.agent import RealtimeAgent
    from adk_realtime.call_bridge import BridgeOptions
    from adk_realtime.models import RealtimeModel
    from adk_realtime.phone_openai_sip import SipSettings
    from adk_realtime.runner import EventHandler

__all__ = [
    "METRICS_PATH",
    "OPENAI_SIP_PATH",
    "BridgeCall",
    "MediaSocket",
    "PhoneServer",
    "serve_phone",
]

OPENAI_SIP_PATH = "/openai/sip"
"""Where OpenAI's SIP connector POSTs its ``realtime.call.incoming`` webhook."""
METRICS_PATH = "/metrics"
"""Prometheus's scrape target (see :mod:`adk_realtime.metrics`)."""
# After the drain deadline, how long the calls ended then may take to close their sockets.
_END_GRACE = 5.0

log = logging.getLogger("adk_realtime.phone")

SIP_NEEDS_TASKS = (
    "OpenAI SIP calls need a task group to run in: serve with serve_phone(), or run "
    "PhoneServer.asgi_app under an ASGI server with the lifespan protocol on (uvicorn "
    "--lifespan on); when mounted, enter PhoneServer.running_calls() in the app's lifespan"
)

_STREAMS: dict[Carrier, type[CarrierMediaStream]] = {
    "twilio": TwilioMediaStream,
    "telnyx": TelnyxMediaStream,
    "plivo": PlivoAudioStream,
}


class MediaSocket(Protocol):
    """A media WebSocket as a front end hands it over: a call bridge's ``CarrierSocket``
    (``send``, ``receive``, ``aclose``) and the target it was opened on."""

    @property
    def request_target(self) -> str: ...

    async def send(self, message: str) -> None: ...

    async def receive(self) -> str | bytes: ...

    async def aclose(self, code: int = 1000, reason: str = "") -> None: ...


BridgeCall = Callable[..., Awaitable[Any]]
"""What runs one call: ``bridge(socket, stream, model, agent, *, options, event_handler,
runner_kwargs)``; :func:`adk_realtime.call_bridge.bridge_call` unless given."""


class PhoneServer:
    """Phone calls to a voice agent over Twilio, Telnyx and Plivo media streams.

    ``agent`` is a ``RealtimeAgent`` or a function of the call's ``CallInfo`` that
    returns one (or an awaitable of one). ``public_url`` is the server's address as the
    carriers reach it (``https://abc.ngrok.app``, with any mount prefix); signatures
    are checked over it, never over a Host header (without one, `serve_phone` uses the
    address it binds: fine on loopback). Give a carrier's secret to verify its requests
    (``twilio_auth_token``, ``telnyx_public_key``: the portal's base64 Ed25519 key,
    ``plivo_auth_token``); with at least one secret only the carriers that have one are
    served (``carriers`` chooses explicitly). ``options``, ``event_handler`` (shared by
    every call) and ``runner_kwargs`` go to each call's bridge. ``max_calls`` bounds the
    calls up at once: beyond it webhooks answer busy and upgrades 503. ``stream_key``
    signs the per-call media tokens (random unless given: give the same bytes to every
    worker process behind one address). ``clock`` is unix time (tests move it).

    OpenAI's SIP connector: give ``openai_webhook_secret`` (the endpoint's ``whsec_...``)
    and ``openai_api_key`` to serve ``POST /openai/sip``. A verified
    ``realtime.call.incoming`` webhook is answered 200 at once; in the background the call
    is accepted over REST (``openai_base_url``, the REST base, default
    ``https://api.openai.com/v1``; the WebSocket base is the same with ``ws(s)://``) with
    the agent's session and a runner attached to it by call id until it ends; at
    ``max_calls`` it is rejected (486; 503 while draining). The calls run in
    :meth:`running_calls` (`serve_phone` and :attr:`asgi_app`'s lifespan enter it).

    Serving: ``worker_id`` names the worker process (it reaches ``CallInfo.worker``).
    ``observers`` (:class:`~adk_realtime.call_observer.CallObserver`) hear how each call
    goes; with ``metrics`` (default) and ``prometheus_client`` installed a
    :class:`~adk_realtime.metrics.PrometheusMetrics` is one of them and ``/metrics``
    serves it (:attr:`metrics`). A custom ``bridge`` gets no observer: only refusals are
    counted then.
    """

    def __init__(
        self,
        model: RealtimeModel,
        agent: RealtimeAgent | Callable[..., Any],
        *,
        public_url: str | None = None,
        twilio_auth_token: str | None = None,
        telnyx_public_key: str | bytes | None = None,
        plivo_auth_token: str | None = None,
        carriers: Iterable[Carrier] | None = None,
        options: BridgeOptions | None = None,
        max_calls: int | None = None,
        event_handler: EventHandler | None = None,
        runner_kwargs: Mapping[str, Any] | None = None,
        stream_key: bytes | None = None,
        max_body_size: int = DEFAULT_MAX_REQUEST_BODY,
        token_ttl: float = 120.0,
        clock: Callable[[], float] = time.time,
        bridge: BridgeCall | None = None,
        openai_webhook_secret: str | None = None,
        openai_api_key: str | None = None,
        openai_base_url: str = DEFAULT_API_URL,
        worker_id: str | None = None,
        observers: Iterable[CallObserver] = (),
        metrics: bool = True,
    ) -> None:
        self._sip: SipSettings | None = None
        if worker_id is not None and not (isinstance(worker_id, str) and worker_id.isprintable()):
            raise ConfigError("worker_id", f"must be a printable string or None, got {worker_id!r}")
        self.worker_id = worker_id
        self.metrics: Any = None
        """The :class:`~adk_realtime.metrics.PrometheusMetrics`, or None."""
        chosen = list(observers)
        if metrics:
            from adk_realtime.metrics import PrometheusMetrics, prometheus_available  # lazy

            if prometheus_available():
                self.metrics = PrometheusMetrics()
                chosen.append(self.metrics)
        self.observer: CallObserver = ObserverFanOut(chosen) if chosen else NullObserver()
        self.draining = False
        """True once :meth:`start_drain` was called: no new call is taken."""
        self._call_scopes: set[anyio.CancelScope] = set()
        self._idle: anyio.Event | None = None
        if openai_webhook_secret is not None:
            openai_webhook_signature(openai_webhook_secret, "check", 0, b"")  # ConfigError if bad
            if not isinstance(openai_api_key, str) or not openai_api_key:
                raise ConfigError("openai_api_key", "OpenAI SIP calls need the project's API key")
            from adk_realtime.phone_openai_sip import SipSettings

            model_id = getattr(model, "model_id", None)
            self._sip = SipSettings(
                openai_api_key,
                openai_base_url,
                model_id if isinstance(model_id, str) else "gpt-realtime",
            )
            if carriers is None and not (
                twilio_auth_token or telnyx_public_key or plivo_auth_token
            ):
                carriers = ()  # OpenAI SIP only: no unverified carrier routes
        self._openai_secret = openai_webhook_secret
        self._sip_tasks: anyio.abc.TaskGroup | None = None
        self._sip_seen: dict[str, None] = {}  # call ids taken (webhooks come at least once)
        if max_calls is not None and (type(max_calls) is not int or max_calls < 1):
            raise ConfigError("max_calls", "must be a positive int, or None for no limit")
        self._route_config: dict[str, Any] = {
            "stream_key": stream_key or secrets.token_bytes(32),
            "twilio_auth_token": twilio_auth_token,
            "telnyx_public_key": telnyx_public_key,
            "plivo_auth_token": plivo_auth_token,
            "carriers": None if carriers is None else tuple(carriers),
            "token_ttl": token_ttl,
            "max_body_size": max_body_size,
            # The numbers go to the stream under the names the bridge reads them by.
            "caller_parameter": getattr(options, "caller_parameter", "caller"),
            "called_parameter": getattr(options, "called_parameter", "called"),
        }
        self._routes: CarrierRoutes | None = None
        if public_url is not None:
            self.use_public_url(public_url)
        self.model = model
        self.agent = agent
        self.options = options
        self.max_calls = max_calls
        self.event_handler = event_handler
        self.runner_kwargs = dict(runner_kwargs or {})
        self.max_body_size = max_body_size
        self.active_calls = 0
        """Calls being bridged now."""
        self.calls_served = 0
        """Calls that ended (however they ended)."""
        self._clock = clock
        self._bridge = bridge

    def __repr__(self) -> str:
        where = self._routes.urls.health.rsplit("/", 1)[0] if self._routes else None
        return f"PhoneServer({where!r}, active_calls={self.active_calls})"

    def use_public_url(self, public_url: str) -> None:
        """Set where the carriers reach this server (see the class docstring); before the
        first request. `serve_phone` calls it with the address it binds when no
        ``public_url`` was given."""
        routes = CarrierRoutes(public_url, **self._route_config)
        unverified = [c for c in routes.carriers if c not in routes.verified]
        if unverified:
            log.warning(
                "requests from %s are not verified (no secret given): anyone who reaches "
                "this server can start calls on it",
                ", ".join(unverified),
            )
        self._routes = routes

    @property
    def routes(self) -> CarrierRoutes:
        """The routing core (its ``urls``, ``carriers``, ``verified``)."""
        if self._routes is None:
            raise ConfigError(
                "public_url",
                "not set: give PhoneServer(public_url=...) (where the carriers reach this "
                "server), or serve it with serve_phone(), which uses the address it binds",
            )
        return self._routes

    @property
    def urls(self) -> PhoneUrls:
        """Where to point each carrier (webhook and media URLs) and the health check."""
        return self.routes.urls

    @property
    def load(self) -> CallLoad:
        return CallLoad(self.active_calls, self.max_calls, self.draining)

    def listen(self, sock: socket.socket) -> AbstractAsyncContextManager[WebSocketServerHandle]:
        """`serve_phone` on ``sock``, a socket already bound and listening (what a worker
        process of :mod:`adk_realtime.serving` does)."""
        host = sock.getsockname()[0]
        return serve_phone(self, host, sock.getsockname()[1], sock=sock)

    # -- draining ---------------------------------------------------------------------

    def start_drain(self) -> None:
        """Take no new call from now on: webhooks get the carrier's busy refusal, OpenAI
        SIP calls are rejected (503), ``/readyz`` answers 503. Active calls go on; then
        await :meth:`wait_idle` (or :meth:`drain`, which does it all)."""
        if not self.draining:
            self.draining = True
            log.info("draining: no new calls (%d up)", self.active_calls)
            self.observer.draining()

    async def wait_idle(self) -> None:
        """Return once no call is up (at once if none is)."""
        while self.active_calls > 0:
            self._idle = anyio.Event()
            await self._idle.wait()

    def end_calls(self) -> int:
        """End every active call now (each carrier socket is closed with 1000); returns
        how many were told to end. Await :meth:`wait_idle` for them to be gone."""
        for scope in self._call_scopes:
            scope.cancel()
        return len(self._call_scopes)

    async def drain(self, deadline: float) -> int:
        """Drain: :meth:`start_drain`, let the active calls finish for up to ``deadline``
        seconds, then end those still up and wait (a few seconds at most) for them to
        close. Returns how many calls were ended at the deadline. Then leave
        `serve_phone`."""
        self.start_drain()
        with anyio.move_on_after(deadline):
            await self.wait_idle()
        ended = 0
        if self.active_calls:
            ended = self.end_calls()
            log.warning("drain deadline: ending %d calls still up", ended)
            with anyio.move_on_after(_END_GRACE):
                await self.wait_idle()
        return ended

    def _call_done(self) -> None:
        self.active_calls -= 1
        self.calls_served += 1
        if self.active_calls == 0 and self._idle is not None:
            self._idle.set()

    # -- the three entry points both front ends call --------------------------------

    def handle_http(self, request: HttpRequest) -> HttpReply:
        """The answer to a plain request (a webhook, the health check, anything else)."""
        route = self.routes.route_of(request.target)
        if self._sip is not None and route == OPENAI_SIP_PATH:
            return self._openai_sip_webhook(request)
        if route == METRICS_PATH and request.method in ("GET", "HEAD"):
            return self._metrics_reply()
        routed = self.routes.answer(
            request, self._clock(), self.load, secrets.token_bytes(TOKEN_NONCE_BYTES)
        )
        self._log(routed)
        if routed.shed is not None and routed.carrier is not None:
            self._refused(routed.carrier, routed.shed)
        assert routed.reply is not None
        return routed.reply

    def check_upgrade(self, target: str, headers: Headers) -> tuple[int, str] | None:
        """A front end's ``reject`` callback: None lets the media upgrade go on, else
        ``(status, body)`` refuses it (403 forged or replayed, 404, 503 full)."""
        routed = self.routes.check_upgrade(target, headers, self._clock(), self.load)
        self._log(routed)
        if routed.shed is not None and routed.carrier is not None:
            self._refused(routed.carrier, routed.shed)
        if routed.reply is None:
            return None
        return routed.reply.status, routed.reply.body.decode("utf-8", "replace")

    async def handle_media(self, socket: MediaSocket) -> None:
        """Run the call on an accepted media WebSocket (``check_upgrade`` let it in)."""
        carrier = self._carrier_of(socket.request_target)
        if carrier is None:  # a front end that skipped check_upgrade
            await socket.aclose(1008, "no media stream here")
            return
        if self.max_calls is not None and self.active_calls >= self.max_calls:
            # Two upgrades passed check_upgrade together; only one fits.
            self._refused(carrier, "full")
            await socket.aclose(1013, "the server is at its call limit; try again later")
            return
        stream = _STREAMS[carrier]()  # the bridge sets its mark interval from the options
        extra: dict[str, Any] = {}
        if self._bridge is None:  # ours takes these; a custom bridge keeps its signature
            extra = {"worker": self.worker_id, "observer": self.observer}
        bridge = self._bridge or _default_bridge()
        self.active_calls += 1
        log.info("%s call started (%d up)", carrier, self.active_calls)
        scope = anyio.CancelScope()
        self._call_scopes.add(scope)
        try:
            with scope:
                summary = await bridge(
                    socket,
                    stream,
                    self.model,
                    self.agent,
                    options=self.options,
                    event_handler=self.event_handler,
                    runner_kwargs=self.runner_kwargs,
                    **extra,
                )
                if getattr(summary, "ended_by", None) == "model_error":
                    log.warning("%s call ended, the model failed: %s", carrier, summary.error)
        except RealtimeError as exc:  # no start in time, a stream it cannot speak, a hang-up
            log.warning("%s call did not go through: %s", carrier, exc)
        finally:
            self._call_scopes.discard(scope)
            self._call_done()
            log.info("%s call ended (%d up)", carrier, self.active_calls)

    @property
    def openai_sip_url(self) -> str:
        """Where to point the OpenAI project's webhook (``realtime.call.incoming``)."""
        return self.urls.health.rsplit("/", 1)[0] + OPENAI_SIP_PATH

    def _openai_sip_webhook(self, request: HttpRequest) -> HttpReply:
        label = f"{request.method} {OPENAI_SIP_PATH}"
        if request.method != "POST":
            return HttpReply.text(405, "Method Not Allowed", ("Allow", "POST"))
        if len(request.body) > self.max_body_size:
            return HttpReply.text(413, "Content Too Large")
        assert self._openai_secret is not None and self._sip is not None
        try:
            verify_openai_webhook(
                self._openai_secret, request.body, request.headers, now=self._clock()
            )
            call = parse_incoming_call(request.body)
        except SignatureError as exc:
            log.warning("refused %s (403): %s", label, exc)
            return HttpReply.text(403, "Forbidden")
        except IncomingCallError as exc:
            if exc.event_type is not None:  # a genuine webhook of another kind: not ours
                log.info("%s: ignored a %s event", label, exc.event_type)
                return HttpReply.text(200, "OK")
            log.warning("refused %s (400): %s", label, exc)
            return HttpReply.text(400, "Bad Request")
        if self._sip_tasks is None:
            log.warning("refused %s (503): no task group to run the call in", label)
            return HttpReply.text(503, SIP_NEEDS_TASKS)
        if call.call_id in self._sip_seen:
            log.info("%s: a redelivered webhook for a call already taken", label)
            return HttpReply.text(200, "OK")
        self._sip_seen[call.call_id] = None
        while len(self._sip_seen) > 4096:
            del self._sip_seen[next(iter(self._sip_seen))]
        shed = self.load.shed
        if shed is not None:
            status = 503 if shed == "draining" else 486
            log.info("%s: %s, rejecting the call (%d)", label, shed, status)
            self._refused("openai-sip", shed)
            self._sip_tasks.start_soon(self._reject_sip_call, call, status)
        else:
            self.active_calls += 1  # counted now: the next webhook sees it
            self._sip_tasks.start_soon(self._run_sip_call, call)
        return HttpReply.text(200, "OK")

    async def _run_sip_call(self, call: IncomingCall) -> None:
        from adk_realtime.phone_openai_sip import call_info, run_openai_sip_call

        assert self._sip is not None
        log.info("%s call started (%d up)", "openai-sip", self.active_calls)
        info = call_info(call, self.worker_id)
        self.observer.call_started(info)
        scope = anyio.CancelScope()
        self._call_scopes.add(scope)
        outcome = "ended_by_drain"  # unless it ends on its own
        try:
            with scope:
                await run_openai_sip_call(
                    call,
                    self._sip,
                    self.agent,
                    event_handler=self.event_handler,
                    runner_kwargs=self.runner_kwargs,
                    worker=self.worker_id,
                )
                outcome = "ended"
        except (RealtimeError, TypeError) as exc:
            outcome = "failed"
            log.warning("openai-sip call did not go through: %s", exc)
        finally:
            self._call_scopes.discard(scope)
            self._call_done()
            self.observer.call_ended(info, "openai-sip", outcome)
            log.info("openai-sip call ended (%d up)", self.active_calls)

    async def _reject_sip_call(self, call: IncomingCall, status: int = 486) -> None:
        from adk_realtime.phone_openai_sip import reject_openai_sip_call

        assert self._sip is not None
        try:
            await reject_openai_sip_call(call, self._sip, status)
        except RealtimeError as exc:
            log.warning("openai-sip call could not be rejected: %s", exc)

    @asynccontextmanager
    async def running_calls(self) -> AsyncIterator[None]:
        """Hold the task group OpenAI SIP calls run in (they outlive their webhook's
        answer); leaving it ends them. `serve_phone` and :attr:`asgi_app`'s lifespan enter
        it; an app that mounts :attr:`asgi_app` where sub-apps get no lifespan (Starlette's
        ``Mount``) enters it from its own lifespan."""
        async with anyio.create_task_group() as calls:
            self._sip_tasks = calls
            try:
                yield
            finally:
                self._sip_tasks = None
                calls.cancel_scope.cancel()

    # -- front ends ---------------------------------------------------------------------

    @functools.cached_property
    def asgi_app(self) -> AsgiApp:
        """This server as an ASGI 3 application (http, websocket and lifespan scopes).

        Its lifespan runs :meth:`running_calls`: OpenAI SIP calls need it (without a
        lifespan their webhook is answered 503, saying so). Raises `ConfigError` without
        a ``public_url``: an ASGI server's address is not known here, and signatures are
        never checked over a Host header."""
        self.routes  # noqa: B018  (raises without a public_url)
        return asgi_app(
            self.handle_media,
            reject=self.check_upgrade,
            http_handler=self.handle_http,
            max_request_body=self.max_body_size,
            lifespan=self.running_calls,
        )

    # -- inside -------------------------------------------------------------------------

    def _carrier_of(self, target: str) -> Carrier | None:
        route = self.routes.route_of(target)
        return next(
            (c for c in self.routes.carriers if route.split("/")[1:3] == [c, "media"]), None
        )

    def _refused(self, carrier: str, shed: Shed) -> None:
        self.observer.call_refused(carrier, shed)

    def _metrics_reply(self) -> HttpReply:
        if self.metrics is None:
            from adk_realtime.metrics import METRICS_MISSING  # lazy: loads no prometheus

            return HttpReply.text(404, METRICS_MISSING)
        body, content_type = self.metrics.render()
        return HttpReply(200, body, content_type)

    def _log(self, routed: Routed) -> None:
        if routed.refusal is not None and routed.reply is not None:
            status = routed.reply.status
            if status == 403:
                log.warning("refused %s (%d): %s", routed.route, status, routed.refusal)
            else:
                log.info("refused %s (%d): %s", routed.route, status, routed.refusal)
        elif routed.reply is not None and routed.reply.status >= 400:
            log.debug("answered %s with %d", routed.route, routed.reply.status)


def _default_bridge() -> BridgeCall:
    try:
        from adk_realtime.call_bridge import bridge_call
    except ImportError as exc:  # pragma: no cover - the bridge ships with the package
        raise RuntimeError(
            "adk_realtime.call_bridge is not available in this installation; it runs the "
            "calls (or pass bridge= to PhoneServer)"
        ) from exc
    bridge: BridgeCall = bridge_call
    return bridge


@asynccontextmanager
async def serve_phone(
    server: PhoneServer,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    sock: socket.socket | None = None,
    **serve_options: Any,
) -> AsyncIterator[WebSocketServerHandle]:
    """Run ``server`` on our own anyio server (asyncio or trio) at ``host:port`` (0: any
    free port); yields where it listens. ``serve_options`` go to
    :func:`~adk_realtime.drivers.websocket_server.serve` (``ssl_context``,
    ``ping_interval``...). ``sock``: a socket already bound and listening (worker
    processes share one) instead of binding ``host:port``. Leaving the block stops
    listening and ends every call (to end them gracefully first: :meth:`PhoneServer.drain`)."""
    # Listen first: a port in use is an OSError, not wrapped in the task group's group.
    async with (
        serve(
            server.handle_media,
            host,
            port,
            reject=server.check_upgrade,
            http_handler=server.handle_http,
            max_request_body=server.max_body_size,
            sock=sock,
            **serve_options,
        ) as handle,
        anyio.create_task_group() as calls,
    ):
        if server._routes is None:
            shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
            shown = f"[{shown}]" if ":" in shown else shown
            server.use_public_url(f"http{'s' if handle.secure else ''}://{shown}:{handle.port}")
        server._sip_tasks = calls  # OpenAI SIP calls run here, after their webhook's answer
        try:
            yield handle
        finally:
            server._sip_tasks = None
            calls.cancel_scope.cancel()
