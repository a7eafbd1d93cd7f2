"""SDP: our offer, a realistic OpenAI answer, aiortc as the real answerer, bad input."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from hypothesis import given, settings, strategies as st

from adk_realtime.sansio.errors import ConfigError, ProtocolError
from adk_realtime.sansio.webrtc.sdp import (
    IceCandidate,
    SdpError,
    build_offer,
    host_candidate,
    parse_answer,
    parse_offer,
)

FINGERPRINT = ":".join(f"{b:02X}" for b in hashlib.sha256(b"our certificate").digest())
UFRAG = "Ab3d"
PWD = "pwd0123456789abcdefghij"


def make_offer(**overrides: object) -> str:
    args: dict[str, object] = {
        "ice_ufrag": UFRAG,
        "ice_pwd": PWD,
        "fingerprint_sha256": FINGERPRINT,
        "candidates": [host_candidate("192.0.2.10", 40000), host_candidate("127.0.0.1", 40001)],
        "audio_ssrc": 0xDEADBEEF,
        "cname": "adk-cname",
        "session_id": 4611686018427387904,
    }
    args.update(overrides)
    return build_offer(**args)  # type: ignore[arg-type]


# Modelled on the answer shown in OpenAI's Realtime WebRTC docs: BUNDLE of audio and
# application, a=setup:active, Opus 111, a UDP host candidate plus a TCP passive one,
# no a=ice-lite. Values are made up.
OPENAI_STYLE_ANSWER = "\r\n".join(
    [
        "v=0",
        "o=- 6431729081739278 1747200000 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "a=msid-semantic:WMS*",
        "a=fingerprint:sha-256 " + ":".join(["5A"] * 32),
        "a=ignore-attribute:not understood here",
        "a=group:BUNDLE 0 1",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8",
        "c=IN IP4 0.0.0.0",
        "a=setup:active",
        "a=mid:0",
        "a=ice-ufrag:rTkXpQzLmNvBcDeF",
        "a=ice-pwd:GhIjKlMnOpQrStUvWxYz012345",
        "a=rtcp-mux",
        "a=rtcp-rsize",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtcp-fb:111 transport-cc",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=extmap:1 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
        "a=ssrc:3405640141 cname:realtimeapi-audio",
        "a=ssrc:3405640141 msid:realtimeapi audio",
        "a=msid:realtimeapi audio",
        "a=sendrecv",
        "a=candidate:4177460316 1 udp 2130706431 198.51.100.7 3478 typ host ufrag rTkXpQzLmNvBcDeF",
        "a=candidate:4177460317 1 tcp 1671430143 198.51.100.7 443 typ host tcptype passive "
        "ufrag rTkXpQzLmNvBcDeF",
        "a=end-of-candidates",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "c=IN IP4 0.0.0.0",
        "a=setup:active",
        "a=mid:1",
        "a=sendrecv",
        "a=sctp-port:5000",
        "a=ice-ufrag:rTkXpQzLmNvBcDeF",
        "a=ice-pwd:GhIjKlMnOpQrStUvWxYz012345",
        "a=candidate:4177460316 1 udp 2130706431 198.51.100.7 3478 typ host ufrag rTkXpQzLmNvBcDeF",
        "a=end-of-candidates",
        "",
    ]
)


def test_offer_is_crlf_bundle_of_audio_and_application() -> None:
    offer = make_offer()
    assert offer.endswith("\r\n")
    assert "\n" not in offer.replace("\r\n", "")
    lines = offer.split("\r\n")
    assert "a=group:BUNDLE 0 1" in lines
    assert lines.index("m=audio 40000 UDP/TLS/RTP/SAVPF 111 0 8") < lines.index(
        "m=application 40000 UDP/DTLS/SCTP webrtc-datachannel"
    )
    for required in (
        "a=rtcp-mux",
        "a=sendrecv",
        "a=setup:actpass",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        f"a=fingerprint:sha-256 {FINGERPRINT}",
        "a=ssrc:3735928559 cname:adk-cname",
        "a=sctp-port:5000",
        "a=max-message-size:262144",
    ):
        assert required in lines, required
    assert not any(line.startswith("a=ice-options") for line in lines)


def test_our_offer_parses_back() -> None:
    offer = parse_offer(make_offer())
    assert (offer.ice_ufrag, offer.ice_pwd) == (UFRAG, PWD)
    assert offer.fingerprint.value.hex(":").upper() == FINGERPRINT
    assert offer.setup == "actpass"
    assert offer.bundle == ("0", "1") and offer.mids == ("0", "1")
    assert offer.opus is not None and (offer.opus.payload_type, offer.opus.clock_rate) == (
        111,
        48000,
    )
    assert offer.opus.channels == 2
    assert offer.opus.parameters == {"minptime": "10", "useinbandfec": "1"}
    assert offer.pcmu is not None and offer.pcmu.payload_type == 0
    assert offer.pcma is not None and offer.pcma.payload_type == 8
    assert offer.audio_ssrc == 0xDEADBEEF
    assert offer.audio is not None and offer.audio.cname == "adk-cname" and offer.audio.rtcp_mux
    assert offer.sctp_port == 5000 and offer.max_message_size == 262144
    assert [c.addr for c in offer.candidates] == [("192.0.2.10", 40000), ("127.0.0.1", 40001)]
    assert offer.end_of_candidates and offer.rejected == ()


def test_offer_without_g711_lists_only_opus() -> None:
    offer = parse_offer(make_offer(include_g711=False))
    assert [c.name for c in offer.audio_codecs] == ["opus"]


def test_offer_without_candidates_uses_the_discard_port() -> None:
    offer = make_offer(candidates=[])
    assert "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8" in offer
    assert "c=IN IP4 0.0.0.0" in offer


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ice_ufrag", "ab"),
        ("ice_pwd", "short"),
        ("fingerprint_sha256", "AB:CD"),
        ("audio_ssrc", 2**32),
        ("cname", "has space"),
        ("session_id", -1),
    ],
)
def test_offer_rejects_bad_arguments_naming_them(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field) as info:
        make_offer(**{field: value})
    assert info.value.field == field
    if field == "ice_pwd":  # a credential: its length is shown, never its text
        assert "not 5" in str(info.value) and "short" not in str(info.value)
    else:
        assert f"not {value!r}" in str(info.value)


def test_openai_style_answer_parses_with_tcp_candidate_ignored() -> None:
    answer = parse_answer(OPENAI_STYLE_ANSWER)
    assert answer.ice_ufrag == "rTkXpQzLmNvBcDeF"
    assert answer.ice_pwd == "GhIjKlMnOpQrStUvWxYz012345"
    assert not answer.ice_lite
    assert answer.fingerprint.algorithm == "sha-256"
    assert answer.fingerprint.value == bytes([0x5A]) * 32
    assert answer.setup == "active" and answer.dtls_role == "server"
    assert [(c.address, c.port, c.type, c.priority, c.foundation) for c in answer.candidates] == [
        ("198.51.100.7", 3478, "host", 2130706431, "4177460316")
    ]
    assert [(c.transport, c.tcptype) for c in answer.ignored_candidates] == [("tcp", "passive")]
    assert answer.opus is not None and answer.opus.payload_type == 111
    assert answer.opus.parameters["useinbandfec"] == "1"
    assert answer.audio_ssrc == 3405640141
    assert answer.mids == ("0", "1")
    assert answer.sctp_port == 5000
    assert answer.max_message_size == 65536  # absent: RFC 8841 default
    assert answer.rejected == ()
    assert "GhIjKlMnOpQrStUvWxYz012345" not in repr(answer)


def test_answer_passive_makes_us_dtls_client() -> None:
    answer = parse_answer(OPENAI_STYLE_ANSWER.replace("a=setup:active", "a=setup:passive"))
    assert answer.dtls_role == "client"


def test_answer_session_level_credentials_and_ice_lite() -> None:
    text = "\r\n".join(
        [
            "v=0",
            "o=- 1 1 IN IP4 0.0.0.0",
            "s=-",
            "t=0 0",
            "a=ice-lite",
            "a=ice-ufrag:sess",
            "a=ice-pwd:sessionpasswordsessionpw",
            "a=fingerprint:sha-256 " + ":".join(["01"] * 32),
            "a=setup:passive",
            "m=audio 5004 UDP/TLS/RTP/SAVPF 0",
            "a=mid:a",
            "a=candidate:1 1 UDP 100 203.0.113.5 5004 typ srflx raddr 10.0.0.1 rport 9",
            "m=application 0 UDP/DTLS/SCTP webrtc-datachannel",
            "a=mid:d",
            "",
        ]
    )
    answer = parse_answer(text)
    assert answer.ice_lite and answer.ice_ufrag == "sess"
    assert answer.dtls_role == "client"
    assert answer.pcmu is not None and answer.pcmu.clock_rate == 8000 and answer.opus is None
    (candidate,) = answer.candidates
    assert (candidate.type, candidate.related_address, candidate.related_port) == (
        "srflx",
        "10.0.0.1",
        9,
    )
    assert [m.mid for m in answer.rejected] == ["d"]
    assert answer.application is None and answer.sctp_port is None


@pytest.mark.parametrize(
    ("bad_line", "why"),
    [
        ("a=rtpmap:abc opus/48000/2", "payload type"),
        ("a=rtpmap:111 opus", "clock rate"),
        ("a=candidate:1 1 udp notanumber 1.2.3.4 5 typ host", "priority"),
        ("a=candidate:1 1 udp 1", "foundation"),
        ("a=fingerprint:sha-256 XYZ", "fingerprint"),
        ("a=setup:sideways", "setup"),
        ("a=sctp-port:http", "sctp-port"),
        ("a=ssrc:-4 cname:x", "ssrc"),
        ("this is not sdp", "<type>=<value>"),
    ],
)
def test_malformed_line_raises_sdp_error_naming_line(bad_line: str, why: str) -> None:
    lines = OPENAI_STYLE_ANSWER.split("\r\n")
    lines.insert(12, bad_line)
    with pytest.raises(SdpError) as info:
        parse_answer("\r\n".join(lines))
    assert info.value.line_number == 13
    assert "SDP line 13" in str(info.value) and bad_line[:20] in str(info.value)
    assert why in str(info.value)
    assert isinstance(info.value, ProtocolError)


def test_bad_m_line_names_it() -> None:
    with pytest.raises(SdpError, match=r"SDP line 9 'm=audio x"):
        parse_answer(OPENAI_STYLE_ANSWER.replace("m=audio 9 ", "m=audio x "))


@pytest.mark.parametrize(
    ("needle", "replacement", "missing"),
    [
        ("a=fingerprint:sha-256", "a=fingerprint:sha-1", "sha-256"),
        ("a=ice-pwd:", "a=x-ice-pwd:", "ice-pwd"),
        ("v=0", "v=1", "v=0"),
    ],
)
def test_missing_essentials_raise_sdp_error(needle: str, replacement: str, missing: str) -> None:
    with pytest.raises(SdpError, match=missing):
        parse_answer(OPENAI_STYLE_ANSWER.replace(needle, replacement))


def test_empty_and_all_rejected_answers_raise() -> None:
    with pytest.raises(SdpError, match="empty"):
        parse_answer("")
    with pytest.raises(SdpError, match="no accepted m-section"):
        parse_answer(
            OPENAI_STYLE_ANSWER.replace("m=audio 9", "m=audio 0").replace(
                "m=application 9", "m=application 0"
            )
        )


def test_candidate_round_trips_through_sdp_text() -> None:
    candidate = IceCandidate(
        "abc", 1, "udp", 1694498815, "203.0.113.9", 6000, "srflx", "10.0.0.2", 6000
    )
    assert IceCandidate.from_sdp("candidate:" + candidate.to_sdp()) == candidate
    with pytest.raises(SdpError, match="port"):
        IceCandidate.from_sdp("abc 1 udp 1 1.2.3.4 70000 typ host")


def test_aiortc_accepts_our_offer_and_we_read_its_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    aioice_ice = pytest.importorskip("aioice.ice")
    aiortc = pytest.importorskip("aiortc")
    monkeypatch.setattr(aioice_ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])

    async def exchange() -> str:
        pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
        try:
            await pc.setRemoteDescription(aiortc.RTCSessionDescription(make_offer(), "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            return str(pc.localDescription.sdp)
        finally:
            await pc.close()

    answer = parse_answer(asyncio.run(exchange()))
    assert answer.mids == ("0", "1") and answer.bundle == ("0", "1")
    assert answer.dtls_role == "server"  # aiortc answers a=setup:active
    assert answer.fingerprint.algorithm == "sha-256" and len(answer.fingerprint.value) == 32
    assert answer.opus is not None and answer.opus.payload_type == 111
    assert answer.opus.clock_rate == 48000 and answer.opus.channels == 2
    assert answer.sctp_port == 5000
    assert answer.candidates and all(c.address == "127.0.0.1" for c in answer.candidates)
    assert len(answer.ice_ufrag) >= 4 and len(answer.ice_pwd) >= 22


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_parse_answer_on_any_text_raises_only_sdp_error(text: str) -> None:
    try:
        parse_answer(text)
    except SdpError:
        pass


_SDP_LINE = st.one_of(
    st.sampled_from(OPENAI_STYLE_ANSWER.split("\r\n")),
    st.builds(
        lambda kind, body: f"{kind}={body}",
        st.sampled_from("vomacts"),
        st.text(alphabet=st.characters(blacklist_characters="\r\n"), max_size=60),
    ),
    st.builds(
        lambda name, body: f"a={name}:{body}",
        st.sampled_from(
            [
                "candidate",
                "rtpmap",
                "fmtp",
                "ssrc",
                "fingerprint",
                "setup",
                "sctp-port",
                "sctpmap",
                "max-message-size",
                "group",
                "mid",
                "ice-ufrag",
                "ice-pwd",
            ]
        ),
        st.text(alphabet="0123456789 abcdefghijklmnopqrstuvwxyz:./-;=AF", max_size=60),
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_SDP_LINE, max_size=40), st.sampled_from(["\r\n", "\n"]))
def test_parse_answer_on_sdp_like_lines_raises_only_sdp_error(lines: list[str], eol: str) -> None:
    try:
        answer = parse_answer(eol.join(["v=0", *lines]))
    except SdpError:
        return
    assert len(answer.fingerprint.value) == 32


# What real answers look like beyond the docs example: trailing blanks after values
# (a stray space after 'a=setup:active' or the ICE password must not break the call),
# LF-only endings, lower-case fingerprint hex, candidate extensions, IPv6 and mDNS
# candidates, extmap/rtcp-fb/ssrc lines, a large max-message-size.
REAL_WORLD_ANSWER = "\n".join(
    [
        "v=0 ",
        "o=- 5530836421583563453 1747174545 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "a=msid-semantic: WMS",
        "a=fingerprint:sha-256 " + ":".join(["ab"] * 32) + " ",
        "a=ice-options:trickle",
        "a=extmap-allow-mixed",
        "a=group:BUNDLE 0 1",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 0.0.0.0",
        "a=setup:active ",
        "a=mid:0",
        "a=ice-ufrag:NqJgCsrBvxzLcoHu\t",
        "a=ice-pwd:OBKPrbFvHwXGhjVPHTdMmxJeFkqYwjFc ",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtcp-fb:111 transport-cc",
        "a=extmap:4 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
        "a=extmap:1/sendrecv urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=ssrc:2587357216 cname:realtimeapi",
        "a=ssrc:2587357216 msid:realtimeapi audio",
        "a=msid:realtimeapi audio",
        "a=sendrecv",
        "a=candidate:4274215487 1 udp 2130706431 172.214.232.93 3478 typ host "
        "ufrag NqJgCsrBvxzLcoHu generation 0 network-id 1",
        "a=candidate:1 1 udp 2122262783 2001:db8::1 3478 typ host generation 0 network-id 2",
        "a=candidate:2 1 udp 2122194687 f3b1c2d4-1111-2222-3333-444455556666.local 54400 "
        "typ host generation 0 network-id 1 network-cost 10",
        "a=candidate:4274215487 1 tcp 1671430143 172.214.232.93 443 typ host tcptype passive",
        "a=candidate:3 1 udp 2122194686 0.0.0.0 9 typ host",
        "a=candidate:4 1 udp 2122194685 10.1.1.1 0 typ host",
        "a=end-of-candidates",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "c=IN IP4 0.0.0.0",
        "a=setup:active",
        "a=mid:1",
        "a=sctp-port:5000",
        "a=max-message-size:1073741823",
        "",
    ]
)


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_real_world_answer_with_trailing_blanks_and_odd_candidates(eol: str) -> None:
    answer = parse_answer(REAL_WORLD_ANSWER.replace("\n", eol))
    assert answer.ice_ufrag == "NqJgCsrBvxzLcoHu"
    assert answer.ice_pwd == "OBKPrbFvHwXGhjVPHTdMmxJeFkqYwjFc"
    assert answer.setup == "active" and answer.dtls_role == "server"
    assert answer.fingerprint.value == bytes([0xAB]) * 32
    assert [c.addr for c in answer.candidates] == [("172.214.232.93", 3478), ("2001:db8::1", 3478)]
    assert sorted(c.address for c in answer.ignored_candidates) == [
        "0.0.0.0",
        "10.1.1.1",
        "172.214.232.93",
        "f3b1c2d4-1111-2222-3333-444455556666.local",
    ]
    assert answer.opus is not None and answer.opus.payload_type == 111
    assert answer.audio_ssrc == 2587357216
    assert answer.max_message_size == 1073741823 and answer.sctp_port == 5000
    # The application section inherits the session-level fingerprint; its own
    # ICE credentials are absent, and BUNDLE makes the audio section's the ones used.
    assert answer.application is not None and answer.application.ice_ufrag is None
