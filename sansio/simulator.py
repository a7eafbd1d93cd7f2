"""Old import path of :mod:`adk_realtime.sansio.sim.hub`, kept so code written against 0.1 keeps working."""

from adk_realtime.sansio.sim.hub import *  # noqa: F403
from adk_realtime.sansio.sim.hub import __all__ as __all__
