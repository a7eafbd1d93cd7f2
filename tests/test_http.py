"""sansio/http.py: the request bytes (checked by h11's own server side and the stdlib email
parser as independent readers), response framing, limits and the OpenAI call helpers."""

from __future__ import annotations

import email.parser
import email.policy
import json
import random

import h11
import pytest
from hypothesis import given, settings, strategies as st

from adk_realtime.sansio.errors import AuthError, ConfigError, LocalProtocolError, MessageTooBig
from adk_realtime.sansio.http import (
    HttpError,
    HttpExchange,
    HttpStatusError,
    ResponseTooLarge,
    client_secret_request,
    multipart_body,
    parse_url,
    read_call_answer,
    read_client_secret,
    sdp_call_request,
    unified_call_request,
)

KEY = "sk-test-secret-key-0123456789"
SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
SESSION = {"type": "realtime", "model": "gpt-realtime", "instructions": "be brief"}


def server_reads(request: bytes) -> tuple[h11.Request, bytes]:
    """Parse our request with h11's server role: an independent HTTP/1.1 reader."""
    server = h11.Connection(h11.SERVER)
    server.receive_data(request)
    head = server.next_event()
    assert isinstance(head, h11.Request)
    body = b""
    while True:
        event = server.next_event()
        if isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return head, body
        else:
            raise AssertionError(f"unexpected {event!r}")


def headers_of(request: h11.Request) -> dict[str, str]:
    return {k.decode().lower(): v.decode() for k, v in request.headers}


def respond(exchange: HttpExchange, raw: bytes, chunk: int = 0) -> object:
    """Send the request, feed ``raw`` (in ``chunk``-byte reads) and return the response
    event if one came out."""
    exchange.data_to_send()
    pieces = [raw[i : i + chunk] for i in range(0, len(raw), chunk)] if chunk else [raw]
    result = None
    for piece in pieces:
        exchange.receive_data(piece, 0.0)
        result = exchange.next_event() or result
    return result


def test_unified_call_is_a_multipart_post_with_sdp_and_session_parts() -> None:
    exchange = unified_call_request(
        "http://127.0.0.1:8080/v1/realtime/calls",
        sdp=SDP,
        session=SESSION,
        api_key=KEY,
        rng=random.Random(1),
    )
    request, body = server_reads(exchange.data_to_send())
    headers = headers_of(request)
    assert request.method == b"POST" and request.target == b"/v1/realtime/calls"
    assert headers["host"] == "127.0.0.1:8080"
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["content-length"] == str(len(body))
    assert headers["content-type"].startswith("multipart/form-data; boundary=")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {headers['content-type']}\r\n\r\n".encode() + body
    )
    parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
    assert set(parts) == {"sdp", "session"}
    assert parts["sdp"].get_content_type() == "application/sdp"
    assert parts["sdp"].get_payload(decode=True) == SDP.encode()
    assert parts["session"].get_content_type() == "application/json"
    assert json.loads(parts["session"].get_payload(decode=True)) == SESSION
    assert exchange.data_to_send() == b""  # sent once
    assert KEY not in repr(exchange)


def test_multipart_boundary_never_occurs_in_a_part() -> None:
    class Fixed(random.Random):
        calls = 0

        def getrandbits(self, k: int) -> int:
            Fixed.calls += 1
            return 1 if Fixed.calls == 1 else 2

    clash = b"xx adk-realtime-" + f"{1:024x}".encode() + b" yy"
    body, content_type = multipart_body([("sdp", "application/sdp", clash)], rng=Fixed())
    boundary = content_type.split("boundary=")[1]
    assert boundary.endswith(f"{2:024x}")
    assert body.count(boundary.encode()) == 2  # the delimiter and the close delimiter


def test_ephemeral_flow_requests() -> None:
    secret = client_secret_request(
        "https://api.example.com/v1/realtime/client_secrets", session=SESSION, api_key=KEY
    )
    assert secret.url is not None and secret.url.secure and secret.url.port == 443
    request, body = server_reads(secret.data_to_send())
    assert headers_of(request)["host"] == "api.example.com"
    assert headers_of(request)["content-type"] == "application/json"
    assert json.loads(body) == {"session": SESSION}
    call = sdp_call_request("https://api.example.com/v1/realtime/calls", sdp=SDP, token="ek_1234")
    request, body = server_reads(call.data_to_send())
    assert headers_of(request)["content-type"] == "application/sdp"
    assert headers_of(request)["authorization"] == "Bearer ek_1234"
    assert body == SDP.encode()


def test_content_length_response_and_call_id_from_location() -> None:
    exchange = sdp_call_request("http://h/v1/realtime/calls", sdp=SDP, token="ek_1")
    raw = (
        b"HTTP/1.1 201 Created\r\nContent-Type: application/sdp\r\n"
        b"Location: /v1/realtime/calls/rtc_abc123\r\n"
        + f"Content-Length: {len(SDP)}\r\n\r\n".encode()
        + SDP.encode()
    )
    response = respond(exchange, raw, chunk=7)
    assert response is not None and response == exchange.response
    answer = read_call_answer(exchange.response)  # type: ignore[arg-type]
    assert answer.sdp == SDP and answer.call_id == "rtc_abc123"
    exchange.receive_data(b"", 0.0)  # done: later reads change nothing
    assert exchange.next_event() is None and exchange.response is response


def test_chunked_and_close_delimited_bodies() -> None:
    exchange = client_secret_request("http://h/v1/realtime/client_secrets", session={}, api_key=KEY)
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"val\r\n'
        b'd\r\nue": "ek_42"}\r\n0\r\n\r\n'
    )
    response = respond(exchange, raw, chunk=3)
    assert response is not None
    assert read_client_secret(exchange.response) == "ek_42"  # type: ignore[arg-type]

    exchange = client_secret_request("http://h/x", session={}, api_key=KEY)
    exchange.data_to_send()
    exchange.receive_data(b'HTTP/1.1 200 OK\r\n\r\n{"client_secret": {"value": "ek_7"}}', 0.0)
    assert exchange.next_event() is None
    exchange.receive_data(b"", 0.0)  # the close ends the body
    response = exchange.next_event()
    assert response is not None and read_client_secret(response) == "ek_7"


def test_body_limit_by_content_length_and_by_chunks() -> None:
    exchange = HttpExchange("GET", "/", [("Host", "h")], max_body_size=10)
    with pytest.raises(ResponseTooLarge):
        respond(exchange, b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n")
    with pytest.raises(LocalProtocolError):
        exchange.receive_data(b"more", 0.0)
    exchange = HttpExchange("GET", "/", [("Host", "h")], max_body_size=10)
    with pytest.raises(MessageTooBig):
        respond(
            exchange, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\naaaaaa\r\n", 4
        )
        exchange.receive_data(b"6\r\nbbbbbb\r\n", 0.0)


def test_401_is_auth_error_without_the_key_even_if_echoed() -> None:
    exchange = unified_call_request("http://h/v1/realtime/calls", sdp=SDP, session={}, api_key=KEY)
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}."}}).encode()
    raw = b"HTTP/1.1 401 Unauthorized\r\n" + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    response = respond(exchange, raw)
    assert response is not None
    with pytest.raises(AuthError) as info:
        read_call_answer(exchange.response, secrets=[KEY])  # type: ignore[arg-type]
    assert info.value.status == 401 and KEY not in str(info.value)
    assert "Incorrect API key" in str(info.value)


def test_other_statuses_and_non_sdp_bodies_are_http_errors() -> None:
    exchange = sdp_call_request("http://h/c", sdp=SDP, token="ek_1")
    respond(exchange, b"HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\nboom")
    with pytest.raises(HttpStatusError, match=r"500.*boom"):
        read_call_answer(exchange.response)  # type: ignore[arg-type]
    exchange = sdp_call_request("http://h/c", sdp=SDP, token="ek_1")
    respond(exchange, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    with pytest.raises(HttpError, match="SDP"):
        read_call_answer(exchange.response)  # type: ignore[arg-type]
    exchange = client_secret_request("http://h/c", session={}, api_key=KEY)
    respond(exchange, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]")
    with pytest.raises(HttpError, match="value"):
        read_client_secret(exchange.response)  # type: ignore[arg-type]


def test_malformed_and_truncated_responses_are_http_errors() -> None:
    exchange = HttpExchange("GET", "/", [("Host", "h")])
    with pytest.raises(HttpError, match="malformed"):
        respond(exchange, b"SMTP ready\r\n\r\n")
    exchange = HttpExchange("GET", "/", [("Host", "h")])
    respond(exchange, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    with pytest.raises(HttpError):
        exchange.receive_data(b"", 0.0)


def test_request_misuse_is_a_local_error() -> None:
    with pytest.raises(ConfigError):
        HttpExchange("GET", "/", [])
    with pytest.raises(ConfigError):
        sdp_call_request("http://h/c", sdp=SDP, token="bad\r\ninjected: 1")
    with pytest.raises(ConfigError):
        parse_url("ftp://h/x")
    exchange = HttpExchange("GET", "/", [("Host", "h")])
    with pytest.raises(LocalProtocolError):
        exchange.receive_data(b"HTTP/1.1 200 OK\r\n\r\n", 0.0)  # before sending


def test_parse_url_maps_websocket_schemes_and_keeps_query() -> None:
    url = parse_url("wss://api.openai.com/v1/realtime/calls?model=gpt-realtime")
    assert (url.scheme, url.host, url.port) == ("https", "api.openai.com", 443)
    assert url.target == "/v1/realtime/calls?model=gpt-realtime"
    assert parse_url("ws://127.0.0.1:9/v1").authority == "127.0.0.1:9"
    assert parse_url("http://[::1]:80/").authority == "[::1]"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=5))
def test_any_reply_bytes_give_a_response_or_an_http_error(chunks: list[bytes]) -> None:
    exchange = HttpExchange("GET", "/", [("Host", "h")], max_body_size=100)
    exchange.data_to_send()
    try:
        for chunk in [*chunks, b""]:
            exchange.receive_data(chunk, 0.0)
    except HttpError:
        pass


def test_absurdly_nested_json_is_an_http_error_not_a_crash() -> None:
    body = b"[" * 100_000
    exchange = client_secret_request("http://h/c", session={}, api_key=KEY)
    respond(
        exchange, b"HTTP/1.1 200 OK\r\n" + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    )
    with pytest.raises(HttpError):
        read_client_secret(exchange.response)  # type: ignore[arg-type]
    exchange = client_secret_request("http://h/c", session={}, api_key=KEY)
    respond(
        exchange, b"HTTP/1.1 403 No\r\n" + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    )
    with pytest.raises(AuthError):
        read_client_secret(exchange.response)  # type: ignore[arg-type]


def _reply(exchange: HttpExchange, status: bytes, body: bytes) -> object:
    raw = b"HTTP/1.1 " + status + b"\r\n" + f"Content-Length: {len(body)}\r\n\r\n".encode()
    return respond(exchange, raw + body)


def test_long_json_error_is_still_read_for_its_message_and_redacted() -> None:
    exchange = sdp_call_request("http://h/v1/realtime/calls", sdp=SDP, token=KEY)
    detail = "y" * 3000
    body = json.dumps(
        {"error": {"message": f"Invalid offer {KEY} {detail}", "type": "invalid_request_error"}}
    ).encode()
    _reply(exchange, b"400 Bad Request", body)
    with pytest.raises(HttpStatusError) as info:
        read_call_answer(exchange.response, secrets=[KEY])  # type: ignore[arg-type]
    text = str(info.value)
    assert text.startswith("HTTP 400: Invalid offer [redacted] yyy") and KEY not in text
    assert '"error"' not in text and len(text) < 400


def test_gateway_message_shape_and_bare_reason_are_surfaced() -> None:
    exchange = sdp_call_request("http://h/c", sdp=SDP, token=KEY)
    _reply(exchange, b"502 Bad Gateway", b'{"message": "upstream unavailable"}')
    with pytest.raises(HttpStatusError, match=r"^HTTP 502: upstream unavailable$"):
        read_call_answer(exchange.response)  # type: ignore[arg-type]
    exchange = sdp_call_request("http://h/c", sdp=SDP, token=KEY)
    _reply(exchange, b"429 Too Many Requests", b"")
    with pytest.raises(HttpStatusError, match=r"^HTTP 429: Too Many Requests$"):
        read_call_answer(exchange.response)  # type: ignore[arg-type]


def test_answer_body_with_leading_blank_lines_is_accepted() -> None:
    exchange = sdp_call_request("http://h/c", sdp=SDP, token=KEY)
    _reply(exchange, b"200 OK", b"\r\n" + SDP.encode())
    answer = read_call_answer(exchange.response)  # type: ignore[arg-type]
    assert answer.sdp == SDP and answer.call_id is None


@pytest.mark.anyio
async def test_https_to_a_server_that_hangs_up_is_a_signalling_error(anyio_backend: str) -> None:
    import anyio
    import anyio.abc

    pytest.importorskip("aioice")
    from adk_realtime.drivers.webrtc import SignallingError, http_request

    async def plain_peer(stream: anyio.abc.SocketStream) -> None:
        await stream.receive()  # a TLS ClientHello it does not understand
        await stream.aclose()

    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, plain_peer)
            exchange = sdp_call_request(
                f"https://127.0.0.1:{port}/v1/realtime/calls", sdp="v=0", token="ek_x"
            )
            with anyio.fail_after(5), pytest.raises(SignallingError, match="during the handshake"):
                await http_request(exchange, timeout=5)
            tg.cancel_scope.cancel()


@pytest.mark.parametrize("size", [0, -1, 1.5])
def test_a_bad_body_limit_is_a_config_error_naming_it(size: object) -> None:
    with pytest.raises(ConfigError) as info:
        HttpExchange("GET", "/", [("Host", "h")], max_body_size=size)  # type: ignore[arg-type]
    assert info.value.field == "max_body_size" and f"not {size!r}" in str(info.value)
