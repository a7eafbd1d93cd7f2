"""LiveKit integration (the ``livekit`` extra): ``bridge_input`` and ``LiveKitEventHandler``.

See :mod:`adk_realtime.drivers.livekit` for how audio rates and interruptions are handled.
"""

from adk_realtime.drivers.livekit import (
    BridgeHandle,
    LiveKitEventHandler,
    RoomAgent,
    bridge_input,
    join_room,
    make_token,
)

__all__ = [
    "BridgeHandle",
    "LiveKitEventHandler",
    "RoomAgent",
    "bridge_input",
    "join_room",
    "make_token",
]
