"""OpenAI's SIP side for the simulator: ring a call, answer the call-control REST requests.

Theory of operation
-------------------
A :class:`SimCalls` (``SimulatorHub.calls``) stands for the SIP connector of one project.
A test *rings* a call (:meth:`SimCalls.ring`): the call is registered, ringing, and the
``realtime.call.incoming`` webhook body OpenAI would POST is returned, for the test to
sign and deliver. The application then answers over REST, which :meth:`SimCalls.answer`
serves (the driver hands it every plain HTTP request)::

    POST /v1/realtime/calls/{call_id}/accept   body: a GA session (validated as a
                                                session.update is; bad -> 400)
    POST /v1/realtime/calls/{call_id}/reject   {"status_code": 486} (optional)
    POST /v1/realtime/calls/{call_id}/refer    {"target_uri": "tel:..."}
    POST /v1/realtime/calls/{call_id}/hangup

An unknown call (or one already ended or rejected) is 404; accepting or rejecting a call
that is no longer ringing is 400; errors have OpenAI's shape (``{"error": {"message",
"type", "param", "code"}}``). An accepted call may be attached once, by a WebSocket to
``/v1/realtime?call_id=...`` (:meth:`attachable`, then the hub opens a normal OpenAI
session configured by the accept body, ``session.created`` first, and :meth:`attached`
records it). A hangup (REST, or the caller's :meth:`hang_up`) ends the attached session
(close 1000); the driver then flushes it. :attr:`log` keeps every request taken, in
order, for tests to assert on. Transfer targets and SIP headers are not in any repr.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from adk_realtime.sansio.sim.openai_config import ClientError, default_config, parse_update

__all__ = ["CallAction", "SimCall", "SimCalls"]

CallState = Literal["ringing", "accepted", "rejected", "ended"]
_ACTIONS = ("accept", "reject", "refer", "hangup")
_PREFIX = "/v1/realtime/calls/"


@dataclass(slots=True, repr=False)
class SimCall:
    """One simulated SIP call: its id, state and, once accepted, the session it was given."""

    call_id: str
    state: CallState = "ringing"
    model: str = "gpt-realtime"
    cfg: dict[str, Any] | None = None  # the accepted session (the simulator's neutral dict)
    session: Any = None  # the attached OpenAISimSession, once a WebSocket took the call
    reject_status: int | None = None

    def __repr__(self) -> str:
        return f"SimCall({self.call_id!r}, state={self.state!r})"


@dataclass(frozen=True, slots=True)
class CallAction:
    """A call-control request the simulator took: the call, the action and its HTTP status."""

    call_id: str
    action: str
    status: int
    body: dict[str, Any] = field(default_factory=dict, repr=False)


def _error(status: int, message: str, code: str, param: str | None = None) -> tuple[int, bytes]:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return status, json.dumps({"error": error}).encode()


class SimCalls:
    """The simulated SIP connector's calls (see the module docstring)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.calls: dict[str, SimCall] = {}
        self.log: list[CallAction] = []

    def __repr__(self) -> str:
        return f"SimCalls(calls={len(self.calls)}, requests={len(self.log)})"

    def _id(self, prefix: str) -> str:
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        return prefix + "".join(self._rng.choice(alphabet) for _ in range(24))

    def actions(self, action: str | None = None) -> list[CallAction]:
        """The requests taken (``action``: only those), in order."""
        return [a for a in self.log if action is None or a.action == action]

    # -- the caller's side -------------------------------------------------------------

    def ring(
        self,
        *,
        now: int,
        caller: str = "+14155550123",
        callee: str = "+18005550100",
        call_id: str | None = None,
    ) -> tuple[str, bytes]:
        """Register a ringing call; returns its id and the ``realtime.call.incoming``
        webhook body to deliver (``now``: its ``created_at``, unix seconds)."""
        call_id = call_id or self._id("rtc_")
        self.calls[call_id] = SimCall(call_id)
        headers = [
            {"name": "From", "value": f'"Caller" <sip:{caller}@pstn.example>;tag={self._id("")}'},
            {"name": "To", "value": f"<sip:{callee}@sip.api.openai.com>"},
            {"name": "Call-ID", "value": self._id("")},
        ]
        event = {
            "object": "event",
            "id": self._id("evt_"),
            "type": "realtime.call.incoming",
            "created_at": int(now),
            "data": {"call_id": call_id, "sip_headers": headers},
        }
        return call_id, json.dumps(event).encode()

    def hang_up(self, call_id: str) -> Any:
        """The caller hangs up: the call ends; returns its attached session (ended: flush
        it) or None."""
        call = self.calls.get(call_id)
        if call is None or call.state == "ended":
            return None
        return self._end(call)

    def _end(self, call: SimCall) -> Any:
        call.state = "ended"
        session, call.session = call.session, None
        if session is not None:
            session.end(1000, "call ended")
        return session

    # -- the WebSocket -----------------------------------------------------------------

    @staticmethod
    def call_id_of(path: str) -> str | None:
        """The ``call_id`` a Realtime WebSocket path attaches to, or None."""
        values = parse_qs(urlsplit(path).query).get("call_id")
        return values[0] if values else None

    def attachable(self, call_id: str) -> SimCall | None:
        """The accepted, not yet attached call ``call_id``; None refuses the WebSocket."""
        call = self.calls.get(call_id)
        if call is None or call.state != "accepted" or call.session is not None:
            return None
        return call

    # -- REST ----------------------------------------------------------------------------

    def handles(self, path: str) -> bool:
        """Whether ``path`` is a call-control endpoint (else the caller answers 404)."""
        return urlsplit(path).path.startswith(_PREFIX)

    def answer(
        self, method: str, path: str, body: bytes, on_end: Callable[[Any], None]
    ) -> tuple[int, bytes]:
        """Serve one call-control request; ``(status, JSON body)``. ``on_end(session)``
        is called with a session a hangup ended, for the driver to flush."""
        rest = urlsplit(path).path[len(_PREFIX) :]
        segment, _, action = rest.partition("/")
        call_id = unquote(segment)
        if action not in _ACTIONS or method != "POST":
            return _error(404, "No such endpoint.", "not_found")
        call = self.calls.get(call_id)
        if call is None or call.state in ("ended", "rejected"):
            self.log.append(CallAction(call_id, action, 404))
            return _error(404, f"Call with id '{call_id[:64]}' not found.", "call_not_found")
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self.log.append(CallAction(call_id, action, 400))
            return _error(400, "The body is not a JSON object.", "invalid_json")
        try:
            self._act(call, action, data, on_end)
        except ClientError as err:
            self.log.append(CallAction(call_id, action, 400, data))
            return _error(400, err.message, err.code, err.param)
        self.log.append(CallAction(call_id, action, 200, data))
        return 200, b""

    def _act(
        self, call: SimCall, action: str, data: dict[str, Any], on_end: Callable[[Any], None]
    ) -> None:
        if action in ("accept", "reject") and call.state != "ringing":
            raise ClientError(f"The call is not ringing (it is {call.state}).", "call_not_ringing")
        if action == "accept":
            model = data.get("model", call.model)
            if not isinstance(model, str) or not model:
                raise ClientError("Invalid 'model': expected a string.", "invalid_type", "model")
            # Validated as a session.update's session is (without "model", not a session key).
            session = {k: v for k, v in data.items() if k != "model"}
            call.cfg = parse_update(session, default_config(False), False)
            call.model, call.state = model, "accepted"
        elif action == "reject":
            status = data.get("status_code", 603)
            if type(status) is not int or not 400 <= status <= 699:
                msg = "Invalid 'status_code': a SIP status 400-699."
                raise ClientError(msg, "invalid_value", "status_code")
            call.reject_status, call.state = status, "rejected"
        elif action == "refer":
            target = data.get("target_uri")
            if not isinstance(target, str) or target.partition(":")[0] not in (
                "tel",
                "sip",
                "sips",
            ):
                msg = "Invalid 'target_uri': a tel: or sip: URI."
                raise ClientError(msg, "invalid_value", "target_uri")
            if call.state != "accepted":
                raise ClientError("The call is not connected.", "call_not_connected")
        else:  # hangup
            session = self._end(call)
            if session is not None:
                on_end(session)
