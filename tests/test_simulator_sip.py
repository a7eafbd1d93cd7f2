"""The simulator's OpenAI SIP side over real HTTP and WebSocket: ring, accept, attach, hang up."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adk_realtime.drivers.http_client import http_request
from adk_realtime.drivers.simulator import SimulatorServer, run_simulator
from adk_realtime.drivers.websocket import HandshakeRejected, open_websocket
from adk_realtime.sansio.errors import ConnectionClosed
from adk_realtime.sansio.sim.hub import SimulatorHub
from adk_realtime.sansio.telephony.openai_sip import (
    accept_call_request,
    call_websocket_url,
    hangup_call_request,
    parse_incoming_call,
    refer_call_request,
    reject_call_request,
)

pytestmark = pytest.mark.anyio
KEY = "sk-test-sip"


def api(sim: SimulatorServer) -> str:
    return f"http://{sim.host}:{sim.port}/v1"


def session(**extra: Any) -> dict[str, Any]:
    return {"type": "realtime", "instructions": "Answer the phone.", **extra}


async def test_ring_gives_a_webhook_the_parser_reads(anyio_backend: str) -> None:
    hub = SimulatorHub(pace=0, api_key=KEY)
    call_id, body = hub.calls.ring(now=1_700_000_000, caller="+14155550123")
    call = parse_incoming_call(body)
    assert call.call_id == call_id and call.caller == "+14155550123"
    assert call.callee == "+18005550100" and call.created_at == 1_700_000_000
    assert "+1415" not in repr(hub.calls.calls[call_id])


async def test_accept_then_attach_runs_a_session_configured_by_the_accept(
    anyio_backend: str,
) -> None:
    async with run_simulator(hub=SimulatorHub(pace=0, api_key=KEY)) as sim:
        call_id, _ = sim.ring(now=0)
        # Before the accept the call cannot be attached.
        with pytest.raises(HandshakeRejected) as refused:
            async with open_websocket(
                call_websocket_url(call_id, sim.openai_base_url),
                headers=[("Authorization", f"Bearer {KEY}")],
            ):
                pass
        assert refused.value.status == 404
        accept = accept_call_request(
            call_id, session(), api_key=KEY, model="gpt-realtime", base_url=api(sim)
        )
        assert (await http_request(accept)).status == 200
        async with open_websocket(
            call_websocket_url(call_id, sim.openai_base_url),
            headers=[("Authorization", f"Bearer {KEY}")],
        ) as ws:
            created = json.loads(await ws.receive())
            assert created["type"] == "session.created"
            assert created["session"]["instructions"] == "Answer the phone."
            item = {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hello"}],
            }
            await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
            await ws.send(json.dumps({"type": "response.create"}))
            seen = []
            while "response.done" not in seen:
                seen.append(json.loads(await ws.receive())["type"])
            # The caller hangs up: the session closes.
            await sim.hang_up(call_id)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await ws.receive()
            assert closed.value.code == 1000
        assert [a.action for a in sim.hub.calls.log] == ["accept"]


async def test_bad_session_unknown_call_reject_refer_hangup(anyio_backend: str) -> None:
    async with run_simulator(hub=SimulatorHub(pace=0, api_key=KEY)) as sim:
        call_id, _ = sim.ring(now=0)
        bad = accept_call_request(call_id, {"type": "nope"}, api_key=KEY, base_url=api(sim))
        answer = await http_request(bad)
        assert answer.status == 400
        error = json.loads(answer.body)["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == "session.type"
        unknown = reject_call_request("rtc_nope", api_key=KEY, base_url=api(sim))
        assert (await http_request(unknown)).status == 404
        wrong_key = reject_call_request(call_id, api_key="sk-wrong", base_url=api(sim))
        assert (await http_request(wrong_key)).status == 401

        # A refer before the call is connected is refused; after an accept it is taken.
        def refer() -> Any:
            return refer_call_request(call_id, "tel:+14155550199", api_key=KEY, base_url=api(sim))

        def accept() -> Any:
            return accept_call_request(call_id, session(), api_key=KEY, base_url=api(sim))

        def hangup() -> Any:
            return hangup_call_request(call_id, api_key=KEY, base_url=api(sim))

        assert (await http_request(refer())).status == 400
        assert (await http_request(accept())).status == 200
        assert (await http_request(accept())).status == 400  # not ringing any more
        assert (await http_request(refer())).status == 200
        assert (await http_request(hangup())).status == 200
        assert (await http_request(hangup())).status == 404  # gone
        other, _ = sim.ring(now=0)
        busy = reject_call_request(other, api_key=KEY, status_code=486, base_url=api(sim))
        assert (await http_request(busy)).status == 200
        assert sim.hub.calls.calls[other].reject_status == 486
        assert [(a.action, a.status) for a in sim.hub.calls.log] == [
            ("accept", 400),
            ("reject", 404),
            ("refer", 400),
            ("accept", 200),
            ("accept", 400),
            ("refer", 200),
            ("hangup", 200),
            ("hangup", 404),
            ("reject", 200),
        ]


async def test_rest_hangup_closes_the_attached_session(anyio_backend: str) -> None:
    async with run_simulator(hub=SimulatorHub(pace=0, api_key=KEY)) as sim:
        call_id, _ = sim.ring(now=0)
        accept = accept_call_request(call_id, session(), api_key=KEY, base_url=api(sim))
        await http_request(accept)
        url = call_websocket_url(call_id, sim.openai_base_url)
        auth = [("Authorization", f"Bearer {KEY}")]
        async with open_websocket(url, headers=auth) as ws:
            await ws.receive()  # session.created
            # Attached once: a second socket for the same call is refused.
            with pytest.raises(HandshakeRejected):
                async with open_websocket(url, headers=auth):
                    pass
            await http_request(hangup_call_request(call_id, api_key=KEY, base_url=api(sim)))
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await ws.receive()
            assert closed.value.code == 1000
