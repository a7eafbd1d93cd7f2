"""LiveKit integration (the ``livekit`` extra): ``bridge_input`` and ``LiveKitEventHandler``.

See :mod:`adk_realtime.drivers.livekit` for how audio rates and interruptions are handled.
"""

from typing import Any

from adk_realtime.drivers import livekit as _driver
from adk_realtime.drivers.livekit import (
    BridgeHandle,
    RoomAgent,
    bridge_input,
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


async def join_room(url: str, token: str, runner: Any, **options: Any) -> RoomAgent:
    """Connect to a LiveKit room, publish the agent's voice and bridge the first remote
    participant's audio into ``runner``; ``room_agent.handler`` is a
    :class:`LiveKitEventHandler` (so an :class:`EventHandler`) wrapping the runner's
    handler. ``options``: ``inner_handler``, ``sample_rate``, ``track_name``."""
    return await _driver.join_room(url, token, runner, handler_class=LiveKitEventHandler, **options)


__all__ = [
    "BridgeHandle",
    "LiveKitEventHandler",
    "RoomAgent",
    "bridge_input",
    "join_room",
    "make_token",
]
