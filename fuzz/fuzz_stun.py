"""Fuzz adk_realtime.sansio.webrtc.ice: IceAgent.receive_datagram never raises.

Inputs are used three ways: raw bytes; a STUN header plus fuzzed attributes signed
with the right password (reaches request handling); and the same as a response to
the agent's first check (reaches response handling). Any exception is a finding.
"""

import random
import struct
import sys

import atheris

with atheris.instrument_imports():
    from aioice import stun

    from adk_realtime.sansio.webrtc.ice import IceAgent
    from adk_realtime.sansio.webrtc.sdp import host_candidate

LOCAL_PWD = b"localpassword0123456789"
REMOTE_PWD = b"remotepassword012345678"
PEER = ("10.0.0.2", 2000)


def signed(message_type: int, transaction_id: bytes, body: bytes, key: bytes) -> bytes:
    body += bytes(-len(body) % 4)
    header = struct.pack("!HHI12s", message_type, len(body), stun.COOKIE, transaction_id)
    data = header + body
    mi_len = len(body) + 24
    to_sign = data[:2] + struct.pack("!H", mi_len) + data[4:]
    data = to_sign + struct.pack("!HH", 0x0008, 20) + stun.message_integrity(to_sign, key)[:20]
    fp_len = len(data) - 20 + 8
    data = data[:2] + struct.pack("!H", fp_len) + data[4:]
    crc = stun.message_fingerprint(data)
    return data + struct.pack("!HHI", 0x8028, 4, crc)


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 2)
    agent = IceAgent(
        "locl",
        LOCAL_PWD.decode(),
        controlling=fdp.ConsumeBool(),
        tie_breaker=fdp.ConsumeIntInRange(0, 2**64 - 1),
        local_candidates=[host_candidate("10.0.0.1", 1000)],
        rng=random.Random(0),
    )
    agent.set_remote("remt", REMOTE_PWD.decode(), [host_candidate(*PEER)], now=0.0)
    sent = agent.datagrams_to_send(0.0)
    payload = fdp.ConsumeBytes(fdp.remaining_bytes())
    if mode == 0:
        datagram = payload
    elif mode == 1:
        datagram = signed(0x0001, payload[:12].ljust(12, b"\0"), payload[12:], LOCAL_PWD)
    else:
        transaction_id = stun.parse_message(sent[0][0]).transaction_id
        message_type = 0x0111 if payload[:1] == b"\x01" else 0x0101
        datagram = signed(message_type, transaction_id, payload[1:], REMOTE_PWD)
    agent.receive_datagram(datagram, (0, PEER), 0.01)
    agent.handle_timer(0.6)
    agent.datagrams_to_send(0.6)
    while agent.next_event() is not None:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
