"""Steering an OpenAI SIP call from the agent: transfer it (SIP REFER) or hang up.

The phone server puts a :class:`CallControl` in each OpenAI SIP call's
``RunContext.state["call_control"]`` (tools see it as ``ToolContext.state``), next to
the call's ``CallInfo`` in ``state["call"]``. :func:`transfer_call_tool` is a ready-made
tool on top of it:

    agent = RealtimeAgent(..., tools=[transfer_call_tool("tel:+14155550123",
                                                         description="Transfer to a human.")])

When the model calls it, the server POSTs ``/v1/realtime/calls/{call_id}/refer`` with
``{"target_uri": ...}`` (the fixed target the application chose: the model never picks
a number). Once OpenAI took the refer (2xx) the caller is on the way to the target:
the tool tells the model so, and the call's runner is closed as soon as the tool's
answer is in (the session has nothing left to do: the caller is no longer on OpenAI's
leg). A refused refer (a 4xx, the call gone) is told to the model as a failure and the
call goes on. Target URIs are phone numbers or SIP addresses: no log, repr or error
message shows them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio

from adk_realtime.drivers.http_client import http_request
from adk_realtime.sansio.errors import ConfigError, RealtimeError
from adk_realtime.sansio.telephony.openai_sip import (
    hangup_call_request,
    read_call_control_response,
    refer_call_request,
)
from adk_realtime.tools import ToolContext

if TYPE_CHECKING:  # only for types: the settings' module imports this one (no cycle)
    from adk_realtime.phone_openai_sip import SipSettings

__all__ = ["CALL_CONTROL_STATE", "CallControl", "TransferCallTool", "transfer_call_tool"]

log = logging.getLogger("adk_realtime.phone")

CALL_CONTROL_STATE = "call_control"
"""The ``RunContext.state`` key of an OpenAI SIP call's :class:`CallControl`."""


class CallControl:
    """One OpenAI SIP call's REST controls (``refer``, ``hangup``), as the server made
    them for the call. ``ended`` is set once the call was handed off or hung up: the
    server then closes the call's runner."""

    def __init__(self, call_id: str, settings: SipSettings) -> None:
        self.call_id = call_id
        self._settings = settings
        self.ended = anyio.Event()
        self.transferred = False
        """True once a refer was taken (the caller is on the way to its target)."""

    def __repr__(self) -> str:
        return f"CallControl({self.call_id!r}, transferred={self.transferred})"

    async def refer(self, target_uri: str) -> None:
        """Transfer the caller to ``target_uri`` (``tel:+1...``, ``sip:...``); sets
        ``ended`` once OpenAI took it. Raises `ConfigError` for a bad URI, `AuthError` or
        `HttpStatusError` when refused (the target is cut out of their messages)."""
        settings = self._settings
        exchange = refer_call_request(
            self.call_id, target_uri, api_key=settings.api_key, base_url=settings.base_url
        )
        response = await http_request(exchange)
        read_call_control_response(response, secrets=[settings.api_key, target_uri])
        self.transferred = True
        log.info("call %s: transferred (refer taken)", self.call_id)
        self.ended.set()

    async def hangup(self) -> None:
        """End the call; sets ``ended``. Raises as :meth:`refer` does."""
        settings = self._settings
        exchange = hangup_call_request(
            self.call_id, api_key=settings.api_key, base_url=settings.base_url
        )
        read_call_control_response(await http_request(exchange), secrets=[settings.api_key])
        self.ended.set()


class TransferCallTool:
    """A tool that transfers the call to a fixed target (see :func:`transfer_call_tool`)."""

    def __init__(self, target_uri: str, *, name: str, description: str) -> None:
        self._target_uri = target_uri
        self.name = name
        self.description = description
        self.timeout: float | None = None

    def __repr__(self) -> str:
        return f"TransferCallTool({self.name!r}, target=<hidden>)"

    @property
    def parameters(self) -> dict[str, Any]:
        return {"type": "object", "properties": {}, "required": []}

    async def call(self, arguments: dict[str, Any], ctx: ToolContext) -> Any:
        control = ctx.state.get(CALL_CONTROL_STATE)
        if not isinstance(control, CallControl):
            return {"transferred": False, "error": "this call cannot be transferred"}
        try:
            await control.refer(self._target_uri)
        except (RealtimeError, OSError) as exc:
            log.warning("call %s: the transfer failed: %s", control.call_id, type(exc).__name__)
            return {"transferred": False, "error": "the transfer failed; the call goes on"}
        return {"transferred": True, "note": "the caller is being transferred now"}


def transfer_call_tool(
    target_uri: str,
    *,
    name: str = "transfer_call",
    description: str = "Transfer the caller to a human agent.",
) -> TransferCallTool:
    """A tool that transfers an OpenAI SIP call to ``target_uri`` (a ``tel:`` or ``sip:``
    URI) with SIP REFER; the model calls it without arguments. Raises `ConfigError`
    for a bad URI (the value is not shown: it may be a number)."""
    try:
        refer_call_request("check", target_uri, api_key="check")
    except ConfigError as exc:
        why = str(exc).partition(": ")[2]
        raise ConfigError(
            "target_uri", f"{why} (the value is not shown: it may be a number)"
        ) from None
    return TransferCallTool(target_uri, name=name, description=description)
