"""SIP messages: parsing, serialising, header values; RFC 4475 torture messages (typed in
from the RFC's examples, bodies shortened where they do not matter); properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from adk_realtime.sansio.sip.message import (
    SipMessage,
    SipParseError,
    parse_cseq,
    parse_message,
    parse_name_addr,
    parse_via,
    split_values,
)


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def with_body(head: str, body: str) -> bytes:
    """``head`` (ending in a Content-Length with ``{n}``) and ``body``, CRLF lines."""
    data = crlf(body)
    return crlf(head.format(n=len(data))) + b"\r\n" + data


SDP = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n"

INVITE = """INVITE sip:agent@192.0.2.9:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK-1;rport
Max-Forwards: 70
From: "Alice" <sip:alice@example.com>;tag=a1
To: <sip:agent@192.0.2.9>
Call-ID: call-1@192.0.2.1
CSeq: 1 INVITE
Contact: <sip:alice@192.0.2.1:5062>
Content-Type: application/sdp
Content-Length: {n}
"""


def test_a_request_parses_into_its_parts() -> None:
    msg = parse_message(with_body(INVITE, SDP))
    assert (msg.method, msg.uri, msg.is_request) == ("INVITE", "sip:agent@192.0.2.9:5060", True)
    assert msg.get("call-id") == msg.get("i") == "call-1@192.0.2.1"
    via = parse_via(msg.get("v") or "")
    assert (via.transport, via.host, via.port, via.branch) == (
        "UDP",
        "192.0.2.1",
        5062,
        "z9hG4bK-1",
    )
    assert "rport" in via.params
    sender = parse_name_addr(msg.get("From") or "")
    assert (sender.display, sender.uri, sender.tag) == ("Alice", "sip:alice@example.com", "a1")
    assert parse_cseq(msg.get("CSeq") or "") == (1, "INVITE")
    assert msg.body == crlf(SDP)


def test_serialise_then_parse_gives_the_same_message() -> None:
    msg = parse_message(with_body(INVITE, SDP))
    again = parse_message(msg.serialize())
    assert again == msg
    response = SipMessage(status=180, reason="Ringing", headers=msg.headers[:6])
    assert parse_message(response.serialize()).status == 180


def test_compact_forms_folding_and_lists() -> None:
    data = crlf(
        "OPTIONS sip:agent@h SIP/2.0\n"
        "v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1 ,\n SIP/2.0/UDP b.example.com;branch=z9hG4bK2\n"
        "f: <sip:x@h>;tag=1\nt: <sip:agent@h>\ni: abc\nCSeq: 5\n  OPTIONS\n"
        'm: "a, b" <sip:a@h>, <sip:c@h;x=1,2>\nl: 0\n\n'
    )
    msg = parse_message(data)
    assert [parse_via(v).host for v in msg.get_all("Via")] == ["a.example.com", "b.example.com"]
    assert msg.get("CSeq") == "5 OPTIONS"
    assert msg.get_all("Contact") == ['"a, b" <sip:a@h>', "<sip:c@h;x=1,2>"]
    assert split_values(" a ,, b ") == ["a", "b"]


def test_content_length_cuts_the_body_and_must_not_overrun() -> None:
    data = with_body(INVITE, SDP)
    assert parse_message(data + b"trailing junk").body == crlf(SDP)
    short = data.replace(b"Content-Length: ", b"Content-Length: 9")
    with pytest.raises(SipParseError) as caught:
        parse_message(short)
    assert caught.value.message is not None  # answerable: 400


# -- RFC 4475 -------------------------------------------------------------------------

# 3.1.1.1 wsinv: a short tortuous INVITE (whitespace, folding, case, compact forms)
WSINV = """INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : {n}
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33
"""

# 3.1.1.3 intmeth: an unknown method full of token characters
INTMETH = """!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~
To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>
From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%="\xd1\x80\xd0\xb0\xd0\xb1\xd0\xbe\xd1\x82\xd0\xb0\xd1\x8e\xd1\x89\xd0\xb8\xd0\xb9";tag=_token~1'+`*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/"][?}{
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~
Max-Forwards: 255
extensionHeader-!.%*+_`'~:\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb
Content-Length: 0

"""

# 3.1.1.4 esc01: escaped characters in URIs
ESC01 = """INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: {n}
"""

# 3.1.1.6 lwsdisp: no whitespace between a display name and <
LWSDISP = """OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0

"""

# 3.1.2.1 badinv01: extraneous header field separators in Via
BADINV01 = """INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;;;
Content-Length: 0
Content-Type: application/sdp

"""

# 3.1.2.2 clerr: Content-Length larger than the message
CLERR = """INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999

v=0
"""

# 3.1.2.3 ncl: a negative Content-Length
NCL = CLERR.replace("9999", "-999").replace("clerr", "ncl")

# 3.1.2.4 scalar02: scalar fields with overlarge values
SCALAR02 = """REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 1000000000000000000000000000000000000000000000000000000000
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
Content-Length: 0

"""

# 3.1.2.16 insuf: mandatory headers missing (no To, From, Call-ID)
INSUF = """INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
l: 0

"""

# 3.1.2.x ltgtruri: a Request-URI in angle brackets
LTGTRURI = LWSDISP.replace(
    "OPTIONS sip:user@example.com SIP/2.0", "INVITE <sip:user@example.com> SIP/2.0"
).replace("60 OPTIONS", "60 INVITE")

# 3.1.2.x badvers: a SIP version that is not 2.0
BADVERS = LWSDISP.replace("SIP/2.0\n", "SIP/7.0\n", 1)

# 3.1.2.x mismatch01: CSeq method differs from the request's
MISMATCH01 = LWSDISP.replace("60 OPTIONS", "60 INVITE")


def test_torture_wsinv_parses() -> None:
    msg = parse_message(with_body(WSINV, SDP))
    assert msg.method == "INVITE"
    assert parse_cseq(msg.get("CSeq") or "") == (9, "INVITE")
    assert msg.get("Max-Forwards") == "0068"
    to = parse_name_addr(msg.get("To") or "")
    assert (to.uri, to.tag) == ("sip:vivekg@chair-dnrc.example.com", "1918181833n")
    vias = [parse_via(v) for v in msg.get_all("Via")]
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    contact = parse_name_addr(msg.get("Contact") or "")
    assert contact.uri == "sip:jdrosen@example.com" and contact.params["q"] == "0.33"
    assert msg.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert parse_name_addr(msg.get("From") or "").tag == "98asjd8"


def test_torture_intmeth_esc01_lwsdisp_parse() -> None:
    intmeth = parse_message(INTMETH.replace("\n", "\r\n").encode("latin-1"))
    assert intmeth.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert parse_cseq(intmeth.get("CSeq") or "")[1] == intmeth.method
    esc = parse_message(with_body(ESC01, SDP))
    assert esc.uri == "sip:sips%3Auser%40example.com@example.net"
    assert esc.get("Content-Type") == "application/sdp"
    lws = parse_message(crlf(LWSDISP))
    assert parse_name_addr(lws.get("From") or "").uri == "sip:caller@example.com"


@pytest.mark.parametrize(
    ("name", "data", "answer"),
    [
        ("badinv01", BADINV01, None),
        ("clerr", CLERR, 400),
        ("ncl", NCL, 400),
        ("scalar02", SCALAR02, 400),
        ("insuf", INSUF, None),
        ("ltgtruri", LTGTRURI, 400),
        ("badvers", BADVERS, 505),
        ("mismatch01", MISMATCH01, 400),
    ],
)
def test_torture_invalid_messages_are_refused_cleanly(
    name: str, data: str, answer: int | None
) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_message(crlf(data))
    if answer is None:
        assert caught.value.message is None  # nothing to answer with: dropped
    else:
        assert caught.value.message is not None and caught.value.status == answer


# -- properties -------------------------------------------------------------------------

_token = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABC0123456789-.!%*_+`'~"), min_size=1, max_size=12
)
_value = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=30)


@given(st.binary(max_size=600))
@settings(max_examples=300, deadline=None)
def test_parse_never_raises_anything_but_a_parse_error(data: bytes) -> None:
    try:
        parse_message(data)
    except SipParseError:
        pass


@given(
    st.sampled_from(["INVITE", "OPTIONS", "BYE"]),
    st.lists(st.tuples(_token.map(lambda t: "X-" + t), _value), max_size=6),
    st.binary(max_size=200),
)
@settings(max_examples=200, deadline=None)
def test_serialise_then_parse_round_trips(
    method: str, extra: list[tuple[str, str]], body: bytes
) -> None:
    headers = [
        ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx"),
        ("From", "<sip:a@h>;tag=1"),
        ("To", "<sip:b@h>"),
        ("Call-ID", "c1"),
        ("CSeq", f"1 {method}"),
        *extra,
    ]
    msg = SipMessage(method=method, uri="sip:b@h", headers=headers, body=body)
    parsed = parse_message(msg.serialize())
    assert parsed.method == method and parsed.body == body
    assert parsed.headers[:-1] == headers  # and Content-Length last
    assert parsed.serialize() == msg.serialize()


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_a_valid_head_with_any_body_bytes_parses(body: bytes) -> None:
    msg = SipMessage(method="OPTIONS", uri="sip:a@h", headers=[
        ("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("From", "<sip:x@h>;tag=2"), ("To", "<sip:a@h>"),
        ("Call-ID", "x"), ("CSeq", "2 OPTIONS"),
    ], body=body)  # fmt: skip
    assert parse_message(msg.serialize()).body == body
