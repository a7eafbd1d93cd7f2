"""The SIP user agent server, driven by hand with a fake clock: transactions, timers,
BYE both ways, CANCEL, OPTIONS, re-INVITE, capacity, digest, allow-list, bad input."""

from __future__ import annotations

import pytest

from adk_realtime.sansio.errors import ConfigError, LocalProtocolError
from adk_realtime.sansio.sip.digest import DigestAuth, digest_response
from adk_realtime.sansio.sip.events import (
    CallEnded,
    CallEstablished,
    CallRefused,
    CallUpdated,
    IncomingSipCall,
    MessageDropped,
    SipCall,
)
from adk_realtime.sansio.sip.message import SipMessage, parse_message, parse_name_addr, parse_via
from adk_realtime.sansio.sip.uas import SipUas

PEER = ("192.0.2.1", 5062)
US = ("192.0.2.9", 5060)
SDP = b"v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n"


def request(
    method: str,
    *,
    branch: str = "z9hG4bK-1",
    call_id: str = "c1",
    cseq: int = 1,
    to_tag: str | None = None,
    body: bytes = b"",
    extra: list[tuple[str, str]] | None = None,
    cseq_method: str | None = None,
) -> bytes:
    to = "<sip:agent@192.0.2.9>" + (f";tag={to_tag}" if to_tag else "")
    headers = [
        ("Via", f"SIP/2.0/UDP 10.0.0.1:5062;branch={branch};rport"),
        ("Max-Forwards", "70"),
        ("From", "<sip:+14155550100@example.com>;tag=caller1"),
        ("To", to),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {cseq_method or method}"),
        ("Contact", "<sip:caller@192.0.2.1:5062>"),
        *(extra or []),
    ]
    if body:
        headers.append(("Content-Type", "application/sdp"))
    return SipMessage(
        method=method, uri="sip:agent@192.0.2.9", headers=headers, body=body
    ).serialize()


def sent(uas: SipUas, now: float = 0.0) -> list[SipMessage]:
    out = []
    for data, addr in uas.datagrams_to_send(now):
        assert addr == PEER
        out.append(parse_message(data))
    return out


def events(uas: SipUas) -> list[object]:
    found = []
    while (event := uas.next_event()) is not None:
        found.append(event)
    return found


def incoming(uas: SipUas, *, call_id: str = "c1", branch: str = "z9hG4bK-1") -> SipCall:
    uas.receive_datagram(request("INVITE", body=SDP, call_id=call_id, branch=branch), PEER, 0.0)
    assert [m.status for m in sent(uas)] == [100]
    (event,) = events(uas)
    assert isinstance(event, IncomingSipCall)
    return event.call


def established(uas: SipUas) -> tuple[SipCall, SipMessage]:
    call = incoming(uas)
    uas.answer(call, b"v=0\r\n", 0.0)
    (ok,) = sent(uas)
    uas.receive_datagram(request("ACK", branch="z9hG4bK-ack", to_tag=call.local_tag), PEER, 0.1)
    assert isinstance(events(uas)[0], CallEstablished)
    return call, ok


def test_invite_answered_with_200_resent_until_ack() -> None:
    uas = SipUas(US)
    call = incoming(uas)
    assert call.offer == SDP and call.remote_addr == PEER and call.state == "incoming"
    assert "+1415" not in repr(call)  # the numbers stay out of reprs
    uas.ringing(call)
    (ringing,) = sent(uas)
    assert ringing.status == 180 and parse_name_addr(ringing.get("To") or "").tag == call.local_tag
    uas.answer(call, b"v=0\r\n", 0.0)
    (ok,) = sent(uas)
    assert (
        ok.status == 200 and ok.body == b"v=0\r\n" and ok.get("Content-Type") == "application/sdp"
    )
    assert ok.get("Contact") == "<sip:agent@192.0.2.9:5060>"
    via = parse_via(ok.get("Via") or "")
    assert via.params["received"] == "192.0.2.1" and via.params["rport"] == "5062"
    # T1, then 2*T1, 4*T1, capped at T2
    resent_at = []
    now = 0.0
    while len(resent_at) < 5:
        now = uas.get_timer() or 0.0
        uas.handle_timer(now)
        if sent(uas, now):
            resent_at.append(round(now, 3))
    assert resent_at == [0.5, 1.5, 3.5, 7.5, 11.5]
    uas.receive_datagram(request("ACK", branch="z9hG4bK-ack", to_tag=call.local_tag), PEER, now)
    assert [type(e) for e in events(uas)] == [CallEstablished]
    assert call.state == "confirmed"
    assert uas.get_timer() is None or uas.get_timer() > now + 1  # nothing is resent now


def test_no_ack_ends_the_call_with_a_bye_after_64_t1() -> None:
    uas = SipUas(US)
    call = incoming(uas)
    uas.answer(call, b"", 0.0)
    sent(uas)
    uas.handle_timer(32.0)
    messages = sent(uas, 32.0)
    assert [m.method for m in messages] == ["BYE"]
    assert events(uas) == [CallEnded(call, "no_ack")]


def test_a_retransmitted_invite_gets_the_last_response_not_a_new_call() -> None:
    uas = SipUas(US)
    call = incoming(uas)
    uas.ringing(call)
    sent(uas)
    uas.receive_datagram(request("INVITE", body=SDP), PEER, 0.2)
    assert [m.status for m in sent(uas)] == [180] and events(uas) == []
    uas.answer(call, b"", 0.3)
    sent(uas)
    uas.receive_datagram(request("INVITE", body=SDP), PEER, 0.4)
    assert [m.status for m in sent(uas)] == [200] and events(uas) == []


def test_caller_bye_is_answered_and_ends_the_call_once() -> None:
    uas = SipUas(US)
    call, _ok = established(uas)
    bye = request("BYE", branch="z9hG4bK-bye", cseq=2, to_tag=call.local_tag)
    uas.receive_datagram(bye, PEER, 1.0)
    assert [m.status for m in sent(uas)] == [200]
    assert events(uas) == [CallEnded(call, "bye")]
    uas.receive_datagram(bye, PEER, 1.5)  # retransmitted: the same 200, no second end
    assert [m.status for m in sent(uas)] == [200] and events(uas) == []
    uas.handle_timer(1.0 + 64 * 0.5)
    assert uas.get_timer() is None and uas.calls == {}


def test_bye_for_an_unknown_dialog_gets_481() -> None:
    uas = SipUas(US)
    uas.receive_datagram(request("BYE", to_tag="nope"), PEER, 0.0)
    assert [m.status for m in sent(uas)] == [481]


def test_our_bye_is_resent_until_answered() -> None:
    uas = SipUas(US)
    call, _ok = established(uas)
    uas.hangup(call, 1.0)
    (bye,) = sent(uas)
    assert bye.method == "BYE" and bye.uri == "sip:caller@192.0.2.1:5062"
    assert parse_name_addr(bye.get("From") or "").tag == call.local_tag
    assert parse_name_addr(bye.get("To") or "").tag == "caller1"
    assert events(uas) == [CallEnded(call, "hung_up")]
    uas.handle_timer(1.5)
    assert [m.method for m in sent(uas)] == ["BYE"]
    ok = SipMessage(status=200, reason="OK", headers=[
        ("Via", bye.get("Via") or ""), ("From", bye.get("From") or ""), ("To", bye.get("To") or ""),
        ("Call-ID", "c1"), ("CSeq", bye.get("CSeq") or ""),
    ])  # fmt: skip
    uas.receive_datagram(ok.serialize(), PEER, 1.6)
    assert uas.calls == {}
    uas.handle_timer(10.0)
    assert sent(uas) == []  # answered: not resent


def test_our_bye_gives_up_at_timer_f() -> None:
    uas = SipUas(US)
    call, _ok = established(uas)
    uas.hangup(call, 1.0)
    sent(uas)
    count = 0
    while (due := uas.get_timer()) is not None:
        uas.handle_timer(due)
        count += len(sent(uas, due))
    assert due is None and 5 <= count <= 12 and uas.calls == {}


def test_cancel_before_the_answer_gets_487_for_the_invite() -> None:
    uas = SipUas(US)
    call = incoming(uas)
    uas.receive_datagram(request("CANCEL", cseq_method="CANCEL"), PEER, 0.5)
    statuses = [(m.status, m.get("CSeq")) for m in sent(uas)]
    assert statuses == [(200, "1 CANCEL"), (487, "1 INVITE")]
    assert events(uas) == [CallEnded(call, "cancelled")]
    with pytest.raises(LocalProtocolError):
        uas.answer(call, b"", 0.6)
    uas.handle_timer(1.0)  # timer G: 487 again until the ACK
    assert [m.status for m in sent(uas)] == [487]
    uas.receive_datagram(request("ACK"), PEER, 1.1)
    uas.handle_timer(5.0)
    assert sent(uas) == []


def test_options_keepalive_gets_200() -> None:
    uas = SipUas(US)
    uas.receive_datagram(request("OPTIONS", call_id="ka"), PEER, 0.0)
    (ok,) = sent(uas)
    assert ok.status == 200 and "INVITE" in (ok.get("Allow") or "")


def test_reinvite_for_hold_is_an_update_answered_by_the_application() -> None:
    uas = SipUas(US)
    call, _ok = established(uas)
    hold = SDP.replace(b"m=audio", b"a=sendonly\r\nm=audio")
    uas.receive_datagram(
        request("INVITE", branch="z9hG4bK-re", cseq=2, to_tag=call.local_tag, body=hold), PEER, 2.0
    )
    assert [m.status for m in sent(uas)] == [100]
    (update,) = events(uas)
    assert isinstance(update, CallUpdated) and update.offer == hold
    uas.answer(call, b"v=0\r\na=recvonly\r\n", 2.0)
    assert [m.status for m in sent(uas)] == [200]
    uas.receive_datagram(
        request("ACK", branch="z9hG4bK-ack2", cseq=2, to_tag=call.local_tag), PEER, 2.1
    )
    assert events(uas) == [] and call.state == "confirmed"


def test_at_capacity_the_next_invite_is_busy() -> None:
    uas = SipUas(US, max_calls=1, busy_code=503)
    incoming(uas)
    uas.receive_datagram(request("INVITE", call_id="c2", branch="z9hG4bK-2", body=SDP), PEER, 0.0)
    (busy,) = sent(uas)
    assert busy.status == 503 and events(uas) == [CallRefused("c2", PEER, 503)]
    # its retransmission is absorbed: answered again, not refused (nor told) twice
    uas.receive_datagram(request("INVITE", call_id="c2", branch="z9hG4bK-2", body=SDP), PEER, 0.1)
    assert [m.status for m in sent(uas)] == [503] and events(uas) == []


def test_reject_with_488_and_the_ack_absorbed() -> None:
    uas = SipUas(US)
    call = incoming(uas)
    uas.reject(call, 488, 0.0)
    assert [m.status for m in sent(uas)] == [488]
    assert events(uas) == [CallEnded(call, "rejected")]
    uas.receive_datagram(request("ACK"), PEER, 0.1)
    uas.handle_timer(1.0)
    assert sent(uas) == []


def test_digest_challenge_then_accepted_md5_and_sha256() -> None:
    for algorithm in ("MD5", "SHA-256"):
        auth = DigestAuth({"trunk": "s3cret"}, realm="agents", nonce_key=b"k", algorithm=algorithm)
        uas = SipUas(US, digest=auth)
        uas.receive_datagram(request("INVITE", body=SDP), PEER, 100.0)
        (challenge,) = sent(uas)
        assert challenge.status == 401
        header = challenge.get("WWW-Authenticate") or ""
        nonce = header.split('nonce="')[1].split('"')[0]
        response = digest_response(
            algorithm=algorithm, username="trunk", realm="agents", password="s3cret",
            method="INVITE", uri="sip:agent@192.0.2.9", nonce=nonce, qop="auth", nc="00000001",
            cnonce="abc",
        )  # fmt: skip
        authorization = (
            f'Digest username="trunk", realm="agents", nonce="{nonce}", uri="sip:agent@192.0.2.9", '
            f'response="{response}", algorithm={algorithm}, qop=auth, nc=00000001, cnonce="abc"'
        )
        again = request(
            "INVITE", branch="z9hG4bK-2", cseq=2, body=SDP, extra=[("Authorization", authorization)]
        )
        uas.receive_datagram(again, PEER, 101.0)
        assert [m.status for m in sent(uas)] == [100]
        assert isinstance(events(uas)[0], IncomingSipCall)
        late = request("INVITE", call_id="c8", branch="z9hG4bK-8", body=SDP,
                       extra=[("Authorization", authorization)])  # fmt: skip
        uas.receive_datagram(late, PEER, 100.0 + 400)  # the nonce has expired
        (stale,) = sent(uas)
        assert stale.status == 401 and "stale=true" in (stale.get("WWW-Authenticate") or "")
        wrong = authorization.replace(response, "0" * len(response))
        uas.receive_datagram(
            request(
                "INVITE",
                call_id="c9",
                branch="z9hG4bK-9",
                body=SDP,
                extra=[("Authorization", wrong)],
            ),
            PEER,
            101.0,
        )
        assert [m.status for m in sent(uas)] == [401]


def test_allow_list_refuses_other_sources() -> None:
    uas = SipUas(US, allowed_sources={"192.0.2.200"})
    uas.receive_datagram(request("INVITE", body=SDP), PEER, 0.0)
    assert [m.status for m in sent(uas)] == [403] and events(uas) == []


def test_bad_input_is_answered_400_or_dropped_never_raised() -> None:
    uas = SipUas(US)
    uas.receive_datagram(b"\x00\xffnot sip at all", PEER, 0.0)
    assert sent(uas) == [] and isinstance(events(uas)[0], MessageDropped)
    bad = request("INVITE", body=SDP).replace(b"Content-Length: ", b"Content-Length: 9")
    uas.receive_datagram(bad, PEER, 0.0)
    assert [m.status for m in sent(uas)] == [400]
    uas.receive_datagram(request("FROB"), PEER, 0.0)
    assert [m.status for m in sent(uas)] == [405]
    weird = request("OPTIONS").replace(b"sip:agent@192.0.2.9 SIP", b"mailto:x@y SIP", 1)
    uas.receive_datagram(weird, PEER, 0.0)
    assert [m.status for m in sent(uas)] == [416]
    # and the next call still works
    incoming(uas, call_id="after", branch="z9hG4bK-after")


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match="busy_code"):
        SipUas(US, busy_code=404)
    with pytest.raises(ConfigError, match="max_calls"):
        SipUas(US, max_calls=-1)
    with pytest.raises(ConfigError, match="algorithm"):
        DigestAuth({}, realm="r", nonce_key=b"k", algorithm="SHA-1")
    with pytest.raises(ConfigError, match="nonce_key"):
        DigestAuth({}, realm="r", nonce_key=b"")
