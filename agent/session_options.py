"""``SessionOptions``: the tunables of a :class:`~adk_realtime.session.RealtimeSession`."""

from __future__ import annotations

from dataclasses import dataclass

from adk_realtime.sansio.errors import ConfigError
from adk_realtime.sansio.history import HistoryLimits

# How long to wait for the provider's first answer (Gemini setupComplete).
SETUP_TIMEOUT = 15.0

# Keepalive of a WebSocket link: a ping after this many seconds, its pong due this many
# seconds later; a provider that stops answering is noticed within their sum (15 s).
KEEPALIVE_INTERVAL = 10.0
KEEPALIVE_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """Tunables of a session; the defaults suit a voice conversation.

    ``event_queue_size``: events decoded but not yet read by the app; when it is
    full the session stops reading the link (TCP pushes back on the provider).

    ``max_held_messages``: commands held while no link is up (reconnecting);
    when it is full the sender waits.

    ``resume``: reconnect with the resumption handle where the provider offers one.

    ``rollover``: where the provider cannot resume by handle but its protocol can seed a
    fresh session from the conversation record (OpenAI: ``capabilities.rollover``), replace
    a connection that ends (the session cap, a drop) by a new one that carries on.
    ``rollover_margin``: seconds before the provider's ``expires_at`` to roll over, at a
    quiet moment (no response in progress) when one comes, else regardless at a third of
    the margin before the cap; never more than a quarter of the session's lifetime.
    ``reconnect_attempts``: consecutive failed attempts to open a replacement connection
    before the session gives up with the last error; ``reconnect_backoff``: the wait after
    the first failure, doubled after each one up to ``reconnect_backoff_max`` (the first
    attempt after a drop is immediate).

    ``history_limits``: the bounds of the conversation record (:class:`HistoryLimits`:
    items and characters; the oldest items leave first); ``None``: the default
    (500 items, 200 000 characters). ``max_replay_ms``: OpenAI, at most this many
    milliseconds of input audio no turn holds yet are kept to be sent again on a
    rollover (``None``: 30 000); 0 keeps none.

    ``setup_timeout``: seconds to wait for the provider's setup acknowledgement.

    ``keepalive_interval``: seconds between WebSocket pings (``None``: no pings);
    ``keepalive_timeout``: seconds a ping's pong may take. A provider that stops
    answering without closing (a half-dead connection) is noticed within
    ``keepalive_interval + keepalive_timeout`` (15 s by default): the session
    ends with :class:`ConnectionClosed` (1011, "pong timeout"), or resumes where
    the provider allows it. While the app is not reading (back-pressure) the
    clock stops, so a slow app is not taken for a dead provider. WebSocket
    transport only: a WebRTC peer has its own liveness checks.
    """

    event_queue_size: int = 256
    max_held_messages: int = 1024
    resume: bool = True
    rollover: bool = True
    rollover_margin: float = 30.0
    reconnect_attempts: int = 5
    reconnect_backoff: float = 0.25
    reconnect_backoff_max: float = 5.0
    setup_timeout: float = SETUP_TIMEOUT
    keepalive_interval: float | None = KEEPALIVE_INTERVAL
    keepalive_timeout: float = KEEPALIVE_TIMEOUT
    history_limits: HistoryLimits | None = None
    max_replay_ms: int | None = None

    def __post_init__(self) -> None:
        interval = self.keepalive_interval
        if interval is not None and not (_is_number(interval) and interval > 0):
            raise ConfigError(
                "keepalive_interval", f"must be a number of seconds > 0 or None, got {interval!r}"
            )
        for name in ("rollover_margin", "reconnect_backoff", "reconnect_backoff_max"):
            value = getattr(self, name)
            if not (_is_number(value) and value >= 0):
                raise ConfigError(name, f"must be a number of seconds >= 0, got {value!r}")
        attempts = self.reconnect_attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
            raise ConfigError("reconnect_attempts", f"must be an int >= 0, got {attempts!r}")
        limits = self.history_limits
        if limits is not None and not isinstance(limits, HistoryLimits):
            raise ConfigError(
                "history_limits", f"must be HistoryLimits or None, got {limits!r:.80}"
            )
        replay = self.max_replay_ms
        if replay is not None and (
            isinstance(replay, bool) or not isinstance(replay, int) or replay < 0
        ):
            raise ConfigError("max_replay_ms", f"must be an int >= 0 or None, got {replay!r:.80}")
        if not (_is_number(self.keepalive_timeout) and self.keepalive_timeout > 0):
            raise ConfigError(
                "keepalive_timeout",
                f"must be a number of seconds > 0, got {self.keepalive_timeout!r}",
            )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


__all__ = ["KEEPALIVE_INTERVAL", "KEEPALIVE_TIMEOUT", "SETUP_TIMEOUT", "SessionOptions"]
