"""Answer SIP calls directly: a trunk or a PBX calls ``sip:agent@host:port`` and talks to
a voice agent, on OpenAI or Gemini.

:class:`SipServer` holds a model and an agent (or a factory of one per call, given the
call's :class:`~adk_realtime.call_bridge.CallInfo` with ``carrier="sip"``), and
``async with serve_sip(server) as where:`` runs it on UDP (or TCP: ``transport="tcp"``;
RTP is UDP either way):

* signalling: :class:`~adk_realtime.sansio.sip.uas.SipUas` on one socket
  (:class:`~adk_realtime.drivers.sip.UasDriver`): transactions, retransmissions,
  CANCEL, OPTIONS keepalives, capacity (``max_calls``: 486 or 503 beyond), optional
  digest authentication and source allow-list;
* each call: the SDP offer is negotiated (PCMU, else PCMA, with telephone-event; no
  codec we speak: 488), one RTP socket is bound, the 200 carries our answer, and the
  call's RTP (:class:`~adk_realtime.sip_call.SipCallMedia`) is bridged to a runner
  by :func:`~adk_realtime.call_bridge.bridge_call`, as a carrier's media stream is.
  The caller's BYE ends the bridge (its ``stop``), which closes the provider session;
  when the agent ends the call, what was said is played out and we send BYE.
  A re-INVITE (hold: ``sendonly``/``inactive``; unhold) is answered and our RTP
  paused or resumed;
* serving: ``observers`` (:class:`~adk_realtime.call_observer.CallObserver`, e.g. a
  :class:`~adk_realtime.metrics.PrometheusMetrics`) hear each call as the phone
  server's do, from the same bridge (``carrier="sip"``), plus the refusals at
  ``max_calls`` (``full``) and while draining (``draining``); an offer with no codec
  we speak ends as ``no_codec``, an INVITE cancelled before our answer as
  ``cancelled``. :meth:`SipServer.handle_http` answers ``/healthz``, ``/readyz`` and
  ``/metrics`` as the phone server does, for a small HTTP listener beside the SIP port
  (``adk-realtime sip serve --metrics-port``). Logs name calls by Call-ID, never by
  the caller's or the called URI.

    server = SipServer(model, agent, host="0.0.0.0", port=5060, public_host="203.0.113.7")
    async with serve_sip(server) as where:
        await anyio.sleep_forever()
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from adk_realtime.call_observer import CallObserver, NullObserver, ObserverFanOut
from adk_realtime.drivers.sip import TcpUasDriver, UasDriver, bind_tcp_listener, bind_udp_port
from adk_realtime.sansio.errors import ConfigError, LocalProtocolError
from adk_realtime.sansio.http_server import HttpReply, HttpRequest
from adk_realtime.sansio.sip.digest import DigestAuth
from adk_realtime.sansio.sip.events import (
    CallEnded,
    CallRefused,
    CallUpdated,
    IncomingSipCall,
    SipCall,
    SipEvent,
)
from adk_realtime.sansio.sip.rtp_session import RtpMediaSession
from adk_realtime.sansio.sip.sdp_audio import (
    AudioPlan,
    SdpAudioError,
    build_answer,
    negotiate,
    parse_audio_offer,
)
from adk_realtime.sansio.sip.uas import SipUas
from adk_realtime.sansio.telephony.routing import CallLoad
from adk_realtime.sip_call import SipCallMedia, SipMediaStream

if TYPE_CHECKING:
    from adk_realtime.agent import RealtimeAgent
    from adk_realtime.call_bridge import AgentForCall, BridgeOptions, CallSummary
    from adk_realtime.metrics import PrometheusMetrics
    from adk_realtime.models import RealtimeModel
    from adk_realtime.runner import EventHandler

__all__ = ["SipAddress", "SipServer", "serve_sip"]

log = logging.getLogger("adk_realtime.sip")


@dataclass(frozen=True, slots=True)
class SipAddress:
    """Where the server listens: call ``sip:agent@{host}:{port}`` (with
    ``;transport=tcp`` when ``transport`` is ``"tcp"``)."""

    host: str
    port: int
    transport: str = "udp"


class SipServer:
    """SIP calls to a voice agent (see the module docstring).

    ``host``/``port``: where to listen (an IP literal; port 0: any free one);
    ``transport``: ``"udp"`` (default) or ``"tcp"`` for the signalling;
    ``public_host``: the address written in Contact and SDP (default ``host``; set it
    when listening on ``0.0.0.0``); ``max_calls``, ``busy_code``, ``digest``,
    ``allowed_sources``: as :class:`~adk_realtime.sansio.sip.uas.SipUas`; ``options``,
    ``event_handler``, ``runner_kwargs``: as :func:`~adk_realtime.call_bridge.bridge_call`.
    ``worker_id`` reaches ``CallInfo.worker``; ``observers`` hear how each call goes
    (see the module docstring); ``metrics``: the
    :class:`~adk_realtime.metrics.PrometheusMetrics` among them that ``/metrics`` of
    :meth:`handle_http` renders (None: ``/metrics`` is 404).
    """

    def __init__(
        self,
        model: RealtimeModel,
        agent: RealtimeAgent | AgentForCall,
        *,
        host: str = "127.0.0.1",
        port: int = 5060,
        transport: str = "udp",
        public_host: str | None = None,
        user: str = "agent",
        max_calls: int | None = None,
        busy_code: int = 486,
        digest: DigestAuth | None = None,
        allowed_sources: Collection[str] | None = None,
        options: BridgeOptions | None = None,
        event_handler: EventHandler | None = None,
        runner_kwargs: Mapping[str, Any] | None = None,
        worker_id: str | None = None,
        observers: Iterable[CallObserver] = (),
        metrics: PrometheusMetrics | None = None,
    ) -> None:
        if type(port) is not int or not 0 <= port < 65536:
            raise ConfigError("port", f"must be an int 0-65535, got {port!r}")
        if transport not in ("udp", "tcp"):
            raise ConfigError("transport", f"must be 'udp' or 'tcp', got {transport!r}")
        self.transport = transport
        if worker_id is not None and not (isinstance(worker_id, str) and worker_id.isprintable()):
            raise ConfigError("worker_id", f"must be a printable string or None, got {worker_id!r}")
        chosen = list(observers)
        if metrics is not None and not any(o is metrics for o in chosen):
            chosen.append(metrics)
        self.observer: CallObserver = ObserverFanOut(chosen) if chosen else NullObserver()
        """Every observer at once (what the bridge and the server tell)."""
        self.metrics = metrics
        self.worker_id = worker_id
        self.model = model
        self.agent = agent
        self.host = host
        self.port = port
        self.public_host = public_host or host
        self.user = user
        self.max_calls = max_calls
        self.busy_code = busy_code
        self.digest = digest
        self.allowed_sources = allowed_sources
        self.options = options
        self.event_handler = event_handler
        self.runner_kwargs = dict(runner_kwargs or {})
        self.summaries: list[CallSummary] = []
        """How each finished call went, in the order they ended."""
        self.media: dict[str, SipCallMedia] = {}
        """The calls being bridged, by Call-ID."""
        self.uas: SipUas | None = None
        self._driver: UasDriver | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._answer_count: dict[str, int] = {}  # SDP versions of our answers, per call
        self.calls_served = 0
        """Calls bridged to their end."""
        self.draining = False
        """Set by :meth:`drain`: new calls are refused with 503."""
        self._call_ended = anyio.Event()

    def __repr__(self) -> str:
        return f"<SipServer {self.host}:{self.port} calls={len(self.media)}>"

    @property
    def active_calls(self) -> int:
        """Calls being bridged now."""
        return len(self.media)

    @property
    def load(self) -> CallLoad:
        """Calls up, the limit and whether draining (what ``/readyz`` reports)."""
        return CallLoad(len(self.media), self.max_calls, self.draining)

    async def drain(self, timeout: float = 30.0) -> bool:
        """Refuse new calls (503) and wait, at most ``timeout`` seconds, for the calls in
        progress to end; True when none is left. (Leaving :func:`serve_sip` then hangs
        up those still up: BYE.)"""
        if not self.draining:
            self.draining = True
            log.info("sip: draining, no new calls (%d up)", len(self.media))
            self.observer.draining()
        with anyio.move_on_after(timeout):
            while self.media:
                await self._call_ended.wait()
        return not self.media

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[SipAddress] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until cancelled; ``task_status.started`` gets the bound address."""
        endpoint: anyio.abc.SocketListener | anyio.abc.UDPSocket
        if self.transport == "tcp":
            endpoint = await bind_tcp_listener(self.host, self.port)
        else:
            endpoint = await bind_udp_port(self.host, self.port)
        port = endpoint.extra(anyio.abc.SocketAttribute.local_port)
        self.uas = self._make_uas(port)
        if isinstance(endpoint, anyio.abc.UDPSocket):
            self._driver = UasDriver(self.uas, endpoint)
        else:
            self._driver = TcpUasDriver(self.uas, endpoint)
        async with endpoint, anyio.create_task_group() as tg:
            self._tg = tg
            task_status.started(SipAddress(self.public_host, port, self.transport))
            await self._driver.run(self._on_event)

    def _make_uas(self, port: int) -> SipUas:
        return SipUas(
            (self.public_host, port),
            user=self.user,
            max_calls=self.max_calls,
            busy_code=self.busy_code,
            seed=secrets.token_bytes(16),
            digest=self.digest,
            allowed_sources=self.allowed_sources,
            transport=self.transport.upper(),
        )

    # -- signalling events --------------------------------------------------------------

    def _on_event(self, event: SipEvent) -> None:
        assert self.uas is not None and self._tg is not None
        now = anyio.current_time()
        if isinstance(event, IncomingSipCall):
            if self.draining:
                log.info("sip: call %s refused: draining (503)", event.call.call_id)
                self.uas.reject(event.call, 503, now)
                self.observer.call_refused("sip", "draining")
                return
            plan = _plan(event.call.offer)
            if plan is None:
                log.info("sip: call %s refused: no codec we speak (488)", event.call.call_id)
                self.uas.reject(event.call, 488, now)
                self.observer.call_ended(None, "sip", "no_codec")
                return
            self._tg.start_soon(self._run_call, event.call, plan)
        elif isinstance(event, CallRefused):
            log.info("sip: call %s refused: at max_calls (%d)", event.call_id, event.status)
            self.observer.call_refused("sip", "full")
        elif isinstance(event, CallUpdated):
            media = self.media.get(event.call.call_id)
            plan = _plan(event.offer) if event.offer else None
            if media is None or plan is None:
                self.uas.reject(event.call, 488, now)
                return
            media.on_hold = plan.on_hold
            media.rtp.remote = plan.remote if not media.rtp.latched else media.rtp.remote
            self._answer_count[event.call.call_id] = (
                self._answer_count.get(event.call.call_id, 1) + 1
            )
            port = media.sock.extra(anyio.abc.SocketAttribute.local_port)
            sdp = build_answer(
                plan, self.public_host, port, version=self._answer_count[event.call.call_id]
            )
            self.uas.answer(event.call, sdp, now)
        elif isinstance(event, CallEnded):
            media = self.media.get(event.call.call_id)
            if media is not None:
                media.hang_up()

    # -- one call -------------------------------------------------------------------------

    async def _run_call(self, call: SipCall, plan: AudioPlan) -> None:
        from adk_realtime.call_bridge import bridge_call  # lazy: the bridge loads the runner

        assert self.uas is not None and self._driver is not None
        uas, driver = self.uas, self._driver
        try:
            sock = await bind_udp_port(self.host, 0)
        except OSError as exc:
            log.warning("sip: no RTP socket for call %s: %s", call.call_id, exc)
            if call.state == "incoming":
                uas.reject(call, 503, anyio.current_time())
                await driver.flush()
            self.observer.call_ended(None, "sip", "not_started")
            return
        async with sock:
            port = sock.extra(anyio.abc.SocketAttribute.local_port)
            rtp = RtpMediaSession(
                payload_type=plan.payload_type,
                telephone_event=plan.telephone_event,
                remote=plan.remote,
                ssrc=secrets.randbits(32),
                sequence=secrets.randbits(16),
                timestamp=secrets.randbits(32),
            )
            media = SipCallMedia(
                call_id=call.call_id,
                caller=call.caller,
                called=call.called,
                rtp=rtp,
                sock=sock,
                alaw=plan.codec == "PCMA",
            )
            media.on_hold = plan.on_hold
            try:
                uas.answer(call, build_answer(plan, self.public_host, port), anyio.current_time())
            except LocalProtocolError:  # cancelled while we bound the socket
                self.observer.call_ended(None, "sip", "cancelled")
                return
            # Registered before anything is awaited: a BYE from now on finds the call.
            self.media[call.call_id] = media
            await driver.flush()
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(media.run)
                    try:
                        summary = await bridge_call(
                            media,
                            SipMediaStream(),
                            self.model,
                            self.agent,
                            options=self.options,
                            event_handler=self.event_handler,
                            runner_kwargs=self.runner_kwargs,
                            worker=self.worker_id,
                            observer=self.observer,
                        )
                    finally:
                        await media.aclose()  # (bridge_call closes it too) media.run ends
                    self.summaries.append(summary)
                    self.calls_served += 1
            except Exception:
                log.exception("sip: call %s failed", call.call_id)
            finally:
                self.media.pop(call.call_id, None)
                self._answer_count.pop(call.call_id, None)
                self._call_ended.set()
                self._call_ended = anyio.Event()
                with anyio.CancelScope(shield=True):
                    uas.hangup(call, anyio.current_time())  # nothing if the caller hung up
                    await driver.flush()

    # -- health and metrics -------------------------------------------------------------

    def handle_http(self, request: HttpRequest) -> HttpReply:
        """``GET /healthz`` (alive), ``/readyz`` (503 while draining or at ``max_calls``)
        and ``/metrics`` (the Prometheus text of :attr:`metrics`), as the phone server
        answers them; anything else 404. An ``http_handler`` for
        :func:`~adk_realtime.drivers.websocket_server.serve`."""
        path = request.target.split("?", 1)[0]
        if path not in ("/healthz", "/readyz", "/metrics"):
            return HttpReply.text(404, "Not Found")
        if request.method not in ("GET", "HEAD"):
            return HttpReply.text(405, "Method Not Allowed", ("Allow", "GET, HEAD"))
        if path == "/metrics":
            if self.metrics is None:
                return HttpReply.text(404, "no metrics: give SipServer(metrics=...)")
            body, content_type = self.metrics.render()
            return HttpReply(200, body, content_type)
        load = self.load
        shed = load.shed if path == "/readyz" else None
        state: dict[str, object] = {
            "status": shed or ("ready" if path == "/readyz" else "ok"),
            "active_calls": load.active,
            "max_calls": load.limit,
        }
        return HttpReply(503 if shed else 200, json.dumps(state).encode(), "application/json")


def _plan(offer: bytes) -> AudioPlan | None:
    try:
        return negotiate(parse_audio_offer(offer))
    except SdpAudioError:
        return None


@asynccontextmanager
async def serve_sip(server: SipServer) -> AsyncIterator[SipAddress]:
    """Run ``server`` for the block; yields where it listens."""
    async with anyio.create_task_group() as tg:
        where = await tg.start(server.run)
        try:
            yield where
        finally:
            tg.cancel_scope.cancel()
