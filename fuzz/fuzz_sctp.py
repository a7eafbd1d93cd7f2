"""Fuzz SctpAssociation.receive_data (and the DCEP layer above it) with arbitrary packets.

Each input is split into packets at b"\\xff\\xfe"; the first byte of each packet
picks how it is delivered: raw, or behind a valid common header (right ports,
right verification tag, correct CRC32c) so the chunk handlers really run.
Nothing may raise: bad input is dropped and counted.
"""

import random
import struct
import sys

import atheris

with atheris.instrument_imports():
    from adk_realtime.sansio.webrtc.datachannel import DataChannelManager
    from adk_realtime.sansio.webrtc.sctp.association import SctpAssociation
    from adk_realtime.sansio.webrtc.sctp.chunks import crc32c


def _established() -> tuple[SctpAssociation, DataChannelManager]:
    a = SctpAssociation(is_client=True, rng=random.Random(1))
    b = SctpAssociation(is_client=False, rng=random.Random(2))
    a.connect(0.0)
    for _ in range(3):
        for pkt in a.data_to_send():
            b.receive_data(pkt, 0.0)
        for pkt in b.data_to_send():
            a.receive_data(pkt, 0.0)
    mgr = DataChannelManager(b, is_client=False)
    while mgr.next_event() is not None:
        pass
    return b, mgr


def TestOneInput(data: bytes) -> None:
    assoc, mgr = _established()
    now = 1.0
    for part in data.split(b"\xff\xfe"):
        if not part:
            continue
        mode, body = part[0], part[1:]
        if mode & 1:
            pkt = bytearray(struct.pack("!HHII", 5000, 5000, assoc._local_tag, 0) + body)
            struct.pack_into("<I", pkt, 8, crc32c(pkt))
            mgr.receive_data(bytes(pkt), now)
        else:
            mgr.receive_data(body, now)
        while mgr.next_event() is not None:
            pass
        mgr.data_to_send()
        now += (mode >> 1) * 0.5
        timer = mgr.get_timer()
        if timer is not None and timer <= now:
            mgr.handle_timer(now)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
