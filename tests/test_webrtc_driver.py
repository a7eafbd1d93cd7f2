"""The anyio WebRTC driver's own duty of binding: numeric local addresses are bound without
name resolution (a host whose only interface is loopback fails ``getaddrinfo`` with
``AI_ADDRCONFIG``, even for ``127.0.0.1``), and a bind that fails is our error, not a raw
socket error. Every test runs under asyncio and trio."""

from __future__ import annotations

import socket
from typing import Any

import anyio
import pytest

from adk_realtime.drivers.webrtc import BindError, open_peer
from adk_realtime.sansio.errors import ConfigError, RealtimeError
from adk_realtime.sansio.webrtc.dtls import DtlsCertificate
from adk_realtime.sansio.webrtc.sdp import build_offer, host_candidate

CERT = DtlsCertificate.generate()


@pytest.fixture
def no_name_resolution(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """``socket.getaddrinfo`` fails as on a loopback-only host; the calls are recorded."""
    calls: list[tuple[Any, ...]] = []

    def getaddrinfo(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


def answer_pointing_at(address: tuple[str, int]) -> str:
    """An answer whose one ICE candidate is ``address`` (so our checks go there)."""
    return build_offer(
        ice_ufrag="ansr",
        ice_pwd="answererpassword012345678",
        fingerprint_sha256=CERT.fingerprint_sdp,
        candidates=[host_candidate(*address)],
        audio_ssrc=4242,
        cname="answerer",
        session_id=7,
        include_g711=False,
    ).replace("a=setup:actpass", "a=setup:active")


@pytest.mark.anyio
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_numeric_addresses_bind_and_carry_datagrams_without_name_resolution(
    host: str, no_name_resolution: list[tuple[Any, ...]]
) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        probe = socket.socket(family, socket.SOCK_DGRAM)
        probe.bind((host, 0))
    except OSError:
        pytest.skip(f"{host} is not available on this host")
    with probe:
        probe.setblocking(False)
        async with open_peer(local_addresses=[host], certificate=CERT) as peer:
            bound_host, port = peer.pc.local_candidates[0].addr
            assert bound_host == host and port > 0
            assert peer.offer  # the offer is made before the answer is applied
            peer.set_answer(answer_pointing_at(probe.getsockname()[:2]))
            with anyio.fail_after(5):
                await anyio.wait_readable(probe)
            data, source = probe.recvfrom(2048)
            assert data[0] < 4 and source[:2] == (host, port)  # an ICE check from our socket
            probe.sendto(b"\x80\x6f datagram in", (host, port))
            with anyio.fail_after(5):
                while peer.pc.stats["datagrams_received"] == 0:
                    await peer.wait_changed()
    assert no_name_resolution == []  # nothing was looked up


@pytest.mark.anyio
async def test_an_address_this_host_does_not_have_is_our_bind_error() -> None:
    with pytest.raises(BindError) as info:
        async with open_peer(local_addresses=["192.0.2.1"]):  # TEST-NET-1: nobody's
            pass
    assert isinstance(info.value, RealtimeError) and not isinstance(info.value, OSError)
    assert info.value.address == "192.0.2.1" and "192.0.2.1" in str(info.value)


@pytest.mark.anyio
async def test_a_failed_bind_closes_the_sockets_already_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[socket.socket] = []

    class TrackingSocket(socket.socket):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            opened.append(self)

    monkeypatch.setattr(socket, "socket", TrackingSocket)
    with pytest.raises(BindError):
        async with open_peer(local_addresses=["127.0.0.1", "192.0.2.1"]):
            pass
    assert len(opened) == 2 and all(s.fileno() == -1 for s in opened)


@pytest.mark.anyio
async def test_a_host_name_is_a_config_error_not_a_lookup() -> None:
    with pytest.raises(ConfigError) as info:
        async with open_peer(local_addresses=["localhost"]):
            pass
    assert info.value.field == "local_addresses" and "'localhost'" in str(info.value)
