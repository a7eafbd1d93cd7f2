"""One OpenAI SIP call, run by the phone server: accept it over REST, attach a runner by call id.

OpenAI's SIP connector answers the phone itself (the audio stays between the carrier and
OpenAI); the application only decides, over REST, and steers the session over a WebSocket
opened on the call's id. :class:`~adk_realtime.phone_server.PhoneServer` verifies the
``realtime.call.incoming`` webhook (route ``POST /openai/sip``) and then, in the
background, calls :func:`run_openai_sip_call` (or :func:`reject_openai_sip_call` when it
is at its call limit). Neither logs a number, a SIP header or the API key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from adk_realtime.agent import RealtimeAgent
from adk_realtime.call_bridge import CallInfo
from adk_realtime.call_control import CALL_CONTROL_STATE, CallControl
from adk_realtime.drivers._errors import single_error
from adk_realtime.drivers.http_client import http_request
from adk_realtime.openai import OpenAIRealtimeModel
from adk_realtime.runner import EventHandler, RealtimeRunner, RunContext
from adk_realtime.sansio.config import RealtimeConfig
from adk_realtime.sansio.telephony.openai_sip import (
    DEFAULT_API_URL,
    IncomingCall,
    accept_call_request,
    call_websocket_url,
    read_call_control_response,
    reject_call_request,
)
from adk_realtime.tools import maybe_await

__all__ = [
    "SIP_CARRIER",
    "SipSettings",
    "call_info",
    "reject_openai_sip_call",
    "run_openai_sip_call",
]

log = logging.getLogger("adk_realtime.phone")

SIP_CARRIER = "openai-sip"


@dataclass(frozen=True, slots=True, repr=False)
class SipSettings:
    """How the server reaches OpenAI for SIP calls: the API key (never shown), the REST
    base (``https://api.openai.com/v1``; the Realtime WebSocket base is the same with
    ``ws(s)://``) and the model named in the accept."""

    api_key: str
    base_url: str = DEFAULT_API_URL
    model: str = "gpt-realtime"

    @property
    def websocket_base(self) -> str:
        base = self.base_url.rstrip("/")
        return "ws" + base[4:] if base.startswith("http") else base

    def __repr__(self) -> str:
        return f"SipSettings(base_url={self.base_url!r}, model={self.model!r})"


def call_info(call: IncomingCall, worker: str | None = None) -> CallInfo:
    """Who calls, for ``RunContext.state["call"]``: carrier ``"openai-sip"``, the call id
    as the stream id, caller/called from the SIP From/To."""
    return CallInfo(
        carrier=SIP_CARRIER,
        call_id=call.call_id,
        stream_id=call.call_id,
        caller=call.caller,
        called=call.callee,
        worker=worker,
    )


async def _agent_for(agent: RealtimeAgent | Callable[..., Any], info: Any) -> RealtimeAgent:
    if isinstance(agent, RealtimeAgent):
        return agent
    chosen = await maybe_await(agent(info))
    if not isinstance(chosen, RealtimeAgent):
        raise TypeError("the agent factory must return a RealtimeAgent")
    return chosen


async def run_openai_sip_call(
    call: IncomingCall,
    settings: SipSettings,
    agent: RealtimeAgent | Callable[..., Any],
    *,
    event_handler: EventHandler | None = None,
    runner_kwargs: Mapping[str, Any] | None = None,
    worker: str | None = None,
) -> None:
    """Accept ``call`` with the agent's session, then run a `RealtimeRunner` attached to
    it until the call ends (OpenAI closes the socket, or a tool transferred or hung up
    the call through ``state["call_control"]``, a `CallControl`). Raises what the accept
    or the run raised (`AuthError`, `HttpStatusError`, `HttpConnectError`, ...)."""
    info = call_info(call, worker)
    kwargs = dict(runner_kwargs or {})
    context: RunContext = kwargs.pop("context", None) or RunContext()
    context.state["call"] = info
    control = CallControl(call.call_id, settings)
    context.state[CALL_CONTROL_STATE] = control
    chosen = await _agent_for(agent, info)
    config = await chosen.build_config(context, base=kwargs.pop("config", None) or RealtimeConfig())
    exchange = accept_call_request(
        call.call_id,
        config,
        api_key=settings.api_key,
        model=settings.model,
        base_url=settings.base_url,
    )
    read_call_control_response(await http_request(exchange), secrets=[settings.api_key])
    model = OpenAIRealtimeModel(
        settings.api_key,
        settings.model,
        url=call_websocket_url(call.call_id, settings.websocket_base),
    )
    runner = RealtimeRunner(model, chosen, event_handler=event_handler, context=context, **kwargs)

    async def close_when_handed_off() -> None:
        await control.ended.wait()
        await runner.close()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(close_when_handed_off)
            await runner.run()
            tg.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise single_error(group) from None


async def reject_openai_sip_call(
    call: IncomingCall, settings: SipSettings, status_code: int = 486
) -> None:
    """Refuse ``call`` (SIP ``status_code``, 486 Busy Here by default)."""
    exchange = reject_call_request(
        call.call_id, api_key=settings.api_key, status_code=status_code, base_url=settings.base_url
    )
    read_call_control_response(await http_request(exchange), secrets=[settings.api_key])
