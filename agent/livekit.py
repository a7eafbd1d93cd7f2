"""LiveKit integration (the ``livekit`` extra): ``bridge_input`` and ``LiveKitEventHandler``.

See :mod:`adk_realtime.drivers.livekit` for how audio rates and interruptions are handled.
"""

from adk_realtime.drivers import livekit as _driver
from adk_realtime.drivers.livekit import (
    BridgeHandle,
    RoomAgent,
    bridge_input,
    join_room,
    make_token,
)
from adk_realtime.runner import EventHandler


class LiveKitEventHandler(_driver.LiveKitEventHandler, EventHandler):
    """Plays the model's voice into a LiveKit ``AudioSource`` and forwards every
    callback to ``inner``; an :class:`EventHandler`, so it goes straight into
    ``RealtimeRunner(event_handler=...)``.

    (The driver layer cannot import the agent layer's ``EventHandler``; this is
    where the two meet. The driver class defines every callback, so none of
    ``EventHandler``'s no-op defaults is reached.)
    """


__all__ = [
    "BridgeHandle",
    "LiveKitEventHandler",
    "RoomAgent",
    "bridge_input",
    "join_room",
    "make_token",
]
