"""Fuzz adk_realtime.sansio.http: HttpExchange.receive_data / next_event on arbitrary reply bytes,
then the OpenAI readers on whatever response came out.

Only HttpError (a ProtocolError) and AuthError are expected; anything else is a finding.
"""

import sys

import atheris

with atheris.instrument_imports():
    from adk_realtime.sansio.errors import AuthError
    from adk_realtime.sansio.http import (
        HttpError,
        HttpExchange,
        read_call_answer,
        read_client_secret,
    )


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    cuts = sorted(fdp.ConsumeIntListInRange(4, 0, 4096))
    raw = fdp.ConsumeBytes(fdp.remaining_bytes())
    exchange = HttpExchange("POST", "/v1/realtime/calls", [("Host", "h")], b"x", max_body_size=512)
    exchange.data_to_send()
    response = None
    try:
        start = 0
        for cut in [*cuts, len(raw)]:
            exchange.receive_data(raw[start:cut], 0.0)
            response = exchange.next_event() or response
            start = max(start, cut)
        exchange.receive_data(b"", 0.0)
        response = exchange.next_event() or response
    except HttpError:
        return
    if response is None:
        return
    for reader in (read_call_answer, read_client_secret):
        try:
            reader(response, secrets=["sk-secret"])
        except (HttpError, AuthError) as exc:
            assert "sk-secret" not in str(exc)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
