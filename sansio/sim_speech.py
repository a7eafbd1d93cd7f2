"""Old import path of :mod:`adk_realtime.sansio.sim.speech`, kept so code written against 0.1 keeps working."""

from adk_realtime.sansio.sim.speech import *  # noqa: F403
from adk_realtime.sansio.sim.speech import __all__ as __all__
