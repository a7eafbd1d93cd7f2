"""Fuzz the phone server's input side: arbitrary bytes through HttpServerExchange (in
arbitrary cuts), whatever request comes out through CarrierRoutes (answered, never
raising), the same bytes as an upgrade's target and headers, as call markup for
read_stream_instruction, and as a server message to the simulated carriers.

Expected: BadRequest from the exchange, MarkupError from the reader, DecodeError from
the carriers (all ProtocolErrors); CarrierRoutes answers everything with a status.
"""

import sys

import atheris

with atheris.instrument_imports():
    from adk_realtime.sansio.errors import ProtocolError
    from adk_realtime.sansio.http_server import HttpRequest, HttpServerExchange
    from adk_realtime.sansio.telephony.markup import read_stream_instruction
    from adk_realtime.sansio.telephony.routing import CallLoad, CarrierRoutes
    from adk_realtime.sansio.telephony.simulated_carrier import SimulatedPlivo, SimulatedTwilio

ROUTES = CarrierRoutes(
    "https://agent.example.com/phone",
    stream_key=b"k" * 32,
    twilio_auth_token="twilio-token",
    telnyx_public_key="A" * 43 + "=",
    plivo_auth_token="plivo-token",
)
OPEN_ROUTES = CarrierRoutes("http://127.0.0.1:8080", stream_key=b"k" * 32)


def _routes(request: HttpRequest, fdp: "atheris.FuzzedDataProvider") -> None:
    load = CallLoad(fdp.ConsumeIntInRange(0, 3), fdp.ConsumeIntInRange(1, 3))
    for routes in (ROUTES, OPEN_ROUTES):
        routed = routes.answer(request, 1_750_000_000.0, load, b"n" * 12)
        assert routed.reply is not None and 200 <= routed.reply.status <= 599
        upgrade = routes.check_upgrade(request.target, request.headers, 1_750_000_000.0, load)
        assert upgrade.reply is None or upgrade.reply.status in (403, 404, 503)


METHODS = ["GET", "POST", "HEAD", "PUT"]
PATHS = [
    "/twilio/voice", "/telnyx/voice", "/plivo/answer", "/twilio/media", "/telnyx/media/",
    "/plivo/media/", "/healthz", "/phone/twilio/voice", "/phone/plivo/media/",
]  # fmt: skip
HEADERS = [
    "x-twilio-signature", "x-twilio-webhooks-signature-settings", "telnyx-timestamp",
    "telnyx-signature-ed25519", "x-plivo-signature-v3", "x-plivo-signature-ma-v3",
    "x-plivo-signature-v3-nonce", "content-type",
]  # fmt: skip


def _structured(fdp: "atheris.FuzzedDataProvider") -> None:
    """A request shaped like the routes' own, its parts fuzzed."""
    target = fdp.PickValueInList(PATHS) + fdp.ConsumeUnicodeNoSurrogates(48)
    headers = tuple(
        (fdp.PickValueInList(HEADERS), fdp.ConsumeUnicodeNoSurrogates(64))
        for _ in range(fdp.ConsumeIntInRange(0, 4))
    )
    request = HttpRequest(fdp.PickValueInList(METHODS), target, headers, fdp.ConsumeBytes(512))
    _routes(request, fdp)


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeBool():
        _structured(fdp)
        return
    cuts = sorted(fdp.ConsumeIntListInRange(3, 0, 4096))
    raw = fdp.ConsumeBytes(fdp.remaining_bytes())
    exchange = HttpServerExchange(max_body_size=1024)
    request = None
    try:
        start = 0
        for cut in [*cuts, len(raw)]:
            exchange.receive_data(raw[start:cut], 0.0)
            request = exchange.next_event() or request
            start = max(start, cut)
        exchange.receive_data(b"", 0.0)
    except ProtocolError:
        pass
    if isinstance(request, HttpRequest):
        _routes(request, atheris.FuzzedDataProvider(raw))
    text = raw.decode("utf-8", "replace")
    target = "/" + text.split("\n", 1)[0]
    headers = tuple(tuple(line.split(":", 1)) for line in text.split("\n")[1:8] if ":" in line)
    _routes(HttpRequest("POST", target, headers, raw), atheris.FuzzedDataProvider(raw))  # type: ignore[arg-type]
    for reader_input in (raw, text):
        try:
            read_stream_instruction(reader_input)
        except ProtocolError:
            pass
    for carrier_cls in (SimulatedTwilio, SimulatedPlivo):
        carrier = carrier_cls(stream_id="s", call_id="c", max_queued_ms=1000)
        carrier.start(0.0)
        try:
            carrier.receive_data(text, 0.0)
        except ProtocolError:
            pass
        carrier.handle_timer(0.1)
        assert 0 <= carrier.queued_ms <= 1000


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
