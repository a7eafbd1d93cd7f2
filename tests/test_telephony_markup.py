"""Call-answer markup: TwiML as the ``twilio`` package writes it, Plivo XML as ``plivo``
builds it, TeXML as Telnyx documents it; and the reader a simulated carrier uses."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

import pytest
from hypothesis import given, settings, strategies as st
from plivo import plivoxml
from twilio.twiml.voice_response import Connect, VoiceResponse

from adk_realtime.sansio.errors import ConfigError, ProtocolError
from adk_realtime.sansio.telephony.markup import (
    MarkupError,
    plivo_extra_header_text,
    plivo_hangup,
    plivo_stream,
    read_stream_instruction,
    telnyx_connect_stream,
    telnyx_reject,
    twilio_connect_stream,
    twilio_reject,
)

URL = "wss://example.com/twilio/media/AAAB-token_x"


def twilio_sdk_stream(url: str, parameters: list[tuple[str, str]]) -> str:
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=url)
    for name, value in parameters:
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def tree(markup: str | bytes) -> list[tuple[str, dict[str, str], str]]:
    """Every element as (tag, attributes, stripped text), in document order."""
    root = ElementTree.fromstring(markup)
    return [(e.tag, dict(e.attrib), (e.text or "").strip()) for e in root.iter()]


# ---------------------------------------------------------------- Twilio


@pytest.mark.parametrize(
    "parameters",
    [
        [],
        [("From", "+14155550100"), ("To", "+18005550199"), ("CallSid", "CA0123")],
        [("note", 'a "quoted" <tag> & more'), ("lines", "one\ntwo\r\tthree"), ("empty", "")],
        [("unicode", "Zoë ☎ 日本")],
    ],
)
def test_twilio_connect_stream_is_byte_for_byte_what_the_twilio_package_writes(
    parameters: list[tuple[str, str]],
) -> None:
    ours = twilio_connect_stream(URL, parameters)
    assert ours == twilio_sdk_stream(URL, parameters)
    (_, stream_attrs, _), *params = tree(ours)[2:]
    assert stream_attrs == {"url": URL}
    assert [(p[1]["name"], p[1]["value"]) for p in params] == parameters


def test_a_url_with_a_query_is_escaped_and_read_back_whole() -> None:
    url = "wss://h.example/twilio/media?a=1&b=<2>"
    assert twilio_connect_stream(url) == twilio_sdk_stream(url, [])
    assert read_stream_instruction(twilio_connect_stream(url)).url == url


@pytest.mark.parametrize("reason", ["busy", "rejected"])
def test_twilio_reject_is_what_the_twilio_package_writes(reason: str) -> None:
    response = VoiceResponse()
    response.reject(reason=reason)
    assert twilio_reject(reason) == str(response)  # type: ignore[arg-type]


_XML_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff"),
    max_size=40,
).map(lambda s: re.sub("[\x01-\x08\x0b\x0c\x0e-\x1f]", "", s))


@settings(max_examples=200, deadline=None)
@given(names=st.lists(_XML_TEXT.filter(bool), max_size=4), values=st.lists(_XML_TEXT, max_size=4))
def test_any_parameter_text_matches_the_sdk_and_parses_back(
    names: list[str], values: list[str]
) -> None:
    parameters = list(zip(names, values))
    ours = twilio_connect_stream(URL, parameters)
    assert ours == twilio_sdk_stream(URL, parameters)
    read = read_stream_instruction(ours)
    assert read.url == URL and read.parameters == dict(parameters)


def test_characters_xml_cannot_carry_become_replacement_characters() -> None:
    # The twilio package would write them raw, and no XML parser would read the result.
    ours = twilio_connect_stream(URL, [("From", "+1\x00415\x1b\ud800")])
    assert read_stream_instruction(ours).parameters == {"From": "+1\ufffd415\ufffd\ufffd"}


# ---------------------------------------------------------------- Telnyx


def test_telnyx_connects_a_bidirectional_rtp_stream_with_parameters() -> None:
    markup = telnyx_connect_stream(URL, {"From": "+14155550100", "CallSid": "v3:abc"})
    assert markup.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert tree(markup) == [
        ("Response", {}, ""),
        ("Connect", {}, ""),
        ("Stream", {"url": URL, "bidirectionalMode": "rtp", "bidirectionalCodec": "PCMU"}, ""),
        ("Parameter", {"name": "From", "value": "+14155550100"}, ""),
        ("Parameter", {"name": "CallSid", "value": "v3:abc"}, ""),
    ]
    read = read_stream_instruction(markup)
    assert (read.dialect, read.attributes["bidirectionalMode"]) == ("twiml", "rtp")


@pytest.mark.parametrize("reason", ["busy", "rejected"])
def test_telnyx_reject_is_the_documented_verb(reason: str) -> None:
    assert tree(telnyx_reject(reason)) == [("Response", {}, ""), ("Reject", {"reason": reason}, "")]  # type: ignore[arg-type]


# ---------------------------------------------------------------- Plivo


def test_plivo_stream_builds_what_the_plivo_package_builds() -> None:
    url = "wss://example.com/plivo/media/tok?x=1&y=2"
    ours = plivo_stream(url, [("From", "14155550100"), ("CallUUID", "abc123")])
    response = plivoxml.ResponseElement()
    response.add(
        plivoxml.StreamElement(
            url,
            bidirectional=True,
            keepCallAlive=True,
            contentType="audio/x-mulaw;rate=8000",
            extraHeaders="From=14155550100,CallUUID=abc123",
        )
    )
    assert tree(ours) == tree(response.to_string())
    read = read_stream_instruction(ours)
    assert (read.dialect, read.url) == ("plivo", url)
    assert read.parameters == {"From": "14155550100", "CallUUID": "abc123"}


@pytest.mark.parametrize("reason", ["busy", "rejected"])
def test_plivo_refuses_with_hangup_as_the_plivo_package_builds_it(reason: str) -> None:
    response = plivoxml.ResponseElement()
    response.add(plivoxml.HangupElement(reason=reason))
    assert tree(plivo_hangup(reason)) == tree(response.to_string())  # type: ignore[arg-type]


def test_plivo_extra_headers_keep_letters_and_digits_only() -> None:
    assert plivo_extra_header_text("+1 (415) 555-0100") == "14155550100"
    with pytest.raises(ConfigError, match="letters and digits"):
        plivo_stream(URL, {"From": "+14155550100"})
    with pytest.raises(ConfigError, match="512"):
        plivo_stream(URL, {f"k{i}": "v" * 40 for i in range(20)})
    assert "extraHeaders" not in tree(plivo_stream(URL))[1][1]


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "build",
    [
        lambda: twilio_connect_stream("https://example.com/media"),
        lambda: telnyx_connect_stream("example.com/media"),
        lambda: plivo_stream("http://example.com/media"),
        lambda: twilio_connect_stream(URL, [("", "x")]),
        lambda: twilio_connect_stream(URL, [("a", 1)]),  # type: ignore[list-item]
        lambda: twilio_reject("nope"),  # type: ignore[arg-type]
        lambda: plivo_hangup("later"),  # type: ignore[arg-type]
    ],
)
def test_a_bad_argument_is_a_config_error(build: object) -> None:
    with pytest.raises(ConfigError):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("markup", "words"),
    [
        (twilio_reject("busy"), "<Reject>"),
        (plivo_hangup(), "<Hangup>"),
        ('<Response><Start><Stream url="wss://x/y"/></Start></Response>', "<Start>"),
        ("<Response/>", "empty"),
        ("<Response><Connect/></Response>", "no <Stream"),
        ('<Response><Stream bidirectional="true"> </Stream></Response>', "no URL"),
        ("<Other/>", "root element"),
        ("<Response>", "not well-formed"),
        ('<!DOCTYPE r [<!ENTITY a "aaaa">]><Response>&a;</Response>', "DTD"),
        ("<Response>" + " " * 70_000 + "</Response>", "over"),
    ],
)
def test_an_answer_without_a_stream_is_a_markup_error_that_says_why(
    markup: str, words: str
) -> None:
    with pytest.raises(MarkupError, match=re.escape(words)) as caught:
        read_stream_instruction(markup)
    assert isinstance(caught.value, ProtocolError)
    with pytest.raises(MarkupError):
        read_stream_instruction(markup.encode())


def test_the_parameters_of_an_instruction_stay_out_of_its_repr() -> None:
    read = read_stream_instruction(twilio_connect_stream(URL, {"From": "+14155550100"}))
    assert "4155550100" not in repr(read)
