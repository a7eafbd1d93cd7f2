"""STUN Binding messages for ICE connectivity checks, and the pair-priority formula.

Pure functions over ``aioice.stun`` (the codec): no state, no clock, no
randomness (the caller draws transaction IDs). :class:`~adk_realtime.sansio.webrtc.ice.IceAgent`
decides *when* to check and *what* a message means; this module only says how
a check, its answer and a pair's priority look on the wire (RFC 8445 sections
6.1.2.3 and 7, RFC 8489). Importing ``aioice.stun`` runs ``aioice/__init__``,
which imports (never uses) its asyncio ``Connection``.
"""

from __future__ import annotations

from aioice import stun

from adk_realtime.sansio.webrtc.sdp import candidate_priority

__all__ = ["binding_reply", "binding_request", "check_request", "pair_priority", "parse_stun"]


def pair_priority(local: int, remote: int, controlling: bool) -> int:
    """The priority of a pair from its candidates' priorities (RFC 8445 section 6.1.2.3).

    G is the controlling agent's candidate priority, D the controlled one's; a role
    switch changes every pair's priority, so recompute and re-sort then.
    """
    g, d = (local, remote) if controlling else (remote, local)
    return (1 << 32) * min(g, d) + 2 * max(g, d) + (1 if g > d else 0)


def parse_stun(data: bytes | bytearray | memoryview) -> stun.Message | None:
    """The STUN message in ``data``, or None when it is not a valid one (never raises)."""
    try:
        return stun.parse_message(bytes(data))
    except Exception:
        # aioice's decoder raises ValueError, struct.error, UnicodeDecodeError and
        # others on hostile input; any of them means "not a valid STUN message".
        return None


def binding_request(
    transaction_id: bytes,
    *,
    username: str,
    local_priority: int,
    controlling: bool,
    tie_breaker: int,
    nominate: bool,
    key: bytes,
) -> bytes:
    """A connectivity check (RFC 8445 section 7.1.1), signed with the peer's password.

    ``username`` is ``remote_ufrag:local_ufrag``; ``local_priority`` the priority
    of the local candidate checked from, whose local preference goes into PRIORITY
    as a peer-reflexive candidate's; USE-CANDIDATE only when ``controlling`` and
    ``nominate``. MESSAGE-INTEGRITY uses ``key``, and FINGERPRINT follows it.
    """
    request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST, transaction_id=transaction_id)
    request.attributes["USERNAME"] = username
    # The priority a peer-reflexive candidate learnt from this check would get.
    local_preference = (local_priority >> 8) & 0xFFFF
    request.attributes["PRIORITY"] = candidate_priority("prflx", local_preference)
    if controlling:
        request.attributes["ICE-CONTROLLING"] = tie_breaker
        if nominate:
            request.attributes["USE-CANDIDATE"] = None
    else:
        request.attributes["ICE-CONTROLLED"] = tie_breaker
    request.add_message_integrity(key)
    return bytes(request)


def binding_reply(
    request: stun.Message,
    mapped: tuple[str, int],
    key: bytes,
    error: tuple[int, str] | None = None,
) -> bytes:
    """The answer to ``request``: success with XOR-MAPPED-ADDRESS ``mapped``, or ``error``.

    Signed with our password ``key``, except 400 and 401, which only carry a
    FINGERPRINT (RFC 8489 section 9.1.3: the request could not be authenticated).
    """
    response = stun.Message(
        stun.Method.BINDING,
        stun.Class.ERROR if error else stun.Class.RESPONSE,
        transaction_id=request.transaction_id,
    )
    if error is None:
        response.attributes["XOR-MAPPED-ADDRESS"] = mapped
    else:
        response.attributes["ERROR-CODE"] = error
    if error is not None and error[0] in (400, 401):
        response.add_fingerprint()  # RFC 8489 section 9.1.3: not signed
    else:
        response.add_message_integrity(key)
    return bytes(response)


def check_request(
    request: stun.Message, local_ufrag: str, remote_ufrag: str | None, key: bytes
) -> tuple[str, tuple[int, str]] | None:
    """None if a peer's Binding request is well formed and authentic (RFC 8445 section 7.3).

    Otherwise ``(stat, error)``: the ``IceAgent.stats`` counter to bump and the error
    to answer with (400 for a missing USERNAME, PRIORITY or MESSAGE-INTEGRITY; 401 for
    a USERNAME not ``local_ufrag:remote_ufrag`` or a bad MESSAGE-INTEGRITY). Before
    the peer's credentials are known (``remote_ufrag`` None) only our half is checked.
    """
    attributes = request.attributes
    username = attributes.get("USERNAME")
    if (
        "MESSAGE-INTEGRITY" not in attributes
        or not isinstance(username, str)
        or not isinstance(attributes.get("PRIORITY"), int)
    ):
        return "bad_request", (400, "Bad Request")
    ours, colon, theirs = username.partition(":")
    if colon != ":" or ours != local_ufrag or (remote_ufrag is not None and theirs != remote_ufrag):
        return "bad_username", (401, "Unauthenticated")
    if not request.check_message_integrity(key):
        return "bad_integrity", (401, "Unauthenticated")
    return None
